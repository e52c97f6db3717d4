"""kill -9 in the middle of a 2,000-message load: after a restart every
message that got a 250 is delivered exactly once. And kill -9 in the middle
of deliveries to an SMTP next hop: nothing acknowledged is lost, and only
the deliveries in flight at the kill may arrive twice."""
import collections
import concurrent.futures
import os
import re
import smtplib
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

RECIPIENTS = ["alice@acme.example", "carol@globex.example", "erin@initech.example"]
TOTAL, SESSIONS, KILL_AFTER = 2000, 20, 700


class CrashSafety(unittest.TestCase):
    def test_sigkill_mid_load_loses_and_duplicates_nothing_acknowledged(self):
        sluice = harness.Sluice().start()
        self.addCleanup(sluice.cleanup)
        acked = set()
        lock = threading.Lock()
        killed = threading.Event()

        def worker(k, numbers):
            # Like a real sending MTA: a message is done only after its 250.
            try:
                with sluice.smtp() as s:
                    for n in numbers:
                        to = RECIPIENTS[n % len(RECIPIENTS)]
                        s.sendmail("sender@outside.example", [to], harness.message(n, to, size=1500))
                        with lock:
                            acked.add(n)
                            if len(acked) >= KILL_AFTER and not killed.is_set():
                                killed.set()
                                sluice.kill9()
            except (smtplib.SMTPException, OSError):
                pass  # the daemon died under us

        with concurrent.futures.ThreadPoolExecutor(SESSIONS) as pool:
            list(pool.map(lambda k: worker(k, range(k, TOTAL, SESSIONS)), range(SESSIONS)))
        self.assertTrue(killed.is_set(), "the load finished before the kill")
        acked_before_kill = set(acked)
        self.assertGreaterEqual(len(acked_before_kill), KILL_AFTER)

        # Restart on the same spool and resend what was not acknowledged.
        sluice.start()
        rest = sorted(set(range(TOTAL)) - acked_before_kill)
        with concurrent.futures.ThreadPoolExecutor(SESSIONS) as pool:
            list(pool.map(lambda k: worker(k, rest[k::SESSIONS]), range(SESSIONS)))
        self.assertEqual(acked, set(range(TOTAL)))

        def delivered():
            counts = collections.Counter()
            for path in sluice.maildir_files():
                with open(path, "rb") as f:
                    m = re.search(rb"Subject: test (\d+)", f.read())
                counts[int(m.group(1))] += 1
            return counts

        harness.wait_for(lambda: set(delivered()) >= set(range(TOTAL)), timeout=180,
                         what="every message delivered after restart")
        counts = delivered()
        duplicated = [n for n in acked_before_kill if counts[n] != 1]
        self.assertEqual(duplicated, [], "acknowledged messages delivered other than once")
        # Messages committed but not acknowledged before the kill were resent
        # by the client: RFC 5321 §6.1 allows those to arrive twice.
        print("acked before kill: %d, resent: %d, duplicates of unacked: %d"
              % (len(acked_before_kill), len(rest), sum(1 for n in rest if counts[n] > 1)))
        self.assertEqual(sluice.log().count('"msg":"queue recovered"'), 2)
        self.assertEqual(sluice.stop(), 0)

    def test_sigkill_during_deliveries_to_a_next_hop(self):
        total, max_deliveries = 1000, 16
        sink = harness.SmtpSink()
        self.addCleanup(sink.cleanup)
        sluice = harness.Sluice(relay_port=sink.port, queue={"max_deliveries": str(max_deliveries)}).start()
        self.addCleanup(sluice.cleanup)
        acked = set()
        lock = threading.Lock()

        def worker(numbers):
            try:
                with sluice.smtp() as s:
                    for n in numbers:
                        s.sendmail("sender@outside.example", ["gavin@hooli.example"],
                                   harness.message(n, "gavin@hooli.example", size=1500))
                        with lock:
                            acked.add(n)
            except (smtplib.SMTPException, OSError):
                pass

        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            futures = [pool.submit(worker, range(k, total, 10)) for k in range(10)]
            # Kill while the queue is busy delivering what is still arriving.
            harness.wait_for(lambda: len(sink.subjects()) >= 300, timeout=120, what="300 relayed")
            sluice.kill9()
            for f in futures:
                f.result()
        received_before = len(sink.subjects())
        acked_before_kill = set(acked)
        sluice.start()
        harness.wait_for(lambda: set(sink.subjects()) >= acked_before_kill, timeout=180,
                         what="every acknowledged message at the next hop")
        harness.wait_for(lambda: sluice.api("GET", "/api/v1/queue")[1]["messages"] == 0, timeout=60,
                         what="an empty queue")
        counts = collections.Counter(sink.subjects())
        twice = [n for n, c in counts.items() if c > 1]
        print("acked before kill: %d, at the next hop before kill: %d, delivered twice: %d"
              % (len(acked_before_kill), received_before, len(twice)))
        # A 250 from the next hop whose state write the kill cut short is the
        # only way to a duplicate (RFC 5321 §6.1): at most one per delivery in flight.
        self.assertLessEqual(len(twice), max_deliveries)
        self.assertEqual(sluice.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
