#!/usr/bin/env python3
"""Reads docker/compose.yaml (failing on invalid YAML) and prints one line per TimeMesh service:
NAME IPV4 HOCON-FILE SYSCTL=VALUE..., where HOCON-FILE is the file mounted at CONFIG-PATH."""
import os, sys, yaml

compose_path, config_path = sys.argv[1], sys.argv[2]
compose = yaml.safe_load(open(compose_path))
base = os.path.dirname(os.path.abspath(compose_path))
for name, service in compose["services"].items():
    mounts = [v.split(":") for v in service.get("volumes", [])]
    config = [m[0] for m in mounts if len(m) >= 2 and m[1] == config_path]
    if not config:
        continue
    address = service["networks"]["mesh"]["ipv4_address"]
    sysctls = " ".join(f"{k}={v}" for k, v in (service.get("sysctls") or {}).items())
    print(name, address, os.path.normpath(os.path.join(base, config[0])), sysctls)
