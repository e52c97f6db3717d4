"""A recipient is answered only by entries of the tenant that owns its
domain. A real slapd holds, beside acme's alice, an entry of tenant globex
that claims ceo@acme.example as an alias: mail to ceo@acme.example is
refused (550 5.1.1) and never lands in globex's mailbox; and a seed that
gives a tenant an address in another tenant's domain is refused by
check-config with its line."""
import os
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

ENTRIES = [("alice@acme.example", "acme", []), ("mallory@globex.example", "globex", ["ceo@acme.example"])]


class TenantScope(unittest.TestCase):
    def test_another_tenants_alias_takes_nothing(self):
        slapd = harness.Slapd("na-1", ENTRIES)
        self.addCleanup(slapd.cleanup)
        s = harness.Sluice(extra='[forests.na-1]\nreplicas = ["%s"]\n' % slapd.url).start()
        self.addCleanup(s.cleanup)
        c = s.smtp()
        c.ehlo("client.example")
        c.mail("x@outside.example")
        code, msg = c.rcpt("ceo@acme.example")
        self.assertEqual(code, 550, msg)
        self.assertTrue(msg.startswith(b"5.1.1"), msg)
        code, _ = c.rcpt("alice@acme.example")
        self.assertEqual(code, 250)
        c.data(harness.message(1, "alice@acme.example"))
        c.quit()
        harness.wait_for(lambda: s.maildir_files("alice@acme.example"), timeout=30, what="alice's copy")
        self.assertEqual(s.maildir_files("mallory@globex.example"), [])

    def test_check_config_refuses_a_foreign_address(self):
        s = harness.Sluice(seed_extra='  [[tenants.recipients]]\n  address = "cfo@acme.example"\n')
        self.addCleanup(s.cleanup)
        r = subprocess.run([harness.SLUICE_BIN, "check-config", s.config], capture_output=True, text=True,
                           env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
        self.assertEqual(r.returncode, 1, r.stdout)
        # The seed's last tenant is umbrella: the address is acme's.
        self.assertIn("address: cfo@acme.example is not in a domain of tenant umbrella", r.stderr)
        self.assertRegex(r.stderr, r"directory\.toml:\d+: tenants\[\d+\]\.recipients\[\d+\]\.address")


if __name__ == "__main__":
    unittest.main()
