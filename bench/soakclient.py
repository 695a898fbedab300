#!/usr/bin/python3
"""The client side of bench/soak; it runs inside srt. Standard library only.

    soakclient.py --origin PORT [--seconds 300] [--workers 20]
                  [--abort-ratio 0.1] [--warmup 5] [--progress 10] [--seed 1]
                  [--kinds http,connect,socks] [--max-transfers 2000000]

WORKERS threads make transfers one after the other, each on a new
connection, from the loopback origin bench/netserve.c (127.0.0.1:PORT)
through srt's proxies, the kind chosen at random for each transfer
(among KINDS, all three by default):

  http     GET http://127.0.0.1:PORT/pattern/N (absolute form) to the HTTP
           proxy 127.0.0.1:3128, half of them with "Connection: close"
  connect  CONNECT 127.0.0.1:PORT to 127.0.0.1:3128, then GET /pattern/N
  socks    SOCKS5 (no authentication) CONNECT to 127.0.0.1:PORT through
           127.0.0.1:1080, then GET /pattern/N

N is drawn log-uniformly between 1 KiB and 4 MiB (a third above 256 KiB).
Every byte of the body is checked against the origin's pattern (byte i is
i % 251), and the length against Content-Length. A share of transfers
(ABORT_RATIO) is aborted by the client mid-body instead: their N is drawn
between 64 KiB and 4 MiB, and after 10-90% of the body the client closes
the connection, half of the time with a plain close() (what has arrived
is read first, so that the kernel sends a FIN rather than a RST), half
with SO_LINGER 0 (a RST). Anything else that goes wrong (a refusal, a
short or wrong body, no progress for 30 s) is a failure.

Protocol on stdout and stdin (bench/soak drives it):
  "ready"                               then waits for a line on stdin
  warm-up of WARMUP seconds, all connections closed:
  "warm DONE ABORTED FAILED"            then waits for a line on stdin
  every PROGRESS seconds:
  "progress SECONDS DONE ABORTED FAILED MB"
  after SECONDS, all connections closed:
  "idle DONE ABORTED FAILED"            then waits for a line on stdin
  "abort SECONDS KIND fin|rst"          the first 5 aborts, as they happen
                                        (SECONDS since the first "go")
  "fail KIND SIZE MESSAGE"              the first 10 failures
  "kinds http=N connect=N socks=N fin=N rst=N"
  "result DONE ABORTED FAILED MB STATUS"
and exits with STATUS: 0 when no transfer failed, else 1. Counts cover
the warm-up and the run. The workers stop early once MAX_TRANSFERS have
been made in all. End of file on stdin ends it early."""
import argparse
import math
import random
import socket
import struct
import sys
import threading
import time

