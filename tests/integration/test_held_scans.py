"""on_error = "hold" against a real Sluice and a scripted milter: while the
filter gives no verdict (it drops every connection) the sender gets 250,
the message is committed held for its scan and shown in the quarantine as
"pending" — released or deleted by the operator only, never by the desk;
once the filter answers, every held message is scanned again and goes on
exactly once with its verdict header; a reject that comes after the 250
is kept in quarantine, never bounced; held mail survives a restart."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import filters  # noqa: E402
from test_filters import delivered, filter_config, mail, send  # noqa: E402

metric = harness.metric
DESK = "quarantine-desk-0123456789"


class HeldForScan(unittest.TestCase):
    def node(self, mode):
        milter = filters.FaultMilter(mode)
        self.addCleanup(milter.cleanup)
        s = harness.Sluice(extra=filter_config("fault", milter.port, 'on_error = "hold"') + """
[protection.tenants.acme]
filters = ["fault"]
""", admin_extra='quarantine_token = "%s"' % DESK)
        self.addCleanup(s.cleanup)
        s.start()
        return s, milter

    def pending(self, s):
        status, body = s.api("GET", "/api/v1/quarantine?category=pending")
        self.assertEqual(status, 200, body)
        return body

    def test_held_mail_gets_250_and_goes_on_once_after_its_verdict(self):
        s, milter = self.node("drop")
        for n in range(3):
            code, text = send(s, "alice@acme.example", mail("alice@acme.example", "held %d" % n, "x"))
            self.assertEqual(code, 250, text)
        # globex is routed through no filter: it never waits.
        self.assertEqual(send(s, "carol@globex.example", mail("carol@globex.example", "free", "x"))[0], 250)
        delivered(s, "carol@globex.example", 1)
        held = self.pending(s)
        self.assertEqual(len(held), 3, held)
        self.assertTrue(all(m["reason"].startswith("pending: fault: ") for m in held), held)
        self.assertEqual(metric(s, "sluice_held_for_scan"), 3)
        self.assertEqual(metric(s, "sluice_content_scans_total", 'outcome="hold"'), 3)
        # Nobody's verdict yet: the desk may neither release nor delete it.
        for action in ("release", "delete"):
            status, body = s.api("POST", "/api/v1/quarantine/" + action, {"ids": [held[0]["id"]]},
                                 token="Bearer " + DESK)
            self.assertEqual(status, 403, body)
            self.assertIn("waits for its scan", body["error"])
        listed = s.ctl("quarantine", "list", "--category", "pending")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn("alice@acme.example", listed.stdout)
        time.sleep(6)  # a pass or more while the filter is still down
        self.assertEqual(s.maildir_files("alice@acme.example"), [])
        # The filter is back: each held message is scanned again and delivered once.
        milter.mode = "accept"
        harness.wait_for(lambda: len(s.maildir_files("alice@acme.example")) >= 3, timeout=40, what="held mail released")
        for path in s.maildir_files("alice@acme.example"):
            with open(path, "rb") as f:
                data = f.read()
            self.assertIn(b"X-Sluice-Report: cip=127.0.0.1; connector=none; fault=accept; scan=complete\r\n", data)
        time.sleep(6)
        self.assertEqual(len(s.maildir_files("alice@acme.example")), 3)
        self.assertEqual(self.pending(s), [])
        self.assertEqual(metric(s, "sluice_held_for_scan"), 0)
        self.assertEqual(metric(s, "sluice_held_scans_total", 'result="released"'), 3)
        self.assertEqual(s.log().count('"held mail scanned"'), 3)

    def test_a_reject_after_the_250_is_kept_in_quarantine(self):
        s, milter = self.node("drop")
        self.assertEqual(send(s, "alice@acme.example", mail("alice@acme.example", "late reject", "x"))[0], 250)
        milter.mode = "reject"
        def spam():
            status, body = s.api("GET", "/api/v1/quarantine?category=spam")
            return body if status == 200 else []
        harness.wait_for(lambda: spam(), timeout=40, what="the reject quarantined")
        [entry] = spam()
        self.assertEqual(entry["reason"], "spam: fault: rejected after acceptance: 554 5.7.1 Refused by the fault milter")
        self.assertEqual(self.pending(s), [])
        self.assertEqual(s.maildir_files("alice@acme.example"), [])
        # The desk may release spam: a false positive is recoverable.
        status, body = s.api("POST", "/api/v1/quarantine/release", {"ids": [entry["id"]]}, token="Bearer " + DESK)
        self.assertEqual(status, 200, body)
        got = delivered(s, "alice@acme.example", 1)
        self.assertIn(b"fault=reject", got)

    def test_held_mail_survives_a_restart(self):
        s, milter = self.node("drop")
        self.assertEqual(send(s, "alice@acme.example", mail("alice@acme.example", "across", "x"))[0], 250)
        self.assertEqual(len(self.pending(s)), 1)
        self.assertEqual(s.stop(), 0)
        milter.mode = "accept"
        s.start()
        delivered(s, "alice@acme.example", 1, timeout=40)
        self.assertIn('"held for a scan"', s.log())
        time.sleep(6)
        self.assertEqual(len(s.maildir_files("alice@acme.example")), 1)

    def test_the_operator_may_release_held_mail_unscanned(self):
        s, milter = self.node("drop")
        self.assertEqual(send(s, "alice@acme.example", mail("alice@acme.example", "by hand", "x"))[0], 250)
        [entry] = self.pending(s)
        r = s.ctl("quarantine", "release", entry["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        got = delivered(s, "alice@acme.example", 1)
        self.assertNotIn(b"X-Sluice-Report", got)  # nobody scanned it
        milter.mode = "accept"
        time.sleep(7)  # a pass: it is not scanned and sent again
        self.assertEqual(len(s.maildir_files("alice@acme.example")), 1)


if __name__ == "__main__":
    unittest.main()
