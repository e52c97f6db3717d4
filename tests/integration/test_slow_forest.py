"""A slow but healthy LDAP forest (a real slapd behind a link that delays
every answer 1.5 s): its lookups run asynchronously, so what binds is the
forest's limit, not its threads. With a limit of 50 the slow tenant gets at
least 80 % of 50 / 1.5 s recipients a second through, while four lookup
threads would give it 4 / 1.5 s; a tenant on another forest is unaffected."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from ldap_delay import LdapDelay  # noqa: E402

USERS = 1500
DELAY = 1.5
LIMIT = 50


class SlowForest(unittest.TestCase):
    def test_limit_over_latency_binds_not_threads(self):
        slapd = harness.Slapd("na-1", [("u%d@acme.example" % i, "acme", []) for i in range(USERS)])
        self.addCleanup(slapd.cleanup)
        link = LdapDelay(slapd.port, DELAY)
        self.addCleanup(link.cleanup)
        s = harness.Sluice(extra="""
[forests.na-1]
replicas = ["%s"]
limit = %d
threads = 4
queue = 200
wait_timeout = "3s"
lookup_timeout = "5s"
cache_entries = 0
""" % (link.url(slapd.suffix), LIMIT))
        self.addCleanup(s.cleanup)
        s.start()

        accepted, deferred, other_ms = [], [], []
        stop = time.time() + 12
        next_user = iter(range(USERS))
        lock = threading.Lock()

        def slow_tenant():
            c = harness.Raw(s.port)
            c.send(b"EHLO c\r\n")
            c.reply()
            while time.time() < stop:
                c.send(b"MAIL FROM:<s@outside.example>\r\n")
                c.reply()
                for _ in range(10):
                    with lock:
                        n = next(next_user)
                    c.send(b"RCPT TO:<u%d@acme.example>\r\n" % n)
                    r = c.reply()
                    (accepted if r.startswith(b"250") else deferred).append((time.time(), r))
                    if time.time() >= stop:
                        break
                c.send(b"RSET\r\n")
                c.reply()
            c.close()

        def other_tenant():
            c = harness.Raw(s.port)
            c.send(b"EHLO c\r\nMAIL FROM:<s@outside.example>\r\n")
            c.replies(2)
            while time.time() < stop:
                t0 = time.time()
                c.send(b"RCPT TO:<erin@initech.example>\r\n")
                self.assertTrue(c.reply().startswith(b"250"))
                other_ms.append((time.time() - t0) * 1000)
                c.send(b"RSET\r\nMAIL FROM:<s@outside.example>\r\n")
                c.replies(2)
                time.sleep(0.05)
            c.close()

        # 70 sessions, one RCPT each in flight: more demand than 50 / 1.5 s.
        threads = [threading.Thread(target=slow_tenant) for _ in range(70)]
        threads.append(threading.Thread(target=other_tenant))
        t_start = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        # Skip the first latency's worth: nothing can answer before it.
        window_start = t_start + DELAY + 0.5
        n = sum(1 for at, _ in accepted if at >= window_start)
        rate = n / (stop - window_start)
        other_ms.sort()
        p50 = other_ms[len(other_ms) // 2]
        print("slow tenant %.1f recipients/s (bound %.1f), %d deferred; other tenant p50 %.1f ms, "
              "p99 %.1f ms; most searches in flight at slapd %d"
              % (rate, LIMIT / DELAY, len(deferred), p50, other_ms[int(len(other_ms) * 0.99)], link.max_in_flight))
        self.assertGreaterEqual(rate, 0.8 * LIMIT / DELAY)
        self.assertLessEqual(link.max_in_flight, LIMIT)
        self.assertLess(p50, 50)
        self.assertGreater(len(other_ms), 50)
        for _, r in deferred:  # a wait past the deadline is a 4xx with its reason, never a 5xx
            self.assertTrue(r.startswith(b"451"), r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
