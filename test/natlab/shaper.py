#!/usr/bin/env python3
"""Link shaper of the NAT lab: a transparent two-port "cable" that impairs what crosses it.

Runs inside its own network namespace between a peer's host and its router (see shaper.ts). It
reads every Ethernet frame arriving on one interface with an AF_PACKET raw socket and writes it,
unchanged, to the other interface, after applying per direction, in this order:

  1. random loss: each frame is dropped with probability loss_pct / 100 ("lost on the wire");
  2. a bottleneck of rate_kbit kbit/s (whole Ethernet frames counted), FIFO, whose queue holds at
     most queue_ms of sending time: a frame that would wait longer is dropped (tail drop, as a
     home router's tbf/pfifo does);
  3. a fixed one-way delay of delay_ms, measured from the kernel's receive timestamp of the frame,
     so time this process spends waiting for the CPU is not added on top.

The process asks for SCHED_FIFO priority (falls back to nice -10, then to nothing): a cable does not
wait for the CPU, and the lab shares a small machine with browsers. It still measures how late each
frame left against its due time (the "late*" counters), so a test can check the element itself.

Frames of one direction leave in the order they arrived (lowering the delay at run time holds later
frames behind earlier ones instead of reordering them). Every queue is bounded: the bottleneck by
queue_ms, the delay line by MAX_LINE frames per direction.

Usage: shaper.py HOST_IF ROUTER_IF [SEED]
  "up" is HOST_IF -> ROUTER_IF (what the peer sends), "down" is ROUTER_IF -> HOST_IF.
Control: one command per line on stdin, one reply line on stdout:
  set up|down LOSS_PCT DELAY_MS RATE_KBIT QUEUE_MS   -> "ok" (RATE_KBIT 0 = unlimited)
  stats                                             -> one JSON object of counters per direction
  reset                                             -> "ok" (counters and maxima back to 0)
  quit (or end of stdin)                            -> exits
Errors are answered with "error <message>"; the process keeps running. Prints "ready fifo|nice|normal"
(the scheduling it got) once both sockets are bound. Needs only python3-minimal (no json module:
replies are formatted by hand).
"""
import collections
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23  # Linux >= 4.20
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
MAX_FRAME = 65536
MAX_LINE = 20000  # frames per direction waiting in the delay line
MAX_READ_BATCH = 256  # frames read from one socket before the loop sends what is due
RCVBUF = 4 * 1024 * 1024


def realtime():
    return time.clock_gettime(time.CLOCK_REALTIME)


class Direction:
    """One direction of the cable: impairment settings, its queues and its counters."""

    def __init__(self, name, tx_sock):
        self.name = name
        self.tx_sock = tx_sock
        self.loss = 0.0  # probability
        self.delay = 0.0  # s
        self.rate = 0.0  # bit/s, 0 = unlimited
        self.queue = 0.3  # s of sending time the bottleneck may hold
        self.busy_until = 0.0  # realtime s when the bottleneck has sent everything accepted so far
        self.last_due = 0.0
        self.line = collections.deque()  # (due realtime s, frame)
        self.reset()

    def reset(self):
        self.c = {"rx": 0, "lost": 0, "queueDrops": 0, "tx": 0, "txErrors": 0, "rxBytes": 0, "txBytes": 0, "maxLine": 0, "lateOver2ms": 0, "lateOver5ms": 0}
        self.f = {"lateMaxMs": 0.0, "lateSumMs": 0.0, "maxWaitMs": 0.0}

    def accept(self, frame, arrived, rng):
        """Apply loss and the bottleneck to a frame received at `arrived` (realtime s); queue it."""
        self.c["rx"] += 1
        self.c["rxBytes"] += len(frame)
        if self.loss > 0 and rng.random() < self.loss:
            self.c["lost"] += 1
            return
        leaves = arrived
        if self.rate > 0:
            start = max(arrived, self.busy_until)
            if start - arrived > self.queue:
                self.c["queueDrops"] += 1
                return
            self.busy_until = start + len(frame) * 8 / self.rate
            leaves = self.busy_until
        if len(self.line) >= MAX_LINE:
            self.c["queueDrops"] += 1
            return
        due = max(leaves + self.delay, self.last_due)
        self.last_due = due
        self.line.append((due, arrived, frame))
        if len(self.line) > self.c["maxLine"]:
            self.c["maxLine"] = len(self.line)

    def send_due(self, now):
        """Send every frame due by `now`. @returns the realtime s of the next due frame, or None."""
        line = self.line
        c, f = self.c, self.f
        while line and line[0][0] <= now:
            due, arrived, frame = line.popleft()
            try:
                self.tx_sock.send(frame)
            except OSError:
                c["txErrors"] += 1
                continue
            c["tx"] += 1
            c["txBytes"] += len(frame)
            sent = realtime()
            late = (sent - due) * 1000
            f["lateSumMs"] += late
            f["lateMaxMs"] = max(f["lateMaxMs"], late)
            f["maxWaitMs"] = max(f["maxWaitMs"], (sent - arrived) * 1000)
            if late > 2:
                c["lateOver2ms"] += 1
                if late > 5:
                    c["lateOver5ms"] += 1
        return line[0][0] if line else None

    def stats_json(self):
        items = ['"%s":%d' % kv for kv in self.c.items()] + ['"%s":%.3f' % kv for kv in self.f.items()]
        return "{" + ",".join(items) + ',"queued":%d}' % len(self.line)


