"""A real sending relay: a private Postfix relays through Sluice with
STARTTLS required (smtp_tls_security_level = encrypt). Its messages arrive;
when Sluice answers 4xx, Postfix keeps them and delivers them on retry."""
import os
import re
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


class PostfixRelay(unittest.TestCase):
    def setUp(self):
        self.sluice = harness.Sluice(tls=True, extra="[limits]\nmax_connections_per_ip = 3\n").start()
        self.addCleanup(self.sluice.cleanup)
        self.postfix = harness.Postfix(self.sluice.port)
        self.addCleanup(self.postfix.cleanup)

    def send(self, numbers, to="carol@globex.example"):
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=30) as c:
            for n in numbers:
                c.sendmail("sender@postfix.test", [to], harness.message(n, to, size=1000))

    def delivered(self, to="carol@globex.example"):
        out = []
        for path in self.sluice.maildir_files(to):
            with open(path, "rb") as f:
                out.append(int(re.search(rb"Subject: test (\d+)", f.read()).group(1)))
        return sorted(out)

    def test_relay_with_starttls_and_retry_after_4xx(self):
        self.send(range(20))
        harness.wait_for(lambda: self.delivered() == list(range(20)), timeout=60,
                         what="20 messages relayed by Postfix")
        self.assertIn("TLS connection established to 127.0.0.1", self.postfix.log())
        with open(self.sluice.maildir_files("carol@globex.example")[0], "rb") as f:
            data = f.read()
        self.assertIn(b"by mx.sluice.test (Sluice) with ESMTPS id", data)
        self.assertIn(b"by relay.postfix.test (Postfix)", data)

        # Fill Sluice's per-client limit: Postfix's next connections get
        # 421 4.7.0, so it must keep the messages and retry.
        held = [harness.Raw(self.sluice.port) for _ in range(3)]
        self.send(range(100, 110))
        harness.wait_for(lambda: "421 4.7.0" in self.postfix.log(), timeout=30,
                         what="Postfix to see 421 from Sluice")
        self.assertGreater(self.postfix.queue_size(), 0)
        self.assertEqual([n for n in self.delivered() if n >= 100], [])
        for h in held:
            h.close()
        time.sleep(0.5)
        self.postfix.postqueue("-f")
        harness.wait_for(lambda: self.delivered() == list(range(20)) + list(range(100, 110)),
                         timeout=60, what="deferred messages delivered once after retry")
        harness.wait_for(lambda: self.postfix.queue_size() == 0, what="Postfix queue empty")


if __name__ == "__main__":
    unittest.main(verbosity=2)
