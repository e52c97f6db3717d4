"""LMTP delivery to a real Dovecot: messages land in its mailboxes, and each
recipient gets its own outcome (an unknown user or a full quota fails that
recipient alone)."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


class Lmtp(unittest.TestCase):
    def setUp(self):
        self.dovecot = harness.Dovecot({
            "ann@umbrella.example": "",
            "quota@umbrella.example": "userdb_quota_rule=*:storage=1K",
        })
        self.addCleanup(self.dovecot.cleanup)
        self.sluice = harness.Sluice(lmtp_port=self.dovecot.port).start()
        self.addCleanup(self.sluice.cleanup)

    def test_per_recipient_outcomes(self):
        rcpts = ["ann@umbrella.example", "quota@umbrella.example", "ghost@umbrella.example"]
        with self.sluice.smtp() as s:
            for n in range(5):
                s.sendmail("sender@outside.example", rcpts,
                           harness.message(n, "team@umbrella.example", size=3000))
        harness.wait_for(lambda: len(self.dovecot.messages("ann@umbrella.example")) >= 5,
                         what="LMTP delivery to ann")
        harness.wait_for(lambda: self.sluice.log().count('"result":"failed"') >= 10,
                         what="the other recipients to fail")
        time.sleep(2)
        got = sorted(int(re.search(rb"Subject: test (\d+)", m).group(1))
                     for m in self.dovecot.messages("ann@umbrella.example"))
        self.assertEqual(got, list(range(5)))
        self.assertIn(b"by mx.sluice.test (Sluice)", self.dovecot.messages("ann@umbrella.example")[0])
        self.assertEqual(self.dovecot.messages("quota@umbrella.example"), [])
        lines = [l for l in self.sluice.log().splitlines() if '"msg":"delivery"' in l]
        ghost = [l for l in lines if "ghost@umbrella.example" in l]
        quota = [l for l in lines if "quota@umbrella.example" in l]
        self.assertEqual(len(ghost), 5)  # one attempt each: a 5xx is final
        self.assertTrue(all('"reply":"550 5.1.1' in l for l in ghost), ghost[0])
        self.assertTrue(all('"result":"failed"' in l and '"reply":"552 5.2.2' in l for l in quota), quota[0])
        self.assertEqual(self.sluice.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
