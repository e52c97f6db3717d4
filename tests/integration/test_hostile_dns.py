"""A hostile DNS server on loopback: attacker.example has 20 MX hosts whose
addresses never resolve. Any anonymous sender at attacker.example makes
Sluice resolve it (a DSN on NOTIFY=SUCCESS goes out by the mx destination).
While those resolutions run, another client's DATA replies stay under
100 ms — DNS is off the spool's blocking pool (only two threads here) — at
most max_mx_hosts hosts are asked per attempt, a burst of reports for the
domain shares one resolution, and the failure is cached."""
import os
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import hostile  # noqa: E402


def main():
    dns = hostile.BlackholeDns(hosts=20)
    s = harness.Sluice(server_extra="blocking_threads = 2\n",
                       queue={"notify_destination": '"mx"'},
                       destinations_extra='[destinations.mx]\ntype = "mx"\nport = %d\nmax_mx_hosts = 3\n'
                                          'connect_timeout = "2s"\n' % harness.free_port(),
                       extra='[dns]\nservers = ["127.0.0.1:%d"]\ntimeout = "1s"\ntries = 2\ndeadline = "8s"\n'
                             % dns.port)
    try:
        s.start()
        # Four senders at the attacker's domain ask for success reports.
        for i in range(4):
            c = s.smtp()
            c.ehlo("attacker.example")
            c.mail("x%d@attacker.example" % i)
            code, _ = c.rcpt("alice@acme.example", options=["NOTIFY=SUCCESS"])
            assert code == 250
            code, _ = c.data(harness.message(i, "alice@acme.example", sender="x%d@attacker.example" % i))
            assert code == 250
            c.quit()
        harness.wait_for(lambda: dns.count("attacker.example", 15) >= 1, timeout=20, what="the MX lookup")

        # Meanwhile an unrelated client's DATA replies come at once.
        worst = 0.0
        c = s.smtp()
        c.ehlo("fine.example")
        for n in range(40):
            c.mail("fine@outside.example")
            c.rcpt("bob@acme.example")
            c.putcmd("data")
            assert c.getreply()[0] == 354
            c.send(harness.message(100 + n, "bob@acme.example").replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
            t0 = time.time()
            code, _ = c.getreply()
            worst = max(worst, time.time() - t0)
            assert code == 250, code
            time.sleep(0.1)
        c.quit()
        print("worst DATA reply while attacker.example resolved: %.1f ms" % (worst * 1000))
        assert worst < 0.1, "a DATA reply took %.0f ms" % (worst * 1000)

        # The resolution gave up at its deadline: the reports wait, deferred.
        harness.wait_for(lambda: "address lookup" in s.log() and '"result":"deferred"' in s.log(), timeout=30,
                         what="the reports deferred on DNS")
        asked = [n for n in dns.names() if n.endswith(".d.example")]
        print("MX lookups of attacker.example: %d; hosts asked: %s" % (dns.count("attacker.example", 15), sorted(asked)))
        assert len(asked) <= 3, asked  # max_mx_hosts
        assert dns.count("attacker.example", 15) <= 2, dns.count("attacker.example", 15)  # one for the burst (and a retry)
        # The failure is remembered: another report soon after asks DNS nothing.
        before = dns.count("attacker.example", 15)
        c = s.smtp()
        c.ehlo("attacker.example")
        c.mail("y@attacker.example")
        c.rcpt("alice@acme.example", options=["NOTIFY=SUCCESS"])
        c.data(harness.message(99, "alice@acme.example", sender="y@attacker.example"))
        c.quit()
        time.sleep(3)
        assert dns.count("attacker.example", 15) == before, "the negative answer was not cached"
    finally:
        if os.environ.get("KEEP_LOG"):
            print(s.log())
        s.cleanup()
        dns.cleanup()


if __name__ == "__main__":
    main()
