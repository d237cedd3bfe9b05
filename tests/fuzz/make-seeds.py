#!/usr/bin/env python3
"""Writes the seed corpus under tests/fuzz/corpus/: valid NTP requests of versions 1-4, with extension
fields and MACs, mode 6/7 packets, server-target bursts and the shipped HOCON examples. Run it again
after changing it; libFuzzer grows its own corpus from these in a scratch directory."""
import os, shutil, struct

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "corpus")

def header(version, mode, transmit=0x0123456789ABCDEF, poll=6):
    first = (0 << 6) | (version << 3) | mode
    return struct.pack(">BBbb", first, 0, poll, -20) + bytes(36) + struct.pack(">Q", transmit)

def field(ftype, length):
    return struct.pack(">HH", ftype, length) + bytes((i * 7) & 0xFF for i in range(length - 4))

def mac(digest_bytes, key_id=1):
    return struct.pack(">I", key_id) + bytes((0x5A + i) & 0xFF for i in range(digest_bytes))

packets = {
    "v1-client": header(1, 3),
    "v2-client": header(2, 3),
    "v3-client": header(3, 3),
    "v4-client": header(4, 3),
    "v3-md5-mac": header(3, 3) + mac(16),
    "v3-sha1-mac": header(3, 3) + mac(20),
    "v4-sha512-mac": header(4, 3) + mac(64),
    "v4-one-field": header(4, 3) + field(0x0104, 28),
    "v4-two-fields": header(4, 3) + field(0x0104, 16) + field(0x0204, 100),
    "v4-field-and-mac": header(4, 3) + field(0x0104, 16) + mac(16),
    "v4-nts-like": header(4, 3) + field(0x0104, 36) + field(0x0204, 104) + field(0x0404, 40),
    "mode6-control": header(2, 6),
    "mode7-private": header(2, 7) + bytes(4),
    "mode4-server": header(4, 4),
    "v4-symmetric": header(4, 1),
}

def write(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

for name, data in packets.items():
    write("packet", name, data)

def burst(selector, client, step, shift, datagrams):
    out = bytes([selector, client, step, shift])
    for d in datagrams:
        out += struct.pack(">H", len(d)) + d
    return out

clients = [packets[k] for k in ("v4-client", "v3-md5-mac", "v4-one-field", "v1-client")]
write("server", "loopback-answered", burst(0x08, 1, 1, 30, clients))
write("server", "loopback-flood-kod", burst(0x0C, 2, 1, 10, [packets["v4-client"]] * 12))
write("server", "denied-subnet", burst(0x09, 3, 1, 30, clients))
write("server", "ipv6-lan", burst(0x0A, 4, 1, 30, clients))
write("server", "modes-6-7", burst(0x08, 5, 1, 30, [packets["mode6-control"], packets["mode7-private"], packets["mode4-server"]]))
write("server", "truncated", burst(0x08, 6, 1, 30, [packets["v4-client"][:47], packets["v4-client"][:1]]))

def record(critical, rtype, body=b""):
    return struct.pack(">HH", (0x8000 if critical else 0) | rtype, len(body)) + body

# NTS-KE (RFC 8915): the first byte picks the side (even: a server reads a request; odd: a client reads a response).
request = record(True, 1, struct.pack(">H", 0)) + record(True, 4, struct.pack(">H", 15)) + record(True, 0)
response = (record(True, 1, struct.pack(">H", 0)) + record(True, 4, struct.pack(">H", 15))
            + b"".join(record(False, 5, bytes([i]) * 100) for i in range(8))
            + record(True, 6, b"time.example") + record(True, 7, struct.pack(">H", 123)) + record(True, 0))
write("ntske", "request", b"\x00" + request)
write("ntske", "request-extra-records", b"\x00" + record(False, 6, b"ask.example") + record(False, 0x1234, b"x" * 8) + request)
write("ntske", "response", b"\x01" + response)
write("ntske", "error-response", b"\x01" + record(True, 2, struct.pack(">H", 1)) + record(True, 0))

# chrony's command protocol: the requests Debian's chronyc 4.3 sent (tests/TimeMesh.Core.Tests/Cmdmon/Data), each
# once from localhost (first byte 1) and once from an allowed remote host (0).
import json
capture = os.path.join(here, "..", "TimeMesh.Core.Tests", "Cmdmon", "Data", "chronyd-4.3-udp.jsonl")
with open(capture) as f:
    for n, line in enumerate(f):
        req = bytes.fromhex(json.loads(line)["req"])
        command = struct.unpack(">H", req[4:6])[0]
        write("cmdmon", f"chronyc-{n:02d}-cmd{command}-local", b"\x01" + req)
        write("cmdmon", f"chronyc-{n:02d}-cmd{command}-remote", b"\x00" + req)

hocon = os.path.join(here, "..", "..", "hocon")
for name in sorted(os.listdir(hocon)):
    if name.endswith(".hocon"):
        shutil.copy(os.path.join(hocon, name), os.path.join(root, "config", name))
snippets = {
    "ratelimit": 'timemesh { listen = ["127.0.0.1:0"], allow = ["127.0.0.0/8", "all"], deny = ["10.1"], ratelimit { interval = -2, burst = 4, leak = 1, kod = on }, clientloglimit = 1024 }',
    "upstream": 'timemesh { server = [ { address = "127.0.0.1", port = 11200, iburst = on, minpoll = 0, maxpoll = 2, maxunreach = 4 } ], makestep { threshold = 0.5, limit = -1 }, maxslewrate = 500 }',
    "pool-local": 'timemesh { pool = [ { address = "localhost", maxsources = 2 } ], local { stratum = 3 }, minsources = 2, maxdistance = 1.5 }',
    "mesh": 'timemesh { role = member, mesh { status-interval = 1s, hysteresis = 10s, rejoin-delay = 5s }, persistence { provider = sqlite, write-interval = 60s, snapshot-every = 10 } }',
}
for name, text in snippets.items():
    write("config", name + ".hocon", text.encode())

# The strict file check: the valid half of the test corpus, a few of its broken files, and the hocon/ examples.
corpus = os.path.join(here, "..", "TimeMesh.Node.Tests", "ConfigCorpus")
os.makedirs(os.path.join(root, "configcheck"), exist_ok=True)
for name in sorted(os.listdir(os.path.join(corpus, "valid"))):
    shutil.copy(os.path.join(corpus, "valid", name), os.path.join(root, "configcheck", name))
for name in ["01-issue-forgotten-comma", "02-issue-typo-lcoal", "08-block-ended-early", "10-brace-inside-list",
             "41-several-problems", "36-master-without-time"]:
    shutil.copy(os.path.join(corpus, "broken", name + ".hocon"), os.path.join(root, "configcheck", "broken-" + name + ".hocon"))
for name in sorted(os.listdir(hocon)):
    if name.endswith(".hocon"):
        shutil.copy(os.path.join(hocon, name), os.path.join(root, "configcheck", name))
