"""SMTP smuggling (CVE-2023-51764 family): each end-of-data look-alike is
sent inside a message that carries a second, smuggled transaction. The
delivered mail proves that no second message was smuggled: by default the
message is refused whole; with bare_line_endings = "normalize" it is
accepted as one message and the smuggled text stays inside it."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

VARIANTS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r.\r\n", b"\n.\r", b".\n"]
SMUGGLED = (b"MAIL FROM:<evil@outside.example>\r\nRCPT TO:<bob@acme.example>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nsmuggled body\r\n")


def attempt(port, variant):
    c = harness.Raw(port)
    c.send(b"EHLO c\r\nMAIL FROM:<s@outside.example>\r\nRCPT TO:<alice@acme.example>\r\nDATA\r\n")
    c.replies(4)
    c.send(b"Subject: carrier\r\n\r\nhello" + variant + SMUGGLED + b".\r\nQUIT\r\n")
    replies = c.replies(2)
    c.close()
    return replies


class Smuggling(unittest.TestCase):
    def check_nothing_smuggled(self, sluice):
        time.sleep(1.5)
        self.assertEqual(sluice.maildir_files("bob@acme.example"), [])
        self.assertNotIn("evil@outside.example", sluice.log())

    def test_rejected_by_default(self):
        s = harness.Sluice().start()
        self.addCleanup(s.cleanup)
        for v in VARIANTS:
            replies = attempt(s.port, v)
            self.assertTrue(replies[0].startswith(b"550 5.6.0"), (v, replies))
            self.assertTrue(replies[1].startswith(b"221"), (v, replies))
        self.check_nothing_smuggled(s)
        self.assertEqual(s.maildir_files("alice@acme.example"), [])

    def test_normalized_into_one_message(self):
        s = harness.Sluice(extra='[smtp]\nbare_line_endings = "normalize"\n').start()
        self.addCleanup(s.cleanup)
        for v in VARIANTS:
            replies = attempt(s.port, v)
            self.assertTrue(replies[0].startswith(b"250 2.0.0"), (v, replies))
        harness.wait_for(lambda: len(s.maildir_files("alice@acme.example")) == len(VARIANTS),
                         what="one message per attempt")
        self.check_nothing_smuggled(s)
        for path in s.maildir_files("alice@acme.example"):
            with open(path, "rb") as f:
                data = f.read()
            # The smuggled commands arrived as text of the carrier message,
            # with every line ending made CRLF.
            self.assertIn(b"MAIL FROM:<evil@outside.example>\r\n", data)
            self.assertNotIn(b"\n", data.replace(b"\r\n", b""))
            self.assertNotIn(b"\r", data.replace(b"\r\n", b""))


if __name__ == "__main__":
    unittest.main(verbosity=2)
