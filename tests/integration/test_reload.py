"""Live reload under load: with 300 sessions open and senders busy, a new
config (bigger SIZE, a new listener, a forest limit) is applied by SIGHUP;
no session is dropped, no sender sees an error, old sessions keep their
settings and new ones get the new version. A broken config is refused with
file, line and key, and the old one keeps serving. Listeners come and go."""
import os
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

FORESTS = """
[forests.na-1]
replicas = ["sqlite"]
limit = %(limit)d
[forests.na-2]
replicas = ["sqlite"]
[forests.de-1]
replicas = ["sqlite"]
[limits]
max_connections_per_ip = 2000
max_message_size = "%(size)s"
%(listeners)s
"""


def size_of(ehlo_reply):
    for line in ehlo_reply.split(b"\r\n"):
        if line.startswith(b"250-SIZE") or line.startswith(b"250 SIZE"):
            return int(line.split()[1])
    return None


def ehlo(raw):
    raw.send(b"EHLO c\r\n")
    return raw.reply()


class Reload(unittest.TestCase):
    def setUp(self):
        self.extra_port = harness.free_port()
        self.s = harness.Sluice(extra=self.text(limit=50, size="1MiB", listener=False),
                                destinations_extra="max_concurrency = 20").start()
        self.addCleanup(self.s.cleanup)

    def text(self, limit, size, listener):
        listeners = ""
        if listener:
            listeners = '[listeners.extra]\naddress = "127.0.0.1:%d"\n' % self.extra_port
        return FORESTS % {"limit": limit, "size": size, "listeners": listeners}

    def rewrite(self, **kw):
        with open(self.s.config) as f:
            text = f.read()
        base = text.split("\n[forests.na-1]")[0]
        with open(self.s.config, "w") as f:
            f.write(base + self.text(**kw))

    def reload_by_signal(self, version):
        self.s.proc.send_signal(1)  # SIGHUP
        harness.wait_for(lambda: "config reloaded" in self.s.log() and
                         self.s.api("GET", "/api/v1/config")[1]["version"] == version, what="reload")

    def test_reload_under_load(self):
        code, before = self.s.api("GET", "/api/v1/config")
        self.assertEqual(before["version"], 1)
        sessions = []
        for _ in range(300):
            r = harness.Raw(self.s.port)
            self.assertEqual(size_of(ehlo(r)), 1048576)
            sessions.append(r)
        stop, errors, sent = threading.Event(), [], [0]

        def sender():
            while not stop.is_set():
                try:
                    with self.s.smtp() as c:
                        for i in range(5):
                            c.sendmail("s@outside.example", ["alice@acme.example"], harness.message(i, "alice@acme.example"))
                            sent[0] += 1
                except Exception as e:  # noqa: BLE001 - the test reports it
                    errors.append(repr(e))
        threads = [threading.Thread(target=sender) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            harness.wait_for(lambda: sent[0] > 20, what="load")
            self.rewrite(limit=7, size="2MiB", listener=True)
            self.reload_by_signal(2)
            at_reload = sent[0]
            harness.wait_for(lambda: sent[0] > at_reload + 20, what="load after the reload")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        self.assertEqual(errors, [])
        # Every session survived and keeps the settings it started with.
        for r in sessions:
            r.send(b"NOOP\r\n")
            self.assertTrue(r.reply().startswith(b"250"))
        self.assertEqual(size_of(ehlo(sessions[0])), 1048576)
        for r in sessions:
            r.close()
        fresh = harness.Raw(self.s.port)
        self.assertEqual(size_of(ehlo(fresh)), 2097152)
        fresh.close()
        extra = harness.Raw(self.extra_port)
        self.assertTrue(extra.greeting.startswith(b"220"))
        code, forests = self.s.api("GET", "/api/v1/forests")
        self.assertEqual({f["name"]: f["limit"] for f in forests}["na-1"], 7)
        code, status = self.s.api("GET", "/api/v1/status")
        self.assertEqual(status["config"]["version"], 2)
        log = self.s.log()
        self.assertIn('"config":2', log.split('"msg":"config reloaded"')[1])
        self.assertIn("forests.na-1.limit 50 → 7", log)
        # Removing the listener closes it to new connections; its open session lives on.
        self.rewrite(limit=7, size="2MiB", listener=False)
        self.reload_by_signal(3)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.extra_port), timeout=5).close()
        extra.send(b"NOOP\r\n")
        self.assertTrue(extra.reply().startswith(b"250"))
        extra.close()
        # The version survives a restart of the same file.
        self.s.stop()
        self.s.start()
        code, after = self.s.api("GET", "/api/v1/config")
        self.assertEqual(after["version"], 3)

    def test_broken_config_is_refused_and_the_old_one_serves(self):
        with open(self.s.config, "a") as f:
            f.write('[queue]\nretry_intial = "5s"\n')
        code, body = self.s.api("POST", "/api/v1/config/reload", {})
        self.assertEqual(code, 422)
        self.assertFalse(body["ok"])
        self.assertTrue(any(e.startswith(self.s.config + ":") for e in body["errors"]), body["errors"])
        r = self.s.ctl("reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("sluicectl: reload refused: %s:" % self.s.config, r.stderr)
        code, body = self.s.api("GET", "/api/v1/config")
        self.assertEqual(body["version"], 1)
        self.assertIn("config reload refused", self.s.log())
        with self.s.smtp() as c:
            c.sendmail("s@outside.example", ["alice@acme.example"], harness.message(1, "alice@acme.example"))
        harness.wait_for(lambda: self.s.maildir_files("alice@acme.example"), what="delivery after a refused reload")

    def test_destination_limits_live(self):
        def ceiling(name):
            code, dests = self.s.api("GET", "/api/v1/destinations")
            return {d["name"]: d["concurrency_limit"] for d in dests}[name]
        r = self.s.ctl("destination", "limit", "relay", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(ceiling("relay"), 3)
        r = self.s.ctl("destination", "limit", "local", "3")
        self.assertEqual(r.returncode, 1)
        self.assertIn("local is a maildir destination: it has no throttle", r.stderr)
        r = self.s.ctl("destination", "limit", "nowhere", "3")
        self.assertEqual(r.returncode, 1)
        with open(self.s.config) as f:
            text = f.read()
        with open(self.s.config, "w") as f:
            f.write(text.replace("max_concurrency = 20", "max_concurrency = 4"))
        r = self.s.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applied: destinations.store.max_concurrency 20 → 4", r.stdout)
        self.assertEqual(ceiling("store"), 4)
        r = self.s.ctl("reload")
        self.assertIn(": unchanged", r.stdout)
        r = self.s.ctl("config")
        self.assertRegex(r.stdout, r"^config v2 [0-9a-f]{64} ")

    def test_reload_without_a_token_is_refused(self):
        code, body = self.s.api("POST", "/api/v1/config/reload", {}, token=False)
        self.assertEqual(code, 401)


if __name__ == "__main__":
    unittest.main()
