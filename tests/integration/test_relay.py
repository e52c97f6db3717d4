"""Relay through a real next hop (Postfix's smtp-sink): every message
arrives once; while the next hop is down mail is kept and retried; a 5xx
from it fails the recipient without retrying."""
import concurrent.futures
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402



class Relay(unittest.TestCase):
    def setUp(self):
        self.sink = None
        self.sluice = harness.Sluice()

    def tearDown(self):
        code = self.sluice.stop()
        self.sluice.cleanup()
        if self.sink:
            self.sink.cleanup()
        self.assertEqual(code, 0)

    def send(self, numbers, sessions=10, to="gavin@hooli.example"):
        def worker(k):
            with self.sluice.smtp() as s:
                for n in numbers[k::sessions]:
                    s.sendmail("sender@outside.example", [to], harness.message(n, to, size=2000))
        with concurrent.futures.ThreadPoolExecutor(sessions) as pool:
            list(pool.map(worker, range(sessions)))

    def test_every_message_reaches_the_next_hop_once(self):
        self.sink = harness.SmtpSink(self.sluice.relay_port)
        self.sluice.start()
        self.send(list(range(300)))
        harness.wait_for(lambda: len(self.sink.subjects()) >= 300, timeout=120, what="300 relayed")
        got = self.sink.subjects()
        self.assertEqual(sorted(got), list(range(300)))
        dump = self.sink.messages()[0]
        self.assertIn(b"gavin@hooli.example", dump)
        self.assertIn(b"Received: from ", dump)

    def test_down_next_hop_keeps_and_retries(self):
        self.sluice.start()
        self.send(list(range(40)), sessions=4)
        harness.wait_for(lambda: self.sluice.log().count("Connection refused") >= 40,
                         what="deferrals while the next hop is down")
        time.sleep(1)
        self.sink = harness.SmtpSink(self.sluice.relay_port)
        harness.wait_for(lambda: len(self.sink.subjects()) >= 40, timeout=60, what="retried delivery")
        time.sleep(3)  # nothing more arrives: no duplicates
        self.assertEqual(sorted(self.sink.subjects()), list(range(40)))

    def test_next_hop_restart_is_not_trouble(self):
        # Idle pooled connections die with the next hop; the next delivery
        # must open a fresh one, not back off.
        self.sink = harness.SmtpSink(self.sluice.relay_port)
        self.sluice.start()
        self.send(list(range(20)), sessions=4)
        harness.wait_for(lambda: len(self.sink.subjects()) >= 20, what="first batch")
        self.sink.cleanup()
        self.sink = harness.SmtpSink(self.sluice.relay_port)
        t0 = time.time()
        self.send(list(range(20, 40)), sessions=4)
        harness.wait_for(lambda: len(self.sink.subjects()) >= 20, timeout=30, what="second batch")
        self.assertLess(time.time() - t0, 10)
        self.assertNotIn("backing off", self.sluice.log())
        self.assertEqual(sorted(self.sink.subjects()), list(range(20, 40)))

    def test_permanent_refusal_fails_without_retry(self):
        # smtp-sink -f rcpt: answer every RCPT TO with a 5xx.
        self.sink = harness.SmtpSink(self.sluice.relay_port, extra=("-f", "rcpt"))
        self.sluice.start()
        self.send([1], sessions=1)
        harness.wait_for(lambda: '"result":"failed"' in self.sluice.log(), what="failure logged")
        time.sleep(3)
        attempts = [l for l in self.sluice.log().splitlines() if '"msg":"delivery"' in l]
        self.assertEqual(len(attempts), 1, attempts)
        self.assertIn('"reply":"5', attempts[0])

    def test_dsn_parameters_travel_and_smtputf8_is_not_downgraded(self):
        self.sink = harness.SmtpSink(self.sluice.relay_port)  # offers DSN, not SMTPUTF8
        self.sluice.start()
        with self.sluice.smtp() as s:
            s.ehlo("c")
            s.sendmail("sender@outside.example", ["gavin@hooli.example"],
                       harness.message(7, "gavin@hooli.example"),
                       mail_options=["RET=HDRS", "ENVID=env+2B1"],
                       rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;gavin@hooli.example"])
            s.sendmail("s\u00e9nder@outside.example", ["jared@hooli.example"],
                       harness.message(8, "jared@hooli.example"), mail_options=["SMTPUTF8"])
        harness.wait_for(lambda: 7 in self.sink.subjects(), what="DSN message relayed")
        dump = self.sink.messages()[0]
        self.assertRegex(dump, rb"X-Mail-Args: <sender@outside.example> RET=HDRS ENVID=env\+2B1")
        self.assertRegex(dump, rb"X-Rcpt-Args: <gavin@hooli.example> NOTIFY=SUCCESS,FAILURE "
                               rb"ORCPT=rfc822;gavin@hooli.example")
        harness.wait_for(lambda: "550 5.6.7" in self.sluice.log(), what="SMTPUTF8 refusal")
        self.assertNotIn(8, self.sink.subjects())


if __name__ == "__main__":
    unittest.main(verbosity=2)
