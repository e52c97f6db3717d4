"""Short storms in `make test` (about 20 s of load each): sluice-storm starts
its own Sluice, a relay fleet and an LMTP sink, replays the scenario and
reports what became of every message. The invariants are asserted; the
figures are printed, not asserted (speed is for bench/ and full storms).

- ex1331830: a forest slows 50x, the operator raises its limit and moves
  the heaviest tenant, the fault clears. Zero lost, zero connections
  dropped without a reply, the healthy forests accept mail throughout and
  their recipients never get a 4xx.
- sigkill: Sluice is killed twice mid-load with mail queued behind a slow
  store, the storm and Sluice pinned to CPUs of their own. Zero lost;
  duplicates only within what was in flight.
- downstream-421: the store answers 421 for a while, at the greeting and
  on open sessions (MAIL, RCPT, the final dot). Zero lost, the queue
  drains after it."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

STORM = os.path.join(os.path.dirname(harness.SLUICE_BIN), "sluice-storm")
SCENARIOS = os.path.join(harness.SOURCE, "tools", "storm", "scenarios")


def storm(scenario, scale, *extra):
    out = tempfile.mkdtemp(prefix="sluice-storm-")
    r = subprocess.run([STORM, "run", os.path.join(SCENARIOS, scenario), "--scale", str(scale),
                        "--sluice", harness.SLUICE_BIN, "--out", out, *extra],
                       capture_output=True, text=True, timeout=400)
    print(r.stdout)  # the figures, for the log
    if r.returncode != 0:
        raise AssertionError("sluice-storm failed (%d): %s" % (r.returncode, r.stderr[-3000:]))
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    html = os.path.join(out, "report.html")
    return report, html, out


class Storm(unittest.TestCase):
    def test_ex1331830(self):
        r, html, out = storm("ex1331830.toml", 0.15)
        self.addCleanup(subprocess.run, ["rm", "-rf", out])
        self.assertFalse(r["sluice_failed"])
        self.assertGreater(r["accepted"], 500)
        self.assertEqual(r["lost"], 0)
        self.assertEqual(r["dropped_without_reply"], 0)
        self.assertEqual(r["never_accepted"], 0)
        self.assertEqual(r["delivered_unique"], r["accepted"])
        # What Sluice answered, per forest: the healthy ones never a 4xx and
        # accepting in every bucket; the slow one deferred.
        forests = r["forests"]
        self.assertEqual(sorted(f for f, v in forests.items() if v["faulted"]), ["na-1"])
        for name in ("na-2", "de-1"):
            self.assertEqual(forests[name]["rcpt_4xx"], 0, name)
            self.assertEqual(forests[name]["buckets_without_accepted"], 0, name)
        self.assertGreater(forests["na-1"]["rcpt_4xx"], 0)
        self.assertGreater(sum(r["deferred"].values()), 0)
        # Isolation in latency: while the fault lasted, the slow forest's RCPT
        # p99 was well above the healthy forests' (measured, not declared).
        start, end = r["fault_window_s"]

        def worst_p99(name):
            rows = [b for b in forests[name]["over_time"]
                    if b["t"] >= start and b["t"] + r["bucket_s"] <= end and b["rcpt_ms"]["n"] > 0]
            self.assertTrue(rows, name)
            return max(b["rcpt_ms"]["p99"] for b in rows)
        slow, healthy = worst_p99("na-1"), max(worst_p99("na-2"), worst_p99("de-1"))
        print("RCPT p99 during the fault: na-1 %.0f ms, healthy forests at most %.0f ms" % (slow, healthy))
        self.assertGreater(slow, 2 * healthy)
        events = [e["event"] for e in r["timeline"]]
        self.assertIn("tenant contoso moved to na-2", events)
        self.assertTrue(any(e.startswith("alert firing") for e in events), events)
        with open(html) as f:
            page = f.read()
        self.assertEqual(page.count("<svg"), 4)  # throughput, replies, latency, queue
        # Axes say their units, and events are labelled on the plots, not only on hover.
        self.assertEqual(page.count(">time (s)</text>"), 4)
        self.assertEqual(page.count(">tenant contoso moved to na-2</text>"), 4)
        # Sluice's own view of the slow forest beside the client's: its lookup
        # histogram saw the slow lookups during the fault.
        own = [b["sluice_lookup_ms"] for b in forests["na-1"]["over_time"]
               if b["sluice_lookup_ms"] and b["t"] >= start and b["t"] + r["bucket_s"] <= end]
        self.assertTrue(any(x["n"] > 0 for x in own), own)
        self.assertTrue(any(x["p99_le"] == "inf" or x["p99_le"] >= 50 for x in own if x["n"] > 0), own)
        gap = r["deferred_empty_after_fault_end_s"]
        self.assertTrue(gap is None or gap >= 0, gap)

    def test_sigkill(self):
        pin = ("--cpus", "0:1") if (os.cpu_count() or 1) >= 2 else ()
        r, _, out = storm("sigkill.toml", 0.3, *pin)
        self.addCleanup(subprocess.run, ["rm", "-rf", out])
        self.assertFalse(r["sluice_failed"])
        self.assertEqual(sum(1 for e in r["timeline"] if e["event"] == "Sluice restarted"), 2)
        self.assertGreater(r["accepted"], 500)
        self.assertEqual(r["lost"], 0)
        self.assertEqual(r["never_accepted"], 0)
        self.assertEqual(r["delivered_unique"], r["accepted"])
        # Duplicates only from what was in flight at each kill: deliveries
        # to the store (20 per destination) and 250s lost with a connection.
        self.assertLessEqual(r["duplicates"], 2 * (20 + r["sessions"]))
        self.assertTrue(r["healthy_forests_accepted_throughout"])
        if pin:
            self.assertEqual(r["cpus"], "storm 0, sluice 1")

    def test_downstream_421_on_open_sessions(self):
        r, _, out = storm("downstream-421.toml", 0.15)
        self.addCleanup(subprocess.run, ["rm", "-rf", out])
        self.assertFalse(r["sluice_failed"])
        self.assertEqual(r["lost"], 0)
        self.assertEqual(r["delivered_unique"], r["accepted"])
        refused = r["downstream_refused"]
        # Sluice keeps connections to the store open: the busy store turned
        # away sessions that were already open, not only new connections.
        self.assertGreater(refused.get("mail", 0) + refused.get("rcpt", 0) + refused.get("dot", 0), 0, refused)
        self.assertIsNotNone(r["deferred_empty_after_fault_end_s"])
        self.assertGreaterEqual(r["deferred_empty_after_fault_end_s"], 0)

    def test_fleet(self):
        """Three nodes on a real Redis and etcd under the storm: Redis
        stopped, a node killed, the remedy through etcd, etcd's quorum
        lost, Redis killed and started empty. Nothing lost, no reply
        missing except on the node that was killed, every node took mail,
        went local and came back, and all ended at one revision."""
        r, _, out = storm("fleet.toml", 0.15)
        self.addCleanup(subprocess.run, ["rm", "-rf", out])
        self.assertFalse(r["sluice_failed"])
        self.assertGreater(r["accepted"], 500)
        self.assertEqual(r["lost"], 0)
        self.assertEqual(r["never_accepted"], 0)
        self.assertEqual(r["delivered_unique"], r["accepted"])
        nodes = {n["node"]: n for n in r["nodes"]}
        self.assertEqual(sorted(nodes), ["n1", "n2", "n3"])
        for name, n in nodes.items():
            self.assertGreater(n["accepted"], 0, name)
            self.assertGreater(n["seconds_local"], 0, name)  # Redis stopped: local shares
            self.assertEqual(n["mode_at_end"], "shared", name)  # and back, on the new Redis
            self.assertEqual(n["control_at_end"], "ok", name)
        self.assertEqual(nodes["n1"]["dropped"] + nodes["n3"]["dropped"], 0)
        self.assertGreater(nodes["n2"]["seconds_down"], 0)
        self.assertEqual(len({n["change_revision_at_end"] for n in nodes.values()}), 1, nodes)
        self.assertGreater(nodes["n1"]["change_revision_at_end"], 0)  # the remedy went through etcd
        self.assertTrue(r["healthy_forests_accepted_throughout"])
        events = [e["event"] for e in r["timeline"]]
        self.assertIn("Sluice n2 restarted", events)
        self.assertIn("tenant contoso moved to na-2", events)
        self.assertTrue(any(e.startswith("alert firing: fleet-local") for e in events), events)
        self.assertTrue(any(e.startswith("alert firing: fleet-control-lost") for e in events), events)

    def test_a_bad_scenario_is_named(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write('name = "x"\nforests = ["a"]\n[[tenants]]\nname = "t"\nforest = "b"\n')
        self.addCleanup(os.unlink, f.name)
        r = subprocess.run([STORM, "run", f.name, "--sluice", harness.SLUICE_BIN], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.strip(), "sluice-storm: %s: tenants.t: needs a name and a forest listed in forests"
                         % f.name)
        out = tempfile.mkdtemp(prefix="sluice-storm-")
        self.addCleanup(subprocess.run, ["rm", "-rf", out])
        r = subprocess.run([STORM, "run", os.path.join(SCENARIOS, "sigkill.toml"), "--cpus", "0:99", "--out", out,
                            "--sluice", harness.SLUICE_BIN], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.strip(), 'sluice-storm: --cpus "0:99": expected STORM:SLUICE CPU lists such as 0:1 or 0:1-3')
        r = subprocess.run([STORM, "run", "/nonexistent.toml"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
