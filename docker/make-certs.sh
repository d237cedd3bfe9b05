#!/bin/sh
# compose's one-shot "certs" service runs this in the TimeMesh image, before any node starts: the mesh CA in
# the "ca" volume (no node mounts it: whoever holds its key can make masters) and one certificate per node,
# with its role and compose address, in the "certs" volume that every node mounts read-only. Each node's key
# and password file are mode 0600 and owned by the image's user, which every node runs as. Run once: the
# files stay in the volumes; `docker compose down -v` removes them (and the mesh gets a new CA next time).
set -eu
ca=/var/lib/timemesh-ca
certs=/etc/timemesh/certs
if [ -f "$certs/member.pfx" ]; then
  echo "certs: the mesh certificates exist already"
  exit 0
fi
[ -f "$ca/ca.pem" ] || /app/timemesh cert init --dir "$ca" --name "TimeMesh compose mesh CA"
/app/timemesh cert issue --dir "$ca" --role master --name master-a --ip 172.28.0.11 --out "$certs" --force
/app/timemesh cert issue --dir "$ca" --role master --name master-b --ip 172.28.0.12 --out "$certs" --force
/app/timemesh cert issue --dir "$ca" --role member --name member --ip 172.28.0.13 --out "$certs" --force
cp "$ca/ca.pem" "$certs/ca.pem"
echo "certs: made the mesh CA and the certificates of master-a, master-b and member"
