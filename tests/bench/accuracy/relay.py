#!/usr/bin/env python3
"""A UDP relay that holds every datagram for a seeded random delay, each direction on its own.

The accuracy bench puts one in front of each client so that all of them see the same path: the same
seed gives the same sequence of delays (the n-th request forwarded waits as long on every relay, and so
does the n-th reply). This kernel has no tc netem, hence a relay in user space.

    relay.py --listen 127.77.0.2:20001 --upstream 127.77.0.1:20000 --seed 1 \
             --out-base-us 100 --out-exp-us 100 --back-base-us 100 --back-exp-us 100

Delay of one datagram = base + an exponentially distributed part with the given mean (0: none).
Each client address gets its own socket toward the upstream (clients use a fresh source port per
request), closed after 30 s without traffic. Stops on SIGTERM/SIGINT and prints its counts on stderr.
"""
import argparse
import ctypes
import heapq
import random
import select
import signal
import socket
import sys
import time


def endpoint(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", type=endpoint, required=True)
    p.add_argument("--upstream", type=endpoint, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-base-us", type=float, default=100.0)
    p.add_argument("--out-exp-us", type=float, default=100.0)
    p.add_argument("--back-base-us", type=float, default=100.0)
    p.add_argument("--back-exp-us", type=float, default=100.0)
    a = p.parse_args()

    # Timer slack 1 ns: the kernel would otherwise add up to 50 µs to every select timeout.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK
    except OSError:
        pass

    out_rng = random.Random(a.seed * 2 + 0)
    back_rng = random.Random(a.seed * 2 + 1)

    def draw(rng, base_us, exp_us):
        jitter = rng.expovariate(1.0 / exp_us) if exp_us > 0 else 0.0
        return int((base_us + jitter) * 1000)

    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(a.listen)
    front.setblocking(False)
    back_of = {}        # client address -> socket toward the upstream
    client_of = {}      # that socket -> client address
    last_used = {}
    pending = []        # heap of (due monotonic ns, sequence, socket, payload, destination)
    sequence = 0
    counts = {"out": 0, "back": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    while not stop:
        now = time.monotonic_ns()
        while pending and pending[0][0] <= now:
            _, _, sock, payload, destination = heapq.heappop(pending)
            try:
                sock.sendto(payload, destination)
            except OSError:
                pass
            now = time.monotonic_ns()
        timeout = 0.2 if not pending else max(0.0, (pending[0][0] - now) / 1e9)
        try:
            readable, _, _ = select.select([front, *client_of.keys()], [], [], timeout)
        except InterruptedError:
            continue
        for sock in readable:
            try:
                payload, source = sock.recvfrom(65536)
            except (BlockingIOError, OSError):
                continue
            arrived = time.monotonic_ns()
            if sock is front:
                up = back_of.get(source)
                if up is None:
                    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    up.bind((a.listen[0], 0))
                    up.setblocking(False)
                    back_of[source] = up
                    client_of[up] = source
                last_used[up] = arrived
                due = arrived + draw(out_rng, a.out_base_us, a.out_exp_us)
                heapq.heappush(pending, (due, sequence, up, payload, a.upstream))
                counts["out"] += 1
            else:
                client = client_of[sock]
                last_used[sock] = arrived
                due = arrived + draw(back_rng, a.back_base_us, a.back_exp_us)
                heapq.heappush(pending, (due, sequence, front, payload, client))
                counts["back"] += 1
            sequence += 1
        # Forget idle client sockets (nothing of theirs still pending).
        if len(client_of) > 64 or (sequence & 63) == 0:
            cutoff = time.monotonic_ns() - 30_000_000_000
            busy = {entry[2] for entry in pending}
            for up in [s for s, t in last_used.items() if t < cutoff and s not in busy]:
                del back_of[client_of.pop(up)]
                del last_used[up]
                up.close()
    print(f"relay {a.listen[0]}:{a.listen[1]}: forwarded {counts['out']} out, {counts['back']} back", file=sys.stderr)


if __name__ == "__main__":
    main()
