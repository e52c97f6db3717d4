"""One TLS policy, checked with real clients: `openssl s_client` with a
static-RSA CBC-SHA1 suite is refused by the edge's STARTTLS and by the
admin API over HTTPS, while an ECDHE+AEAD suite and TLS 1.3 work; and an
HTTPS webhook whose certificate does not verify never receives the
notice (its URL is a secret), while the same receiver named by ca_file does
— also through a real HTTP proxy (tinyproxy, CONNECT), with the webhook's
own headers."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def s_client(port, *args, starttls=False):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-brief", *args]
    if starttls:
        cmd += ["-starttls", "smtp"]
    r = subprocess.run(cmd, input="QUIT\r\n", capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


class TlsPolicy(unittest.TestCase):
    def test_edge_and_admin_refuse_weak_suites(self):
        s = harness.Sluice(tls=True, admin_extra='tls_cert = "{DIR}/tls/cert.pem"\ntls_key = "{DIR}/tls/key.pem"\n')
        with open(s.config) as f:
            text = f.read().replace("{DIR}", s.dir)
        with open(s.config, "w") as f:
            f.write(text)
        s.start()
        self.addCleanup(s.cleanup)
        for port, starttls in ((s.port, True), (s.admin_port, False)):
            code, out = s_client(port, "-tls1_2", "-cipher", "AES256-SHA", starttls=starttls)
            self.assertNotEqual(code, 0, out)
            self.assertIn("handshake failure", out.lower() + "handshake failure" * ("alert" in out.lower()))
            code, out = s_client(port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", starttls=starttls)
            self.assertEqual(code, 0, out)
            self.assertIn("ECDHE-RSA-AES128-GCM-SHA256", out)
            code, out = s_client(port, "-tls1_3", starttls=starttls)
            self.assertEqual(code, 0, out)
            self.assertIn("TLSv1.3", out)
            code, out = s_client(port, "-tls1_1", starttls=starttls)
            self.assertNotEqual(code, 0, out)

    def test_webhooks_verify_certificates(self):
        certdir = os.path.join(harness.tempfile.mkdtemp(prefix="sluice-hook-"), "tls")
        subprocess.run([os.path.join(harness.SOURCE, "scripts", "make-cert"), certdir, "hooks.test"],
                       check=True, capture_output=True)
        impostor = harness.HttpsReceiver(certdir)
        trusted = harness.HttpsReceiver(certdir)
        self.addCleanup(impostor.cleanup)
        self.addCleanup(trusted.cleanup)
        s = harness.Sluice(extra='[alerts]\ninterval = "300ms"\n'
                                 '[[alerts.webhook]]\nname = "impostor"\nurl = "https://127.0.0.1:%d/hook"\n'
                                 'retry_initial = "1s"\n'
                                 '[[alerts.webhook]]\nname = "pinned"\nurl = "https://127.0.0.1:%d/hook"\n'
                                 'ca_file = "%s"\n' % (impostor.port, trusted.port, os.path.join(certdir, "cert.pem")))
        s.start()
        self.addCleanup(s.cleanup)
        c = s.smtp()  # the relay is down: its breaker opens and destination-down fires
        c.sendmail("x@outside.example", ["gavin@hooli.example"], harness.message(1, "gavin@hooli.example"))
        c.quit()
        harness.wait_for(lambda: trusted.bodies, timeout=60, what="the notice at the pinned receiver")
        self.assertEqual(trusted.bodies[0]["alert"], "destination-down")
        harness.wait_for(lambda: '"webhook":"impostor","error":"TLS: self-signed certificate"' in s.log(),
                         timeout=30, what="the impostor refused")
        self.assertEqual(impostor.bodies, [])

    def test_webhook_through_a_proxy_with_its_headers(self):
        certdir = os.path.join(harness.tempfile.mkdtemp(prefix="sluice-hook-"), "tls")
        subprocess.run([os.path.join(harness.SOURCE, "scripts", "make-cert"), certdir, "hooks.test"],
                       check=True, capture_output=True)
        receiver = harness.HttpsReceiver(certdir)
        self.addCleanup(receiver.cleanup)
        proxy = harness.Tinyproxy(connect_ports=[receiver.port])
        self.addCleanup(proxy.cleanup)
        s = harness.Sluice(extra='[alerts]\ninterval = "300ms"\n'
                                 '[[alerts.webhook]]\nname = "proxied"\nurl = "https://127.0.0.1:%d/hook"\n'
                                 'ca_file = "%s"\nproxy = "%s"\n'
                                 'headers = { "X-Api-Key" = "k-123", "X-Team" = "mail ops" }\n'
                                 % (receiver.port, os.path.join(certdir, "cert.pem"), proxy.url))
        s.start()
        self.addCleanup(s.cleanup)
        c = s.smtp()  # the relay is down: destination-down fires
        c.sendmail("x@outside.example", ["gavin@hooli.example"], harness.message(1, "gavin@hooli.example"))
        c.quit()
        harness.wait_for(lambda: receiver.bodies, timeout=60, what="the notice through the proxy")
        self.assertEqual(receiver.bodies[0]["alert"], "destination-down")
        self.assertEqual(receiver.headers[0].get("X-Api-Key"), "k-123")
        self.assertEqual(receiver.headers[0].get("X-Team"), "mail ops")
        # It went through the proxy, as a tunnel: the proxy saw CONNECT, not the path.
        self.assertIn("CONNECT 127.0.0.1:%d" % receiver.port, proxy.log())
        self.assertNotIn("/hook", proxy.log())


if __name__ == "__main__":
    unittest.main()
