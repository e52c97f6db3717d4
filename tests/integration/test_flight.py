"""Flights: a candidate config tried on a share of tenants.

- At 10 % only the tenants whose FNV-1a bucket is below 10 run under it,
  checked per message from the transaction and delivery log lines; promoted
  to 50 % the group grows without losing anyone, and at 100 % the candidate
  becomes the config file and the running config.
- A candidate that halves a forest's limit under load fails its gates
  (deferrals and lookup time beside the control group) and rolls back by
  itself.
- A restart in the middle of a flight resumes it.
- Candidates that change more than limits, or do not parse, are refused."""
import json
import os
import sys
import threading
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

TENANTS = ["t%02d" % i for i in range(40)]


def bucket(tenant):
    h = 2166136261
    for c in tenant.encode():
        h ^= c
        h = (h * 16777619) & 0xFFFFFFFF
    return h % 100


def selected(share):
    return {t for t in TENANTS if bucket(t) < share}


SEED = "".join("""
[[tenants]]
name = "%(t)s"
forest = "na-1"
domains = ["%(t)s.test"]
destination = "local"
  [[tenants.recipients]]
  address = "user@%(t)s.test"
""" % {"t": t} for t in TENANTS)

FORESTS = """
[forests.na-1]
replicas = ["sqlite"]
limit = %(limit)d
queue = 20
wait_timeout = "150ms"
[forests.na-2]
replicas = ["sqlite"]
[forests.de-1]
replicas = ["sqlite"]
[flight]
interval = "1s"
min_lookups = 30
"""


def log_lines(sluice, msg):
    out = []
    for line in sluice.log().splitlines():
        if line.startswith("{") and '"msg":"%s"' % msg in line:
            out.append(json.loads(line))
    return out