def open_port(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass  # old kernel: outgoing copies are filtered by packet type below
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((ifname, ETH_P_ALL))
    s.setblocking(False)
    return s


def kernel_time(ancdata):
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9
    return None


def handle_command(line, dirs):
    parts = line.split()
    if not parts:
        return None
    if parts[0] == "quit":
        sys.exit(0)
    if parts[0] == "stats":
        return "{" + ",".join('"%s":%s' % (d.name, d.stats_json()) for d in dirs.values()) + "}"
    if parts[0] == "reset":
        for d in dirs.values():
            d.reset()
        return "ok"
    if parts[0] == "set" and len(parts) == 6 and parts[1] in dirs:
        try:
            loss, delay, rate, queue = (float(x) for x in parts[2:])
        except ValueError:
            return "error numbers expected: " + line
        if not (0 <= loss <= 100 and 0 <= delay <= 10000 and rate >= 0 and 0 < queue <= 10000):
            return "error out of range: " + line
        d = dirs[parts[1]]
        d.loss, d.delay, d.rate, d.queue = loss / 100, delay / 1000, rate * 1000, queue / 1000
        return "ok"
    return "error unknown command: " + line


def raise_priority():
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return "fifo"
    except (AttributeError, OSError):
        pass
    try:
        os.nice(-10)
        return "nice"
    except OSError:
        return "normal"


def main():
    if len(sys.argv) not in (3, 4):
        sys.stderr.write(__doc__)
        sys.exit(2)
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) == 4 else None)
    host, router = open_port(sys.argv[1]), open_port(sys.argv[2])
    dirs = {"up": Direction("up", router), "down": Direction("down", host)}
    by_fd = {host.fileno(): (host, dirs["up"]), router.fileno(): (router, dirs["down"])}
    ep = select.epoll()
    for fd in by_fd:
        ep.register(fd, select.EPOLLIN)
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)
    ep.register(stdin, select.EPOLLIN)
    pending = b""
    cmsg_len = socket.CMSG_SPACE(16)
    sys.stdout.write("ready %s\n" % raise_priority())
    sys.stdout.flush()
    next_due = None
    while True:
        timeout = -1 if next_due is None else max(0.0, next_due - realtime())
        for fd, _ in ep.poll(timeout):
            if fd == stdin:
                chunk = os.read(stdin, 4096)
                if not chunk:
                    return  # the controlling process went away
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    reply = handle_command(line.decode("ascii", "replace").strip(), dirs)
                    if reply is not None:
                        sys.stdout.write(reply + "\n")
                        sys.stdout.flush()
                if len(pending) > 4096:
                    pending = b""
                continue
            sock, d = by_fd[fd]
            for _ in range(MAX_READ_BATCH):
                try:
                    frame, anc, _flags, addr = sock.recvmsg(MAX_FRAME, cmsg_len)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                d.accept(frame, kernel_time(anc) or realtime(), rng)
        now = realtime()
        next_due = None
        for d in dirs.values():
            due = d.send_due(now)
            if due is not None and (next_due is None or due < next_due):
                next_due = due


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
