#!/usr/bin/env python3
"""One NTP client request (mode 3) to HOST PORT; prints the reply's stratum, exits 1 without a valid reply."""
import socket, struct, sys, time

host, port = sys.argv[1], int(sys.argv[2])
deadline = time.time() + float(sys.argv[3] if len(sys.argv) > 3 else 20)
request = bytearray(48)
request[0] = (0 << 6) | (4 << 3) | 3
while time.time() < deadline:
    transmit = int(time.time() * 2**32) & 0xFFFFFFFFFFFFFFFF
    struct.pack_into("!Q", request, 40, transmit)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        try:
            s.sendto(request, (host, port))
            reply, _ = s.recvfrom(1024)
        except OSError:
            time.sleep(0.2)
            continue
    # A server reply (mode 4) that echoes our transmit timestamp as its origin.
    if len(reply) >= 48 and reply[0] & 7 == 4 and struct.unpack_from("!Q", reply, 24)[0] == transmit:
        print(reply[1])
        sys.exit(0)
sys.exit(1)
