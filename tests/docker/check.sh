#!/usr/bin/env bash
# Runs docker/Dockerfile's command outside Docker (there is no Docker engine here), as close to the image
# and docker/compose.yaml as a plain Linux host allows:
#  - publishes with the build stage's own `dotnet publish` line into a directory that is mounted at /app;
#  - the COPY'd configs at /etc/timemesh, each service's compose-mounted file over /etc/timemesh/timemesh.hocon,
#    a data directory at /var/lib/timemesh owned by the image's user;
#  - one network namespace per TimeMesh service with compose's fixed address on a bridge, compose's sysctls;
#  - ENTRYPOINT + CMD exactly as the Dockerfile states, as uid/gid 1654 (the aspnet image's "app" user);
#  - compose's other parties in namespaces of their own: PostgreSQL (initdb + pg_ctl, the database, user and
#    password compose gives the postgres image) at its compose address, and, as host.docker.internal at the
#    network's gateway 172.28.0.1, a chronyd -x (never touches the clock) as the masters' upstream;
#  - /etc/hosts in each node as compose writes it (extra_hosts, the service names);
#  - compose's one-shot "certs" service first (its entrypoint, as the image's user, with its "ca" and "certs"
#    volumes as directories of their own), then the "certs" volume read-only in every node;
# then checks every node answers NTP on ADDRESS:123, the masters synchronise to the upstream, the member
# follows a master (one stratum below), the drift state reaches PostgreSQL, the HEALTHCHECK command passes
# inside each node's namespaces, and SIGTERM stops each node with exit 0.
# Needs root (namespaces, mounts), Debian's chrony and postgresql. Prints "docker check passed" last.
set -euo pipefail
# Debian's python3 (with python3-yaml, which tests/run-all.sh installs), whatever else is first on PATH.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
repo=$(cd "$(dirname "$0")/../.." && pwd)
here="$repo/tests/docker"
dockerfile="$repo/docker/Dockerfile"
compose="$repo/docker/compose.yaml"
app_uid=1654
work=$(mktemp -d /tmp/timemesh-docker-check.XXXXXX)
# PostgreSQL's files must be reachable by the postgres user: a directory of their own, not under $work (0700).
pgroot=$(mktemp -d /tmp/timemesh-docker-pg.XXXXXX)
chmod 755 "$pgroot"
tag="tmd$$"
bridge_ns="$tag-br"
pids=()
namespaces=()
created_dirs=()

cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  [ -f "$pgroot/data/postmaster.pid" ] && kill -KILL "$(head -1 "$pgroot/data/postmaster.pid")" 2>/dev/null || true
  [ -f "$work/chrony/chronyd.pid" ] && kill -KILL "$(cat "$work/chrony/chronyd.pid")" 2>/dev/null || true
  rm -rf "$pgroot"
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  for ((i = ${#created_dirs[@]} - 1; i >= 0; i--)); do rmdir "${created_dirs[$i]}" 2>/dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
# On failure: each log's own lines (stack traces left out).
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f"; grep -vE '^\s+at |^--- End of' "$f" | tail -40 || true; } >&2; done
  exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root (network namespaces and bind mounts)"
"$py" -c 'import yaml' 2>/dev/null || fail "$py with PyYAML is needed to read compose.yaml (Debian: python3-yaml)"
command -v chronyd >/dev/null || fail "chronyd is missing (Debian: chrony)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] && [ -x "$pgbin/pg_ctl" ] || fail "PostgreSQL server binaries are missing (Debian: postgresql)"

# The Dockerfile's instructions, as JSON arrays where Docker takes them so.
json_of() { grep -E "^$1 " "$dockerfile" | sed -E "s/^$1 (.*--retries=[0-9]+ CMD )?//" ; }
entrypoint=$("$py" -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "$(json_of ENTRYPOINT)")
cmd=$("$py" -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "$(json_of CMD)")
health=$("$py" -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "$(grep -E '^HEALTHCHECK ' "$dockerfile" | sed -E 's/^HEALTHCHECK .* CMD //')")
mapfile -t entry_args <<<"$entrypoint"
mapfile -t cmd_args <<<"$cmd"
mapfile -t health_args <<<"$health"
publish=$(grep -E '^RUN dotnet publish ' "$dockerfile" | sed -E 's/^RUN //')
workdir=$(awk '/^FROM .* AS runtime/{r=1} r && /^WORKDIR /{print $2; exit}' "$dockerfile")
config_path=${cmd_args[${#cmd_args[@]}-1]}
[ "${cmd_args[1]}" = "--config" ] || fail "CMD is not 'run --config FILE': ${cmd_args[*]}"
echo "entrypoint: ${entry_args[*]} ${cmd_args[*]} (workdir $workdir); healthcheck: ${health_args[*]}"

# compose.yaml must be valid YAML whose every TimeMesh service mounts an existing file as the config.
services=$("$py" "$here/compose-services.py" "$compose" "$config_path") || fail "compose.yaml does not parse"
[ -n "$services" ] || fail "no service in compose.yaml mounts $config_path"
while read -r name address file sysctls; do
  [ -f "$file" ] || fail "compose service $name mounts $file, which does not exist"
done <<<"$services"
for s in master-a master-b member postgres; do
  "$py" -c 'import yaml,sys; sys.exit(0 if sys.argv[2] in yaml.safe_load(open(sys.argv[1]))["services"] else 1)' "$compose" "$s" \
    || fail "compose.yaml has no service $s"
done
echo "ok: compose.yaml parses; services $(echo "$services" | awk '{print $1}' | xargs) mount existing configs"

# The build stage: the same publish command, into the directory the image calls /app.
echo "publishing: ${publish/-o \/app/-o $work/app}"
(cd "$repo" && ${publish/-o \/app/-o $work/app} -v quiet -nologo >"$work/publish.log" 2>&1) || fail "dotnet publish failed"
[ -x "$work/app/${entry_args[0]#/app/}" ] || fail "the entrypoint ${entry_args[0]} is not in the published output"
mkdir -p "$work/etc-timemesh"
cp "$repo"/docker/*.hocon "$work/etc-timemesh/"
# The Dockerfile's volume directories for the certificates: the image's user owns them, mode 0700.
install -d -m 0700 -o "$app_uid" -g "$app_uid" "$work/etc-timemesh/certs" "$work/vol-ca" "$work/vol-certs"

# Mount points for the image's paths (created here only if missing; removed again when empty).
for d in "$workdir" /etc/timemesh /var/lib/timemesh /var/lib/timemesh-ca; do
  if [ ! -d "$d" ]; then mkdir -p "$d"; created_dirs+=("$d"); fi
done

# compose's network: a bridge in a namespace of its own, one namespace per service on it.
ip netns add "$bridge_ns"; namespaces+=("$bridge_ns")
ip -n "$bridge_ns" link add br0 type bridge
ip -n "$bridge_ns" link set br0 up
# A namespace on the bridge with one address (compose's other parties).
attach() { # NAMESPACE INTERFACE ADDRESS
  ip netns add "$1"; namespaces+=("$1")
  ip -n "$bridge_ns" link add "$2" type veth peer name eth0 netns "$1"
  ip -n "$bridge_ns" link set "$2" master br0 up
  ip -n "$1" link set lo up
  ip -n "$1" addr add "$3/24" dev eth0
  ip -n "$1" link set eth0 up
}

# host.docker.internal: the gateway address, with an NTP server the masters can poll.
gateway=172.28.0.1
attach "$tag-host" v-host "$gateway"
mkdir -m 700 "$work/chrony"
cat >"$work/chrony/chrony.conf" <<CONF
port 123
bindaddress $gateway
local stratum 1
allow 172.28.0.0/24
cmdport 0
bindcmdaddress $work/chrony/chronyd.sock
pidfile $work/chrony/chronyd.pid
CONF
# -x: never adjust this machine's clock.
ip netns exec "$tag-host" chronyd -x -u root -f "$work/chrony/chrony.conf" >"$work/chronyd.log" 2>&1 || fail "chronyd did not start"
echo "started chronyd -x as host.docker.internal ($gateway:123)"

# postgres: what the postgres image does with POSTGRES_DB/USER/PASSWORD, at its compose address.
pg_address=$("$py" -c 'import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))["services"]["postgres"]["networks"]["mesh"]["ipv4_address"])' "$compose")
pg_env() { "$py" -c 'import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))["services"]["postgres"]["environment"][sys.argv[2]])' "$compose" "$1"; }
pg_db=$(pg_env POSTGRES_DB); pg_user=$(pg_env POSTGRES_USER); pg_password=$(pg_env POSTGRES_PASSWORD)
attach "$tag-postgres" v-postgres "$pg_address"
chown postgres:postgres "$pgroot"
runuser -u postgres -- "$pgbin/initdb" -D "$pgroot/data" -U postgres -A trust -E UTF8 --no-sync >"$work/initdb.log" 2>&1 || fail "initdb failed"
echo "host all all 172.28.0.0/24 scram-sha-256" >>"$pgroot/data/pg_hba.conf"
ip netns exec "$tag-postgres" runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgroot/data" -l "$pgroot/postgres.log" -w -t 30 \
  -o "-p 5432 -k $pgroot -c listen_addresses=$pg_address -c fsync=off" start >"$work/pg_ctl.log" 2>&1 || fail "PostgreSQL did not start"
ip netns exec "$tag-postgres" runuser -u postgres -- "$pgbin/psql" -h "$pgroot" -U postgres -v ON_ERROR_STOP=1 -q \
  -c "CREATE ROLE $pg_user LOGIN PASSWORD '$pg_password'" -c "CREATE DATABASE $pg_db OWNER $pg_user" >"$work/psql.log" 2>&1 \
  || fail "creating the database failed"
echo "started PostgreSQL at $pg_address:5432 (database $pg_db, user $pg_user)"

# /etc/hosts as compose writes it into each container: extra_hosts and the other services' names.
{
  echo "127.0.0.1 localhost"
  echo "$gateway host.docker.internal"
  echo "$pg_address postgres"
} >"$work/hosts"

declare -A node_ns node_address node_pid
while read -r name address file sysctls; do
  ns="$tag-$name"
  attach "$ns" "v-$name" "$address"
  echo "$address $name" >>"$work/hosts"
  for s in $sysctls; do ip netns exec "$ns" sysctl -qw "$s"; done
  node_ns[$name]=$ns
  node_address[$name]=$address
  install -d -o "$app_uid" -g "$app_uid" "$work/data-$name"
done <<<"$services"

# Runs a command in a node's namespaces with the image's filesystem layout, as the image's user; it replaces
# the calling (sub)shell, so $! of `in_node ... &` is the node process itself.
in_node() { # NAME COMMAND...
  local name=$1; shift
  exec ip netns exec "${node_ns[$name]}" unshare --mount --propagation private bash -c '
    set -e
    mount --bind "$1/app" "$2"
    mount --bind "$1/etc-timemesh" /etc/timemesh
    mount --bind "$3" "$4" && mount -o remount,ro,bind "$4"
    mount --bind "$1/data-$5" /var/lib/timemesh
    mount --bind "$1/hosts" /etc/hosts
    mount --bind "$1/vol-certs" /etc/timemesh/certs && mount -o remount,ro,bind /etc/timemesh/certs
    cd "$2"
    shift 5
    exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/home/app \
      APP_UID='"$app_uid"' DOTNET_RUNNING_IN_CONTAINER=true ASPNETCORE_HTTP_PORTS=8080 \
      setpriv --reuid='"$app_uid"' --regid='"$app_uid"' --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"
  ' in-node "$work" "$workdir" "$(grep "^$name " <<<"$services" | awk '{print $3}')" "$config_path" "$name" "$@"
}

# compose's "certs" service: its entrypoint and mounts from compose.yaml, as the image's user, no network.
certs_entry=$("$py" -c 'import yaml,sys; print("\n".join(yaml.safe_load(open(sys.argv[1]))["services"]["certs"]["entrypoint"]))' "$compose") \
  || fail "compose.yaml has no certs service with an entrypoint"
mapfile -t certs_args <<<"$certs_entry"
certs_script=$("$py" -c 'import yaml,sys,os
for v in yaml.safe_load(open(sys.argv[1]))["services"]["certs"]["volumes"]:
    p = v.split(":")
    if p[0].startswith("./"): print(os.path.normpath(os.path.join(os.path.dirname(sys.argv[1]), p[0])), p[1])' "$compose")
read -r script_src script_dst <<<"$certs_script"
[ -f "$script_src" ] || fail "the certs service mounts $script_src, which does not exist"
cp "$script_src" "$work/etc-timemesh/$(basename "$script_dst")"
unshare --mount --propagation private bash -c '
  set -e
  mount --bind "$1/app" "$2"
  mount --bind "$1/etc-timemesh" /etc/timemesh
  mount --bind "$1/vol-certs" /etc/timemesh/certs
  mount --bind "$1/vol-ca" /var/lib/timemesh-ca
  cd "$2"
  shift 2
  exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/home/app \
    setpriv --reuid='"$app_uid"' --regid='"$app_uid"' --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"
' certs "$work" "$workdir" "${certs_args[@]}" >"$work/certs.log" 2>&1 || fail "the certs service failed"
for f in master-a.pfx master-a.pfx.password master-b.pfx member.pfx ca.pem; do
  [ -f "$work/vol-certs/$f" ] || fail "the certs service did not write $f"
done
[ "$(stat -c %a "$work/vol-certs/member.pfx")" = 600 ] || fail "member.pfx is mode $(stat -c %a "$work/vol-certs/member.pfx"), not 600"
[ ! -e "$work/vol-certs/ca-key.pem" ] || fail "the CA's key is in the volume the nodes mount"
echo "ok: the certs service made the mesh CA and the node certificates ($(tail -1 "$work/certs.log"))"

while read -r name address file sysctls; do
  in_node "$name" "${entry_args[@]}" "${cmd_args[@]}" >"$work/$name.log" 2>&1 &
  node_pid[$name]=$!
  pids+=("$!")
  echo "started $name ($address, pid ${node_pid[$name]}): ${entry_args[*]} ${cmd_args[*]} with $(basename "$file")"
done <<<"$services"

# Every node answers NTP on its compose address, port 123 (asked from the member's namespace, over the bridge).
probe_ns=${node_ns[member]}
for name in "${!node_address[@]}"; do
  stratum=$(ip netns exec "$probe_ns" "$py" "$here/ntp-query.py" "${node_address[$name]}" 123 90) \
    || fail "$name does not answer NTP on ${node_address[$name]}:123"
  echo "ok: $name answers NTP on ${node_address[$name]}:123 (stratum $stratum)"
done

# The masters synchronise to host.docker.internal (stratum 1), so they serve stratum 2.
for name in master-a master-b; do
  deadline=$((SECONDS + 90))
  while :; do
    stratum=$(ip netns exec "$probe_ns" "$py" "$here/ntp-query.py" "${node_address[$name]}" 123 5 || true)
    [ "$stratum" = 2 ] && break
    [ $SECONDS -lt $deadline ] || fail "$name serves stratum '$stratum', not 2 (synchronised to host.docker.internal)"
    sleep 1
  done
  echo "ok: $name synchronised to host.docker.internal and serves stratum 2"
done

# The mesh formed: the member follows a master and serves one stratum below it.
deadline=$((SECONDS + 90))
until grep -q "mesh: following 172.28.0.1[12]:123" "$work/member.log"; do
  [ $SECONDS -lt $deadline ] || fail "the member never followed a master"
  sleep 1
done
deadline=$((SECONDS + 60))
while :; do
  stratum=$(ip netns exec "$probe_ns" "$py" "$here/ntp-query.py" "${node_address[member]}" 123 5 || true)
  [ "$stratum" = 3 ] && break
  [ $SECONDS -lt $deadline ] || fail "the member serves stratum '$stratum', not 3 (following a master at 2)"
  sleep 1
done
echo "ok: the member follows a master ($(grep -o 'mesh: following [0-9.:]*' "$work/member.log" | tail -1)) and serves stratum 3"

# The one-line logs an operator greps for: start-up (role, listen address, data, seeds), sync, leader.
# A member takes time from the masters it names before it has joined the cluster, so the stratum checks above
# can pass before its start-up line and its first leader line are written: give them time.
deadline=$((SECONDS + 60))
for name in "${!node_address[@]}"; do
  until grep -q "TimeMesh node started: role [a-z]*, NTP on ${node_address[$name]}:123, data in /var/lib/timemesh .*cluster ${node_address[$name]}:4053, TLS, mesh NTP over NTS[^,]*, seeds \[akka.ssl.tcp://timemesh@172.28.0.11:4053, akka.ssl.tcp://timemesh@172.28.0.12:4053\]" "$work/$name.log"; do
    [ $SECONDS -lt $deadline ] || fail "$name has no start-up line naming its role, address, data directory, TLS cluster address, NTS-authenticated mesh NTP and seeds"
    sleep 1
  done
  until grep -q "mesh leader: none -> " "$work/$name.log"; do
    [ $SECONDS -lt $deadline ] || fail "$name never logged the mesh leader"
    sleep 1
  done
done
for name in master-a master-b; do
  grep -q "synchronised to $gateway:123 at stratum 2" "$work/$name.log" || fail "$name did not log its synchronisation to $gateway:123"
done
echo "ok: start-up, synchronisation and leader lines are in the logs"

# HEALTHCHECK: the same command, in each node's namespaces, as the image's user.
for name in "${!node_address[@]}"; do
  out=$(nsenter --target "${node_pid[$name]}" --net --mount -- setpriv --reuid="$app_uid" --regid="$app_uid" --clear-groups \
        env -i PATH=/usr/bin:/bin HOME=/home/app "${health_args[@]}" 2>&1) || fail "healthcheck failed in $name: $out"
  grep -q "^Reference ID" <<<"$out" || fail "healthcheck output in $name is not tracking: $out"
  echo "ok: healthcheck passes in $name ($(grep '^Stratum' <<<"$out" | tr -s ' '))"
done

# The process runs as the image's user, not root.
for name in "${!node_address[@]}"; do
  uid=$(awk '/^Uid:/{print $2}' "/proc/${node_pid[$name]}/status")
  [ "$uid" = "$app_uid" ] || fail "$name runs as uid $uid, not $app_uid"
done
echo "ok: every node runs as uid $app_uid"

# docker stop: SIGTERM, then the node leaves through coordinated shutdown and exits 0.
for name in member master-b master-a; do
  kill -TERM "${node_pid[$name]}"
  set +e; wait "${node_pid[$name]}"; status=$?; set -e
  [ "$status" = 0 ] || fail "$name exited with $status after SIGTERM"
  echo "ok: $name stopped on SIGTERM with exit 0"
done
pids=()

# Each node's drift state reached PostgreSQL (written at the latest by the flush in coordinated shutdown).
rows=$(ip netns exec "$tag-postgres" runuser -u postgres -- "$pgbin/psql" -h "$pgroot" -U postgres -d "$pg_db" -tA \
  -c "SELECT string_agg(DISTINCT persistence_id, ' ' ORDER BY persistence_id) FROM journal" 2>&1) || fail "cannot read the journal: $rows"
for name in "${!node_address[@]}"; do
  grep -q "timemesh-drift-${node_address[$name]}-4053" <<<"$rows" || fail "no drift state of $name in PostgreSQL (journal has: $rows)"
done
echo "ok: PostgreSQL holds the drift state of every node ($rows)"
echo "docker check passed"
