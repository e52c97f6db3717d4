"""Descriptor exhaustion. The daemon starts with its descriptor limit lowered
to 36 by the test, fewer than even the 16 sessions the plan leaves room for
need: check-config and the start log say max_connections does not fit. A
flood of 300 connections held open then gets a reply line on every one of
them (the greeting, or 421 4.7.0 / 421 4.3.2), never a silent close or a
hang; the session limit drops to where descriptors ran out; the sessions it
holds keep working; "accept failed" is logged at most about once a second;
and the admin API answers again (it retries accept) once the flood ends.
"""
import os
import resource
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

LIMIT = 36


def check_config_warns(s):
    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
    r = subprocess.run([harness.SLUICE_BIN, "check-config", s.config], capture_output=True, text=True,
                       preexec_fn=lower, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    assert r.returncode == 0, r.stderr
    assert "warning: limits.max_connections: the descriptor limit 36" in r.stderr, r.stderr


def first_line(sock):
    buf = b""
    while b"\r\n" not in buf:
        chunk = sock.recv(1024)
        if not chunk:
            return buf
        buf += chunk
    return buf.split(b"\r\n")[0]


def main():
    s = harness.Sluice(extra="[limits]\nmax_connections_per_ip = 10000\n")
    try:
        check_config_warns(s)
        s.start(nofile=LIMIT)
        assert "descriptor limit" in s.log()
        held = []
        for _ in range(8):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            assert first_line(c).startswith(b"220"), "a session within the limit is greeted"
            held.append(c)

        answers, lock = [], threading.Lock()
        flood = []

        def connect():
            try:
                c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
                line = first_line(c)
                with lock:
                    answers.append(line)
                    flood.append(c)  # held open, as an attacker would
            except OSError as e:
                with lock:
                    answers.append(repr(e).encode())

        t0 = time.time()
        threads = [threading.Thread(target=connect) for _ in range(300)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        elapsed = time.time() - t0
        greeted = [a for a in answers if a.startswith(b"220")]
        refused = [a for a in answers if a.startswith(b"421 4.7.0") or a.startswith(b"421 4.3.2")]
        other = [a for a in answers if a not in greeted and a not in refused]
        print("flood of 300: %d greeted, %d refused with 421 (%d of them 4.3.2), other %s, in %.1fs"
              % (len(greeted), len(refused), len([a for a in refused if a.startswith(b"421 4.3.2")]),
                 other[:3], elapsed))
        assert len(answers) == 300
        assert not other, other[:5]
        assert len(refused) > 200, len(refused)
        # Descriptors did run out (16 sessions need more than 36): those
        # clients heard 421 4.3.2 through the spare descriptor.
        assert any(a.startswith(b"421 4.3.2") for a in refused), refused[:3]
        assert s.proc.poll() is None, "the daemon died"
        # The sessions it has keep working.
        for c in held:
            c.sendall(b"NOOP\r\n")
            assert first_line(c).startswith(b"250"), "a held session stopped answering"
        for c in flood:
            c.close()
        for c in held:
            c.close()
        # The admin API answers again, and so does SMTP.
        harness.wait_for(lambda: s.api("GET", "/api/v1/health")[0] == 200, timeout=20, what="the admin API back")
        c = harness.smtplib.SMTP("127.0.0.1", s.port, timeout=30)
        c.sendmail("x@outside.example", ["alice@acme.example"], harness.message(1, "alice@acme.example"))
        c.quit()
        status, metrics = s.api("GET", "/metrics")
        limit = [l for l in metrics.splitlines() if l.startswith("sluice_smtp_session_limit ")][0]
        assert float(limit.split()[-1]) < 16, limit  # lowered to where descriptors ran out
        log = s.log()
        assert "session limit lowered" in log
        accept_failed = log.count('"msg":"accept failed"')
        assert accept_failed <= elapsed + 3, "accept failed logged %d times in %.1fs" % (accept_failed, elapsed)
    finally:
        s.cleanup()


if __name__ == "__main__":
    main()
