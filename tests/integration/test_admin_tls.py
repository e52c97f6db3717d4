"""The admin API over TLS ([admin] tls_cert/tls_key): HTTPS only, sluicectl
pins the configured certificate when it reads the config, a wrong anchor is
refused, and the token rules hold as over plain HTTP."""
import http.client
import json
import os
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


class AdminTls(unittest.TestCase):
    def setUp(self):
        self.s = harness.Sluice(tls=True, admin_extra='tls_cert = "%(d)s/tls/cert.pem"\ntls_key = "%(d)s/tls/key.pem"\n'
                                % {"d": "{DIR}"})
        # The harness makes the certificate in its own directory: point at it.
        with open(self.s.config) as f:
            text = f.read().replace("{DIR}", self.s.dir)
        with open(self.s.config, "w") as f:
            f.write(text)
        self.s.start()
        self.addCleanup(self.s.cleanup)
        self.cert = os.path.join(self.s.dir, "tls", "cert.pem")

    def https(self, method, path, body=None, token=True):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False  # the test certificate names mx.sluice.test, not 127.0.0.1
        c = http.client.HTTPSConnection("127.0.0.1", self.s.admin_port, context=ctx, timeout=30)
        headers = {"Authorization": "Bearer " + self.s.token} if token else {}
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read().decode()
        c.close()
        return r.status, data

    def test_https_only(self):
        code, body = self.https("GET", "/api/v1/health")
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["status"], "ok")
        with self.assertRaises(Exception):
            self.s.api("GET", "/api/v1/health")  # plain HTTP gets no answer
        code, body = self.https("POST", "/api/v1/forests/na-1/limit", json.dumps({"limit": 5}), token=False)
        self.assertEqual(code, 401)
        code, body = self.https("POST", "/api/v1/forests/na-1/limit", "{oops", token=True)
        self.assertEqual(code, 400)
        self.assertIn("malformed JSON", body)

    def test_sluicectl_over_tls(self):
        r = subprocess.run([harness.SLUICECTL_BIN, "--config", self.s.config, "forest", "limit", "na-1", "7"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        code, body = self.https("GET", "/api/v1/forests")
        self.assertEqual({f["name"]: f["limit"] for f in json.loads(body)}["na-1"], 7)
        # Without the certificate as anchor the server is not trusted.
        r = subprocess.run([harness.SLUICECTL_BIN, "--admin", "https://127.0.0.1:%d" % self.s.admin_port,
                            "forest", "status"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("TLS: self-signed certificate", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        r = subprocess.run([harness.SLUICECTL_BIN, "--admin", "https://127.0.0.1:%d" % self.s.admin_port,
                            "--ca-file", self.cert, "--token", self.s.token, "forest", "status", "--json"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)  # an anchor of one's own pins the certificate
        self.assertIn("na-1", [f["name"] for f in json.loads(r.stdout)])


if __name__ == "__main__":
    unittest.main()
