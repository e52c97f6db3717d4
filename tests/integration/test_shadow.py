"""Shadow copies ([shadow]) between three real nodes: before the 250 a
node hands each message to a peer, which syncs it first; "required"
without a peer answers 451 4.4.0 and keeps nothing, "best-effort" accepts
and counts it; a wrong secret is refused. And the point of it: a node
killed and started again on an empty spool (a lost disk, a new epoch) has
every message it acknowledged delivered by its peers, once; a node killed
and kept down is taken over once it left the fleet's membership (a real
etcd), and does not deliver that mail again when it returns. Discards
move delivered copies to the safety net, which a resubmit delivers once
more to one destination; a drain hands a node's queue to its peers."""
import os
import shutil
import smtplib
import subprocess
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SECRET = "the fleet's shadow secret"


metric = harness.metric


class Shadow(unittest.TestCase):
    def nodes(self, relay_port, modes=("best-effort",) * 3, secrets=(SECRET,) * 3, start=(True, True, True),
              shadow_extra="", etcd=None, redis=None, lmtp_port=None, static_peers=True, domains=None):
        ports = [harness.free_port() for _ in range(3)]
        out = []
        for i in range(3):
            peers = ", ".join('"127.0.0.1:%d"' % p for k, p in enumerate(ports) if k != i) if static_peers else ""
            cluster = ""
            if redis:
                cluster = """
[cluster]
node = "n%d"
redis = "%s"
""" % (i + 1, redis.address)
            if etcd:
                cluster = """
[cluster]
node = "n%d"
etcd = [%s]
member_ttl = "2s"
%s
""" % (i + 1, ", ".join('"%s"' % e for e in etcd.endpoints),
       'failure_domain = "%s"' % domains[i] if domains else "")
            s = harness.Sluice(relay_port=relay_port, extra=cluster + """
[shadow]
%s
listen = "127.0.0.1:%d"
secret = "%s"
peers = [%s]
deadline = "500ms"
mode = "%s"
%s
""" % ("" if etcd or redis else 'node = "n%d"' % (i + 1), ports[i], secrets[i], peers, modes[i], shadow_extra),
                               lmtp_port=lmtp_port)
            self.addCleanup(s.cleanup)
            if start[i]:
                s.start()
            out.append(s)
        return out

    def send(self, node, n, to="gavin@hooli.example"):
        """Sends message n to the relay tenant; returns (code, reply)."""
        c = smtplib.SMTP("127.0.0.1", node.port, timeout=30)
        try:
            c.ehlo("client.example")
            code, msg = c.mail("s@outside.example")
            if code != 250:
                return code, msg
            c.rcpt(to)
            return c.data(harness.message(n, to))
        finally:
            c.close()

    def send_all(self, node, numbers):
        """Sends each message from four senders at once; every one must be 250."""
        with ThreadPoolExecutor(4) as pool:
            for n, (code, msg) in zip(numbers, pool.map(lambda n: self.send(node, n), numbers)):
                self.assertEqual(code, 250, (n, msg))

    def shadow(self, node):
        return node.api("GET", "/api/v1/shadow")[1]

    def retry_until_delivered(self, nodes, sink, count, timeout=120):
        """Asks every node to retry now until the sink has `count` messages."""
        deadline = time.time() + timeout
        while len(sink.subjects()) < count and time.time() < deadline:
            for n in nodes:
                n.api("POST", "/api/v1/queue/retry", {"all": True})
            time.sleep(1)
        time.sleep(1.5)  # anything more would arrive now
        return sink.subjects()

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
        a, b, c = self.nodes(relay_port, modes=("required", "best-effort", "best-effort"),
                             shadow_extra='heartbeat = "1s"')
        count = 1000
        self.send_all(a, range(count))
        self.assertEqual(metric(a, "sluice_shadowed_total"), count)
        held = [metric(b, "sluice_shadow_copies_held"), metric(c, "sluice_shadow_copies_held")]
        self.assertEqual(sum(held), count, held)
        self.assertTrue(all(h > 0 for h in held), held)  # rendezvous spreads them over both peers
        # A's disk is lost: SIGKILL, an empty spool, started again.
        a.kill9()
        shutil.rmtree(os.path.join(a.dir, "spool"))
        t0 = time.time()
        a.start()
        harness.wait_for(lambda: metric(b, "sluice_shadow_copies_held") == 0 and
                         metric(c, "sluice_shadow_copies_held") == 0, timeout=60, what="the copies promoted")
        print("\n%d copies promoted %.1f s after A came back" % (count, time.time() - t0), file=sys.stderr)
        promoted = metric(b, "sluice_shadow_copies_total", 'kind="promoted"') + \
            metric(c, "sluice_shadow_copies_total", 'kind="promoted"')
        self.assertEqual(promoted, count)
        # The next hop comes back: every acknowledged message arrives once.
        self.assertEqual(busy.subjects(), [])
        busy.cleanup()
        sink = harness.SmtpSink(relay_port)
        self.addCleanup(sink.cleanup)
        got = self.retry_until_delivered((a, b, c), sink, count)
        self.assertEqual(sorted(got), list(range(count)))  # no duplicates: nothing was delivered before

    def test_required_answers_250_again_within_a_heartbeat_of_the_peers_return(self):
        a, b, c = self.nodes(harness.free_port(), modes=("required", "best-effort", "best-effort"),
                             start=(True, False, False), shadow_extra='heartbeat = "5s"')
        for n in range(3):
            code, msg = self.send(a, n)
            self.assertEqual((code, msg[:5]), (451, b"4.4.0"), msg)
        b.start()
        c.start()
        t0 = time.time()
        while True:
            code, msg = self.send(a, 10)
            if code == 250:
                break
            self.assertEqual((code, msg[:5]), (451, b"4.4.0"), msg)
            self.assertLess(time.time() - t0, 5, "no 250 within a heartbeat of the peers' return")
            time.sleep(0.1)
        self.assertEqual(metric(a, "sluice_unshadowed_total", 'result="refused"') >= 3, True)

    def test_discards_fill_the_safety_net_and_a_resubmit_delivers_once_more(self):
        sink = harness.SmtpSink()
        self.addCleanup(sink.cleanup)
        a, b, c = self.nodes(sink.port, shadow_extra='heartbeat = "1s"')
        count = 20
        self.send_all(a, range(count))
        harness.wait_for(lambda: len(sink.subjects()) >= count, timeout=30, what="delivery")
        t_delivered = time.time()
        # Within two heartbeats every copy is in a peer's safety net.
        harness.wait_for(lambda: self.shadow(b)["safety_net"] + self.shadow(c)["safety_net"] == count,
                         timeout=2 * 1 + 3, what="the copies in the safety net")
        self.assertLess(time.time() - t_delivered, 2 * 1 + 3)
        self.assertEqual(self.shadow(b)["held"] + self.shadow(c)["held"], 0)
        self.assertEqual(metric(b, "sluice_safety_net_copies") + metric(c, "sluice_safety_net_copies"), count)
        self.assertEqual(self.shadow(a)["discards_pending"], 0)
        shown = [n.ctl("shadow") for n in (b, c)]
        self.assertEqual([r.returncode for r in shown], [0, 0], [r.stderr for r in shown])
        nets = [int(r.stdout.split("safety net")[1].split()[0]) for r in shown]
        self.assertEqual(sum(nets), count, [r.stdout for r in shown])
        self.assertIn("up", shown[0].stdout)  # each peer's state
        r = a.ctl("node", "status")
        self.assertEqual((r.returncode, r.stdout.split()[:2]), (0, ["drain", "off"]), r.stdout + r.stderr)
        # Another destination: nothing of this mail went there.
        r = b.ctl("safetynet", "resubmit", "--destination", "store", "--since", "1h")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 messages", r.stdout)
        # A mailbox store restored from last night's backup asks again.
        resubmitted = 0
        for n in (b, c):
            r = n.ctl("safetynet", "resubmit", "--destination", "relay", "--since", "10m")
            self.assertEqual(r.returncode, 0, r.stderr)
            resubmitted += int(r.stdout.split()[0])
        self.assertEqual(resubmitted, count)
        harness.wait_for(lambda: len(sink.subjects()) >= 2 * count, timeout=30, what="the resubmitted mail")
        time.sleep(1.5)
        self.assertEqual(sorted(sink.subjects()), sorted(list(range(count)) * 2))
        # A window before the mail was delivered finds none of it; a bad one is refused.
        r = b.ctl("safetynet", "resubmit", "--destination", "relay", "--since", "3h", "--until", "2h")
        self.assertEqual((r.returncode, r.stdout.split()[0]), (0, "0"), r.stderr)
        r = b.ctl("safetynet", "resubmit", "--destination", "relay", "--since", "yesterday-ish")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--since", r.stderr)
        self.assertEqual(sorted(sink.subjects()), sorted(list(range(count)) * 2))

    def test_a_silent_node_out_of_the_fleet_is_taken_over_once(self):
        etcd = harness.Etcd(members=1)
        self.addCleanup(etcd.cleanup)
        relay_port = harness.free_port()
        busy = harness.SmtpSink(relay_port, extra=("-Q", "rcpt"))
        self.addCleanup(busy.cleanup)
        a, b, c = self.nodes(relay_port, etcd=etcd, shadow_extra='heartbeat = "1s"\nresubmit_after = "4s"')
        members = lambda n: sorted(m["node"] for m in n.api("GET", "/api/v1/fleet")[1]["control"]["members"])
        harness.wait_for(lambda: members(b) == ["n1", "n2", "n3"], timeout=20, what="three members")
        count = 30
        self.send_all(a, range(count))
        self.assertEqual(self.shadow(b)["held"] + self.shadow(c)["held"], count)
        a.kill9()
        t0 = time.time()
        harness.wait_for(lambda: self.shadow(b)["takeovers"] + self.shadow(c)["takeovers"] == count, timeout=30,
                         what="the takeover")
        waited = time.time() - t0
        self.assertGreaterEqual(waited, 3.5, "taken over before resubmit_after")
        self.assertEqual(members(b), ["n2", "n3"])  # and A is out of the membership
        busy.cleanup()
        sink = harness.SmtpSink(relay_port)
        self.addCleanup(sink.cleanup)
        got = self.retry_until_delivered((b, c), sink, count)
        self.assertEqual(sorted(got), list(range(count)))
        # A returns with its old spool: its peers say what they delivered,
        # and A drops it before its queue starts.
        a.start()
        self.assertEqual(a.api("GET", "/api/v1/status")[1]["queue"]["messages"], 0)
        self.assertEqual(self.shadow(a)["dropped_taken"], count)
        a.api("POST", "/api/v1/queue/retry", {"all": True})
        time.sleep(2)
        self.assertEqual(sorted(sink.subjects()), list(range(count)))

    def test_a_drain_under_load_hands_the_queue_to_the_peers_exactly_once(self):
        relay_port = harness.free_port()
        busy = harness.SmtpSink(relay_port, extra=("-Q", "rcpt"))
        self.addCleanup(busy.cleanup)
        a, b, c = self.nodes(relay_port, shadow_extra='heartbeat = "1s"')
        first = 60
        self.send_all(a, range(first))
        # Load keeps coming while A drains; a load balancer sends each
        # connection to A while A is ready, else to B.
        sent, refused, stop = [], [], threading.Event()

        def balancer():
            n = first
            while not stop.is_set() and n < first + 200:
                ready = a.api("GET", "/api/v1/health/ready", token=False)[0] == 200
                code, msg = self.send(a if ready else b, n)
                if code == 250:
                    sent.append(n)
                else:
                    refused.append((n, ready, code, msg))
                n += 1
        load = threading.Thread(target=balancer)
        load.start()
        self.addCleanup(stop.set)
        time.sleep(0.5)
        r = a.ctl("node", "drain", "n2")  # the wrong node: refused, changes nothing
        self.assertEqual(r.returncode, 1)
        self.assertIn("this is node n1", r.stderr)
        self.assertEqual(a.api("GET", "/api/v1/health/ready", token=False)[0], 200)
        r = a.ctl("node", "drain", "n1", "--wait", "--timeout", "60")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("drained", r.stdout)
        self.assertEqual(a.api("GET", "/api/v1/health/ready", token=False)[0], 503)
        code, msg = self.send(a, 999)  # a sender that ignores the load balancer
        self.assertEqual((code, msg[:5]), (451, b"4.3.2"), msg)
        time.sleep(0.5)
        stop.set()
        load.join()
        # Nothing the load balancer sent went to a drained node unready.
        self.assertEqual([x for x in refused if not x[1]], [], refused)
        self.assertEqual(a.api("GET", "/api/v1/status")[1]["queue"]["messages"], 0)
        self.assertGreaterEqual(self.shadow(a)["drain"]["handed"], first)
        # The next hop comes back: every acknowledged message once.
        accepted = list(range(first)) + sent
        busy.cleanup()
        sink = harness.SmtpSink(relay_port)
        self.addCleanup(sink.cleanup)
        got = self.retry_until_delivered((a, b, c), sink, len(accepted))
        self.assertEqual(sorted(got), sorted(accepted))
        # Undrained, A takes mail again.
        r = a.ctl("node", "undrain", "n1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(a.api("GET", "/api/v1/health/ready", token=False)[0], 200)
        code, msg = self.send(a, 5000)
        self.assertEqual(code, 250, msg)

    def test_a_copy_delivered_again_is_not_shown_twice_by_the_mailbox_store(self):
        # A delivers to a real Dovecot and dies before its discards reach
        # the peers (the heartbeat is an hour); its disk is lost, so the
        # peers deliver their copies: the fleet's dedup window in Redis
        # knows A delivered them.
        redis = harness.Redis()
        self.addCleanup(redis.cleanup)
        dovecot = harness.Dovecot({"ann@umbrella.example": ""})
        self.addCleanup(dovecot.cleanup)
        a, b, c = self.nodes(harness.free_port(), redis=redis, lmtp_port=dovecot.port,
                             shadow_extra='heartbeat = "1h"\nresubmit_after = "3h"\ndedup_window = "4h"')
        count = 8
        for n in range(count):
            code, msg = self.send(a, n, to="ann@umbrella.example")
            self.assertEqual(code, 250, msg)
        harness.wait_for(lambda: len(dovecot.messages("ann@umbrella.example")) == count, timeout=30, what="delivery to the store")
        self.assertEqual(self.shadow(b)["held"] + self.shadow(c)["held"], count)  # no discard has reached them
        self.assertEqual(len(redis.cli("--scan", "--pattern", "sluice:{dedup}:*").split()), count)
        a.kill9()
        shutil.rmtree(os.path.join(a.dir, "spool"))
        a.start()
        harness.wait_for(lambda: self.shadow(b)["promoted"] + self.shadow(c)["promoted"] == count, timeout=30,
                         what="the copies promoted")
        suppressed = lambda: sum(metric(n, "sluice_duplicates_suppressed_total") or 0 for n in (b, c))
        harness.wait_for(lambda: suppressed() == count, timeout=30, what="the duplicates suppressed")
        time.sleep(1)
        self.assertEqual(len(dovecot.messages("ann@umbrella.example")), count)
        for n in (b, c):
            self.assertEqual(n.api("GET", "/api/v1/status")[1]["queue"]["messages"], 0)

    def test_peers_come_from_the_membership_and_prefer_another_failure_domain(self):
        etcd = harness.Etcd(members=1)
        self.addCleanup(etcd.cleanup)
        sink = harness.SmtpSink()
        self.addCleanup(sink.cleanup)
        # No peers in any config: each node learns the others' shadow
        # listeners from etcd. A and B share a rack; C is in another.
        a, b, c = self.nodes(sink.port, etcd=etcd, static_peers=False, domains=("rack-a", "rack-a", "rack-b"),
                             modes=("required", "best-effort", "best-effort"))
        harness.wait_for(lambda: len(self.shadow(a)["peers"]) == 2, timeout=20, what="A learns its two peers")
        members = a.api("GET", "/api/v1/fleet")[1]["control"]["members"]
        self.assertEqual(sorted(m["failure_domain"] for m in members), ["rack-a", "rack-a", "rack-b"])
        count = 20
        self.send_all(a, range(count))
        harness.wait_for(lambda: len(sink.subjects()) >= count, timeout=30, what="delivery")
        # Every copy went to C, the peer outside A's rack; none to B.
        self.assertEqual(self.shadow(c)["received"], count)
        self.assertEqual(self.shadow(b)["received"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
