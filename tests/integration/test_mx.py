"""Delivery by MX with real DNS: dnsmasq on a loopback port serves MX and A
records; Sluice picks the lowest preference, falls back to the next when it
is down, uses the implicit MX of a domain without MX records, and returns
mail for a domain that does not exist to its sender with a DSN."""
import email
import email.policy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SEED = """
[[tenants]]
name = "partners"
forest = "na-1"
domains = ["mx-down.example", "mx-up.example", "implicit.example", "nothing.example"]
destination = "outbound"
  [[tenants.recipients]]
  address = "pat@mx-down.example"
  [[tenants.recipients]]
  address = "pat@mx-up.example"
  [[tenants.recipients]]
  address = "pat@implicit.example"
  [[tenants.recipients]]
  address = "pat@nothing.example"
"""


class Mx(unittest.TestCase):
    def setUp(self):
        self.port = harness.free_port()
        self.dns = harness.Dnsmasq([
            # mx-down: the preferred host (127.0.0.2) has nothing listening.
            "--mx-host=mx-down.example,mx1.mx-down.example,10",
            "--mx-host=mx-down.example,mx2.mx-down.example,20",
            "--host-record=mx1.mx-down.example,127.0.0.2",
            "--host-record=mx2.mx-down.example,127.0.0.3",
            # mx-up: both hosts up; only the preferred one may get mail.
            "--mx-host=mx-up.example,a.mx-up.example,10",
            "--mx-host=mx-up.example,b.mx-up.example,20",
            "--host-record=a.mx-up.example,127.0.0.4",
            "--host-record=b.mx-up.example,127.0.0.5",
            # implicit: no MX record, an A record.
            "--host-record=implicit.example,127.0.0.6",
            # Authoritative for the test zone: NODATA for a missing type,
            # NXDOMAIN for a missing name such as nothing.example.
            "--local=/example/",
        ])
        self.sinks = {ip: harness.SmtpSink(self.port, host=ip)
                      for ip in ("127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6")}
        self.sluice = harness.Sluice(
            seed_extra=SEED,
            destinations_extra="""
[destinations.outbound]
type = "mx"
port = %d
connect_timeout = "2s"
reply_timeout = "10s"
""" % self.port,
            extra="""
[dns]
servers = ["127.0.0.1:%d"]
timeout = "2s"
""" % self.dns.port)

    def tearDown(self):
        code = self.sluice.stop()
        self.sluice.cleanup()
        for s in self.sinks.values():
            s.cleanup()
        self.dns.cleanup()
        self.assertEqual(code, 0)

    def test_lowest_preference_fallback_and_implicit_mx(self):
        self.sluice.start()
        with self.sluice.smtp() as s:
            for n in range(5):
                s.sendmail("alice@acme.example", ["pat@mx-up.example"], harness.message(n, "pat@mx-up.example"))
            for n in range(5, 10):
                s.sendmail("alice@acme.example", ["pat@mx-down.example"], harness.message(n, "pat@mx-down.example"))
            s.sendmail("alice@acme.example", ["pat@implicit.example"], harness.message(10, "pat@implicit.example"))
        harness.wait_for(lambda: len(self.sinks["127.0.0.4"].subjects()) == 5, timeout=60, what="mx-up via pref 10")
        harness.wait_for(lambda: len(self.sinks["127.0.0.3"].subjects()) == 5, timeout=60, what="mx-down via pref 20")
        harness.wait_for(lambda: self.sinks["127.0.0.6"].subjects() == [10], timeout=60, what="implicit MX")
        self.assertEqual(sorted(self.sinks["127.0.0.4"].subjects()), [0, 1, 2, 3, 4])
        self.assertEqual(sorted(self.sinks["127.0.0.3"].subjects()), [5, 6, 7, 8, 9])
        self.assertEqual(self.sinks["127.0.0.5"].subjects(), [])  # the backup of a healthy domain
        status, dests = self.sluice.api("GET", "/api/v1/destinations")
        by_name = {d["name"]: d for d in dests}
        # The preferred host of mx-down was tried first and refused the connection.
        self.assertGreaterEqual(by_name["outbound/mx1.mx-down.example[127.0.0.2]"]["deliveries"]["deferred"], 1)
        self.assertIn("connect", by_name["outbound/mx1.mx-down.example[127.0.0.2]"]["last_trouble"])
        self.assertEqual(by_name["outbound/a.mx-up.example[127.0.0.4]"]["deliveries"]["delivered"], 5)
        self.assertNotIn("outbound/b.mx-up.example[127.0.0.5]", by_name)

    def test_a_domain_that_does_not_exist_is_bounced(self):
        self.sluice.start()
        with self.sluice.smtp() as s:
            s.sendmail("alice@acme.example", ["pat@nothing.example"], harness.message(1, "pat@nothing.example"))
        harness.wait_for(lambda: self.sluice.maildir_files("alice@acme.example"), timeout=60, what="the DSN")
        with open(self.sluice.maildir_files("alice@acme.example")[0], "rb") as f:
            dsn = email.message_from_bytes(f.read(), policy=email.policy.compat32)
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        status = [p for p in dsn.walk() if p.get_content_type() == "message/delivery-status"][0]
        fields = status.get_payload()[1]  # per-message block, then per-recipient blocks
        self.assertEqual(fields["Final-Recipient"], "rfc822; pat@nothing.example")
        self.assertEqual(fields["Action"], "failed")
        self.assertEqual(fields["Status"], "5.1.2")


if __name__ == "__main__":
    unittest.main()
