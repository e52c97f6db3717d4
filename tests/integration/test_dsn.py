"""DSNs (RFC 3464) on expiry: a destination that never answers, a short
lifetime; the sender gets a delay warning and then a failure report that
parses as multipart/report with the DSN parameters it gave; the null sender
gets nothing; the queue ends empty."""
import email
import email.policy
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def read(path):
    with open(path, "rb") as f:
        return email.message_from_bytes(f.read(), policy=email.policy.compat32)


class Expiry(unittest.TestCase):
    def setUp(self):
        # relay2 (soylent) has nothing listening: every attempt is deferred.
        self.sluice = harness.Sluice(queue={"max_lifetime": '"4s"', "delay_warning": '"1s"',
                                            "retry_initial": '"1s"', "retry_max": '"1s"'}).start()

    def tearDown(self):
        code = self.sluice.stop()
        self.sluice.cleanup()
        self.assertEqual(code, 0)

    def dsns(self):
        return sorted((read(p) for p in self.sluice.maildir_files("alice@acme.example")),
                      key=lambda m: m["Subject"])

    def test_delay_then_failure_report_and_nothing_for_the_null_sender(self):
        with self.sluice.smtp() as s:
            s.ehlo()
            s.sendmail("alice@acme.example", ["sol@soylent.example"], harness.message(1, "sol@soylent.example"),
                       mail_options=["ENVID=env+2B1", "RET=HDRS"],
                       rcpt_options=["NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;Sol+40soylent.example"])
            s.sendmail("", ["sol@soylent.example"], harness.message(2, "sol@soylent.example"))
        harness.wait_for(lambda: len(self.sluice.maildir_files("alice@acme.example")) == 2, timeout=60,
                         what="a delay and a failure report")
        harness.wait_for(lambda: self.sluice.api("GET", "/api/v1/queue")[1]["messages"] == 0, timeout=30,
                         what="an empty queue")
        delay, failure = self.dsns()  # sorted by Subject: "Delayed ..." < "Undelivered ..."
        self.assertTrue(delay["Subject"].startswith("Delayed Mail"))
        self.assertTrue(failure["Subject"].startswith("Undelivered Mail"))
        for report, action in ((delay, "delayed"), (failure, "failed")):
            self.assertEqual(report.get_content_type(), "multipart/report")
            self.assertEqual(report.get_param("report-type"), "delivery-status")
            self.assertEqual(report["Auto-Submitted"], "auto-replied")
            parts = [p.get_content_type() for p in report.get_payload()]
            self.assertEqual(parts, ["text/plain", "message/delivery-status",
                                     "text/rfc822-headers"])  # RET=HDRS: headers only
            status = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"][0]
            per_message, per_rcpt = status.get_payload()[0], status.get_payload()[1]
            self.assertEqual(per_message["Reporting-MTA"], "dns; mx.sluice.test")
            self.assertEqual(per_message["Original-Envelope-Id"], "env+1")
            self.assertEqual(per_rcpt["Original-Recipient"], "rfc822;Sol@soylent.example")
            self.assertEqual(per_rcpt["Final-Recipient"], "rfc822; sol@soylent.example")
            self.assertEqual(per_rcpt["Action"], action)
            self.assertTrue(per_rcpt["Status"].startswith("4."), per_rcpt["Status"])
            self.assertIn("Diagnostic-Code", per_rcpt)
            headers = [p for p in report.walk() if p.get_content_type() == "text/rfc822-headers"][0]
            self.assertIn("Subject: test 1", headers.get_payload())
        self.assertIn("Will-Retry-Until", str(delay))
        # The null sender's message expired without any report.
        events = [json.loads(line) for line in self.sluice.log().splitlines() if line.startswith("{")]
        dsn_events = [e for e in events if e["msg"] == "dsn"]
        self.assertEqual(sorted(e["kind"] for e in dsn_events), ["delay", "failure"])
        self.assertTrue(all(e["to"] == "alice@acme.example" for e in dsn_events))
        failed = [e for e in events if e["msg"] == "delivery" and e["result"] == "failed"]
        self.assertEqual(len(failed), 2)  # both messages expired
        self.assertTrue(all("expired" in e["reply"] for e in failed))


class PermanentFailure(unittest.TestCase):
    def test_a_5xx_bounces_at_once_with_the_whole_message(self):
        # A real 5xx from a real mailbox store: Dovecot does not know ghost.
        dovecot = harness.Dovecot({"ann": ""})
        sluice = harness.Sluice(lmtp_port=dovecot.port).start()
        try:
            with sluice.smtp() as s:
                s.sendmail("alice@acme.example", ["ghost@umbrella.example"], harness.message(7, "ghost@umbrella.example"))
            harness.wait_for(lambda: sluice.maildir_files("alice@acme.example"), timeout=60, what="the bounce")
            report = read(sluice.maildir_files("alice@acme.example")[0])
            parts = [p.get_content_type() for p in report.get_payload()]
            self.assertEqual(parts[2], "message/rfc822")  # no RET: the whole message comes back
            status = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"][0]
            per_rcpt = status.get_payload()[1]
            self.assertEqual(per_rcpt["Action"], "failed")
            self.assertTrue(per_rcpt["Status"].startswith("5."), per_rcpt["Status"])
            self.assertIn("Remote-MTA", per_rcpt)
        finally:
            code = sluice.stop()
            sluice.cleanup()
            dovecot.cleanup()
        self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main()
