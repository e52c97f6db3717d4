"""Resource forests against real directories: a slapd per LDAP forest (two
replicas for na-1), the embedded SQLite for de-1. A stopped (SIGSTOP) or
saturated forest defers only its own recipients, with a reply line and
within its deadline, while recipients of the other forests in the same
session are accepted; a dead replica fails over to its twin."""
import concurrent.futures
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

NA1 = [("alice@acme.example", "acme", ["sales@acme.example"]), ("bob@acme.example", "acme", [])]
NA2 = [("carol@globex.example", "globex", [])]


def rcpt_codes(port, rcpts):
    """One session: MAIL, then RCPT for each; returns (replies, seconds per RCPT)."""
    c = harness.Raw(port)
    c.send(b"EHLO c\r\nMAIL FROM:<s@outside.example>\r\n")
    c.replies(2)
    out, times = [], []
    for r in rcpts:
        t0 = time.time()
        c.send(b"RCPT TO:<%s>\r\n" % r.encode())
        out.append(c.reply())
        times.append(time.time() - t0)
    c.send(b"QUIT\r\n")
    out.append(c.reply())
    c.close()
    return out, times


class LdapForests(unittest.TestCase):
    def setUp(self):
        self.na1a = harness.Slapd("na-1", NA1)
        self.addCleanup(self.na1a.cleanup)
        self.na1b = harness.Slapd("na-1", NA1)
        self.addCleanup(self.na1b.cleanup)
        self.na2 = harness.Slapd("na-2", NA2)
        self.addCleanup(self.na2.cleanup)
        forests = """
[forest_defaults]
lookup_timeout = "1s"
wait_timeout = "500ms"
cache_entries = 0
breaker_failures = 2
breaker_cooldown = "30s"
[forests.na-1]
replicas = ["%s", "%s"]
[forests.na-2]
replicas = ["%s"]
[forests.de-1]
replicas = ["sqlite"]
""" % (self.na1a.url, self.na1b.url, self.na2.url)
        self.sluice = harness.Sluice(extra=forests).start()
        self.addCleanup(self.sluice.cleanup)

    def test_ldap_lookups_and_delivery(self):
        with self.sluice.smtp() as s:
            s.sendmail("s@outside.example", ["sales@acme.example", "carol@globex.example"],
                       harness.message(1, "x@acme.example"))
        harness.wait_for(lambda: self.sluice.maildir_files("alice@acme.example")
                         and self.sluice.maildir_files("carol@globex.example"), what="LDAP routed delivery")
        replies, _ = rcpt_codes(self.sluice.port, ["nobody@acme.example", "nobody@globex.example"])
        self.assertTrue(replies[0].startswith(b"550 5.1.1"), replies)
        self.assertTrue(replies[1].startswith(b"550 5.1.1"), replies)

    def test_stopped_forest_defers_only_its_recipients(self):
        baseline, base_times = rcpt_codes(self.sluice.port, ["alice@acme.example", "erin@initech.example"])
        self.na2.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.time()
            replies, times = rcpt_codes(self.sluice.port, ["carol@globex.example", "alice@acme.example",
                                                           "erin@initech.example", "carol@globex.example"])
        finally:
            self.na2.proc.send_signal(signal.SIGCONT)
        self.assertTrue(replies[0].startswith(b"451 4.4.3 Directory lookup timed out"), replies[0])
        self.assertTrue(replies[1].startswith(b"250 2.1.5"), replies[1])
        self.assertTrue(replies[2].startswith(b"250 2.1.5"), replies[2])
        self.assertTrue(replies[3].startswith(b"451 4.4.3"), replies[3])
        self.assertTrue(replies[4].startswith(b"221"), replies[4])  # the session was never dropped
        self.assertLess(times[0], 3.0)  # within the deadline (1 s), not the sender's 5 minutes
        print("RCPT seconds, healthy forests: baseline %s, during the stall %s"
              % (["%.3f" % t for t in base_times], ["%.3f" % t for t in times[1:3]]))
        # Once the forest is back, its recipients flow again.
        harness.wait_for(lambda: rcpt_codes(self.sluice.port, ["carol@globex.example"])[0][0]
                         .startswith(b"250"), timeout=30, what="na-2 recovered")

    def test_replica_failover(self):
        self.na1a.stop()  # kill one replica of na-1
        ok = 0
        for _ in range(6):
            replies, _ = rcpt_codes(self.sluice.port, ["alice@acme.example"])
            ok += replies[0].startswith(b"250")
        # At most breaker_failures lookups hit the dead replica before its
        # breaker opens; the rest go to the live one.
        self.assertGreaterEqual(ok, 4)
        replies, _ = rcpt_codes(self.sluice.port, ["bob@acme.example", "alice@acme.example"])
        self.assertTrue(all(r.startswith(b"250") for r in replies[:2]), replies)
        # One dead replica of two: still ready for traffic.
        code, health = self.sluice.api("GET", "/api/v1/health/ready")
        self.assertEqual((code, health["ready"]), (200, True))

    def test_a_forest_with_no_replica_left_is_not_ready(self):
        self.na2.stop()
        for _ in range(3):
            rcpt_codes(self.sluice.port, ["carol@globex.example"])
        code, health = self.sluice.api("GET", "/api/v1/health/ready")
        self.assertEqual(code, 503)
        self.assertEqual(health["reasons"], ["forest na-2: every replica's breaker is open"])
        code, health = self.sluice.api("GET", "/api/v1/health")
        self.assertEqual((code, health["live"]), (200, True))  # alive all the same


class SaturatedForest(unittest.TestCase):
    def start(self, on_saturation):
        forests = """
[forests.na-1]
limit = 1
queue = 0
on_saturation = "%s"
cache_entries = 0
[forests.na-1.fault]
latency = "1500ms"
""" % on_saturation
        s = harness.Sluice(extra=forests, directory_extra="fault_injection = true").start()
        self.addCleanup(s.cleanup)
        return s

    def test_saturation_defers_with_4_3_2_and_others_flow(self):
        s = self.start("defer")
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            first = pool.submit(rcpt_codes, s.port, ["alice@acme.example"])
            time.sleep(0.5)  # the slow lookup holds na-1's only slot
            second = pool.submit(rcpt_codes, s.port, ["bob@acme.example", "carol@globex.example"])
            replies = second.result()[0]
            self.assertTrue(first.result()[0][0].startswith(b"250"))
        self.assertEqual(replies[0], b"451 4.3.2 The maximum number of concurrent lookups for directory "
                                     b"forest na-1 has been reached; try again later\r\n")
        self.assertTrue(replies[1].startswith(b"250 2.1.5"), replies)
        self.assertIn('"msg":"smtp reply"', s.log())

    def test_close_mode_reproduces_the_hosted_service(self):
        s = self.start("close")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(rcpt_codes, s.port, ["alice@acme.example"])
            time.sleep(0.5)
            c = harness.Raw(s.port)
            c.send(b"EHLO c\r\nMAIL FROM:<s@outside.example>\r\nRCPT TO:<bob@acme.example>\r\n")
            replies = c.replies(3)
            self.assertEqual(replies[2], b"421 4.3.2 The maximum number of concurrent connections per "
                                         b"resource forest has exceeded a limit, closing transmission "
                                         b"channel\r\n")
            self.assertEqual(c.reply(), b"")  # then closed, after the reply
            c.close()
            first.result()


if __name__ == "__main__":
    unittest.main(verbosity=2)
