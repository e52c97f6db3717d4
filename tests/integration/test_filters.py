"""Content filters through milter, against real filters on loopback: a
private rspamd (Debian's, offline) gives its test patterns' verdicts —
reject as 554 5.7.1 in the session, add header, rewrite subject, no action
— and sees From, To and Date; a scripted milter that misbehaves (garbage,
a dropped socket, a stalled body stage, an edit it did not negotiate)
never crashes Sluice and never turns into a 5xx; every action of the
protocol is applied (header insert, change and add, body replacement,
discard, quarantine, the filter's own reply); a tenant not routed through
a filter never waits on it."""
import os
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import filters  # noqa: E402


metric = harness.metric


def mail(to, subject, body, sender="s@outside.example"):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s@test>\r\n\r\n%s\r\n" % (sender, to, subject, abs(hash(subject + body)), body)).encode()


def send(node, to, data, sender="s@outside.example"):
    """The final reply to one message: (code, text)."""
    c = smtplib.SMTP("127.0.0.1", node.port, timeout=60)
    try:
        c.ehlo("client.example")
        c.mail(sender)
        code, msg = c.rcpt(to)
        assert code == 250, (code, msg)
        c.putcmd("data")
        code, msg = c.getreply()
        assert code == 354, (code, msg)
        c.send(smtplib.quotedata(data.decode()).encode() + b"\r\n.\r\n")
        code, msg = c.getreply()
        c.quit()
        return code, msg.decode()
    finally:
        c.close()


def delivered(node, address, n, timeout=20):
    harness.wait_for(lambda: len(node.maildir_files(address)) >= n, timeout=timeout, what="delivery to " + address)
    files = sorted(node.maildir_files(address), key=os.path.getmtime)
    with open(files[-1], "rb") as f:
        return f.read()


def filter_config(name, port, extra=""):
    return """
[filters.%s]
type = "milter"
address = "127.0.0.1:%d"
connect_timeout = "1s"
command_timeout = "2s"
content_timeout = "3s"
breaker_failures = 3
breaker_cooldown = "2s"
%s
""" % (name, port, extra)


class Rspamd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rspamd = filters.Rspamd()
        cls.rspamd.start()

    @classmethod
    def tearDownClass(cls):
        cls.rspamd.cleanup()

    def test_gtube_verdicts_in_the_session_and_a_tenant_not_routed_never_scanned(self):
        s = harness.Sluice(extra=filter_config("rspamd", self.rspamd.port) + """
[protection.tenants.acme]
filters = ["rspamd"]
""")
        self.addCleanup(s.cleanup)
        s.start()
        # reject: the sender gets rspamd's 554 5.7.1 now, and nothing is stored.
        code, text = send(s, "alice@acme.example", mail("alice@acme.example", "gtube reject", filters.GTUBE["reject"]))
        self.assertEqual(code, 554, text)
        self.assertTrue(text.startswith("5.7.1"), text)
        # add header: delivered with rspamd's X-Spam.
        code, text = send(s, "alice@acme.example", mail("alice@acme.example", "gtube add", filters.GTUBE["add header"]))
        self.assertEqual(code, 250, text)
        got = delivered(s, "alice@acme.example", 1)
        self.assertIn(b"\r\nX-Spam: Yes\r\n", got)
        self.assertIn(b"X-Sluice-Report: cip=127.0.0.1; connector=none; rspamd=accept; scan=complete\r\n", got)
        # rewrite subject.
        code, text = send(s, "alice@acme.example", mail("alice@acme.example", "gtube z", filters.GTUBE["rewrite subject"]))
        self.assertEqual(code, 250, text)
        got = delivered(s, "alice@acme.example", 2)
        self.assertIn(b"\r\nSubject: *** SPAM *** gtube z\r\n", got)
        # no action: delivered as sent, with only the trace and verdict fields added.
        plain = mail("alice@acme.example", "gtube a", filters.GTUBE["no action"])
        code, text = send(s, "alice@acme.example", plain)
        self.assertEqual(code, 250, text)
        got = delivered(s, "alice@acme.example", 3)
        self.assertTrue(got.endswith(plain.split(b"\r\n", 1)[1]) or plain.split(b"\r\n\r\n")[1] in got)
        self.assertNotIn(b"X-Spam:", got)
        # globex is routed through no filter: the reject pattern goes through.
        code, text = send(s, "carol@globex.example", mail("carol@globex.example", "unscanned", filters.GTUBE["reject"]))
        self.assertEqual(code, 250, text)
        self.assertNotIn(b"X-Sluice-Report", delivered(s, "carol@globex.example", 1))
        # rspamd saw the headers: no missing-header symbol in its log.
        log = self.rspamd.log()
        self.assertIn("gtube", log.lower())
        for symbol in ("MISSING_FROM", "MISSING_TO", "MISSING_DATE", "MISSING_MID"):
            self.assertNotIn(symbol, log)
        self.assertEqual(metric(s, "sluice_filter_verdicts_total", 'filter="rspamd",verdict="reject"'), 1)
        self.assertEqual(metric(s, "sluice_filter_verdicts_total", 'filter="rspamd",verdict="accept"'), 3)
        self.assertEqual(metric(s, "sluice_content_scans_total", 'outcome="reject"'), 1)


