"""Shadow copies ([shadow]) between three real nodes: before the 250 a
node hands each message to a peer, which syncs it first; "required"
without a peer answers 451 4.4.0 and keeps nothing, "best-effort" accepts
and counts it; a wrong secret is refused. And the point of it: a node
killed and started again on an empty spool (a lost disk, a new epoch) has
every message it acknowledged delivered by its peers, once."""
import os
import shutil
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SECRET = "the fleet's shadow secret"


def metric(node, name, labels=""):
    text = node.api("GET", "/metrics")[1]
    want = name + ("{%s}" % labels if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


class Shadow(unittest.TestCase):
    def nodes(self, relay_port, modes=("best-effort",) * 3, secrets=(SECRET,) * 3, start=(True, True, True)):
        ports = [harness.free_port() for _ in range(3)]
        out = []
        for i in range(3):
            peers = ", ".join('"127.0.0.1:%d"' % p for k, p in enumerate(ports) if k != i)
            s = harness.Sluice(relay_port=relay_port, extra="""
[shadow]
node = "n%d"
listen = "127.0.0.1:%d"
secret = "%s"
peers = [%s]
deadline = "500ms"
mode = "%s"
""" % (i + 1, ports[i], secrets[i], peers, modes[i]))
            self.addCleanup(s.cleanup)
            if start[i]:
                s.start()
            out.append(s)
        return out

    def send(self, node, n):
        """Sends message n to the relay tenant; returns (code, reply)."""
        c = smtplib.SMTP("127.0.0.1", node.port, timeout=30)
        try:
            c.ehlo("client.example")
            c.mail("s@outside.example")
            c.rcpt("gavin@hooli.example")
            return c.data(harness.message(n, "gavin@hooli.example"))
        finally:
            c.close()

    def test_required_without_a_peer_is_451_and_keeps_nothing(self):
        a, _, _ = self.nodes(harness.free_port(), modes=("required", "best-effort", "best-effort"),
                             start=(True, False, False))
        code, msg = self.send(a, 1)
        self.assertEqual(code, 451, msg)
        self.assertTrue(msg.startswith(b"4.4.0 Message could not be made redundant"), msg)
        self.assertEqual(a.api("GET", "/api/v1/status")[1]["queue"]["messages"], 0)
        self.assertEqual(metric(a, "sluice_unshadowed_total", 'result="refused"'), 1)

    def test_best_effort_without_a_peer_accepts_and_counts(self):
        a, _, _ = self.nodes(harness.free_port(), start=(True, False, False))
        t0 = time.time()
        code, msg = self.send(a, 1)
        self.assertEqual(code, 250, msg)
        self.assertLess(time.time() - t0, 5)
        self.assertEqual(metric(a, "sluice_unshadowed_total", 'result="accepted"'), 1)

    def test_a_wrong_secret_is_refused(self):
        a, b, _ = self.nodes(harness.free_port(), modes=("required", "best-effort", "best-effort"),
                             secrets=(SECRET, "not the fleet's secret at all", "not the fleet's secret at all"))
        code, msg = self.send(a, 1)
        self.assertEqual(code, 451, msg)
        self.assertEqual(metric(b, "sluice_shadow_copies_held"), 0)
        harness.wait_for(lambda: "shadow peer refused" in b.log(), timeout=5, what="the refusal logged")

    def test_a_lost_spool_is_delivered_by_the_peers(self):
        # The next hop answers 421: mail stays queued on A. (A port left
        # unused until later could be taken by another test meanwhile.)
        relay_port = harness.free_port()
        busy = harness.SmtpSink(relay_port, extra=("-Q", "rcpt"))
        self.addCleanup(busy.cleanup)
        a, b, c = self.nodes(relay_port, modes=("required", "best-effort", "best-effort"))
        count = 40
        for n in range(count):
            code, msg = self.send(a, n)
            self.assertEqual(code, 250, msg)
        self.assertEqual(metric(a, "sluice_shadowed_total"), count)
        held = [metric(b, "sluice_shadow_copies_held"), metric(c, "sluice_shadow_copies_held")]
        self.assertEqual(sum(held), count, held)
        self.assertTrue(all(h > 0 for h in held), held)  # rendezvous spreads them over both peers
        # A's disk is lost: SIGKILL, an empty spool, started again.
        a.kill9()
        shutil.rmtree(os.path.join(a.dir, "spool"))
        a.start()
        harness.wait_for(lambda: metric(b, "sluice_shadow_copies_held") == 0 and
                         metric(c, "sluice_shadow_copies_held") == 0, timeout=15, what="the copies promoted")
        promoted = metric(b, "sluice_shadow_copies_total", 'kind="promoted"') + \
            metric(c, "sluice_shadow_copies_total", 'kind="promoted"')
        self.assertEqual(promoted, count)
        # The next hop comes back: every acknowledged message arrives once.
        self.assertEqual(busy.subjects(), [])
        busy.cleanup()
        sink = harness.SmtpSink(relay_port)
        self.addCleanup(sink.cleanup)
        for n in (a, b, c):
            n.api("POST", "/api/v1/queue/retry", {"all": True})
        harness.wait_for(lambda: len(sink.subjects()) >= count, timeout=90, what="every message delivered")
        time.sleep(1)
        self.assertEqual(sorted(sink.subjects()), list(range(count)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
