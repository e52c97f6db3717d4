"""A flight to a share of the fleet's nodes, on a real etcd: at 34 % exactly
one of three nodes runs the candidate's forest limit, the same node every
time the same candidate flies (a deterministic cohort); a rollback puts it
back everywhere; a candidate that makes its cohort defer fails a gate,
judged for the fleet, and is rolled back by itself on every node; without
etcd the flight pauses (no step, each node keeps what it runs, a cohort
node restarted meanwhile runs the candidate from its snapshot) and resumes
when etcd answers again."""
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

FOREST = """
[forests.de-1]
replicas = ["sqlite"]
limit = %d
wait_timeout = "50ms"
cache_entries = 0
cache_negative_entries = 0
[forests.de-1.fault]
latency = "40ms"
[flight]
interval = "1s"
min_lookups = 20
"""


def fnv(s):
    h = 1469598103934665603
    for c in s.encode():
        h ^= c
        h = (h * 1099511628211) % (1 << 64)
    return h


def limit_of(node, forest="de-1"):
    code, forests = node.api("GET", "/api/v1/forests")
    return [f for f in forests if f["name"] == forest][0]["limit"]


class FleetFlight(unittest.TestCase):
    def setUp(self):
        self.etcd = harness.Etcd(1)
        self.addCleanup(self.etcd.cleanup)
        self.nodes = []
        for i in range(3):
            s = harness.Sluice(directory_extra="fault_injection = true", extra=FOREST % 50 + """
[cluster]
node = "n%d"
etcd = ["%s"]
member_ttl = "3s"
""" % (i + 1, self.etcd.endpoints[0]))
            self.addCleanup(s.cleanup)
            s.start()
            self.nodes.append(s)
        harness.wait_for(lambda: len(self.nodes[0].api("GET", "/api/v1/fleet")[1]["control"]["members"]) == 3,
                         timeout=10, what="three members")

    def candidate(self, limit):
        with open(self.nodes[0].config) as f:
            text = f.read()
        path = os.path.join(self.nodes[0].dir, "candidate-%d.toml" % limit)
        with open(path, "w") as f:
            f.write(text.replace("limit = 50", "limit = %d" % limit, 1))
        return path

    def flight(self, node, step, body=None):
        return node.api("POST", "/api/v1/fleet/flight/" + step, body if body is not None else {})

    def cohort_now(self):
        return [n for n in self.nodes if limit_of(n) != 50]

    def test_a_third_of_the_nodes_the_same_node_every_time(self):
        path = self.candidate(7)
        runs = []
        for _ in range(2):
            code, view = self.flight(self.nodes[0], "start", {"candidate": path, "share": 34})
            self.assertEqual(code, 200, view)
            self.assertEqual(len(view["nodes"]), 1)
            harness.wait_for(lambda: len(self.cohort_now()) == 1, timeout=5, what="one node on the candidate")
            time.sleep(1.5)  # and only one, after every node has looked
            cohort = self.cohort_now()
            self.assertEqual(len(cohort), 1)
            self.assertEqual(limit_of(cohort[0]), 7)
            name = "n%d" % (self.nodes.index(cohort[0]) + 1)
            self.assertEqual(view["nodes"], [name])
            code, fleet_view = self.nodes[2].api("GET", "/api/v1/fleet/flight")
            self.assertEqual(fleet_view["state"], "running")
            self.assertEqual(fleet_view["nodes"], [name])
            runs.append(name)
            code, view = self.flight(self.nodes[0], "rollback")
            self.assertEqual(code, 200, view)
            harness.wait_for(lambda: not self.cohort_now(), timeout=5, what="every node back on 50")
        # The cohort is the first of the nodes ordered by FNV-1a of "node/flight id".
        code, view = self.nodes[0].api("GET", "/api/v1/fleet/flight")
        expected = sorted(["n1", "n2", "n3"], key=lambda n: (fnv(n + "/" + view["candidate_hash"][:12]), n))[0]
        print("cohort at 34 %%: %s, then %s (expected %s)" % (runs[0], runs[1], expected))
        self.assertEqual(runs, [expected, expected])
        out = self.nodes[0].ctl("flight", "status", "--nodes")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("rolled_back", out.stdout)
        # A candidate that changes more than limits is refused, and nothing starts.
        with open(path) as f:
            text = f.read()
        bad = os.path.join(self.nodes[0].dir, "bad.toml")
        with open(bad, "w") as f:
            f.write(re.sub(r"workers = 2", "workers = 3", text))
        code, body = self.flight(self.nodes[0], "start", {"candidate": bad, "share": 34})
        self.assertEqual(code, 422, body)

    def test_without_etcd_the_flight_pauses_and_resumes(self):
        code, view = self.flight(self.nodes[0], "start", {"candidate": self.candidate(7), "share": 34})
        self.assertEqual(code, 200, view)
        harness.wait_for(lambda: len(self.cohort_now()) == 1, timeout=5, what="one node on the candidate")
        cohort = self.cohort_now()[0]
        harness.wait_for(lambda: all(n.api("GET", "/api/v1/fleet/flight")[1]["state"] == "running"
                                     for n in self.nodes), timeout=5, what="every node has read the flight")
        self.etcd.stop(0)

        def reason(node):
            return node.api("GET", "/api/v1/fleet/flight")[1]["reason"]
        harness.wait_for(lambda: all(reason(n).startswith("paused") for n in self.nodes), timeout=10,
                         what="the flight paused on every node")
        code, body = self.flight(self.nodes[1], "promote")
        self.assertEqual(code, 503, body)  # no step while paused
        self.assertEqual(self.cohort_now(), [cohort])  # each node keeps what it runs
        # The cohort node restarts while etcd is away: it takes its part
        # again from its snapshot (the flight and the member list).
        cohort.stop()
        cohort.start()
        harness.wait_for(lambda: limit_of(cohort) == 7, timeout=10, what="the restarted cohort node on the candidate")
        self.assertEqual(self.cohort_now(), [cohort])
        self.etcd.start(0)
        harness.wait_for(lambda: not any(reason(n).startswith("paused") for n in self.nodes), timeout=20,
                         what="the flight resumed")
        code, view = self.flight(self.nodes[1], "promote")
        self.assertEqual(code, 200, view)
        self.assertEqual(view["share"], 50)
        harness.wait_for(lambda: len(self.cohort_now()) == 2, timeout=5, what="50 % of three nodes: two")
        self.assertIn(cohort, self.cohort_now())  # a share only grows: the first node stays in

    def test_a_failing_gate_rolls_the_flight_back_on_every_node(self):
        path = self.candidate(2)  # with 40 ms lookups and 8 senders, a limit of 2 defers
        code, view = self.flight(self.nodes[0], "start", {"candidate": path, "share": 34})
        self.assertEqual(code, 200, view)
        stop = time.time() + 20

        def load(node):
            c = harness.Raw(node.port)
            c.send(b"EHLO c\r\nMAIL FROM:<s@outside.example>\r\n")
            c.replies(2)
            while time.time() < stop:
                c.send(b"RCPT TO:<erin@initech.example>\r\n")
                c.reply()
            c.close()
        threads = [threading.Thread(target=load, args=(n,)) for n in self.nodes for _ in range(8)]
        for t in threads:
            t.start()
        try:
            harness.wait_for(lambda: all(n.api("GET", "/api/v1/fleet/flight")[1]["state"] == "rolled_back"
                                         for n in self.nodes),
                             timeout=15, what="the gate rolls the flight back on every node")
            harness.wait_for(lambda: not self.cohort_now(), timeout=5, what="every node back on 50")
        finally:
            stop = 0
            for t in threads:
                t.join(timeout=30)
        for n in self.nodes:
            code, view = n.api("GET", "/api/v1/fleet/flight")
            self.assertIn("deferral_rate", view["reason"])
        print("rolled back: %s" % view["reason"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