class Clamav(unittest.TestCase):
    def test_the_test_signature_is_quarantined_released_and_delivered_once(self):
        clam = filters.Clamav()
        self.addCleanup(clam.cleanup)
        clam.start()
        s = harness.Sluice(extra=filter_config("clamav", clam.port, 'kind = "malware"') + """
[protection]
filters = ["clamav"]
""")
        self.addCleanup(s.cleanup)
        s.start()
        code, text = send(s, "alice@acme.example", mail("alice@acme.example", "clean", "nothing to see"))
        self.assertEqual(code, 250, text)
        clean = delivered(s, "alice@acme.example", 1)
        self.assertIn(b"X-Virus-Status: Clean", clean)
        code, text = send(s, "bob@acme.example", mail("bob@acme.example", "bad", "a " + filters.CLAMAV_TEST_STRING))
        self.assertEqual(code, 250, text)  # kept, not refused
        time.sleep(2)
        self.assertEqual(s.maildir_files("bob@acme.example"), [])
        self.assertIn("quarantine", s.log())
        held = s.ctl("queue", "list", "--state", "hold")
        self.assertIn("bob@acme.example", held.stdout)
        r = s.ctl("queue", "release", "--all")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = delivered(s, "bob@acme.example", 1)
        self.assertIn(b"Sluice.Test.Malware-7f3a", got)  # X-Virus-Status: Infected (...)
        self.assertIn(b"clamav=quarantine", got)
        time.sleep(2)
        self.assertEqual(len(s.maildir_files("bob@acme.example")), 1)


