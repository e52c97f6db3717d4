"""The SMTP edge against real clients: STARTTLS (swaks), the submission
listener, BDAT and pipelining (raw), SMTPUTF8 (smtplib), limits, timeouts,
a connection that dies mid-DATA, and graceful shutdown."""
import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def swaks(port, *args):
    return subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--from", "s@outside.example",
                           *args], capture_output=True, text=True, timeout=60)


class Edge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sluice = harness.Sluice(tls=True, server_extra='command_timeout = "3s"',
                                    extra="[limits]\nmax_connections_per_ip = 8\n"
                                          "max_message_size = \"64KiB\"\n").start()

    @classmethod
    def tearDownClass(cls):
        code = cls.sluice.stop()
        cls.sluice.cleanup()
        assert code == 0, code

    def wait_files(self, address, n):
        harness.wait_for(lambda: len(self.sluice.maildir_files(address)) >= n,
                         what="%d messages for %s" % (n, address))
        return self.sluice.maildir_files(address)

    def test_starttls_with_swaks(self):
        before = len(self.sluice.maildir_files("bob@acme.example"))
        r = swaks(self.sluice.port, "--to", "bob@acme.example", "--tls", "--header", "Subject: tls")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("250-STARTTLS", r.stdout)
        self.assertIn("220 2.0.0 Ready to start TLS", r.stdout)
        self.assertIn("TLS started", r.stdout)
        files = self.wait_files("bob@acme.example", before + 1)
        newest = max(files, key=os.path.getmtime)
        with open(newest, "rb") as f:
            self.assertIn(b"with ESMTPS id", f.read())

    def test_submission_requires_tls(self):
        r = swaks(self.sluice.submission_port, "--to", "bob@acme.example")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("530 5.7.0 Must issue a STARTTLS command first", r.stdout)
        r = swaks(self.sluice.submission_port, "--to", "bob@acme.example", "--tls")
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_starttls_injection_is_discarded(self):
        c = harness.Raw(self.sluice.port)
        c.send(b"EHLO c\r\n")
        c.reply()
        # CVE-2011-0411: a command pipelined with STARTTLS in the clear.
        c.send(b"STARTTLS\r\nRSET\r\n")
        self.assertTrue(c.reply().startswith(b"220 2.0.0"))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tls = ctx.wrap_socket(c.sock)
        tls.sendall(b"NOOP\r\n")
        # The first reply over TLS answers NOOP, not the injected RSET.
        self.assertEqual(tls.recv(4096), b"250 2.0.0 Ok\r\n")
        tls.close()

    def test_bdat_and_pipelining(self):
        before = len(self.sluice.maildir_files("alice@acme.example"))
        c = harness.Raw(self.sluice.port)
        body1 = b"Subject: bdat\r\n\r\n.first chunk\r\n"
        body2 = b".\r\nsecond chunk\r\n"
        c.send(b"EHLO c\r\nMAIL FROM:<s@outside.example>\r\nRCPT TO:<alice@acme.example>\r\n"
               b"RCPT TO:<nobody@acme.example>\r\n"
               b"BDAT %d\r\n%sBDAT %d LAST\r\n%sQUIT\r\n" % (len(body1), body1, len(body2), body2))
        replies = c.replies(7)
        codes = [r[:9] for r in replies]
        self.assertIn(b"250-CHUNKING", replies[0])
        self.assertEqual(codes[1:], [b"250 2.1.0", b"250 2.1.5", b"550 5.1.1", b"250 2.0.0",
                                     b"250 2.0.0", b"221 2.0.0"])
        self.assertIn(b"queued as", replies[5])
        files = self.wait_files("alice@acme.example", before + 1)
        with open(max(files, key=os.path.getmtime), "rb") as f:
            self.assertEqual(harness.strip_received(f.read()), body1 + body2)

    def test_pipelined_data_transactions(self):
        c = harness.Raw(self.sluice.port)
        c.send(b"EHLO c\r\n")
        c.reply()
        c.send(b"MAIL FROM:<s@outside.example>\r\nRCPT TO:<carol@globex.example>\r\nDATA\r\n")
        self.assertEqual([r[:3] for r in c.replies(3)], [b"250", b"250", b"354"])
        c.send(b"Subject: p1\r\n\r\none\r\n.\r\nMAIL FROM:<s@outside.example>\r\n"
               b"RCPT TO:<carol@globex.example>\r\nDATA\r\n")
        self.assertEqual([r[:3] for r in c.replies(4)], [b"250", b"250", b"250", b"354"])
        c.send(b"Subject: p2\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
        self.assertEqual([r[:3] for r in c.replies(2)], [b"250", b"221"])

    def test_smtputf8_with_smtplib(self):
        to = "j\u00f6rg@acme.example"
        with self.sluice.smtp() as s:
            s.ehlo("c")
            self.assertTrue(s.has_extn("smtputf8"))
            s.sendmail("s\u00e9nder@outside.example", [to],
                       "Subject: utf8\r\n\r\nGr\u00fc\u00dfe\r\n".encode("utf-8"),
                       mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        files = self.wait_files(to, 1)
        with open(files[0], "rb") as f:
            data = f.read()
        self.assertIn("Gr\u00fc\u00dfe".encode(), data)
        self.assertIn(b"with UTF8SMTP id", data)
        c = harness.Raw(self.sluice.port)
        c.send("EHLO c\r\nMAIL FROM:<s\u00e9nder@outside.example>\r\n".encode())
        self.assertTrue(c.replies(2)[1].startswith(b"553 5.6.7"))

    def test_size_limits(self):
        with self.sluice.smtp() as s:
            s.ehlo("c")
            code, msg = s.mail("s@outside.example", ["SIZE=999999"])
            self.assertEqual((code, msg[:5]), (552, b"5.3.4"))
        # Without SIZE=, the limit holds while receiving.
        c = harness.Raw(self.sluice.port)
        c.send(b"EHLO c\r\nMAIL FROM:<s@outside.example>\r\nRCPT TO:<bob@acme.example>\r\nDATA\r\n")
        c.replies(4)
        c.send((b"x" * 70 + b"\r\n") * 1000 + b".\r\n")
        self.assertTrue(c.reply().startswith(b"552 5.3.4"))

    def test_connection_closed_mid_data_queues_nothing(self):
        log_before = self.sluice.log().count('"msg":"smtp transaction"')
        c = harness.Raw(self.sluice.port)
        c.send(b"EHLO c\r\nMAIL FROM:<s@outside.example>\r\nRCPT TO:<erin@initech.example>\r\nDATA\r\n")
        c.replies(4)
        c.send(b"Subject: cut\r\n\r\nhalf a message")
        c.close()
        time.sleep(1)
        self.assertEqual(self.sluice.log().count('"msg":"smtp transaction"'), log_before)
        self.assertEqual(self.sluice.maildir_files("erin@initech.example"), [])

    def test_per_ip_connection_limit(self):
        held = [harness.Raw(self.sluice.port) for _ in range(8)]
        try:
            extra = harness.Raw(self.sluice.port)
            self.assertTrue(extra.greeting.startswith(b"421 4.7.0"), extra.greeting)
            self.assertEqual(extra.reply(), b"")  # then closed
        finally:
            for h in held:
                h.close()
        time.sleep(0.3)
        again = harness.Raw(self.sluice.port)
        self.assertTrue(again.greeting.startswith(b"220"))
        again.close()

    def test_idle_timeout_gets_421(self):
        c = harness.Raw(self.sluice.port)
        t0 = time.time()
        self.assertTrue(c.reply().startswith(b"421 4.4.2"))
        self.assertGreater(time.time() - t0, 2)


class Shutdown(unittest.TestCase):
    def test_sigterm_drains_gracefully(self):
        s = harness.Sluice(server_extra='shutdown_grace = "20s"').start()
        self.addCleanup(s.cleanup)
        idle = harness.Raw(s.port)
        idle.send(b"EHLO c\r\n")
        idle.reply()
        busy = harness.Raw(s.port)
        busy.send(b"EHLO c\r\nMAIL FROM:<s@outside.example>\r\nRCPT TO:<bob@acme.example>\r\nDATA\r\n")
        busy.replies(4)
        busy.send(b"Subject: in flight\r\n\r\nstarted before SIGTERM\r\n")
        s.proc.send_signal(15)
        # The idle session is told at once; the busy one may finish.
        self.assertTrue(idle.reply().startswith(b"421 4.3.2 Service shutting down"))
        time.sleep(0.5)
        self.assertIsNone(s.proc.poll())
        busy.send(b".\r\n")
        self.assertTrue(busy.reply().startswith(b"250 2.0.0 Ok: queued as"))
        busy.send(b"NOOP\r\n")
        self.assertTrue(busy.reply().startswith(b"421 4.3.2"))
        self.assertEqual(s.proc.wait(timeout=30), 0)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", s.port), timeout=2)
        # Nothing lost: the message is delivered after a restart if not before.
        s.start()
        harness.wait_for(lambda: len(s.maildir_files("bob@acme.example")) == 1, what="delivery")
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
