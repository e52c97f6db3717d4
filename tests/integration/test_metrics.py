"""/metrics in Prometheus text format, read by a strict parser: every line
is a HELP/TYPE comment or a well-formed sample of a declared family,
counters end in _total, histograms are cumulative and end at +Inf = count;
and the series move when traffic flows."""
import os
import re
import smtplib
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))


def parse(text):
    """{(name, labels): value}; raises AssertionError on any format error."""
    types, samples = {}, {}
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            assert name not in types, "family declared twice: " + name
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "line %d is not a sample: %r" % (n, line)
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        float(value)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, "sample without TYPE: " + name
        if types[family] == "counter":
            assert name.endswith("_total"), "counter not named _total: " + name
        key = (name, labels)
        assert key not in samples, "duplicate sample: %r" % (key,)
        samples[key] = float(value)
    for family, kind in types.items():
        if kind != "histogram":
            continue
        for (name, labels), v in samples.items():
            if name == family + "_bucket" and 'le="+Inf"' in labels:
                base = ",".join(l for l in labels.split(",") if not l.startswith("le="))
                assert samples[(family + "_count", base)] == v, family
    return samples


class Metrics(unittest.TestCase):
    def test_format_and_movement(self):
        s = harness.Sluice().start()
        self.addCleanup(s.cleanup)
        before = parse(s.api("GET", "/metrics")[1])
        with s.smtp() as c:
            c.sendmail("x@outside.example", ["alice@acme.example"], harness.message(1, "alice@acme.example"))
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                c.sendmail("x@outside.example", ["nobody@acme.example"], b"x\r\n")
        harness.wait_for(lambda: s.maildir_files("alice@acme.example"), what="delivery")
        # The file lands in the Maildir before the delivery's result is
        # counted, so the counter is awaited, not read once.
        delivered = ("sluice_deliveries_total", 'destination="local",result="delivered"')
        after = {}

        def counted():
            after.clear()
            after.update(parse(s.api("GET", "/metrics")[1]))
            return after.get(delivered, 0) > before.get(delivered, 0)
        harness.wait_for(counted, what="the delivery counted")

        def moved(name, labels=""):
            return after.get((name, labels), 0) - before.get((name, labels), 0)

        self.assertEqual(moved("sluice_smtp_connections_total"), 1)
        self.assertEqual(moved("sluice_smtp_transactions_total", 'result="queued"'), 1)
        self.assertEqual(moved("sluice_smtp_replies_total", 'code="250",enhanced="2.0.0"'), 2)  # queued + RSET
        self.assertEqual(moved("sluice_smtp_replies_total", 'code="550",enhanced="5.1.1"'), 1)
        self.assertEqual(moved("sluice_spool_commit_duration_seconds_count"), 1)
        self.assertEqual(moved("sluice_forest_lookups_total", 'forest="na-1"'), 2)
        self.assertEqual(moved("sluice_deliveries_total", 'destination="local",result="delivered"'), 1)
        for name in ("sluice_forest_limit", "sluice_forest_queue_length", "sluice_forest_lookups_in_flight",
                     "sluice_destination_concurrency_limit", "sluice_queue_messages",
                     "sluice_queue_oldest_message_age_seconds", "sluice_alerts_firing",
                     "sluice_destination_breaker_open"):
            self.assertTrue(any(k[0] == name for k in after), name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