class FaultMilter(unittest.TestCase):
    def node(self, mode, extra=""):
        milter = filters.FaultMilter(mode)
        self.addCleanup(milter.cleanup)
        s = harness.Sluice(extra=filter_config("fault", milter.port, extra) + """
[protection]
filters = ["fault"]
""")
        self.addCleanup(s.cleanup)
        s.start()
        return s, milter

    def test_a_misbehaving_filter_is_a_451_never_a_5xx_or_a_crash(self):
        for mode in ("garbage", "drop", "hugelen", "unnegotiated"):
            s, milter = self.node(mode)
            for n in range(3):
                code, text = send(s, "alice@acme.example", mail("alice@acme.example", "%s %d" % (mode, n), "x"))
                self.assertEqual(code, 451, (mode, text))
                self.assertTrue(text.startswith("4.7.1"), (mode, text))
            self.assertIsNone(s.proc.poll(), mode)
            self.assertEqual(s.maildir_files(), [], mode)
            self.assertEqual(metric(s, "sluice_content_scans_total", 'outcome="tempfail"'), 3, mode)

    def test_a_stalled_body_stage_ends_at_the_content_timeout_and_the_session_goes_on(self):
        s, milter = self.node("slow")
        c = smtplib.SMTP("127.0.0.1", s.port, timeout=60)
        c.ehlo("client.example")
        t0 = time.time()
        with self.assertRaises(smtplib.SMTPDataError) as e:
            c.sendmail("s@outside.example", ["alice@acme.example"], mail("alice@acme.example", "slow", "x"))
        took = time.time() - t0
        self.assertEqual(e.exception.smtp_code, 451)
        self.assertLess(took, 6)  # content_timeout is 3 s
        self.assertEqual(c.noop()[0], 250)  # the same session goes on
        c.quit()
        self.assertEqual(metric(s, "sluice_filter_errors_total", 'filter="fault",error="timeout"'), 1)

    def test_every_action_is_applied(self):
        s, milter = self.node("edit")
        self.assertEqual(send(s, "alice@acme.example", mail("alice@acme.example", "edit me", "old body"))[0], 250)
        got = delivered(s, "alice@acme.example", 1)
        head, body = got.split(b"\r\n\r\n", 1)
        self.assertEqual(body, b"replaced body\r\n")
        self.assertIn(b"\r\nX-Top: first\r\n", got)  # inserted at the top of the message's own fields
        self.assertIn(b"\r\nSubject: rewritten\r\n", got)
        self.assertIn(b"\r\nX-Fault: yes\r\n", got)
        self.assertNotIn(b"edit me", got)
        # The filter saw what the common milters need.
        for macro in ("j", "{client_addr}", "{mail_addr}", "{rcpt_addr}", "i"):
            self.assertIn(macro, milter.macros)
        self.assertEqual(milter.macros["{client_addr}"], "127.0.0.1")
        self.assertEqual(milter.macros["{rcpt_addr}"], "alice@acme.example")
        self.assertIn(b"old body", milter.bodies[0])
        self.assertEqual(milter.seen[0][:2], ["O", "D"])

    def test_reject_tempfail_and_discard_as_the_filter_says(self):
        s, milter = self.node("reject")
        code, text = send(s, "alice@acme.example", mail("alice@acme.example", "r", "x"))
        self.assertEqual((code, text), (554, "5.7.1 Refused by the fault milter"))
        milter.mode = "tempfail"
        code, text = send(s, "alice@acme.example", mail("alice@acme.example", "t", "x"))
        self.assertEqual((code, text), (451, "4.7.1 Try later, says the fault milter"))
        milter.mode = "discard"
        code, text = send(s, "alice@acme.example", mail("alice@acme.example", "d", "x"))
        self.assertEqual(code, 250, text)
        time.sleep(1)
        self.assertEqual(s.maildir_files(), [])
        self.assertEqual(metric(s, "sluice_content_scans_total", 'outcome="discard"'), 1)

    def test_a_quarantined_message_is_kept_held_and_delivered_once_when_released(self):
        s, milter = self.node("quarantine")
        code, text = send(s, "alice@acme.example", mail("alice@acme.example", "suspicious", "x"))
        self.assertEqual(code, 250, text)  # committed, held: not refused, not delivered
        listed = s.ctl("queue", "list", "--state", "hold", "--json")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn("alice@acme.example", listed.stdout)
        time.sleep(2)
        self.assertEqual(s.maildir_files(), [])
        self.assertIn("held by the fault milter", s.log())
        r = s.ctl("queue", "release", "--all")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = delivered(s, "alice@acme.example", 1)
        self.assertIn(b"fault=quarantine", got)
        time.sleep(2)
        self.assertEqual(len(s.maildir_files()), 1)  # once
        self.assertEqual(metric(s, "sluice_content_scans_total", 'outcome="quarantine"'), 1)

    def test_on_error_accept_delivers_marked_not_scanned(self):
        s, milter = self.node("drop", 'on_error = "accept"')
        self.assertEqual(send(s, "alice@acme.example", mail("alice@acme.example", "a", "x"))[0], 250)
        got = delivered(s, "alice@acme.example", 1)
        self.assertIn(b"X-Sluice-Report: cip=127.0.0.1; connector=none; fault=not scanned (closed); scan=incomplete\r\n", got)

    def test_the_breaker_opens_and_a_dead_filter_costs_nothing_then_closes(self):
        s, milter = self.node("accept")
        self.assertEqual(send(s, "alice@acme.example", mail("alice@acme.example", "ok", "x"))[0], 250)
        milter.cleanup()  # the filter goes away: connections are refused
        for n in range(3):
            self.assertEqual(send(s, "alice@acme.example", mail("alice@acme.example", "down %d" % n, "x"))[0], 451)
        self.assertEqual(metric(s, "sluice_filter_breaker_open", 'filter="fault"'), 1)
        t0 = time.time()
        self.assertEqual(send(s, "alice@acme.example", mail("alice@acme.example", "open", "x"))[0], 451)
        self.assertLess(time.time() - t0, 1)
        self.assertEqual(metric(s, "sluice_filter_errors_total", 'filter="fault",error="breaker_open"'), 1)
        back = filters.FaultMilter("accept")
        self.addCleanup(back.cleanup)
        # The filter comes back on another port: a reload points there, and
        # the changed filter starts with a closed breaker.
        with open(s.config, encoding="utf-8") as f:
            text = f.read()
        with open(s.config, "w", encoding="utf-8") as f:
            f.write(text.replace("127.0.0.1:%d" % milter.port, "127.0.0.1:%d" % back.port))
        r = s.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(send(s, "alice@acme.example", mail("alice@acme.example", "back", "x"))[0], 250)
        self.assertEqual(metric(s, "sluice_filter_breaker_open", 'filter="fault"'), 0)


if __name__ == "__main__":
    unittest.main()
