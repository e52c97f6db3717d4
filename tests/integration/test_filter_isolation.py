"""A stopped filter defers only its own transactions, under load: rspamd
(every process of the instance the test started) is SIGSTOPped for 60 s
while three senders keep sending for acme, routed through it, and two for
globex, not routed, measure their accept latency.

- on_error = "tempfail": acme gets 451 4.7.1 within the content timeout,
  and at once (under a second) once the breaker is open.
- on_error = "hold": acme gets 250 the same way, its mail is held for its
  scan, and every message is delivered exactly once after SIGCONT, with
  rspamd's verdict in its verdict header.

Both: the spool's commit time never includes a scan's; globex's accept latency p99 stays within 1.2x of its baseline (or
50 ms, on a machine whose baseline is a few milliseconds) measured under
the same load with rspamd healthy; after SIGCONT the breaker closes;
counted at the mailboxes, nothing is lost and nothing arrives twice."""
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import filters  # noqa: E402
from test_filters import filter_config, mail, send  # noqa: E402

metric = harness.metric
STOPPED = 60      # seconds of SIGSTOP
BASELINE = 10     # seconds of globex latency with rspamd healthy
ACME_SENDERS, GLOBEX_SENDERS = 3, 2


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p))
        except (OSError, ValueError, IndexError):
            pass
    return out


def p99(xs):
    xs = sorted(xs)
    return xs[max(0, int(len(xs) * 0.99) - 1)]


class Load:
    """Senders in threads, each recording (start, code, seconds) per message
    until told to stop; bounded by `deadline` whatever happens."""

    def __init__(self, node, to, senders, pause, deadline):
        self.node, self.to, self.pause, self.deadline = node, to, pause, deadline
        self.results, self.lock, self.stop = [], threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(senders)]
        for t in self.threads:
            t.start()

    def _run(self, i):
        n = 0
        while not self.stop.is_set() and time.time() < self.deadline:
            t0 = time.time()
            try:
                code, _ = send(self.node, self.to, mail(self.to, "%s %d %d" % (self.to, i, n), "hello"))
            except Exception as e:  # noqa: BLE001 - a failed session is a result too
                code = repr(e)
            with self.lock:
                self.results.append((t0, code, time.time() - t0))
            n += 1
            time.sleep(self.pause)

    def since(self, t):
        with self.lock:
            return [r for r in self.results if r[0] >= t]

    def until(self, t):
        with self.lock:
            return [r for r in self.results if r[0] < t]

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)
        with self.lock:
            return list(self.results)


class StoppedRspamd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rspamd = filters.Rspamd()
        cls.rspamd.start()

    @classmethod
    def tearDownClass(cls):
        cls.rspamd.cleanup()

    def run_scenario(self, on_error):
        s = harness.Sluice(extra=filter_config("rspamd", self.rspamd.port, 'on_error = "%s"' % on_error) + """
[protection.tenants.acme]
filters = ["rspamd"]
""")
        self.addCleanup(s.cleanup)
        s.start()
        deadline = time.time() + BASELINE + STOPPED + 120
        acme = Load(s, "alice@acme.example", ACME_SENDERS, 0.05, deadline)
        globex = Load(s, "carol@globex.example", GLOBEX_SENDERS, 0.02, deadline)
        pids = []
        try:
            time.sleep(BASELINE)
            t_stop = time.time()
            pids = [self.rspamd.proc.pid] + children(self.rspamd.proc.pid)
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            time.sleep(STOPPED)
            t_cont = time.time()
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        time.sleep(5)
        acme_all, globex_all = acme.finish(), globex.finish()

        base = [d for t, c, d in globex_all if 2 <= t - (t_stop - BASELINE) and t < t_stop]
        during = [d for t, c, d in globex_all if t_stop <= t < t_cont]
        self.assertGreater(len(base), 50)
        self.assertGreater(len(during), 300)
        self.assertTrue(all(c == 250 for _, c, _ in globex_all), [c for _, c, _ in globex_all if c != 250][:5])
        self.assertLess(p99(during), max(1.2 * p99(base), p99(base) + 0.05), (p99(base), p99(during)))

        stopped = [(c, d) for t, c, d in acme_all if t_stop + 1 <= t < t_cont - 3]  # begun and ended in the stop
        want = 451 if on_error == "tempfail" else 250
        self.assertGreater(len(stopped), 50)
        self.assertTrue(all(c == want for c, _ in stopped), [c for c, _ in stopped if c != want][:5])
        self.assertLess(max(d for _, d in stopped), 6)  # content_timeout 3 s, and some slack
        fast = sorted(d for _, d in stopped[ACME_SENDERS * 3:])  # once the breaker is open
        self.assertLess(fast[len(fast) // 2], 1, fast[-10:])

        # After SIGCONT: the breaker closes, and the mailboxes hold every
        # 250 exactly once.
        harness.wait_for(lambda: send(s, "alice@acme.example", mail("alice@acme.example", "after", "x"))[0] == 250,
                         timeout=30, what="rspamd back")
        self.assertEqual(metric(s, "sluice_filter_breaker_open", 'filter="rspamd"'), 0)
        acme_ok = sum(1 for _, c, _ in acme_all if c == 250) + 1
        globex_ok = len(globex_all)
        for address, n in (("alice@acme.example", acme_ok), ("carol@globex.example", globex_ok)):
            harness.wait_for(lambda: len(s.maildir_files(address)) >= n, timeout=120, what="delivery to " + address)
        time.sleep(6)  # a pass of the held scans more: nothing twice
        self.assertEqual(len(s.maildir_files("alice@acme.example")), acme_ok)
        self.assertEqual(len(s.maildir_files("carol@globex.example")), globex_ok)
        # The spool's commit time is the commit's own: a stalled filter
        # never makes it look slow (nor fires spool-slow).
        commits = metric(s, "sluice_spool_commit_duration_seconds_count")
        self.assertGreater(commits, 0)
        self.assertEqual(metric(s, "sluice_spool_commit_duration_seconds_bucket", 'le="1"'), commits)
        if on_error == "hold":
            self.assertGreater(metric(s, "sluice_held_scans_total", 'result="released"'), 50)
            self.assertEqual(metric(s, "sluice_held_for_scan"), 0)
            for path in s.maildir_files("alice@acme.example")[:20]:
                with open(path, "rb") as f:
                    self.assertIn(b"rspamd=accept; scan=complete", f.read())
        else:
            self.assertEqual(metric(s, "sluice_held_for_scan"), 0)

    def test_tempfail(self):
        self.run_scenario("tempfail")

    def test_hold(self):
        self.run_scenario("hold")


if __name__ == "__main__":
    unittest.main()
