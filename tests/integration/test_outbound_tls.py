"""Outbound STARTTLS toward a real TLS next hop (a second Sluice with a
certificate): opportunistic encrypts when offered, required with
verification delivers only to a certificate that verifies, and a next hop
without STARTTLS (smtp-sink) gets nothing when TLS is required."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def relay_config(port, tls, more=""):
    return """
[destinations.secure]
type = "smtp"
host = "127.0.0.1"
port = %d
connect_timeout = "2s"
reply_timeout = "10s"
backoff_max = "2s"
tls = "%s"
%s
""" % (port, tls, more)


SEED = """
[[tenants]]
name = "secure"
forest = "na-1"
domains = ["secure.example"]
destination = "secure"
  [[tenants.recipients]]
  address = "sam@secure.example"
"""

# The next hop knows sam@secure.example as a local mailbox.
NEXT_HOP_SEED = """
[[tenants]]
name = "secure"
forest = "na-1"
domains = ["secure.example"]
destination = "local"
  [[tenants.recipients]]
  address = "sam@secure.example"
"""


class OutboundTls(unittest.TestCase):
    def setUp(self):
        self.hop = harness.Sluice(tls=True, seed_extra=NEXT_HOP_SEED).start()
        self.cert = os.path.join(self.hop.dir, "tls", "cert.pem")
        self.sluice = None
        self.sink = None

    def tearDown(self):
        codes = []
        for s in (self.sluice, self.hop):
            if s:
                codes.append(s.stop())
                s.cleanup()
        if self.sink:
            self.sink.cleanup()
        self.assertEqual(codes, [0] * len(codes))

    def start(self, tls, more="", port=None):
        self.sluice = harness.Sluice(seed_extra=SEED,
                                     destinations_extra=relay_config(port or self.hop.port, tls, more)).start()

    def send(self, n):
        with self.sluice.smtp() as s:
            s.sendmail("alice@acme.example", ["sam@secure.example"], harness.message(n, "sam@secure.example"))

    def delivered(self):
        out = []
        for path in self.hop.maildir_files("sam@secure.example"):
            with open(path, "rb") as f:
                out.append(f.read())
        return out

    def test_opportunistic_encrypts_when_offered(self):
        self.start("opportunistic")
        self.send(1)
        harness.wait_for(lambda: self.delivered(), timeout=60, what="delivery over TLS")
        # The next hop's trace header says the message came over TLS.
        self.assertIn(b"with ESMTPS", self.delivered()[0])
        self.assertRegex(self.sluice.log(), r'"tls":"TLSv1\.[23] ')

    def test_required_with_a_verified_certificate(self):
        self.start("required", 'tls_ca_file = "%s"\ntls_server_name = "localhost"' % self.cert)
        self.send(2)
        harness.wait_for(lambda: self.delivered(), timeout=60, what="verified delivery")
        self.assertIn(b"with ESMTPS", self.delivered()[0])

    def test_required_refuses_a_certificate_that_does_not_verify(self):
        # The system trust store does not know the self-signed certificate.
        self.start("required")
        self.send(3)
        harness.wait_for(lambda: "certificate verify failed" in self.sluice.log(), timeout=60,
                         what="a verification failure")
        self.assertEqual(self.delivered(), [])
        status, q = self.sluice.api("GET", "/api/v1/queue")
        self.assertEqual(q["messages"], 1)  # kept, not bounced: a 4.7.5 deferral
        self.assertIn("4.7.5", self.sluice.ctl("queue", "list").stdout)

    def test_required_refuses_a_next_hop_without_starttls(self):
        self.sink = harness.SmtpSink()
        self.start("required", 'tls_verify = false', port=self.sink.port)
        self.send(4)
        harness.wait_for(lambda: "does not offer STARTTLS" in self.sluice.log(), timeout=60,
                         what="a refusal to send in the clear")
        self.assertEqual(self.sink.messages(), [])


if __name__ == "__main__":
    unittest.main()
