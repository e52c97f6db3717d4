"""A next hop that answers 421 for a while, then closes connections
abruptly, then recovers (Postfix's smtp-sink with -Q and -q): every
message is delivered once after recovery, the destination's concurrency
shrank and it backed off during the fault, and a second, healthy
destination went on at full speed. Connections are reused when healthy.
And a one-second 421 under load costs seconds, not backoff_max: the
deliveries in flight that all fail in the blip count as one trouble."""
import threading
import concurrent.futures
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402



class Throttle(unittest.TestCase):
    def test_failing_next_hop_backs_off_alone_and_recovers(self):
        s = harness.Sluice()
        self.addCleanup(s.cleanup)
        faulty = harness.SmtpSink(s.relay_port, extra=("-Q", "rcpt"))  # 421 and close after RCPT
        healthy = harness.SmtpSink(s.relay2_port)
        self.addCleanup(healthy.cleanup)
        s.start()

        def send(numbers, to):
            with s.smtp() as c:
                for n in numbers:
                    c.sendmail("s@outside.example", [to], harness.message(n, to))

        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda k: send(range(k, 80, 2), "gavin@hooli.example"), range(2)))
            list(pool.map(lambda k: send(range(1000 + k, 1080, 2), "sol@soylent.example"), range(2)))
        harness.wait_for(lambda: len(healthy.subjects()) >= 80, timeout=30, what="healthy destination")
        healthy_seconds = time.time() - t0
        code, dests = s.api("GET", "/api/v1/destinations")
        by = {d["name"]: d for d in dests}
        self.assertLess(by["relay"]["concurrency_limit"], 20)  # shrank from 20
        self.assertIn(by["relay"]["breaker"], ("open", "half-open"))
        self.assertIn("421", by["relay"]["last_trouble"])
        self.assertEqual(by["relay2"]["breaker"], "closed")
        self.assertEqual(by["relay2"]["concurrency_limit"], 20)
        self.assertEqual(faulty.subjects(), [])

        # Now it closes connections without a word.
        faulty.cleanup()
        abrupt = harness.SmtpSink(s.relay_port, extra=("-q", "rcpt"))
        harness.wait_for(lambda: "connection lost" in s.log() or "end of file" in s.log().lower(),
                         timeout=20, what="abrupt closes seen")
        abrupt.cleanup()

        # Recovery: every message arrives once.
        ok = harness.SmtpSink(s.relay_port)
        self.addCleanup(ok.cleanup)
        harness.wait_for(lambda: len(ok.subjects()) >= 80, timeout=90, what="recovery")
        time.sleep(2)
        self.assertEqual(sorted(ok.subjects()), list(range(80)))
        self.assertEqual(sorted(healthy.subjects()), list(range(1000, 1080)))
        print("healthy destination delivered 80 messages in %.1f s during the fault" % healthy_seconds)

        # Connections were reused toward the healthy destination.
        code, dests = s.api("GET", "/api/v1/destinations")
        by = {d["name"]: d for d in dests}
        self.assertGreater(by["relay2"]["reused"], 0)
        self.assertLess(by["relay2"]["connections"], 80)
        code, text = s.api("GET", "/metrics")
        self.assertIn('sluice_deliveries_total{destination="relay2",result="delivered"} 80', text)

    def test_one_second_of_421_costs_seconds_not_a_minute(self):
        s = harness.Sluice(relay_backoff_max="60s")
        self.addCleanup(s.cleanup)
        sink = harness.SmtpSink(s.relay_port)
        s.start()
        total = 240
        sent = []

        def send(numbers):
            with s.smtp() as c:
                for n in numbers:
                    c.sendmail("s@outside.example", ["gavin@hooli.example"], harness.message(n, "gavin@hooli.example"))
                    sent.append(n)
                    time.sleep(0.02)  # a steady stream, so deliveries are in flight when the blip comes

        senders = [threading.Thread(target=send, args=(range(k, total, 4),)) for k in range(4)]
        for t in senders:
            t.start()
        harness.wait_for(lambda: len(sink.subjects()) >= 40, timeout=30, what="deliveries under way")
        # The blip: for one second the next hop answers 421 on every session (at RCPT).
        sink.stop()
        # Read after the stop: a delivery can land between a read and the stop.
        before = sink.subjects()
        blip = harness.SmtpSink(s.relay_port, extra=("-Q", "rcpt"))
        time.sleep(1.0)
        blip.cleanup()
        back = harness.SmtpSink(s.relay_port)
        self.addCleanup(back.cleanup)
        blip_end = time.time()
        harness.wait_for(lambda: back.subjects(), timeout=30, what="the first delivery after the blip")
        resumed = time.time() - blip_end
        for t in senders:
            t.join(timeout=60)
        self.assertEqual(len(sent), total)
        delivered = lambda: set(before) | set(back.subjects())
        try:
            harness.wait_for(lambda: len(delivered()) >= total, timeout=60, what="all delivered")
        except AssertionError:
            code, dests = s.api("GET", "/api/v1/destinations")
            self.fail("not delivered: %s; destinations: %s" % (sorted(set(range(total)) - delivered()), dests))
        # backoff_min is 1 s and queue retries come within 2 s: one halving and
        # one doubling at most. Counting each failure would have paused 60 s.
        self.assertLess(resumed, 1 + 5, "deliveries resumed %.1f s after the blip" % resumed)
        code, dests = s.api("GET", "/api/v1/destinations")
        self.assertEqual(code, 200)
        self.assertEqual(sorted(set(before) | set(back.subjects())), list(range(total)))
        print("deliveries resumed %.1f s after a one-second 421" % resumed)


if __name__ == "__main__":
    unittest.main(verbosity=2)
