#!/usr/bin/env python3
"""Samples the time that NTP servers on this machine serve, against this machine's own clock.

Every server here reads the same system clock as the sampler, so the true offset of each is 0 and the
offset measured, ((T2 - T1) + (T3 - T4)) / 2, is the server's error. T1 and T4 are the kernel's software
timestamps of the sampler's request leaving and the reply arriving (SO_TIMESTAMPING transmit stamp from
the error queue, SO_TIMESTAMPNS receive stamp), so the sampler's own scheduling does not enter.

    sampler.py --target chronyd=127.77.0.11:20011 --target timemesh=127.77.0.12:20012 \
               --duration 120 --interval 0.5 --csv samples.csv

Targets are asked in turn, --interval seconds apart per round, after --discard exchanges each that are dropped. A reply with leap 3 (not synchronised),
stratum 0, a wrong origin or without kernel timestamps is no sample (counted). Prints one line per target:
samples, mean, RMS, max |offset| and RMS delay in µs, and the RMS ratio of each target to the first.
"""
import argparse
import math
import os
import select
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = 35
SO_TIMESTAMPING = 37
SOF_TX_SOFTWARE = 1 << 1
SOF_SOFTWARE = 1 << 4
SOF_OPT_TSONLY = 1 << 11
MSG_ERRQUEUE = 0x2000
NTP_UNIX_OFFSET = 2208988800


def endpoint(text):
    name, address = text.split("=", 1)
    host, port = address.rsplit(":", 1)
    return name, (host, int(port))


def ntp_to_ns(raw):
    seconds, fraction = struct.unpack("!II", raw)
    return (seconds - NTP_UNIX_OFFSET) * 1_000_000_000 + (fraction * 1_000_000_000 >> 32)


def timespec_ns(data):
    seconds, nanos = struct.unpack("qq", data[:16])
    return seconds * 1_000_000_000 + nanos


def ask(sock, address, timeout):
    """One exchange: (offset ns, delay ns) or a reason string."""
    cookie = os.urandom(8)
    request = bytes([0x23]) + bytes(39) + cookie      # LI 0, VN 4, mode 3; transmit = random cookie
    while True:   # drop stale replies and stamps
        try:
            sock.recvmsg(2048, 0, socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
    while True:
        try:
            sock.recvmsg(64, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
    sock.sendto(request, address)
    t1 = 0
    deadline = time.monotonic() + timeout
    while not t1 and time.monotonic() < deadline:
        try:
            _, ancillary, _, _ = sock.recvmsg(64, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING:
                    t1 = timespec_ns(data)
        except BlockingIOError:
            select.select([], [], [sock], 0.005)
    if not t1:
        return "no transmit stamp"
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        reply, ancillary, _, source = sock.recvmsg(2048, 512)
        if source[:2] != address or len(reply) < 48:
            continue
        if reply[24:32] != cookie:
            return "wrong origin"
        t4 = 0
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                t4 = timespec_ns(data)
        if not t4:
            return "no receive stamp"
        leap, stratum = reply[0] >> 6, reply[1]
        if leap == 3 or stratum == 0:
            return "unsynchronised"
        t2, t3 = ntp_to_ns(reply[32:40]), ntp_to_ns(reply[40:48])
        return ((t2 - t1) + (t3 - t4)) / 2, (t4 - t1) - (t3 - t2)
    return "timeout"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", type=endpoint, action="append", required=True)
    p.add_argument("--duration", type=float, default=120)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--timeout", type=float, default=0.5)
    p.add_argument("--csv", default="")
    p.add_argument("--discard", type=int, default=3,
                   help="exchanges per target made and dropped before sampling (the first reply of a fresh "
                        ".NET node waits for its reply path to be compiled: one sample of -188 µs at 362 µs delay)")
    a = p.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, SOF_TX_SOFTWARE | SOF_SOFTWARE | SOF_OPT_TSONLY)

    samples = {name: [] for name, _ in a.target}
    misses = {name: {} for name, _ in a.target}
    csv = open(a.csv, "w") if a.csv else None
    if csv:
        csv.write("unix_s,target,offset_ns,delay_ns,miss\n")
    for _ in range(a.discard):
        for _, address in a.target:
            ask(sock, address, a.timeout)
        time.sleep(0.05)
    end = time.monotonic() + a.duration
    next_round = time.monotonic()
    while time.monotonic() < end:
        for name, address in a.target:
            result = ask(sock, address, a.timeout)
            if isinstance(result, str):
                misses[name][result] = misses[name].get(result, 0) + 1
                if csv:
                    csv.write(f"{time.time():.3f},{name},,,{result}\n")
                continue
            samples[name].append(result)
            if csv:
                csv.write(f"{time.time():.3f},{name},{result[0]:.0f},{result[1]:.0f},\n")
        next_round += a.interval
        time.sleep(max(0.0, next_round - time.monotonic()))
    if csv:
        csv.close()

    first_rms = None
    print(f"{'client':<22} {'n':>5} {'mean µs':>9} {'RMS µs':>9} {'max µs':>9} {'RMS delay µs':>13} {'RMS ratio':>10}  misses")
    for name, _ in a.target:
        offsets = [s[0] for s in samples[name]]
        delays = [s[1] for s in samples[name]]
        if not offsets:
            print(f"{name:<22} {0:>5}  no samples  {misses[name]}")
            continue
        mean = sum(offsets) / len(offsets) / 1000
        rms = math.sqrt(sum(o * o for o in offsets) / len(offsets)) / 1000
        peak = max(abs(o) for o in offsets) / 1000
        rms_delay = math.sqrt(sum(d * d for d in delays) / len(delays)) / 1000
        if first_rms is None:
            first_rms = rms
        ratio = rms / first_rms if first_rms else float("nan")
        print(f"{name:<22} {len(offsets):>5} {mean:>+9.1f} {rms:>9.1f} {peak:>9.1f} {rms_delay:>13.1f} {ratio:>10.2f}  {misses[name] or ''}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
