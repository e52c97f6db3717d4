"""The fleet's control plane on a real three-member etcd cluster: a tenant
move, a forest limit and a hold issued on one node apply on all three
within a second; every node is listed as a member; with etcd's quorum lost
mail still flows on each node's snapshot and the alert fires; a node
restarted without etcd starts on its snapshot; once quorum is back every
node is at the same revision within 5 s."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def forest_of(node, tenant):
    code, forests = node.api("GET", "/api/v1/forests")
    for f in forests:
        if tenant in f["tenants"]:
            return f["name"]
    return None


def limit_of(node, forest):
    code, forests = node.api("GET", "/api/v1/forests")
    return [f for f in forests if f["name"] == forest][0]["limit"]


def holds_of(node):
    code, q = node.api("GET", "/api/v1/queue")
    return {(h["kind"], h["name"]) for h in q["hold_policies"]}


def control(node):
    code, view = node.api("GET", "/api/v1/fleet")
    return view["control"]


class ControlPlane(unittest.TestCase):
    def setUp(self):
        self.etcd = harness.Etcd(3)
        self.addCleanup(self.etcd.cleanup)
        self.nodes = []
        for i in range(3):
            s = harness.Sluice(extra="""
[cluster]
node = "n%d"
etcd = [%s]
etcd_timeout = "300ms"
member_ttl = "3s"
""" % (i + 1, ", ".join('"%s"' % e for e in self.etcd.endpoints)))
            self.addCleanup(s.cleanup)
            s.start()
            self.nodes.append(s)
        harness.wait_for(lambda: all(control(n)["state"] == "ok" for n in self.nodes), timeout=10,
                         what="every node reads etcd")

    def everywhere_within(self, seconds, check, what):
        t0 = time.time()
        harness.wait_for(lambda: all(check(n) for n in self.nodes), timeout=seconds, what=what)
        return time.time() - t0

    def test_changes_apply_on_every_node_and_survive_quorum_loss(self):
        n1, n2, n3 = self.nodes
        # Each node lists the members as of its own last poll.
        self.everywhere_within(5, lambda n: len(control(n)["members"]) == 3, "three members on every node")
        self.assertEqual(sorted(m["node"] for m in control(n2)["members"]), ["n1", "n2", "n3"])
        out = n1.ctl("fleet")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("control plane ok", out.stdout)
        for name in ("n1", "n2", "n3"):
            self.assertIn(name, out.stdout)

        self.assertEqual(forest_of(n2, "acme"), "na-1")
        code, body = n1.api("POST", "/api/v1/tenants/acme/move", {"forest": "de-1"})
        self.assertEqual(code, 200, body)
        self.assertTrue(body["fleet"])
        moved = self.everywhere_within(1.0, lambda n: forest_of(n, "acme") == "de-1", "the move on every node")

        code, body = n2.api("POST", "/api/v1/forests/na-2/limit", {"limit": 7})
        self.assertEqual(code, 200, body)
        limited = self.everywhere_within(1.0, lambda n: limit_of(n, "na-2") == 7, "the limit on every node")

        code, body = n3.api("POST", "/api/v1/queue/holds", {"kind": "tenant", "name": "hooli", "hold": True,
                                                          "reason": "maintenance"})
        self.assertEqual(code, 200, body)
        held = self.everywhere_within(1.0, lambda n: ("tenant", "hooli") in holds_of(n), "the hold on every node")
        print("applied on all three nodes after %.2f s (move), %.2f s (limit), %.2f s (hold)" % (moved, limited, held))

        # Bad input changes nothing anywhere.
        code, body = n1.api("POST", "/api/v1/tenants/acme/move", {"forest": "nowhere"})
        self.assertEqual(code, 404, body)
        code, body = n1.api("POST", "/api/v1/tenants/nobody/move", {"forest": "de-1"})
        self.assertEqual(code, 404, body)

        # Quorum lost: two of three members gone.
        self.etcd.stop(1)
        self.etcd.stop(2)
        self.everywhere_within(5, lambda n: control(n)["state"] == "unreachable", "every node on its snapshot")

        def firing(node):
            code, body = node.api("GET", "/api/v1/alerts")
            return [a["alert"] for a in body["active"] if a["state"] == "firing"]
        harness.wait_for(lambda: "fleet-control-lost" in firing(n2), timeout=5, what="the fleet-control-lost alert")
        code, body = n1.api("POST", "/api/v1/forests/na-2/limit", {"limit": 9})
        self.assertEqual(code, 503, body)  # a write without quorum is refused, not half-applied
        for n in self.nodes:  # mail flows on the snapshot
            with n.smtp() as c:
                c.sendmail("s@outside.example", ["alice@acme.example"], harness.message(1, "alice@acme.example"))
        # A node restarted without etcd starts on its snapshot.
        n3.stop()
        n3.start()
        self.assertEqual(forest_of(n3, "acme"), "de-1")
        self.assertEqual(limit_of(n3, "na-2"), 7)
        self.assertIn(("tenant", "hooli"), holds_of(n3))

        self.etcd.start(1)
        self.etcd.start(2)
        back = self.everywhere_within(15, lambda n: control(n)["state"] == "ok", "every node reads etcd again")
        revisions = {control(n)["revision"] for n in self.nodes}
        t0 = time.time()
        while len(revisions) > 1 and time.time() - t0 < 5:
            time.sleep(0.2)
            revisions = {control(n)["revision"] for n in self.nodes}
        print("quorum back: nodes read etcd after %.2f s, revisions %s" % (back, revisions))
        self.assertEqual(len(revisions), 1)
        for n in self.nodes:
            harness.wait_for(lambda: n.maildir_files("alice@acme.example"), timeout=20, what="mail delivered")


if __name__ == "__main__":
    unittest.main(verbosity=2)