PERIOD = 251
CHUNK = 256 * 1024
PATTERN = bytes(range(PERIOD)) * (CHUNK // PERIOD + 2)
HTTP_PROXY = ("127.0.0.1", 3128)
SOCKS_PROXY = ("127.0.0.1", 1080)
TIMEOUT = 30.0
KINDS = ("http", "connect", "socks")


class Failed(Exception):
    pass


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.done = self.aborted = self.failed = 0
        self.bytes = 0
        self.kinds = {k: 0 for k in KINDS}
        self.fin = self.rst = 0
        self.failures = []

    def add(self, kind, outcome, nbytes, detail=None):
        with self.lock:
            self.kinds[kind] += 1
            self.bytes += nbytes
            if outcome == "done":
                self.done += 1
            elif outcome in ("fin", "rst"):
                self.aborted += 1
                if self.aborted <= 5:
                    say(f"abort {time.monotonic() - self.t0:.3f} {kind} {outcome}")
                if outcome == "fin":
                    self.fin += 1
                else:
                    self.rst += 1
            else:
                self.failed += 1
                if len(self.failures) < 10:
                    self.failures.append(detail)

    def total(self):
        with self.lock:
            return self.done + self.aborted + self.failed

    def counts(self):
        with self.lock:
            return self.done, self.aborted, self.failed, self.bytes


def recv_head(sock, what):
    """Reads up to the end of a response head; returns (status, headers
    text, bytes after the head)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > 16384:
            raise Failed(f"{what}: response head too long")
        chunk = sock.recv(16384)
        if not chunk:
            raise Failed(f"{what}: closed before the response head ({len(buf)} bytes)")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    text = head.decode("latin-1")
    first = text.split("\r\n", 1)[0]
    parts = first.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise Failed(f"{what}: malformed answer {first!r}")
    return int(parts[1]), text, rest


def content_length(headers):
    for line in headers.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value.strip())
    return -1


def recv_exact(sock, n, what):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise Failed(f"{what}: closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def socks_connect(sock, port):
    sock.sendall(b"\x05\x01\x00")
    if recv_exact(sock, 2, "SOCKS5 greeting") != b"\x05\x00":
        raise Failed("SOCKS5 greeting refused")
    sock.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", port))
    rep = recv_exact(sock, 5, "SOCKS5 reply")
    if rep[0] != 5 or rep[1] != 0:
        raise Failed(f"SOCKS5 CONNECT answered {rep[1]}")
    left = {1: 5, 4: 17, 3: rep[4] + 2}.get(rep[3])
    if left is None:
        raise Failed(f"SOCKS5 reply with address type {rep[3]}")
    recv_exact(sock, left, "SOCKS5 reply")


def check_body(chunk, offset, what):
    o = offset % PERIOD
    if chunk != PATTERN[o:o + len(chunk)]:
        for i, byte in enumerate(chunk):
            if byte != (offset + i) % PERIOD:
                raise Failed(f"{what}: wrong byte at offset {offset + i}")
        raise Failed(f"{what}: wrong bytes near offset {offset}")


def abort(sock, rst):
    if rst:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        # Read what has arrived, so that close() sends a FIN: a socket
        # closed with unread bytes is reset by the kernel.
        sock.setblocking(False)
        try:
            while sock.recv(CHUNK):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            pass
    sock.close()


def transfer(port, kind, size, abort_at, rst, close_header):
    """One transfer; returns the outcome ("done", "fin" or "rst") and the
    body bytes received. Raises Failed or OSError."""
    what = f"{kind} /pattern/{size}"
    sock = socket.create_connection(SOCKS_PROXY if kind == "socks" else HTTP_PROXY, TIMEOUT)
    closed = False
    received = 0
    try:
        sock.settimeout(TIMEOUT)
        if kind == "socks":
            socks_connect(sock, port)
        elif kind == "connect":
            sock.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
                         .encode())
            status, _, rest = recv_head(sock, "CONNECT")
            if status != 200:
                raise Failed(f"CONNECT answered {status}")
            if rest:
                raise Failed("bytes after the CONNECT answer")
        target = f"http://127.0.0.1:{port}/pattern/{size}" if kind == "http" else f"/pattern/{size}"
        extra = "Connection: close\r\n" if close_header else ""
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode())
        status, headers, rest = recv_head(sock, what)
        if status != 200:
            raise Failed(f"{what}: answered {status}")
        if content_length(headers) != size:
            raise Failed(f"{what}: Content-Length {content_length(headers)}")
        chunk = rest
        while True:
            if chunk:
                if received + len(chunk) > size:
                    raise Failed(f"{what}: {received + len(chunk)} bytes, more than {size}")
                check_body(chunk, received, what)
                received += len(chunk)
            if abort_at is not None and received >= abort_at:
                abort(sock, rst)
                closed = True
                return ("rst" if rst else "fin"), received
            if received == size:
                return "done", received
            chunk = sock.recv(CHUNK)
            if not chunk:
                raise Failed(f"{what}: closed after {received} of {size} bytes")
    finally:
        if not closed:
            sock.close()


def draw(rng, ratio, kinds):
    """(kind, size, abort_at, rst, close_header) of the next transfer."""
    kind = rng.choice(kinds)
    close_header = kind == "http" and rng.random() < 0.5
    if rng.random() < ratio:
        size = int(math.exp(rng.uniform(math.log(64 << 10), math.log(4 << 20))))
        abort_at = max(1, int(size * rng.uniform(0.1, 0.9)))
        return kind, size, abort_at, rng.random() < 0.5, close_header
    size = int(math.exp(rng.uniform(math.log(1 << 10), math.log(4 << 20))))
    return kind, size, None, False, close_header


def worker(port, rng, ratio, kinds, limit, stop, stats):
    while not stop.is_set() and stats.total() < limit:
        kind, size, abort_at, rst, close_header = draw(rng, ratio, kinds)
        try:
            outcome, got = transfer(port, kind, size, abort_at, rst, close_header)
            stats.add(kind, outcome, got)
        except (Failed, OSError) as e:
            stats.add(kind, "failed", 0, f"{kind} {size} {type(e).__name__}: {e}")


def run_phase(args, seconds, stats, rngs, progress=None):
    """Runs the workers for `seconds`; returns when all have stopped (and so
    closed their connections)."""
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(args.origin, rngs[i], args.abort_ratio,
                                                     args.kinds, args.max_transfers, stop, stats),
                                daemon=True)
               for i in range(args.workers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    next_report = t0 + args.progress
    while True:
        now = time.monotonic()
        end = t0 + seconds
        if now >= end or not any(t.is_alive() for t in threads):
            break
        if progress and now >= next_report:
            done, aborted, failed, nbytes = stats.counts()
            say(f"progress {now - t0:.0f} {done} {aborted} {failed} {nbytes / 1e6:.0f}")
            next_report += args.progress
        time.sleep(min(0.2, end - now))
    stop.set()
    for t in threads:
        t.join()


SAY_LOCK = threading.Lock()


def say(line):
    with SAY_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def wait_go():
    if not sys.stdin.readline():
        sys.exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--origin", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--workers", type=int, default=20)
    ap.add_argument("--abort-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--progress", type=float, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--max-transfers", type=int, default=2000000)
    args = ap.parse_args()
    args.kinds = [k for k in args.kinds.split(",") if k]
    if not args.kinds or set(args.kinds) - set(KINDS):
        ap.error("--kinds takes a comma-separated list of " + ", ".join(KINDS))
    master = random.Random(args.seed)
    rngs = [random.Random(master.random()) for _ in range(args.workers)]
    stats = Stats()
    say("ready")
    wait_go()
    stats.t0 = time.monotonic()
    run_phase(args, args.warmup, stats, rngs)
    say("warm %d %d %d" % stats.counts()[:3])
    wait_go()
    run_phase(args, args.seconds, stats, rngs, progress=True)
    say("idle %d %d %d" % stats.counts()[:3])
    wait_go()
    done, aborted, failed, nbytes = stats.counts()
    for f in stats.failures:
        say(f"fail {f}")
    say("kinds " + " ".join(f"{k}={v}" for k, v in stats.kinds.items())
        + f" fin={stats.fin} rst={stats.rst}")
    status = 0 if failed == 0 else 1
    say(f"result {done} {aborted} {failed} {nbytes / 1e6:.0f} {status}")
    sys.exit(status)


if __name__ == "__main__":
    main()
