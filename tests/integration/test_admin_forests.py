"""Operating forests live through the admin API and sluicectl: status, a
tenant moved to another forest under load (no message lost, no error reply
caused by the move), a limit raised, and the API's refusals (401, 400)."""
import concurrent.futures
import os
import re
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def metric(text, name, labels):
    m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


class AdminForests(unittest.TestCase):
    def setUp(self):
        self.s = harness.Sluice(extra="[forest_defaults]\ncache_entries = 0\n").start()
        self.addCleanup(self.s.cleanup)

    def test_status_api_and_sluicectl(self):
        code, forests = self.s.api("GET", "/api/v1/forests")
        self.assertEqual(code, 200)
        by_name = {f["name"]: f for f in forests}
        self.assertEqual(set(by_name), {"na-1", "na-2", "de-1"})
        self.assertIn("acme", by_name["na-1"]["tenants"])
        self.assertEqual(by_name["na-1"]["replicas"][0]["breaker"], "closed")
        r = self.s.ctl("forest", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^na-1\s+acme\s+0\s+50\s+0\s+0")
        r = self.s.ctl("forest", "status", "--json")
        self.assertIn('"name": "de-1"', r.stdout)

    def test_mutating_calls_need_the_token_and_good_json(self):
        code, body = self.s.api("POST", "/api/v1/tenants/acme/move", {"forest": "na-2"}, token=None)
        self.assertEqual((code, body["error"]), (401, "a bearer token is required"))
        code, body = self.s.api("POST", "/api/v1/tenants/acme/move", {"forest": "na-2"}, token="Bearer wrong")
        self.assertEqual(code, 401)
        code, body = self.s.api("POST", "/api/v1/tenants/acme/move", "{not json")
        self.assertEqual(code, 400)
        self.assertTrue(body["error"].startswith("malformed JSON"), body)
        code, body = self.s.api("POST", "/api/v1/tenants/acme/move", {"forrest": "na-2"})
        self.assertEqual((code, body["error"]), (400, '"forest" (a string) is required'))
        code, body = self.s.api("POST", "/api/v1/tenants/nobody/move", {"forest": "na-2"})
        self.assertEqual(code, 404)
        code, body = self.s.api("POST", "/api/v1/forests/na-1/fault", {"hang": True})
        self.assertEqual(code, 400)  # fault injection is off in this config
        code, body = self.s.api("GET", "/api/v1/nothing")
        self.assertEqual(code, 404)
        # Nothing changed.
        code, forests = self.s.api("GET", "/api/v1/forests")
        self.assertIn("acme", {f["name"]: f for f in forests}["na-1"]["tenants"])

    def test_sluicectl_errors_are_one_line(self):
        for args, want in ((["forest", "move", "acme"], 2), (["forest", "limit", "na-1", "0"], 2),
                           (["forest", "frob"], 2), (["forest", "move", "acme", "atlantis"], 1)):
            r = self.s.ctl(*args)
            self.assertEqual(r.returncode, want, (args, r.stderr))
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, (args, r.stderr))
        r = self.s.ctl("forest", "move", "acme", "na-2", token=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("a bearer token is required (401)", r.stderr)

    def test_move_tenant_under_load(self):
        total, sessions = 300, 6
        errors, acked = [], []
        lock = threading.Lock()
        moved = threading.Event()

        def worker(k):
            with self.s.smtp() as c:
                for n in range(k, total, sessions):
                    try:
                        c.sendmail("s@outside.example", ["alice@acme.example"], harness.message(n, "alice@acme.example"))
                        with lock:
                            acked.append(n)
                            if len(acked) == total // 3:
                                r = self.s.ctl("forest", "move", "acme", "na-2")
                                errors.append(None if r.returncode == 0 else r.stderr)
                                moved.set()
                    except Exception as e:  # noqa: BLE001 - any refusal is a failure here
                        with lock:
                            errors.append(repr(e))

        with concurrent.futures.ThreadPoolExecutor(sessions) as pool:
            list(pool.map(worker, range(sessions)))
        self.assertTrue(moved.is_set())
        self.assertEqual([e for e in errors if e], [])
        self.assertEqual(len(acked), total)
        harness.wait_for(lambda: len(self.s.maildir_files("alice@acme.example")) == total,
                         timeout=120, what="every message delivered once")
        code, forests = self.s.api("GET", "/api/v1/forests")
        by_name = {f["name"]: f for f in forests}
        self.assertIn("acme", by_name["na-2"]["tenants"])
        self.assertNotIn("acme", by_name["na-1"]["tenants"])
        self.assertGreater(by_name["na-2"]["lookups"], 0)
        self.assertIn('"msg":"tenant moved"', self.s.log())
        # The placement survives a restart.
        self.s.stop()
        self.s.start()
        code, forests = self.s.api("GET", "/api/v1/forests")
        self.assertIn("acme", {f["name"]: f for f in forests}["na-2"]["tenants"])

    def test_limit_change_and_metrics(self):
        r = self.s.ctl("forest", "limit", "na-1", "7")
        self.assertEqual(r.returncode, 0, r.stderr)
        with self.s.smtp() as c:
            c.sendmail("s@outside.example", ["bob@acme.example"], harness.message(1, "bob@acme.example"))
        code, text = self.s.api("GET", "/metrics")
        self.assertEqual(code, 200)
        self.assertEqual(metric(text, "sluice_forest_limit", 'forest="na-1"'), 7)
        self.assertGreaterEqual(metric(text, "sluice_forest_lookups_total", 'forest="na-1"'), 1)
        self.assertEqual(metric(text, "sluice_forest_lookup_duration_seconds_count", 'forest="na-1"'), 1)
        self.assertIn('sluice_forest_deferrals_total{forest="de-1",reason="saturated"} 0', text)
        self.assertIn("# TYPE sluice_forest_lookup_duration_seconds histogram", text)
        self.assertEqual(metric(text, "sluice_tenant_forest", 'tenant="acme",forest="na-1"'), 1)
        self.assertEqual(metric(text, "sluice_forest_replica_up", 'forest="na-1",replica="sqlite"'), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
