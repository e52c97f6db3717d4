"""Trickling clients against the real daemon. 200 clients that send a byte of a
command every second, and 20 that trickle a message body, are all closed with
a 421 4.4.2 reply within their deadline (plus slack), while a normal client
is served throughout. Then the stress mode: with most session slots taken by
idle clients, the command timeout shrinks to stress_timeout, which the log
and /metrics say.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

COMMAND_TIMEOUT = 3
DATA_TIMEOUT = 4
SLACK = 2.5


def read_reply(sock, buf=b""):
    while b"\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            return None, buf
        buf += chunk
    line, rest = buf.split(b"\r\n", 1)
    return line, rest


def trickler(port, results, lock, body=False, gap=1.0, limit=40):
    """Connects and trickles; records (seconds from the last reply to the 421, reply)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        line, rest = read_reply(s)
        if body:
            s.sendall(b"EHLO t.example\r\nMAIL FROM:<t@outside.example>\r\nRCPT TO:<alice@acme.example>\r\nDATA\r\n")
            replies = 0
            while replies < 4:  # the EHLO's last line, 250, 250, 354
                line, rest = read_reply(s, rest)
                if line is None:
                    raise OSError("closed early")
                if line[3:4] == b" ":
                    replies += 1
            assert line.startswith(b"354"), line
        t0 = time.time()
        text = b"Subject: slow\r\n\r\n" if body else b"EHLO slowly.example"
        s.settimeout(gap)
        got = b""
        for i in range(limit):
            try:
                s.send(text[i % len(text):i % len(text) + 1])
            except OSError:
                break
            try:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
                if b"\r\n" in got:
                    break
            except socket.timeout:
                pass
        s.settimeout(5)
        try:
            while b"\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        with lock:
            results.append((time.time() - t0, got.split(b"\r\n")[0]))
        s.close()
    except OSError as e:
        with lock:
            results.append((None, repr(e).encode()))


def normal_client(port, stop, latencies, failures):
    n = 0
    while not stop.is_set():
        n += 1
        t0 = time.time()
        try:
            c = harness.smtplib.SMTP("127.0.0.1", port, timeout=20)
            c.sendmail("n@outside.example", ["bob@acme.example"], harness.message(n, "bob@acme.example"))
            c.quit()
            latencies.append(time.time() - t0)
        except Exception as e:  # noqa: BLE001 - any failure is what we look for
            failures.append(repr(e))
        time.sleep(0.2)


def deadlines():
    s = harness.Sluice(server_extra='command_timeout = "%ds"\ndata_timeout = "%ds"\n' % (COMMAND_TIMEOUT, DATA_TIMEOUT),
                       extra="[limits]\nmax_connections_per_ip = 1000\n")
    try:
        s.start()
        results, lock = [], threading.Lock()
        stop = threading.Event()
        latencies, failures = [], []
        normal = threading.Thread(target=normal_client, args=(s.port, stop, latencies, failures))
        normal.start()
        threads = [threading.Thread(target=trickler, args=(s.port, results, lock)) for _ in range(200)]
        threads += [threading.Thread(target=trickler, args=(s.port, results, lock, True)) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        stop.set()
        normal.join(timeout=60)
        assert len(results) == 220, len(results)
        errors = [r for r in results if r[0] is None]
        assert not errors, errors[:5]
        commands = results  # both kinds: each must end with its 421 in time
        for elapsed, reply in commands:
            assert reply.startswith(b"421 4.4.2"), reply
        worst = max(e for e, _ in commands)
        assert worst <= DATA_TIMEOUT + SLACK, "a trickler lasted %.1fs" % worst
        assert not failures, failures[:3]
        assert len(latencies) >= 5, latencies
        print("220 tricklers closed with 421 4.4.2, the slowest after %.1fs; normal client: %d messages, "
              "slowest %.2fs" % (worst, len(latencies), max(latencies)))
        status, metrics = s.api("GET", "/metrics")
        assert 'sluice_smtp_timeouts_total{deadline="command",stress="no"} 200' in metrics, metrics
        assert 'sluice_smtp_timeouts_total{deadline="data",stress="no"} 20' in metrics
    finally:
        s.cleanup()


def stress():
    # 40 sessions allowed; stress above half of them; command timeout 60 s
    # but 2 s under stress.
    s = harness.Sluice(server_extra='command_timeout = "60s"\nstress_threshold = 0.5\nstress_timeout = "2s"\n',
                       extra="[limits]\nmax_connections = 40\n")
    try:
        s.start()
        idle = []
        for _ in range(30):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
            read_reply(c)
            idle.append(c)
        t0 = time.time()
        closed = 0
        for c in idle:
            c.settimeout(20)
            line, _ = read_reply(c)
            if line and line.startswith(b"421 4.4.2"):
                closed += 1
        elapsed = time.time() - t0
        assert closed >= 20, closed  # those above the low-water mark at least
        assert elapsed < 2 + 2 * SLACK, elapsed
        for c in idle:
            c.close()
        harness.wait_for(lambda: "edge stress over" in s.log(), timeout=20, what="stress to end")
        log = s.log()
        assert "edge under stress" in log
        status, metrics = s.api("GET", "/metrics")
        assert 'sluice_smtp_stress_entries_total 1' in metrics, metrics
        assert 'sluice_smtp_timeouts_total{deadline="command",stress="yes"}' in metrics
        line = [l for l in metrics.splitlines() if l.startswith('sluice_smtp_timeouts_total{deadline="command",stress="yes"}')][0]
        assert float(line.split()[-1]) >= 20, line
        # Out of stress, a new idle session gets the full command timeout.
        c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        read_reply(c)
        c.settimeout(4)
        try:
            got = c.recv(100)
        except socket.timeout:
            got = b"(still open)"
        assert got == b"(still open)", got
        c.close()
        print("stress: %d idle sessions closed after %.1fs under stress" % (closed, elapsed))
    finally:
        s.cleanup()


if __name__ == "__main__":
    deadlines()
    stress()