class Flight(unittest.TestCase):
    def start(self, limit=40, fault=False):
        self.s = harness.Sluice(extra=FORESTS % {"limit": limit}, seed_extra=SEED,
                                directory_extra="fault_injection = true" if fault else "").start()
        self.addCleanup(self.s.cleanup)

    def candidate(self, limit, extra=""):
        with open(self.s.config) as f:
            text = f.read()
        path = os.path.join(self.s.dir, "candidate-%d.toml" % limit)
        old = "[forests.na-1]\nreplicas = [\"sqlite\"]\nlimit = "
        self.assertIn(old, text)
        head, tail = text.split(old)
        tail = tail[tail.index("\n"):]
        with open(path, "w") as f:
            f.write(head + old + str(limit) + tail + extra)
        return path

    def flight(self):
        code, body = self.s.api("GET", "/api/v1/flight")
        self.assertEqual(code, 200, body)
        return body

    def forest(self, name):
        code, forests = self.s.api("GET", "/api/v1/forests")
        return {f["name"]: f for f in forests}[name]

    def send_one_each(self, tag, times=1):
        with self.s.smtp() as c:
            for t in TENANTS * times:
                c.sendmail("s@outside.example", ["user@%s.test" % t],
                           "Subject: %s %s\r\n\r\nhello\r\n" % (tag, t))

    def transactions_since(self, start):
        return log_lines(self.s, "smtp transaction")[start:]

    def test_ten_percent_then_promoted_to_the_config(self):
        self.start(limit=40)
        path = self.candidate(60)
        r = self.s.ctl("flight", "start", path, "--share", "10%")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("running at 10 %", r.stdout)
        self.assertIn("forests.na-1.limit 40 → 60", r.stdout)
        f = self.flight()
        self.assertEqual((f["state"], f["share"], f["shares"]), ("running", 10, [10, 50, 100]))
        na1 = self.forest("na-1")
        self.assertEqual(na1["limit"], 36)                 # 40 × 90 %
        self.assertEqual(na1["flight_lane"]["limit"], 6)   # 60 × 10 %
        code, metrics = self.s.api("GET", "/metrics")
        self.assertIn("\nsluice_flight_share 10\n", metrics)

        sent = 0
        for share, times in ((10, 1), (50, 3)):  # at 50 % enough traffic for every gate to judge
            before = len(log_lines(self.s, "smtp transaction"))
            delivered = len(log_lines(self.s, "delivery"))
            self.send_one_each("share-%d" % share, times)
            sent += times * len(TENANTS)
            harness.wait_for(lambda: len(log_lines(self.s, "smtp transaction")) >= before + times * len(TENANTS),
                             what="transactions logged")
            want = selected(share)
            flown = set()
            for x in self.transactions_since(before):
                (tenant,) = x["tenants"].split(",")
                in_flight = x.get("flight") == tenant
                self.assertEqual(in_flight, tenant in want, x)
                if in_flight:
                    flown.add(tenant)
            self.assertEqual(flown, want)
            # Deliveries are marked too, for the same tenants.
            harness.wait_for(lambda: len(self.s.maildir_files()) == sent, what="deliveries")
            # The delivery lines are written after the mailbox: wait for all
            # of them, so the loop below cannot pass by checking none.
            expected = times * len(TENANTS)
            harness.wait_for(lambda: len(log_lines(self.s, "delivery")) >= delivered + expected,
                             what="delivery log lines")
            lines = log_lines(self.s, "delivery")[delivered:]
            self.assertEqual(len(lines), expected)
            for x in lines:
                self.assertEqual(x.get("flight") == "yes", x["tenant"] in want, x)
            if share == 10:
                r = self.s.ctl("flight", "promote")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(self.flight()["share"], 50)
                self.assertTrue(selected(10) <= selected(50))
        status = self.flight()
        self.assertEqual([g["name"] for g in status["gates"]],
                         ["deferral_rate", "lookup_latency_ms", "delivery_failure_rate"])
        # A good candidate: every gate judged, every gate passing.
        self.assertTrue(all(g["judged"] and g["pass"] for g in status["gates"]), status["gates"])
        self.assertGreater(status["groups"]["flight"]["lookups"], 0)
        self.assertGreater(status["groups"]["control"]["lookups"], 0)

        with open(path) as f:
            candidate_text = f.read()
        with open(self.s.config) as f:
            old_text = f.read()
        r = self.s.ctl("flight", "promote")
        self.assertEqual(r.returncode, 0, r.stderr)
        f = self.flight()
        self.assertEqual(f["state"], "completed", f)
        with open(self.s.config) as fh:
            self.assertEqual(fh.read(), candidate_text)
        with open(self.s.config + ".before-flight") as fh:
            self.assertEqual(fh.read(), old_text)
        self.assertEqual(self.s.api("GET", "/api/v1/config")[1]["version"], 2)
        na1 = self.forest("na-1")
        self.assertEqual(na1["limit"], 60)
        self.assertNotIn("flight_lane", na1)
        steps = [h["step"] for h in f["history"]]
        self.assertTrue(steps[0].startswith("started at 10 %"), steps)
        self.assertEqual(steps[1], "promoted from 10 % to 50 %")
        self.assertTrue(steps[2].startswith("promoted to 100 %"), steps)
        # Every step is in the log.
        self.assertEqual(len(log_lines(self.s, "flight")), 3)
        # After the flight nobody is marked.
        before = len(log_lines(self.s, "smtp transaction"))
        self.send_one_each("after")
        harness.wait_for(lambda: len(log_lines(self.s, "smtp transaction")) >= before + len(TENANTS),
                         what="transactions logged")
        self.assertFalse([x for x in self.transactions_since(before) if "flight" in x])
        # Nothing to promote or roll back now.
        r = self.s.ctl("flight", "promote")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no flight is running", r.stderr)

    def test_halved_limit_fails_its_gate_and_rolls_back(self):
        self.start(limit=8, fault=True)
        code, _ = self.s.api("POST", "/api/v1/forests/na-1/fault", {"latency_ms": 40})
        self.assertEqual(code, 200)
        path = self.candidate(4)
        r = self.s.ctl("flight", "start", path, "--share", "50%")
        self.assertEqual(r.returncode, 0, r.stderr)
        na1 = self.forest("na-1")
        self.assertEqual((na1["limit"], na1["flight_lane"]["limit"]), (4, 2))
        flight_tenants = sorted(selected(50))
        control_tenants = sorted(set(TENANTS) - selected(50))
        stop, problems = threading.Event(), []

        def prober(tenants):
            # Unknown users: every RCPT is a real lookup (no cache hit).
            try:
                raw = harness.Raw(self.s.port)
                raw.send(b"EHLO prober\r\n")
                raw.reply()
                n = 0
                while not stop.is_set() and n < 5000:
                    if n % 50 == 0:
                        raw.send(b"RSET\r\nMAIL FROM:<p@outside.example>\r\n")
                        raw.reply()
                        raw.reply()
                    t = tenants[n % len(tenants)]
                    raw.send(b"RCPT TO:<%s@%s.test>\r\n" % (uuid.uuid4().hex.encode(), t.encode()))
                    reply = raw.reply()
                    if not (reply.startswith(b"550") or reply.startswith(b"451")):
                        problems.append(reply)
                    n += 1
                raw.close()
            except Exception as e:  # noqa: BLE001 - reported below
                problems.append(repr(e))

        threads = [threading.Thread(target=prober, args=(g,)) for g in [flight_tenants] * 10 + [control_tenants] * 10]
        for t in threads:
            t.start()
        try:
            harness.wait_for(lambda: self.flight()["state"] == "rolled_back", timeout=60, what="rollback")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        self.assertFalse(problems, problems[:3])
        f = self.flight()
        self.assertIn("gate", f["reason"])
        failed = [g for g in f["gates"] if not g["pass"]]
        self.assertTrue(failed, f["gates"])
        self.assertTrue(all(g["judged"] for g in failed))
        self.assertGreater(f["groups"]["flight"]["lookups_deferred"] / max(1, f["groups"]["flight"]["lookups"]),
                           f["groups"]["control"]["lookups_deferred"] / max(1, f["groups"]["control"]["lookups"]))
        na1 = self.forest("na-1")
        self.assertEqual(na1["limit"], 8)
        self.assertNotIn("flight_lane", na1)
        self.assertIn("rolled back: gate", self.s.log())
        # The config file was not touched.
        with open(self.s.config) as fh:
            self.assertIn("limit = 8\n", fh.read())

    def test_restart_resumes_the_flight(self):
        self.start(limit=40)
        path = self.candidate(20)
        self.assertEqual(self.s.ctl("flight", "start", path, "--share", "10").returncode, 0)
        self.s.kill9()
        self.s.start()
        f = self.flight()
        self.assertEqual((f["state"], f["share"]), ("running", 10), f)
        self.assertEqual(f["history"][-1]["step"], "resumed after a restart at 10 %")
        self.assertEqual(self.forest("na-1")["flight_lane"]["limit"], 2)  # 20 × 10 %
        before = len(log_lines(self.s, "smtp transaction"))
        self.send_one_each("resumed")
        harness.wait_for(lambda: len(log_lines(self.s, "smtp transaction")) >= before + len(TENANTS),
                         what="transactions logged")
        flown = {x["tenants"] for x in self.transactions_since(before) if x.get("flight")}
        self.assertEqual(flown, selected(10))
        r = self.s.ctl("flight", "rollback")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rolled_back", r.stdout)
        self.assertNotIn("flight_lane", self.forest("na-1"))
        # A rolled-back flight stays rolled back across a restart.
        self.s.stop()
        self.s.start()
        self.assertEqual(self.flight()["state"], "rolled_back")
        self.assertNotIn("flight_lane", self.forest("na-1"))

    def test_placement_moves_only_the_flight_tenants(self):
        self.start(limit=40)
        flown = sorted(selected(10))[0]
        stays = sorted(set(TENANTS) - selected(50))[0]
        path = self.candidate(40, extra='\n[placement]\n%s = "na-2"\n%s = "na-2"\n' % (flown, stays))
        r = self.s.ctl("flight", "start", path, "--share", "10%")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("placement.%s its catalog forest → na-2" % flown, r.stdout)
        self.assertIn(flown, self.forest("na-2")["tenants"])
        self.assertIn(stays, self.forest("na-1")["tenants"])
        # Its mail now goes through na-2, marked as flown.
        before = len(log_lines(self.s, "smtp transaction"))
        with self.s.smtp() as c:
            c.sendmail("s@outside.example", ["user@%s.test" % flown], "Subject: moved\r\n\r\nhi\r\n")
        harness.wait_for(lambda: len(log_lines(self.s, "smtp transaction")) > before, what="transaction")
        x = self.transactions_since(before)[0]
        self.assertEqual((x["forests"], x["flight"]), ("na-2", flown))
        self.assertEqual(self.s.ctl("flight", "promote").returncode, 0)  # 50 %: `stays` is still outside
        self.assertIn(stays, self.forest("na-1")["tenants"])
        r = self.s.ctl("flight", "rollback")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(flown, self.forest("na-1")["tenants"])
        self.assertEqual(len(log_lines(self.s, "tenant moved")), 2)  # there and back

    def test_placement_by_reload(self):
        self.start(limit=40)
        with open(self.s.config, "a") as f:
            f.write('\n[placement]\nt00 = "de-1"\n')
        r = self.s.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applied: placement.t00 na-1 → de-1", r.stdout)
        self.assertIn("t00", self.forest("de-1")["tenants"])
        with open(self.s.config, "a") as f:
            f.write('t01 = "nowhere"\n')
        r = self.s.ctl("reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("placement.t01: forest \"nowhere\" is not in the forests of", r.stderr)

    def test_refusals(self):
        self.start(limit=40)
        # A candidate that does not load: refused with its file and line.
        path = self.candidate(20, extra="\n[queue]\nmax_deliveries = 3\n")  # a second [queue]
        code, body = self.s.api("POST", "/api/v1/flight/start", {"candidate": path, "share": 10})
        self.assertEqual(code, 422, body)
        self.assertIn(path + ":", body["error"])
        # A placement naming a tenant the directory does not have.
        path = self.candidate(20, extra='\n[placement]\nnobody = "na-2"\n')
        code, body = self.s.api("POST", "/api/v1/flight/start", {"candidate": path, "share": 10})
        self.assertEqual(code, 422, body)
        self.assertIn("placement.nobody: no tenant \"nobody\"", body["error"])
        # More than limits: refused, naming what.
        with open(self.s.config) as f:
            text = f.read()
        path = os.path.join(self.s.dir, "other.toml")
        with open(path, "w") as f:
            f.write(text.replace('hostname = "mx.sluice.test"', 'hostname = "other.test"'))
        r = self.s.ctl("flight", "start", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("forest limits and placement only", r.stderr)
        self.assertIn("hostname", r.stderr)
        # Nothing changed.
        r = self.s.ctl("flight", "start", self.s.config)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing to fly", r.stderr)
        # Bad invocations: one line, exit 2.
        r = self.s.ctl("flight", "start", path, "--share", "150%")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        r = self.s.ctl("flight", "start", "/nonexistent.toml")
        self.assertEqual(r.returncode, 2)
        # One at a time.
        good = self.candidate(30)
        self.assertEqual(self.s.ctl("flight", "start", good).returncode, 0)
        r = self.s.ctl("flight", "start", good)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is running", r.stderr)
        # Changes need the token.
        code, _ = self.s.api("POST", "/api/v1/flight/rollback", {}, token=None)
        self.assertEqual(code, 401)
        self.assertEqual(self.flight()["state"], "running")


if __name__ == "__main__":
    unittest.main()
