"""[rate_limits]: messages per client address (checked at MAIL) and per
tenant (at its first recipient of a transaction), GCRA with a burst,
refused with 451 4.7.1 and counted. Alone, each node keeps its own table;
in a fleet, one table in a real redis-server binds the three nodes
together, and with Redis killed each node falls back to its share."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def mail(node, client_ip="127.0.0.1"):
    """A session from `client_ip`; returns the raw connection after EHLO."""
    c = harness.Raw(node.port, source=client_ip)
    c.send(b"EHLO c\r\n")
    c.replies(1)
    return c


def transaction(c, rcpts):
    """MAIL and the RCPTs; returns (MAIL reply, [RCPT replies]) and resets."""
    c.send(b"MAIL FROM:<s@outside.example>\r\n")
    m = c.reply()
    out = []
    if m.startswith(b"250"):
        for r in rcpts:
            c.send(b"RCPT TO:<%s>\r\n" % r.encode())
            out.append(c.reply())
    c.send(b"RSET\r\n")
    c.reply()
    return m, out


def counted(node, scope):
    text = node.api("GET", "/metrics")[1]
    for line in text.splitlines():
        if line.startswith('sluice_rate_limited_total{scope="%s"}' % scope):
            return float(line.split()[-1])
    raise AssertionError("no sluice_rate_limited_total for " + scope)


class Alone(unittest.TestCase):
    def test_client_limit_at_mail(self):
        s = harness.Sluice(extra="""
[rate_limits]
client_per_minute = 6
client_burst = 2
""").start()
        self.addCleanup(s.cleanup)
        c = mail(s)
        answers = [transaction(c, ["alice@acme.example"])[0] for _ in range(3)]
        self.assertTrue(answers[0].startswith(b"250") and answers[1].startswith(b"250"), answers)
        self.assertTrue(answers[2].startswith(b"451 4.7.1"), answers)
        self.assertIn(b"rate limit", answers[2])
        # Another client address has its own allowance.
        other = mail(s, "127.0.0.2")
        self.assertTrue(transaction(other, ["alice@acme.example"])[0].startswith(b"250"))
        c.close()
        other.close()
        self.assertEqual(counted(s, "client"), 1)
        # One every ten seconds comes back (6 a minute): not waited for
        # here; the unit tests check the arithmetic.

    def test_tenant_limit_counts_messages_not_recipients(self):
        s = harness.Sluice(extra="""
[rate_limits]
tenant_per_minute = 600
[rate_limits.tenants.acme]
per_minute = 6
burst = 1
[rate_limits.tenants.globex]
per_minute = 0
""").start()
        self.addCleanup(s.cleanup)
        c = mail(s)
        # Two recipients of acme in one message take one.
        _, first = transaction(c, ["alice@acme.example", "bob@acme.example", "carol@globex.example"])
        self.assertTrue(all(r.startswith(b"250") for r in first), first)
        _, second = transaction(c, ["alice@acme.example", "carol@globex.example", "erin@initech.example"])
        self.assertTrue(second[0].startswith(b"451 4.7.1"), second)
        self.assertIn(b"<alice@acme.example>", second[0])
        # globex has no limit of its own; initech has the default.
        self.assertTrue(second[1].startswith(b"250") and second[2].startswith(b"250"), second)
        self.assertEqual(counted(s, "tenant"), 1)
        # Nothing refused was queued: a whole message to acme is refused
        # at RCPT and the transaction never reaches DATA.
        c.send(b"MAIL FROM:<s@outside.example>\r\nRCPT TO:<alice@acme.example>\r\nDATA\r\n")
        self.assertTrue(c.reply().startswith(b"250"))
        self.assertTrue(c.reply().startswith(b"451 4.7.1"))
        self.assertTrue(c.reply().startswith(b"554"))
        c.close()

    def test_reload_changes_the_limit(self):
        s = harness.Sluice(extra="""
[rate_limits]
client_per_minute = 6
client_burst = 1
""").start()
        self.addCleanup(s.cleanup)
        c = mail(s)
        self.assertTrue(transaction(c, [])[0].startswith(b"250"))
        self.assertTrue(transaction(c, [])[0].startswith(b"451 4.7.1"))
        c.close()
        with open(s.config) as f:
            text = f.read()
        with open(s.config, "w") as f:
            f.write(text.replace("client_burst = 1", "client_burst = 10"))
        s.proc.send_signal(signal.SIGHUP)
        harness.wait_for(lambda: s.api("GET", "/api/v1/config")[1]["version"] == 2, what="reload")
        c = mail(s)  # a new session takes the new settings
        for _ in range(5):
            self.assertTrue(transaction(c, [])[0].startswith(b"250"))
        c.close()


class InTheFleet(unittest.TestCase):
    def setUp(self):
        self.redis = harness.Redis()
        self.addCleanup(self.redis.cleanup)
        self.nodes = []
        for i in range(3):
            s = harness.Sluice(extra="""
[rate_limits]
client_per_minute = 6
client_burst = 3
[cluster]
node = "n%d"
redis = "%s"
redis_timeout = "100ms"
""" % (i + 1, self.redis.address))
            self.addCleanup(s.cleanup)
            s.start()
            self.nodes.append(s)

    def accepted(self, rounds=2):
        """MAILs accepted per node from one client address, `rounds` each."""
        out = []
        for n in self.nodes:
            c = mail(n, "127.0.0.3")
            out.append(sum(transaction(c, [])[0].startswith(b"250") for _ in range(rounds)))
            c.close()
        return out

    def test_one_table_for_the_fleet_then_local_shares(self):
        # A burst of 3 for the fleet, not 3 per node: 6 tries, 3 pass.
        per_node = self.accepted()
        self.assertEqual(sum(per_node), 3, per_node)
        self.assertTrue(any(k.startswith("sluice:{rate:client:127.0.0.3}") for k in self.redis.cli("KEYS", "*").split()))
        for n in self.nodes:
            self.assertEqual(n.api("GET", "/api/v1/fleet")[1]["rate_limits"]["mode"], "shared")
        # Redis gone: each node answers alone on its share of the burst
        # (3 / 3 nodes = 1) and says so; nobody waits past the deadline.
        self.redis.stop()  # SIGKILL
        t0 = time.time()
        c = mail(self.nodes[0], "127.0.0.4")
        answers = [transaction(c, [])[0] for _ in range(3)]
        c.close()
        self.assertLess(time.time() - t0, 5)
        self.assertEqual([a[:3] for a in answers], [b"250", b"451", b"451"], answers)
        view = self.nodes[0].api("GET", "/api/v1/fleet")[1]["rate_limits"]
        self.assertEqual(view["mode"], "local")
        self.assertGreater(view["local_takes"], 0)
        # Redis back: shared again, one table again (a fresh Redis is empty).
        self.redis.start()
        harness.wait_for(lambda: self._shared_take(), timeout=20, what="rate limits shared again")

    def _shared_take(self):
        c = mail(self.nodes[1], "127.0.0.5")
        transaction(c, [])
        c.close()
        return self.nodes[1].api("GET", "/api/v1/fleet")[1]["rate_limits"]["mode"] == "shared" and \
            any(k.startswith("sluice:{rate:client:127.0.0.5}") for k in self.redis.cli("KEYS", "*").split())


if __name__ == "__main__":
    unittest.main(verbosity=2)
