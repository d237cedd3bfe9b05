#!/usr/bin/env python3
"""Offline checks of deploy/kubernetes/*.yaml (no cluster, no schema download).

Every YAML document parses; apiVersion/kind are the ones we use and each kind has its required fields;
label selectors match their pod templates; ports named by probes/services exist in the containers;
RoleBinding/ServiceAccount/ConfigMap references resolve. Writes each ConfigMap entry ending in .hocon to
OUT_DIR (argument 2) so the .NET test parses it with TimeMesh's own settings parser.
Exit 0 and "ok: N documents" when all is well; otherwise one line per problem and exit 1."""
import glob, os, sys
import yaml

KINDS = {
    "Namespace": "v1", "ServiceAccount": "v1", "ConfigMap": "v1", "Service": "v1",
    "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
    "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "PodDisruptionBudget": "policy/v1",
}
problems = []

def need(doc, path, where):
    node = doc
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            problems.append(f"{where}: missing {path}")
            return None
        node = node[key]
    return node

def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

def main(directory, out_dir):
    docs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path) as f:
            for i, doc in enumerate(yaml.safe_load_all(f)):
                if doc is not None:
                    docs.append((f"{os.path.basename(path)}#{i}", doc))
    by_kind = {}
    for where, doc in docs:
        kind, api = doc.get("kind"), doc.get("apiVersion")
        if kind not in KINDS:
            problems.append(f"{where}: kind {kind!r} is not one this check knows"); continue
        if api != KINDS[kind]:
            problems.append(f"{where}: {kind} has apiVersion {api!r}, expected {KINDS[kind]}")
        name = need(doc, "metadata.name", where)
        if kind != "Namespace" and need(doc, "metadata.namespace", where) != "timemesh":
            problems.append(f"{where}: metadata.namespace is not timemesh")
        by_kind.setdefault(kind, {})[name] = (where, doc)

    namespaces = by_kind.get("Namespace", {})
    if "timemesh" not in namespaces:
        problems.append("no Namespace timemesh")

    for name, (where, doc) in by_kind.get("Role", {}).items():
        rules = need(doc, "rules", where) or []
        if not any("pods" in r.get("resources", []) and {"get", "watch", "list"} <= set(r.get("verbs", [])) and r.get("apiGroups") == [""] for r in rules):
            problems.append(f"{where}: Role {name} does not allow get/watch/list on pods")
    for name, (where, doc) in by_kind.get("RoleBinding", {}).items():
        ref = need(doc, "roleRef", where) or {}
        if ref.get("kind") != "Role" or ref.get("name") not in by_kind.get("Role", {}):
            problems.append(f"{where}: roleRef {ref} names no Role here")
        for s in need(doc, "subjects", where) or []:
            if s.get("kind") != "ServiceAccount" or s.get("name") not in by_kind.get("ServiceAccount", {}):
                problems.append(f"{where}: subject {s} names no ServiceAccount here")

    configmaps = by_kind.get("ConfigMap", {})
    for name, (where, doc) in configmaps.items():
        for key, text in (need(doc, "data", where) or {}).items():
            if key.endswith(".hocon"):
                with open(os.path.join(out_dir, key), "w") as f:
                    f.write(text)

    workloads = []
    for kind in ("StatefulSet", "DaemonSet"):
        for name, (where, doc) in by_kind.get(kind, {}).items():
            selector = need(doc, "spec.selector.matchLabels", where) or {}
            labels = need(doc, "spec.template.metadata.labels", where) or {}
            if not matches(selector, labels):
                problems.append(f"{where}: spec.selector.matchLabels {selector} does not match the template labels {labels}")
            pod = need(doc, "spec.template.spec", where) or {}
            if kind == "StatefulSet":
                need(doc, "spec.serviceName", where)
                if doc["spec"].get("serviceName") not in by_kind.get("Service", {}):
                    problems.append(f"{where}: serviceName {doc['spec'].get('serviceName')} is no Service here")
                if doc["spec"].get("replicas") != 2:
                    problems.append(f"{where}: masters are not 2 replicas")
            if pod.get("serviceAccountName") not in by_kind.get("ServiceAccount", {}):
                problems.append(f"{where}: serviceAccountName {pod.get('serviceAccountName')} is no ServiceAccount here")
            psc = pod.get("securityContext", {})
            if psc.get("runAsNonRoot") is not True:
                problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for c in need(doc, "spec.template.spec.containers", where) or []:
                cw = f"{where} container {c.get('name')}"
                for field in ("name", "image", "resources.requests", "readinessProbe", "livenessProbe", "securityContext"):
                    need(c, field, cw)
                if c.get("readinessProbe") == c.get("livenessProbe"):
                    problems.append(f"{cw}: readiness and liveness are the same probe")
                ports = {p.get("name"): p for p in c.get("ports", [])}
                for p in c.get("ports", []):
                    if not isinstance(p.get("containerPort"), int) or not 1 <= p["containerPort"] <= 65535:
                        problems.append(f"{cw}: port {p} has no valid containerPort")
                    if len(p.get("name", "")) > 15:
                        problems.append(f"{cw}: port name {p.get('name')} is longer than 15 characters")
                for probe_name in ("readinessProbe", "livenessProbe"):
                    probe = c.get(probe_name) or {}
                    for handler in ("httpGet", "tcpSocket", "grpc"):
                        port = (probe.get(handler) or {}).get("port")
                        if port is not None and port not in ports and port not in [p.get("containerPort") for p in ports.values()]:
                            problems.append(f"{cw}: {probe_name} uses port {port}, which the container does not declare")
                    cmd = (probe.get("exec") or {}).get("command")
                    if cmd and not cmd[0].startswith("/app/timemesh"):
                        problems.append(f"{cw}: {probe_name} runs {cmd[0]}, not the image's /app/timemesh")
                caps = (c.get("securityContext") or {}).get("capabilities") or {}
                if caps.get("drop") != ["ALL"]:
                    problems.append(f"{cw}: capabilities are not dropped (drop: [ALL])")
                if (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{cw}: allowPrivilegeEscalation is not false")
                for m in c.get("volumeMounts", []):
                    v = volumes.get(m.get("name"))
                    if v is None:
                        problems.append(f"{cw}: volumeMount {m.get('name')} names no volume")
                    elif "secret" in v:
                        secret = v["secret"].get("secretName", "")
                        readme = os.path.join(directory, "README.md")
                        if not os.path.exists(readme) or f"create secret generic {secret}" not in open(readme).read():
                            problems.append(f"{cw}: volume {m['name']} needs Secret {secret}, which README.md does not show how to create")
                    elif "configMap" in v:
                        cm = configmaps.get(v["configMap"].get("name"))
                        if cm is None:
                            problems.append(f"{cw}: volume {m['name']} names no ConfigMap here")
                        elif m.get("subPath") and m["subPath"] not in cm[1].get("data", {}):
                            problems.append(f"{cw}: subPath {m['subPath']} is no key of ConfigMap {v['configMap']['name']}")
                if "management" not in ports:
                    problems.append(f"{cw}: no port named management (Akka.Discovery.KubernetesApi's port-name)")
                workloads.append((kind, labels, ports, cw))

    for name, (where, doc) in by_kind.get("Service", {}).items():
        selector = need(doc, "spec.selector", where) or {}
        targets = [w for w in workloads if matches(selector, w[1])]
        if not targets:
            problems.append(f"{where}: selector {selector} matches no pod template")
        for p in need(doc, "spec.ports", where) or []:
            target = p.get("targetPort", p.get("port"))
            for _, _, ports, cw in targets:
                declared = ports.get(target) if isinstance(target, str) else next((q for q in ports.values() if q.get("containerPort") == target), None)
                if declared is None:
                    problems.append(f"{where}: port {p.get('name')} targets {target}, which {cw} does not declare")
                elif declared.get("protocol", "TCP") != p.get("protocol", "TCP"):
                    problems.append(f"{where}: port {p.get('name')} is {p.get('protocol', 'TCP')}, {cw} declares {declared.get('protocol', 'TCP')}")
    for name, (where, doc) in by_kind.get("PodDisruptionBudget", {}).items():
        selector = need(doc, "spec.selector.matchLabels", where) or {}
        if not any(matches(selector, w[1]) for w in workloads if w[0] == "StatefulSet"):
            problems.append(f"{where}: selector {selector} matches no master pod template")
        if "minAvailable" not in doc.get("spec", {}) and "maxUnavailable" not in doc.get("spec", {}):
            problems.append(f"{where}: neither minAvailable nor maxUnavailable")

    for kind in ("Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Service", "StatefulSet", "DaemonSet", "PodDisruptionBudget"):
        if kind not in by_kind:
            problems.append(f"no {kind}")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"ok: {len(docs)} documents")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
