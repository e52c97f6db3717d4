"""The quarantine's own face against a real Sluice: spam scored at or above
a tenant's quarantine_score is quarantined while another tenant with a
higher threshold gets it delivered; a malware filter's reject is
quarantined and released by the operator only, never by the quarantine
desk's token; the desk releases and deletes spam; `sluicectl quarantine`
lists, shows, releases and deletes; every action is in the log; released
mail is delivered exactly once."""
import json
import os
import smtplib
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import filters  # noqa: E402

DESK = "quarantine-desk-0123456789"


def send(node, to, subject):
    c = smtplib.SMTP("127.0.0.1", node.port, timeout=30)
    try:
        msg = ("From: <s@outside.example>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
               "Message-ID: <%s@test>\r\n\r\nhello\r\n" % (to, subject, subject.replace(" ", "-")))
        c.sendmail("s@outside.example", [to], msg.encode())
    finally:
        c.quit()


def milter(name, port, kind="spam"):
    return '[filters.%s]\ntype = "milter"\naddress = "127.0.0.1:%d"\nkind = "%s"\n' % (name, port, kind)


class QuarantineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = harness.SmtpSink()
        cls.scorer = filters.FaultMilter("score")
        cls.virus = filters.FaultMilter("reject")
        cls.spamq = filters.FaultMilter("quarantine")
        extra = milter("scorer", cls.scorer.port) + milter("virus", cls.virus.port, "malware") + \
            milter("spamq", cls.spamq.port) + """
[protection]
quarantine_retention = "30d"
[protection.tenants.acme]
filters = ["scorer"]
quarantine_score = 10
[protection.tenants.globex]
filters = ["scorer"]
quarantine_score = 20
[protection.tenants.initech]
filters = ["virus"]
[protection.tenants.hooli]
filters = ["spamq"]
quarantine_retention = "2d"
"""
        cls.node = harness.Sluice(relay_port=cls.sink.port, extra=extra,
                                  admin_extra='quarantine_token = "%s"' % DESK).start()

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        cls.sink.cleanup()
        for m in (cls.scorer, cls.virus, cls.spamq):
            m.cleanup()

    def listed(self, token=True, **query):
        q = "&".join("%s=%s" % kv for kv in query.items())
        status, body = self.node.api("GET", "/api/v1/quarantine" + ("?" + q if q else ""), token=token)
        self.assertEqual(status, 200, body)
        return body

    def quarantined(self, subject, n=1):
        """The entries whose headers carry `subject`, once there are n."""
        def find():
            out = []
            for m in self.listed():
                status, one = self.node.api("GET", "/api/v1/quarantine/" + m["id"])
                if status == 200 and ("Subject: " + subject + "\r\n") in one["headers"]:
                    out.append(one)
            return out
        harness.wait_for(lambda: len(find()) >= n, timeout=20, what="quarantine of " + subject)
        return find()

    def desk(self, method, path, body=None):
        return self.node.api(method, path, body, token="Bearer " + DESK)

    def test_spam_over_a_tenants_threshold_is_quarantined_and_under_anothers_delivered(self):
        send(self.node, "alice@acme.example", "scored acme")
        send(self.node, "carol@globex.example", "scored globex")
        [entry] = self.quarantined("scored acme")
        self.assertEqual(entry["category"], "spam")
        self.assertEqual(entry["reason"], "spam: score: 12.5 >= 10")
        self.assertEqual(entry["tenants"], ["acme"])
        harness.wait_for(lambda: self.node.maildir_files("carol@globex.example"), timeout=20)
        with open(self.node.maildir_files("carol@globex.example")[0], "rb") as f:
            data = f.read()
        self.assertIn(b"scored globex", data)
        self.assertIn(b"score=12.5", data)  # in the verdict header
        self.assertEqual(self.node.maildir_files("alice@acme.example"), [])

    def test_malware_is_released_by_the_operator_only(self):
        send(self.node, "erin@initech.example", "virus one")
        [entry] = self.quarantined("virus one")
        self.assertEqual(entry["category"], "malware")
        # The desk sees it, cannot release it, and cannot touch anything else.
        status, listing = self.desk("GET", "/api/v1/quarantine?category=malware")
        self.assertEqual(status, 200)
        self.assertIn(entry["id"], [m["id"] for m in listing])
        status, body = self.desk("POST", "/api/v1/quarantine/release", {"ids": [entry["id"]]})
        self.assertEqual(status, 403, body)
        self.assertIn("released by an operator only", body["error"])
        self.assertEqual(self.desk("GET", "/api/v1/queue/messages")[0], 403)
        self.assertEqual(self.desk("POST", "/api/v1/queue/release", {"all": True})[0], 403)
        self.assertEqual(self.node.maildir_files("erin@initech.example"), [])
        # The operator releases it with sluicectl: delivered once, past the filters.
        before = len(self.virus.seen)
        r = self.node.ctl("quarantine", "release", entry["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 message(s) released", r.stdout)
        harness.wait_for(lambda: self.node.maildir_files("erin@initech.example"), timeout=20)
        self.assertNotIn(entry["id"], [m["id"] for m in self.listed()])
        self.assertEqual(len(self.virus.seen), before)
        import time
        time.sleep(2)
        self.assertEqual(len(self.node.maildir_files("erin@initech.example")), 1)
        log = self.node.log()
        self.assertIn('"quarantine release"', log)
        self.assertIn('"by":"operator"', log)

    def test_the_desk_releases_and_deletes_spam(self):
        send(self.node, "gavin@hooli.example", "held spam keep")
        send(self.node, "jared@hooli.example", "held spam drop")
        [keep] = self.quarantined("held spam keep")
        [drop] = self.quarantined("held spam drop")
        self.assertEqual(keep["reason"], "spam: spamq: held by the fault milter")
        status, body = self.desk("POST", "/api/v1/quarantine/release", {"ids": [keep["id"]]})
        self.assertEqual((status, body.get("messages")), (200, 1), body)
        status, body = self.desk("POST", "/api/v1/quarantine/delete", {"ids": [drop["id"]]})
        self.assertEqual((status, body.get("messages")), (200, 1), body)
        harness.wait_for(lambda: any(b"held spam keep" in m for m in self.sink.messages()), timeout=20)
        import time
        time.sleep(2)
        self.assertEqual(sum(b"held spam keep" in m for m in self.sink.messages()), 1)
        self.assertFalse(any(b"held spam drop" in m for m in self.sink.messages()))
        ids = [m["id"] for m in self.listed()]
        self.assertNotIn(keep["id"], ids)
        self.assertNotIn(drop["id"], ids)
        self.assertIn('"by":"quarantine desk"', self.node.log())
        # Naming nothing is refused, not taken as "everything".
        status, body = self.desk("POST", "/api/v1/quarantine/release", {"all": True})
        self.assertEqual(status, 400, body)

    def test_sluicectl_lists_and_shows(self):
        send(self.node, "bob@acme.example", "cli scored")
        [entry] = self.quarantined("cli scored")
        r = self.node.ctl("quarantine", "list", "--tenant", "acme")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(entry["id"], r.stdout)
        self.assertIn("spam: score: 12.5 >= 10", r.stdout)
        r = self.node.ctl("quarantine", "list", "--category", "malware", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(entry["id"], [m["id"] for m in json.loads(r.stdout)])
        r = self.node.ctl("quarantine", "show", entry["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reason:     spam: score: 12.5 >= 10", r.stdout)
        self.assertIn("Subject: cli scored", r.stdout)
        r = self.node.ctl("quarantine", "show", "nothex")
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not a queue id", r.stderr)
        r = self.node.ctl("quarantine", "list", "--category", "bulk")
        self.assertEqual(r.returncode, 2)
        r = self.node.ctl("quarantine", "delete", entry["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(entry["id"], [m["id"] for m in self.listed()])


if __name__ == "__main__":
    unittest.main()
