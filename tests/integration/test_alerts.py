"""Alerts end to end: a real slapd behind forest na-1 is stopped (SIGSTOP)
while sessions keep asking for its recipients; the forest saturates, the
forest-saturated rule fires, and local webhook receivers get one firing and,
after the directory is back, one resolved notification — a receiver that
fails at first gets them by retry, and nobody gets a duplicate."""
import json
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

NA1 = [("alice@acme.example", "acme", []), ("bob@acme.example", "acme", [])]

FORESTS = """
[forest_defaults]
cache_entries = 0
breaker_failures = 1000
[forests.na-1]
replicas = ["%s"]
limit = 2
queue = 50
wait_timeout = "2s"
lookup_timeout = "3s"
[forests.na-2]
replicas = ["sqlite"]
[forests.de-1]
replicas = ["sqlite"]
"""


def load_forest(port, address, stop, errors):
    """Sessions that keep asking for one recipient until `stop` is set."""
    while not stop.is_set():
        try:
            c = harness.Raw(port, timeout=30)
            c.send(b"EHLO c\r\nMAIL FROM:<s@outside.example>\r\n")
            c.replies(2)
            c.send(b"RCPT TO:<%s>\r\n" % address.encode())
            r = c.reply()
            if not (r.startswith(b"250") or r.startswith(b"451")):
                errors.append(r)
            c.send(b"QUIT\r\n")
            c.reply()
            c.close()
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(repr(e))


def saturate(sluice, slapd, until):
    """Stops slapd and loads na-1 until `until()` holds; returns load errors."""
    stop, errors = threading.Event(), []
    threads = [threading.Thread(target=load_forest, args=(sluice.port, "alice@acme.example", stop, errors))
               for _ in range(6)]
    slapd.proc.send_signal(signal.SIGSTOP)
    try:
        for t in threads:
            t.start()
        harness.wait_for(until, timeout=60, what="saturation noticed")
    finally:
        slapd.proc.send_signal(signal.SIGCONT)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    return errors


class Alerts(unittest.TestCase):
    def setUp(self):
        self.slapd = harness.Slapd("na-1", NA1)
        self.addCleanup(self.slapd.cleanup)
        self.good = harness.WebhookReceiver()
        self.addCleanup(self.good.cleanup)
        self.slack = harness.WebhookReceiver()
        self.addCleanup(self.slack.cleanup)
        self.flaky = harness.WebhookReceiver(fail_first=2)
        self.addCleanup(self.flaky.cleanup)
        alerts = """
[alerts]
interval = "250ms"
default_rules = false
[[alerts.rule]]
name = "forest-saturated"
kind = "forest_saturation"
above = 0.8
for = "1s"
clear_after = "2s"
[[alerts.webhook]]
name = "ops"
url = "%s"
[[alerts.webhook]]
name = "slack"
url = "%s"
format = "slack"
[[alerts.webhook]]
name = "flaky"
url = "%s"
format = "teams"
retry_initial = "1s"
""" % (self.good.url, self.slack.url, self.flaky.url)
        self.sluice = harness.Sluice(extra=FORESTS % self.slapd.url + alerts).start()
        self.addCleanup(self.sluice.cleanup)

    def firing(self):
        code, body = self.sluice.api("GET", "/api/v1/alerts")
        self.assertEqual(code, 200)
        return [a for a in body["active"] if a["state"] == "firing"]

    def test_saturated_forest_fires_then_resolves_once(self):
        self.assertEqual(self.firing(), [])
        errors = saturate(self.sluice, self.slapd, lambda: self.good.bodies())
        self.assertEqual(errors, [])
        fired = self.good.bodies()[0]
        self.assertEqual(fired["status"], "firing")
        self.assertEqual(fired["alert"], "forest-saturated")
        self.assertEqual(fired["instance"], "na-1")
        self.assertGreater(fired["value"], 0.8)
        # The directory is back: the alert resolves after clear_after.
        harness.wait_for(lambda: len(self.good.bodies()) >= 2, timeout=60, what="resolved notice")
        harness.wait_for(lambda: len(self.flaky.bodies()) >= 2, timeout=60, what="flaky receiver caught up")
        time.sleep(3)  # room for any duplicate to show up
        good = self.good.bodies()
        self.assertEqual([b["status"] for b in good], ["firing", "resolved"], good)
        self.assertEqual(good[0]["id"], good[1]["id"])
        slack = self.slack.bodies()
        self.assertEqual(len(slack), 2, slack)
        self.assertIn("[FIRING] forest-saturated (na-1)", slack[0]["text"])
        self.assertIn("[RESOLVED] forest-saturated (na-1)", slack[1]["text"])
        flaky = self.flaky.bodies()
        self.assertEqual(len(flaky), 2, flaky)  # accepted ones: no duplicates after retries
        self.assertEqual(flaky[0]["@type"], "MessageCard")
        self.assertIn("[FIRING]", flaky[0]["title"])
        self.assertIn("[RESOLVED]", flaky[1]["title"])
        self.assertEqual(self.flaky.refused, 2)
        # Logged, counted, and visible in the API.
        log = self.sluice.log()
        self.assertIn('"alert firing"', log)
        self.assertIn('"alert resolved"', log)
        self.assertIn('"webhook failed, will retry"', log)
        code, body = self.sluice.api("GET", "/api/v1/alerts")
        hooks = {h["name"]: h for h in body["webhooks"]}
        self.assertEqual(hooks["flaky"]["sent"], 2)
        self.assertEqual(hooks["flaky"]["retries"], 2)
        self.assertEqual([n["status"] for n in body["recent"]], ["firing", "resolved"])
        code, text = self.sluice.api("GET", "/metrics")
        self.assertIn('sluice_alerts_firing{alert="forest-saturated"} 0', text)
        self.assertIn('sluice_alert_notifications_total{webhook="flaky",result="retried"} 2', text)

    def test_firing_is_in_metrics_and_the_api_while_it_lasts(self):
        def noticed():
            code, text = self.sluice.api("GET", "/metrics")
            return 'sluice_alerts_firing{alert="forest-saturated"} 1' in text
        errors = saturate(self.sluice, self.slapd, noticed)
        self.assertEqual(errors, [])
        # Still firing right after the load stops (clear_after is 2 s).
        firing = self.firing()
        self.assertEqual([(a["alert"], a["instance"]) for a in firing], [("forest-saturated", "na-1")])


if __name__ == "__main__":
    unittest.main()
