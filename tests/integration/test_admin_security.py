"""The admin API against a curious local process and a DNS-rebinding page,
over real HTTP: mail data needs a token (the read-only one reads, never
changes), a foreign Host header gets 421, security headers are on every
response, and /metrics with health can live on a listener of their own."""
import http.client
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

READ_TOKEN = "read-only-token-0123456789"


def get(port, path, token=None, host=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    if host is not None:
        c.putrequest("GET", path, skip_host=True)
        c.putheader("Host", host)
        for k, v in headers.items():
            c.putheader(k, v)
        c.endheaders()
    else:
        c.request("GET", path, headers=headers)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body, dict(r.getheaders())


class AdminSecurity(unittest.TestCase):
    def setUp(self):
        self.metrics_port = harness.free_port()
        self.s = harness.Sluice(admin_extra='read_token = "%s"\nhosts = ["admin.mail.example"]\n'
                                            'metrics_listen = "127.0.0.1:%d"\n' % (READ_TOKEN, self.metrics_port))
        self.s.start()
        self.addCleanup(self.s.cleanup)
        c = self.s.smtp()
        c.sendmail("private-sender@outside.example", ["frank@initech.example", "gavin@hooli.example"],
                   harness.message(1, "gavin@hooli.example"))  # relay is down: it stays queued
        c.quit()

    def test_reads_of_mail_data_need_a_token(self):
        port = self.s.admin_port
        for path in ("/api/v1/queue/messages", "/api/v1/status", "/api/v1/destinations", "/api/v1/forests"):
            code, body, _ = get(port, path)
            self.assertEqual(code, 401, path)
            self.assertNotIn("private-sender", body)
        code, body, _ = get(port, "/api/v1/queue/messages", token=READ_TOKEN)
        self.assertEqual(code, 200)
        self.assertIn("private-sender@outside.example", body)
        # The read-only token changes nothing.
        status, _ = self.s.api("POST", "/api/v1/queue/hold", {"all": True}, token="Bearer " + READ_TOKEN)
        self.assertEqual(status, 403)
        self.assertEqual(json.loads(get(port, "/api/v1/queue", token=READ_TOKEN)[1])["hold"], 0)
        # What a probe or Prometheus needs stays open.
        self.assertEqual(get(port, "/api/v1/health")[0], 200)
        self.assertEqual(get(port, "/metrics")[0], 200)
        # sluicectl with the read-only token reads.
        r = self.s.ctl("queue", "list", token=False)
        self.assertEqual(r.returncode, 1)
        r = harness.subprocess.run([harness.SLUICECTL_BIN, "--admin", "127.0.0.1:%d" % port, "--token", READ_TOKEN,
                                    "queue", "list"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("private-sender", r.stdout)

    def test_a_foreign_host_name_is_refused(self):
        port = self.s.admin_port
        code, body, _ = get(port, "/api/v1/queue/messages", token=self.s.token, host="attacker.example:%d" % port)
        self.assertEqual(code, 421)
        self.assertNotIn("private-sender", body)
        self.assertEqual(get(port, "/", host="rebind.attacker.example")[0], 421)
        for ok in ("127.0.0.1:%d" % port, "localhost:%d" % port, "admin.mail.example"):
            self.assertEqual(get(port, "/api/v1/status", token=self.s.token, host=ok)[0], 200, ok)

    def test_security_headers(self):
        code, page, headers = get(self.s.admin_port, "/")
        self.assertEqual(code, 200)
        self.assertIn("frame-ancestors 'none'", headers["Content-Security-Policy"])
        self.assertIn("default-src 'self'", headers["Content-Security-Policy"])
        self.assertEqual(headers["X-Frame-Options"], "DENY")
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(get(self.s.admin_port, "/api/v1/health")[2]["Referrer-Policy"], "no-referrer")

    def test_metrics_listener(self):
        code, text, _ = get(self.metrics_port, "/metrics", host="prometheus.internal:9100")
        self.assertEqual(code, 200)
        self.assertIn("sluice_smtp_connections_total", text)
        self.assertEqual(get(self.metrics_port, "/api/v1/health/ready")[0], 200)
        code, body, _ = get(self.metrics_port, "/api/v1/queue/messages", token=self.s.token)
        self.assertEqual(code, 404)
        self.assertNotIn("private-sender", body)


if __name__ == "__main__":
    unittest.main()
