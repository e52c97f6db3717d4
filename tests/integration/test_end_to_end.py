"""1,000 messages over 20 parallel sessions to three tenants land in their
Maildirs byte for byte; unknown recipients and domains get 550 and leave
nothing behind; swaks works as a client."""
import concurrent.futures
import os
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

RECIPIENTS = ["alice@acme.example", "bob@acme.example", "carol@globex.example",
              "erin@initech.example"]


class EndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sluice = harness.Sluice().start()

    @classmethod
    def tearDownClass(cls):
        code = cls.sluice.stop()
        cls.sluice.cleanup()
        assert code == 0, "sluice exited with %s" % code

    def test_thousand_messages_twenty_sessions(self):
        total, sessions = 1000, 20
        sent = {}
        before = len(self.sluice.maildir_files())

        def worker(k):
            acks = {}
            with self.sluice.smtp() as s:
                s.ehlo("client%d.example" % k)
                for n in range(k, total, sessions):
                    to = RECIPIENTS[n % len(RECIPIENTS)]
                    data = harness.message(n, to, size=(n % 7) * 700)
                    s.sendmail("sender@outside.example", [to], data)
                    acks[n] = (to, data)
            return acks

        with concurrent.futures.ThreadPoolExecutor(sessions) as pool:
            for acks in pool.map(worker, range(sessions)):
                sent.update(acks)
        self.assertEqual(len(sent), total)

        harness.wait_for(lambda: len(self.sluice.maildir_files()) >= total + before,
                         timeout=120, what="all messages delivered")
        by_subject = {}
        for path in self.sluice.maildir_files():
            with open(path, "rb") as f:
                data = f.read()
            body = harness.strip_received(data)
            subject = [l for l in body.split(b"\r\n") if l.startswith(b"Subject: test ")]
            if not subject:
                continue
            n = int(subject[0].split()[-1])
            self.assertNotIn(n, by_subject, "message %d delivered twice" % n)
            by_subject[n] = (path, body)
            # Received header names the recipient and our host.
            self.assertIn(b"by mx.sluice.test (Sluice) with ESMTP id ", data)
        for n, (to, data) in sent.items():
            self.assertIn(n, by_subject, "message %d not delivered" % n)
            path, body = by_subject[n]
            self.assertEqual(body, data, "message %d differs" % n)
            local, domain = to.split("@")
            self.assertIn(os.path.join(domain, local, "new"), path)

    def test_unknown_recipient_and_domain_get_550_and_leave_nothing(self):
        before = len(self.sluice.maildir_files())
        transactions = self.sluice.log().count('"msg":"smtp transaction"')
        with self.sluice.smtp() as s:
            s.ehlo("client.example")
            s.mail("sender@outside.example")
            code, msg = s.rcpt("nobody@acme.example")
            self.assertEqual(code, 550)
            self.assertTrue(msg.startswith(b"5.1.1"), msg)
            code, msg = s.rcpt("someone@not-ours.example")
            self.assertEqual(code, 550)
            self.assertTrue(msg.startswith(b"5.7.1"), msg)
            with self.assertRaises(smtplib.SMTPDataError) as e:
                s.data(b"Subject: nothing\r\n\r\nnothing\r\n")
            self.assertEqual(e.exception.smtp_code, 554)
            s.rset()
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                s.sendmail("sender@outside.example", ["nobody@acme.example"], b"x\r\n")
        self.assertEqual(len(self.sluice.maildir_files()), before)
        self.assertEqual(self.sluice.log().count('"msg":"smtp transaction"'), transactions)

    def test_alias_delivers_to_canonical_mailbox(self):
        before = len(self.sluice.maildir_files("alice@acme.example"))
        with self.sluice.smtp() as s:
            s.sendmail("x@outside.example", ["sales@acme.example"],
                       harness.message(99999, "sales@acme.example"))
        harness.wait_for(lambda: len(self.sluice.maildir_files("alice@acme.example")) > before,
                         what="alias delivery")

    def test_swaks_client(self):
        before = len(self.sluice.maildir_files("carol@globex.example"))
        out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.sluice.port,
                              "--to", "carol@globex.example", "--from", "s@outside.example",
                              "--header", "Subject: via swaks"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"<-  250 2\.0\.0 Ok: queued as [0-9A-F]{18}")
        harness.wait_for(lambda: len(self.sluice.maildir_files("carol@globex.example")) > before,
                         what="swaks message delivered")


if __name__ == "__main__":
    unittest.main(verbosity=2)
