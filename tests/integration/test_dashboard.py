"""The health dashboard in a real browser: Debian's chromium, driven by
playwright-core from npm (tests/integration/browser). The page loads with no
console error or failed request, shows every forest, turns na-1 red while
a stopped slapd saturates it, shows a running flight with its gates, the
spool's state and space, the fleet panel of a one-node fleet on Redis, and
the shadow panel with its peer (a second node). The screenshot is kept as an artifact
in tests/artifacts/."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from test_alerts import FORESTS, NA1, saturate  # noqa: E402

BROWSER = os.path.join(os.path.dirname(__file__), "browser")
ARTIFACTS = os.path.join(harness.SOURCE, "tests", "artifacts")


class Dashboard(unittest.TestCase):
    def setUp(self):
        self.slapd = harness.Slapd("na-1", NA1)
        self.addCleanup(self.slapd.cleanup)
        # A one-node fleet on a real Redis, so the fleet panel has something to show.
        self.redis = harness.Redis()
        self.addCleanup(self.redis.cleanup)
        cluster = '\n[cluster]\nnode = "dash-1"\nredis = "%s"\n' % self.redis.address
        # A second node as the shadow peer, so the shadow panel has a peer that answers.
        mine, theirs = harness.free_port(), harness.free_port()
        shadow = '\n[shadow]\nnode = "%s"\nlisten = "127.0.0.1:%d"\nsecret = "the dashboard test\'s secret"\npeers = ["127.0.0.1:%d"]\n'
        self.peer_address = "127.0.0.1:%d" % theirs
        self.peer = harness.Sluice(extra=shadow % ("dash-2", theirs, mine)).start()
        self.addCleanup(self.peer.cleanup)
        self.sluice = harness.Sluice(extra=FORESTS % self.slapd.url + cluster + shadow % ("dash-1", mine, theirs)).start()
        self.addCleanup(self.sluice.cleanup)

    def start_flight(self):
        with open(self.sluice.config) as f:
            text = f.read()
        candidate = os.path.join(self.sluice.dir, "candidate.toml")
        with open(candidate, "w") as f:
            f.write(text.replace('[forests.na-2]\nreplicas = ["sqlite"]\n', '[forests.na-2]\nreplicas = ["sqlite"]\nlimit = 60\n'))
        r = self.sluice.ctl("flight", "start", candidate, "--share", "10%")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_dashboard_shows_a_saturated_forest(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        self.start_flight()
        shot = os.path.join(ARTIFACTS, "dashboard-saturated.png")
        url = "http://127.0.0.1:%d/#token=%s" % (self.sluice.admin_port, self.sluice.token)
        browser = subprocess.Popen(["node", os.path.join(BROWSER, "dashboard_check.mjs"), url, shot, "na-1", "90"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Saturate until the browser has seen the red card (it exits then).
            errors = saturate(self.sluice, self.slapd, lambda: browser.poll() is not None)
            out, err = browser.communicate(timeout=60)
        finally:
            if browser.poll() is None:
                browser.kill()
                browser.wait()
        self.assertEqual(errors, [])
        self.assertEqual(browser.returncode, 0, out + err)
        report = json.loads(out.strip().splitlines()[-1])
        seen = report["seen"]
        self.assertEqual(report["problems"], [])
        self.assertEqual(sorted(seen["forests"]), ["de-1", "na-1", "na-2"])
        self.assertEqual(seen["hot_color"], "rgb(214, 51, 51)")  # the red of --bad
        self.assertEqual(seen["others"]["na-2"], "ok")  # the healthy forests stay green
        self.assertEqual(seen["others"]["de-1"], "ok")
        self.assertEqual(seen["banner"], "banner incident")
        self.assertEqual(seen["charts"], 2)
        self.assertGreaterEqual(seen["destinations"], 4)
        self.assertEqual(seen["spool"], "ok")  # the spool's state and space beside the queue
        self.assertTrue(any(f.endswith("min free") for f in seen["spool_figures"]), seen["spool_figures"])
        self.assertEqual(seen["flight"], "running")
        self.assertIn("Running at 10 %", seen["flight_summary"])
        self.assertEqual(seen["flight_gates"], ["deferral_rate", "lookup_latency_ms", "delivery_failure_rate"])
        self.assertEqual(seen["flight_lanes"], 1)  # na-2's card shows the flight's lane
        self.assertEqual(seen["fleet"], "shared")  # the fleet panel: mode and each forest's shared budget
        self.assertEqual(sorted(seen["fleet_budgets"]), ["de-1", "na-1", "na-2"])
        self.assertIn("node dash-1: budgets shared via " + self.redis.address, seen["fleet_summary"])
        self.assertIn("rate limits shared", seen["fleet_summary"])
        # The destinations with a throttle have their max_concurrency as a fleet budget; Maildir has none.
        self.assertEqual(sorted(seen["fleet_destinations"]), ["relay", "relay2", "store"])
        self.assertEqual(seen["shadow"], "off")  # the shadow panel: no drain, and the peer answering
        self.assertEqual(seen["shadow_peers"], [[self.peer_address, "up"]])
        self.assertIn("held for others 0", seen["shadow_summary"])
        self.assertIn("accepted without a copy 0, refused for want of one 0", seen["shadow_summary"])
        self.assertEqual(seen["quarantine_summary"], "empty")  # the quarantine panel read its list
        self.assertTrue(os.path.getsize(shot) > 10000)

    def test_assets_are_served_from_the_binary(self):
        code, page = self.sluice.api("GET", "/", token=False)  # the page holds no data
        self.assertEqual(code, 200)
        self.assertIn('<script src="/dashboard.js">', page)
        code, js = self.sluice.api("GET", "/dashboard.js")
        self.assertEqual(code, 200)
        self.assertIn("textContent", js)
        self.assertNotIn("http://", js.replace("http://www.w3.org/2000/svg", ""))  # no CDN
        code, _ = self.sluice.api("GET", "/nothing.js")
        self.assertEqual(code, 404)


if __name__ == "__main__":
    unittest.main()
