"""A flood of large messages against the content budget. 40 senders each
stream an 8 MiB message slowly into DATA and hold the final dot until all of
them have sent everything they can. With [limits] max_buffered_bytes at
24 MiB the daemon's RSS (read from /proc) stays near the budget instead of
the 320 MiB the bodies would take; sessions over the budget are paused (TCP
backpressure) and then answered 452 4.3.1; every message that got 250 is
delivered, none lost.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SENDERS = 40
SIZE = 8 * 1024 * 1024
CHUNK = 256 * 1024


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_reply(sock, buf):
    while b"\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            return None, buf
        buf += chunk
    line, rest = buf.split(b"\r\n", 1)
    return line, rest


def sender(port, n, barrier, results, lock):
    outcome = None
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=120)
        buf = b""
        _, buf = read_reply(s, buf)
        s.sendall(b"EHLO big.example\r\nMAIL FROM:<big@outside.example>\r\nRCPT TO:<alice@acme.example>\r\nDATA\r\n")
        line = b""
        while not line.startswith(b"354"):
            line, buf = read_reply(s, buf)
            if line is None:
                raise OSError("closed before DATA")
        head = ("Subject: test %d\r\nMessage-ID: <big%d@test>\r\n\r\n" % (n, n)).encode()
        s.sendall(head)
        row = (b"x" * 998) + b"\r\n"
        chunk = row * (CHUNK // len(row))
        sent = len(head)
        s.settimeout(60)
        while sent < SIZE:
            s.sendall(chunk)  # blocks while the daemon applies backpressure
            sent += len(chunk)
            time.sleep(0.01)
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            pass
        s.sendall(b".\r\n")
        line, buf = read_reply(s, buf)
        outcome = line
        s.close()
    except OSError as e:
        outcome = ("error", repr(e))
    with lock:
        results[n] = outcome


def main():
    os.environ["ASAN_OPTIONS"] = "detect_leaks=0:quarantine_size_mb=4:malloc_context_size=2"
    s = harness.Sluice(extra='[limits]\nmax_message_size = "20MiB"\nmax_buffered_bytes = "24MiB"\n'
                             'buffer_wait = "2s"\nmax_connections_per_ip = 1000\n')
    try:
        s.start()
        time.sleep(0.5)
        base = rss_kib(s.proc.pid)
        results, lock = {}, threading.Lock()
        barrier = threading.Barrier(SENDERS)
        threads = [threading.Thread(target=sender, args=(s.port, n, barrier, results, lock)) for n in range(SENDERS)]
        for t in threads:
            t.start()
        peak = base
        while any(t.is_alive() for t in threads):
            peak = max(peak, rss_kib(s.proc.pid))
            time.sleep(0.05)
        for t in threads:
            t.join()
        growth_mib = (peak - base) / 1024
        codes = [r[:9] if isinstance(r, bytes) else r for r in results.values()]
        accepted = [n for n, r in results.items() if isinstance(r, bytes) and r.startswith(b"250")]
        refused = [n for n, r in results.items() if isinstance(r, bytes) and r.startswith(b"452 4.3.1")]
        print("RSS %d MiB at rest, peak +%.0f MiB; %d accepted, %d refused with 452 4.3.1"
              % (base / 1024, growth_mib, len(accepted), len(refused)))
        assert len(results) == SENDERS
        assert len(accepted) + len(refused) == SENDERS, codes
        assert accepted, "nothing got through"
        assert refused, "the budget never bound"
        # The bodies alone would be 320 MiB; the budget is 24 MiB. Allow for
        # the sanitizer's own overhead and RocksDB's memtable.
        assert growth_mib < 120, "RSS grew by %.0f MiB" % growth_mib
        status, metrics = s.api("GET", "/metrics")
        assert "sluice_smtp_buffer_limit_bytes 25165824" in metrics
        waits = [l for l in metrics.splitlines() if l.startswith("sluice_smtp_buffer_waits_total")][0]
        assert float(waits.split()[-1]) > 0, waits
        refusals = [l for l in metrics.splitlines() if l.startswith("sluice_smtp_buffer_refusals_total")][0]
        assert float(refusals.split()[-1]) == len(refused), refusals
        # Every 250 is delivered; nothing refused is.
        harness.wait_for(lambda: len(s.maildir_files("alice@acme.example")) >= len(accepted), timeout=120,
                         what="accepted messages delivered")
        delivered = set()
        for path in s.maildir_files("alice@acme.example"):
            with open(path, "rb") as f:
                head = f.read(4096)
            for n in range(SENDERS):
                if b"Subject: test %d\r\n" % n in head:
                    delivered.add(n)
        assert delivered == set(accepted), (sorted(delivered), sorted(accepted))
        buffered = [l for l in s.api("GET", "/metrics")[1].splitlines() if l.startswith("sluice_smtp_buffered_bytes")][0]
        assert float(buffered.split()[-1]) == 0, buffered
    finally:
        s.cleanup()


if __name__ == "__main__":
    main()
