"""The filter-stall storm in `make test` (about 20 s of load each, the
scenario's shape at scale 0.15): the storm's own milter stops answering
while contoso is routed through it and two tenants are not.

- on_error = "tempfail": contoso gets 451 4.7.1 (its relays retry) and
  every message ends up delivered once.
- on_error = "hold": every message gets 250 at once, contoso's is held for
  its scan and delivered once after the filter answers.

Both: the healthy forests never get a 4xx and accept mail in every bucket,
the filter-down alert fires, nothing is lost or duplicated. The figures
are printed, not asserted."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from test_storm import STORM, storm  # noqa: E402


class FilterStall(unittest.TestCase):
    def check(self, scenario):
        r, _, out = storm(scenario, 0.15)
        self.addCleanup(subprocess.run, ["rm", "-rf", out])
        self.assertFalse(r["sluice_failed"])
        self.assertGreater(r["accepted"], 1000)
        self.assertEqual(r["lost"], 0)
        self.assertEqual(r["duplicates"], 0)
        self.assertEqual(r["dropped_without_reply"], 0)
        self.assertEqual(r["never_accepted"], 0)
        self.assertEqual(r["delivered_unique"], r["accepted"])
        forests = r["forests"]
        self.assertEqual(sorted(f for f, v in forests.items() if v["faulted"]), ["na-1"])
        for name in ("na-2", "de-1"):
            self.assertEqual(forests[name]["rcpt_4xx"] + forests[name]["data_4xx"], 0, name)
            self.assertEqual(forests[name]["buckets_without_accepted"], 0, name)
        self.assertTrue(r["healthy_forests_accepted_throughout"])
        self.assertGreater(r["filter"]["replies_held_by_a_stall"], 0)
        events = [e["event"] for e in r["timeline"]]
        self.assertTrue(any(e.startswith("alert firing: filter-down") for e in events), events)
        return r

    def test_tempfail(self):
        r = self.check("filter-stall.toml")
        self.assertGreater(r["deferred"].get("451 4.7.1", 0), 0, r["deferred"])
        self.assertGreater(r["forests"]["na-1"]["data_4xx"], 0)

    def test_hold(self):
        r = self.check("filter-stall-hold.toml")
        self.assertEqual(r["deferred"], {})  # every message got its 250 the first time
        self.assertEqual(r["retries"], 0)

    def test_a_stall_without_a_filter_is_named(self):
        for body, want in (('[[events]]\nat = "1s"\naction = "filter_stall"\nfor = "1s"\n', "needs [filter] tenants"),
                           ('[filter]\ntenants = ["nosuch"]\n', "filter.tenants: names a tenant"),
                           ('[filter]\ntenants = ["t"]\non_error = "drop"\n', "filter.on_error: expected")):
            with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
                f.write('name = "x"\nforests = ["a"]\n[[tenants]]\nname = "t"\nforest = "a"\n' + body)
            self.addCleanup(os.unlink, f.name)
            r = subprocess.run([STORM, "run", f.name, "--sluice", harness.SLUICE_BIN], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(want, r.stderr)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)


if __name__ == "__main__":
    unittest.main()
