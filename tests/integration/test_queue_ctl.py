"""The operator steers the queue with sluicectl: list (table and JSON, with
filters), show, hold, release, retry, delete, bounce, and hold policies
that survive a restart; bad invocations get one line and exit 2."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


class QueueCtl(unittest.TestCase):
    def setUp(self):
        # Long retry intervals: nothing is retried unless the operator says so.
        self.sluice = harness.Sluice(queue={"retry_initial": '"1h"', "retry_max": '"2h"'}).start()
        self.sink = None

    def tearDown(self):
        code = self.sluice.stop()
        self.sluice.cleanup()
        if self.sink:
            self.sink.cleanup()
        self.assertEqual(code, 0)

    def ctl(self, *args):
        r = self.sluice.ctl(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def listed(self, *filters):
        return json.loads(self.ctl("queue", "list", "--json", *filters))

    def send(self, n, to, sender="sender@outside.example"):
        with self.sluice.smtp() as s:
            s.sendmail(sender, [to], harness.message(n, to))

    def test_list_show_hold_release_retry(self):
        # relay (hooli) is down: three messages wait, deferred.
        for n in range(3):
            self.send(n, "gavin@hooli.example")
        self.send(3, "sol@soylent.example", sender="bob@partner.example")
        harness.wait_for(lambda: len(self.listed("--state", "deferred")) == 4, timeout=30, what="4 deferred")
        ids = [m["id"] for m in self.listed("--tenant", "hooli")]
        self.assertEqual(len(ids), 3)
        self.assertEqual(len(self.listed("--rcpt", "GAVIN@")), 3)  # case-insensitive
        self.assertEqual([m["sender"] for m in self.listed("--sender", "partner")], ["bob@partner.example"])
        self.assertEqual(len(self.listed("--destination", "relay2")), 1)
        self.assertEqual(self.listed("--min-age", "1h"), [])
        table = self.ctl("queue", "list")
        self.assertRegex(table, r"QUEUE ID\s+AGE\s+STATE")
        self.assertIn(ids[0], table)
        self.assertIn("4.4.1", table)  # the last reply: connect refused

        # The relay's throttle is backing off: the service is degraded, and says why.
        status, summary = self.sluice.api("GET", "/api/v1/status")
        self.assertEqual(summary["health"], "degraded")
        self.assertTrue(any("destination relay" in r for r in summary["reasons"]), summary)
        self.assertEqual(summary["queue"]["messages"], 4)

        shown = self.ctl("queue", "show", ids[0])
        self.assertIn("Subject: test", shown)
        self.assertIn("gavin@hooli.example  deferred  tenant=hooli forest=de-1 destination=relay", shown)

        self.assertIn("ok: 1 message(s)", self.ctl("queue", "hold", ids[0]))
        self.assertEqual([m["id"] for m in self.listed("--state", "hold")], [ids[0]])
        status, q = self.sluice.api("GET", "/api/v1/queue")
        self.assertEqual(q["hold"], 1)

        # The next hop comes up; retry everything deferred: the held one stays.
        self.sink = harness.SmtpSink(self.sluice.relay_port)
        self.ctl("queue", "retry", "--state", "deferred")
        harness.wait_for(lambda: len(self.sink.subjects()) == 2, timeout=30, what="2 retried")
        self.assertEqual(self.listed("--tenant", "hooli")[0]["state"], "hold")
        self.ctl("queue", "release", ids[0])
        harness.wait_for(lambda: len(self.sink.subjects()) == 3, timeout=30, what="the released one")
        self.assertEqual(sorted(self.sink.subjects()), [0, 1, 2])
        metrics = self.sluice.api("GET", "/metrics")[1]
        self.assertRegex(metrics, r'sluice_queue_messages\{state="hold"\} 0')
        self.assertRegex(metrics, r'sluice_queue_deliveries_total\{result="delivered",code="250"\} 3')
        self.assertRegex(metrics, r"sluice_queue_oldest_message_age_seconds \d")

    def test_delete_and_bounce(self):
        self.send(1, "sol@soylent.example", sender="alice@acme.example")
        self.send(2, "sol@soylent.example", sender="alice@acme.example")
        harness.wait_for(lambda: len(self.listed()) == 2, timeout=30, what="2 queued")
        first, second = [m["id"] for m in self.listed()]
        self.assertIn("ok: 1 message(s)", self.ctl("queue", "delete", first))
        self.assertIn("ok: 1 message(s)", self.ctl("queue", "bounce", second))
        harness.wait_for(lambda: self.sluice.maildir_files("alice@acme.example"), timeout=30, what="the bounce")
        harness.wait_for(lambda: self.listed() == [], timeout=30, what="an empty queue")
        files = self.sluice.maildir_files("alice@acme.example")
        self.assertEqual(len(files), 1)  # delete tells no one; bounce tells the sender
        with open(files[0], "rb") as f:
            report = f.read()
        self.assertIn(b"Action: failed", report)
        self.assertIn(b"returned to sender by the mail system administrator", report)
        self.assertIn(b"Subject: test 2", report)

    def test_hold_policy_survives_a_restart(self):
        self.sink = harness.SmtpSink(self.sluice.relay_port)
        out = self.ctl("queue", "hold", "--policy", "--tenant", "hooli", "--reason", "provider down")
        self.assertIn("hooli is on hold", out)
        self.send(10, "gavin@hooli.example")
        self.send(11, "erin@initech.example")  # another tenant of the same forest flows
        harness.wait_for(lambda: self.sluice.maildir_files("erin@initech.example"), timeout=30, what="initech")
        harness.wait_for(lambda: [m["state"] for m in self.listed()] == ["hold"], timeout=30, what="held by policy")
        self.assertIn("hold policy: tenant hooli", self.ctl("queue", "list"))
        self.assertEqual(self.sluice.stop(), 0)
        self.sluice.start()
        self.assertEqual([m["state"] for m in self.listed()], ["hold"])
        self.assertEqual(self.sink.subjects(), [])
        self.ctl("queue", "release", "--policy", "--tenant", "hooli")
        harness.wait_for(lambda: self.sink.subjects() == [10], timeout=30, what="delivery after release")
        self.assertEqual(self.sluice.api("GET", "/api/v1/queue")[1]["hold_policies"], [])

    def test_bad_invocations(self):
        cases = [
            (("queue", "show", "not-an-id"), "is not a queue id"),
            (("queue", "list", "--state", "stuck"), "is not one of ready, deferred, hold, active"),
            (("queue", "delete"), "give queue ids, a filter, or --all"),
            (("queue", "list", "--min-age", "soon"), "is not a duration"),
            (("queue", "hold", "--policy", "--tenant", "a", "--destination", "b"), "exactly one of"),
            (("queue", "frobnicate"), "subcommand"),
        ]
        for args, text in cases:
            r = self.sluice.ctl(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(text, r.stderr)
        # The API refuses an unselected action too, and a missing token.
        status, body = self.sluice.api("POST", "/api/v1/queue/delete", {})
        self.assertEqual(status, 400)
        status, body = self.sluice.api("POST", "/api/v1/queue/delete", {"all": True}, token=False)
        self.assertEqual(status, 401)
        r = self.sluice.ctl("queue", "show", "0123456789ABCDEF01")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no message 0123456789ABCDEF01", r.stderr)


if __name__ == "__main__":
    unittest.main()
