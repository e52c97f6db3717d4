"""Connectors against a real Sluice on loopback: a tenant's own servers,
known by their address (127.0.0.2, 127.0.0.3 — Linux routes all of
127.0.0.0/8 to lo) or by a TLS client certificate (a SHA-256 fingerprint,
or a name in a certificate a test CA signed), relay outbound for their
tenant's domains through Postfix's smtp-sink; an unlisted address gets
550 5.7.1, a wrong certificate is refused, a require_tls connector in the
clear gets 530 5.7.0, a restricted domain from elsewhere gets 550 5.7.1,
and the Received: and verdict headers name the connector."""
import os
import smtplib
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import filters  # noqa: E402


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(d):
    """A test CA; a client certificate it signed for relay.hooli.example; a
    self-signed one claiming the same name; and an unrelated self-signed one.
    Returns {name: (cert, key)} and the CA's path."""
    os.makedirs(d, exist_ok=True)
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Sluice Test CA",
            "-keyout", ca_key, "-out", ca)
    ext = os.path.join(d, "ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:relay.hooli.example\n")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mx.sluice.test",
            "-keyout", os.path.join(d, "server.key"), "-out", os.path.join(d, "server.pem"))
    out = {}
    csr = os.path.join(d, "signed.csr")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=relay.hooli.example",
            "-keyout", os.path.join(d, "signed.key"), "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
            "-extfile", ext, "-out", os.path.join(d, "signed.pem"))
    out["signed"] = (os.path.join(d, "signed.pem"), os.path.join(d, "signed.key"))
    for name, subject in (("forged", "relay.hooli.example"), ("initech", "mx.initech.example"),
                          ("stranger", "mx.stranger.example")):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + subject,
                "-addext", "subjectAltName=DNS:" + subject,
                "-keyout", os.path.join(d, name + ".key"), "-out", os.path.join(d, name + ".pem"))
        out[name] = (os.path.join(d, name + ".pem"), os.path.join(d, name + ".key"))
    return out, ca


def fingerprint(cert):
    r = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
                       check=True, capture_output=True, text=True)
    return r.stdout.strip().split("=", 1)[1]  # "AB:CD:…", as an operator would paste it


def mail(sender, to, subject):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s@test>\r\n\r\nhello\r\n" % (sender, to, subject, subject.replace(" ", "-"))).encode()


class Client:
    """One SMTP session from a chosen loopback address, optionally with
    STARTTLS and a client certificate."""

    def __init__(self, node, source="127.0.0.1", tls=False, cert=None):
        self.c = smtplib.SMTP("127.0.0.1", node.port, timeout=30, source_address=(source, 0))
        self.c.ehlo("client.example")
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if cert:
                ctx.load_cert_chain(*cert)
            self.c.starttls(context=ctx)
            self.c.ehlo("client.example")

    def send(self, sender, to, subject):
        """(stage, code, text) of the first refusal, or ("data", 250, …)."""
        code, msg = self.c.mail(sender)
        if code != 250:
            return "mail", code, msg.decode()
        code, msg = self.c.rcpt(to)
        if code != 250:
            self.c.rset()
            return "rcpt", code, msg.decode()
        code, msg = self.c.data(mail(sender, to, subject))
        return "data", code, msg.decode()

    def close(self):
        try:
            self.c.quit()
        except (smtplib.SMTPException, OSError):
            pass
        self.c.close()


class ConnectorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = harness.SmtpSink()
        cls.milter = filters.FaultMilter("reject")
        cls.passing = filters.FaultMilter("accept")
        d = os.path.join(os.environ.get("TMPDIR", "/tmp"), "sluice-connector-certs-%d" % os.getpid())
        cls.certdir = d
        cls.certs, ca = make_certs(d)
        extra = """
[tls]
cert = "%(d)s/server.pem"
key = "%(d)s/server.key"
client_ca = "%(ca)s"
%(filter)s
[connectors.acme-out]
tenant = "acme"
addresses = ["127.0.0.2"]
restrict_domains = true
destination = "relay"
[connectors.globex-tls]
tenant = "globex"
addresses = ["127.0.0.3/32"]
require_tls = true
destination = "relay"
filters = ["strict"]
[connectors.initech-cert]
tenant = "initech"
certificate_fingerprints = ["sha256:%(print)s"]
destination = "relay"
[connectors.hooli-name]
tenant = "hooli"
certificate_subjects = ["relay.hooli.example"]
destination = "relay"
filters = ["pass"]
""" % {"d": d, "ca": ca, "print": fingerprint(cls.certs["initech"][0]),
       "filter": '[filters.strict]\ntype = "milter"\naddress = "127.0.0.1:%d"\n'
                 '[filters.pass]\ntype = "milter"\naddress = "127.0.0.1:%d"\n' % (cls.milter.port, cls.passing.port)}
        cls.node = harness.Sluice(relay_port=cls.sink.port, extra=extra).start()

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        cls.sink.cleanup()
        cls.milter.cleanup()
        cls.passing.cleanup()
        import shutil
        shutil.rmtree(cls.certdir, ignore_errors=True)

    def session(self, **kw):
        c = Client(self.node, **kw)
        self.addCleanup(c.close)
        return c

    def relayed(self, subject):
        harness.wait_for(lambda: any(subject.encode() in m for m in self.sink.messages()), timeout=30,
                         what="relay of " + subject)
        return next(m for m in self.sink.messages() if subject.encode() in m)

    def test_a_connector_relays_for_its_tenant_and_says_so(self):
        c = self.session(source="127.0.0.2")
        self.assertEqual(c.send("alice@acme.example", "bob@far.example", "acme out 1")[:2], ("data", 250))
        data = self.relayed("acme out 1")
        self.assertIn(b"(connector acme-out)", data)
        # Its mail to a directory recipient is delivered as any other.
        self.assertEqual(c.send("alice@acme.example", "carol@globex.example", "acme in 1")[:2], ("data", 250))
        harness.wait_for(lambda: self.node.maildir_files("carol@globex.example"), timeout=30)
        self.assertGreaterEqual(harness.metric(self.node, "sluice_connector_relayed_total",
                                               'connector="acme-out"'), 1)

    def test_a_relay_from_an_unlisted_address_is_refused(self):
        c = self.session(source="127.0.0.1")
        stage, code, text = c.send("erin@initech.example", "bob@far.example", "unlisted")
        self.assertEqual((stage, code), ("rcpt", 550), text)
        self.assertIn("5.7.1", text)
        # Nor may a connector relay for another tenant's domain.
        c2 = self.session(source="127.0.0.2")
        stage, code, text = c2.send("erin@initech.example", "bob@far.example", "foreign sender")
        self.assertEqual((stage, code), ("rcpt", 550), text)
        # Inbound mail from the internet to directory recipients flows.
        self.assertEqual(c.send("someone@outside.example", "erin@initech.example", "inbound")[:2], ("data", 250))

    def test_a_restricted_domain_from_elsewhere_is_refused_at_mail(self):
        before = harness.metric(self.node, "sluice_connector_refusals_total", 'reason="sender_restricted"')
        c = self.session(source="127.0.0.1")
        stage, code, text = c.send("alice@acme.example", "bob@acme.example", "spoofed")
        self.assertEqual((stage, code), ("mail", 550), text)
        self.assertIn("5.7.1", text)
        self.assertIn("acme.example", text)
        self.assertEqual(harness.metric(self.node, "sluice_connector_refusals_total", 'reason="sender_restricted"'),
                         before + 1)

    def test_a_require_tls_connector_in_the_clear_gets_530(self):
        c = self.session(source="127.0.0.3")
        stage, code, text = c.send("carol@globex.example", "bob@far.example", "globex clear")
        self.assertEqual((stage, code), ("mail", 530), text)
        self.assertIn("5.7.0", text)

    def test_a_connectors_own_filters_scan_its_mail(self):
        # globex-tls sends through "strict" (a milter that rejects); the
        # same tenant's inbound mail has no chain and is not scanned.
        c = self.session(source="127.0.0.3", tls=True)
        stage, code, text = c.send("carol@globex.example", "bob@far.example", "globex tls")
        self.assertEqual((stage, code), ("data", 554), text)
        inbound = self.session(source="127.0.0.1")
        self.assertEqual(inbound.send("x@outside.example", "carol@globex.example", "globex in")[:2], ("data", 250))

    def test_a_fingerprint_connector_takes_its_certificate_only(self):
        good = self.session(tls=True, cert=self.certs["initech"])
        self.assertEqual(good.send("erin@initech.example", "bob@far.example", "initech cert")[:2], ("data", 250))
        data = self.relayed("initech cert")
        self.assertIn(b"(connector initech-cert)", data)
        for wrong in ("stranger", None):
            c = self.session(tls=True, cert=self.certs[wrong] if wrong else None)
            stage, code, text = c.send("erin@initech.example", "bob@far.example", "initech wrong")
            self.assertEqual((stage, code), ("rcpt", 550), (wrong, text))

    def test_a_subject_connector_needs_a_certificate_its_ca_signed(self):
        good = self.session(tls=True, cert=self.certs["signed"])
        self.assertEqual(good.send("gavin@hooli.example", "bob@far.example", "hooli signed")[:2], ("data", 250))
        self.relayed("hooli signed")
        forged = self.session(tls=True, cert=self.certs["forged"])
        stage, code, text = forged.send("gavin@hooli.example", "bob@far.example", "hooli forged")
        self.assertEqual((stage, code), ("rcpt", 550), text)

    def test_the_verdict_header_names_the_connector(self):
        # hooli's connector scans with "pass" (a milter that accepts).
        good = self.session(tls=True, cert=self.certs["signed"])
        self.assertEqual(good.send("gavin@hooli.example", "jared@hooli.example", "hooli internal")[:2],
                         ("data", 250))
        data = self.relayed("hooli internal")  # hooli's mailboxes are behind the relay destination
        self.assertIn(b"(connector hooli-name)", data)
        self.assertIn(b"X-Sluice-Report: cip=127.0.0.1; connector=hooli-name; pass=accept", data)

if __name__ == "__main__":
    unittest.main()
