"""The connection filter ([protection]) and the per-client rates, against
a real daemon on loopback, each client on an address of its own in
127.0.0.0/8: a blocked range gets a 554 5.7.1 greeting and nothing else —
1,000 sessions and not one spool write; a tenant's own block list refuses
that tenant's recipients (550 5.7.1) and no one else's; an allow list
opens a hole in a blocked range; connections and recipients per client
address are limited (421 4.7.0 at the greeting, 451 4.7.1 at RCPT), each
address on its own, and every refusal is counted by its reason."""
import os
import smtplib
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


metric = harness.metric


def smtp_from(node, source):
    return smtplib.SMTP("127.0.0.1", node.port, timeout=30, source_address=(source, 0))


class Protection(unittest.TestCase):
    def test_a_blocked_range_is_refused_at_the_greeting_with_nothing_spooled(self):
        s = harness.Sluice(extra="""
[protection]
block = ["127.0.0.0/30"]
allow = ["127.0.0.1"]
""")
        self.addCleanup(s.cleanup)
        s.start()
        changes = metric(s, "sluice_spool_writes_total", 'kind="changes"')
        for n in range(1000):
            with socket.create_connection(("127.0.0.1", s.port), timeout=10, source_address=("127.0.0.2", 0)) as c:
                f = c.makefile("rb")
                greeting = f.readline()
                self.assertTrue(greeting.startswith(b"554 5.7.1 "), (n, greeting))
                c.sendall(b"MAIL FROM:<x@outside.example>\r\nQUIT\r\n")
                self.assertTrue(f.readline().startswith(b"503 5.7.1 "))
                self.assertTrue(f.readline().startswith(b"221 "))
        self.assertEqual(metric(s, "sluice_blocked_total", 'scope="global"'), 1000)
        self.assertEqual(metric(s, "sluice_spool_writes_total", 'kind="changes"'), changes)  # not one write
        # 127.0.0.1 is in the blocked range, but allowed: it is served.
        c = smtp_from(s, "127.0.0.1")
        c.sendmail("s@outside.example", ["alice@acme.example"], harness.message(1, "alice@acme.example"))
        c.quit()
        harness.wait_for(lambda: len(s.maildir_files("alice@acme.example")) == 1, timeout=20, what="delivery")

    def test_a_tenant_blocks_only_its_own_recipients(self):
        s = harness.Sluice(extra="""
[protection.tenants.hooli]
block = ["127.0.0.3"]
""")
        self.addCleanup(s.cleanup)
        s.start()
        c = smtp_from(s, "127.0.0.3")
        c.ehlo("client.example")
        c.mail("s@outside.example")
        code, msg = c.rcpt("gavin@hooli.example")
        self.assertEqual((code, msg[:5]), (550, b"5.7.1"), msg)
        self.assertEqual(c.rcpt("alice@acme.example")[0], 250)
        c.quit()
        c = smtp_from(s, "127.0.0.4")  # another address: hooli takes it
        c.ehlo("client.example")
        c.mail("s@outside.example")
        self.assertEqual(c.rcpt("gavin@hooli.example")[0], 250)
        c.quit()
        self.assertEqual(metric(s, "sluice_blocked_total", 'scope="tenant"'), 1)

    def test_connections_and_recipients_per_client_address(self):
        s = harness.Sluice(extra="""
[rate_limits]
client_connections_per_minute = 6
client_connections_burst = 3
client_recipients_per_minute = 6
client_recipients_burst = 3
""")
        self.addCleanup(s.cleanup)
        s.start()
        greetings = []
        for _ in range(6):
            with socket.create_connection(("127.0.0.1", s.port), timeout=10, source_address=("127.0.0.5", 0)) as c:
                greetings.append(c.makefile("rb").readline()[:9])
        self.assertEqual(greetings[:3], [b"220 mx.sl"] * 3)
        self.assertIn(b"421 4.7.0", greetings[3:])
        self.assertEqual(set(greetings), {b"220 mx.sl", b"421 4.7.0"})
        # Another address has its own allowance.
        c = smtp_from(s, "127.0.0.6")
        c.ehlo("client.example")
        c.mail("s@outside.example")
        codes = [c.rcpt("alice@acme.example")[0] for _ in range(6)]
        c.quit()
        self.assertEqual(codes[:3], [250, 250, 250])
        self.assertIn(451, codes[3:])
        self.assertGreaterEqual(metric(s, "sluice_rate_limited_total", 'scope="client_connections"'), 1)
        self.assertGreaterEqual(metric(s, "sluice_rate_limited_total", 'scope="client_recipients"'), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
