"""A full spool disk: Sluice's spool on a 24 MiB tmpfs made by the test, the
next hop down so mail piles up. Every sender gets 250 or 452 4.3.1 (never a
drop, never a 5xx), the daemon stays up, the spool-full alert fires; after a
SIGKILL it starts again on the full spool; then the next hop (Postfix's
smtp-sink) comes back: every acknowledged message is delivered exactly once,
space is reclaimed and new mail is accepted again without a restart, and the
alert resolves. Needs root (mount).
"""
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SKIP = 77


def send_until_full(port, senders=6, per_sender=140, size=64 * 1024):
    """Each sender pushes messages until it has seen 452 a few times in a row.
    Returns (acknowledged subject numbers, 452 count, anything else)."""
    acked, refused, other = [], [], []
    lock = threading.Lock()

    def run(k):
        streak = 0
        try:
            c = smtplib.SMTP("127.0.0.1", port, timeout=60)
            c.ehlo("filler.example")
        except OSError as e:
            with lock:
                other.append("connect: %s" % e)
            return
        for i in range(per_sender):
            n = k * 10000 + i
            try:
                code, msg = c.mail("sender@outside.example")
                if code == 452:
                    with lock:
                        refused.append((n, "MAIL", msg))
                    streak += 1
                    c.rset()
                    if streak >= 3:
                        break
                    time.sleep(0.2)
                    continue
                if code != 250:
                    with lock:
                        other.append((n, "MAIL", code, msg))
                    break
                code, msg = c.rcpt("gavin@hooli.example")
                if code != 250:
                    with lock:
                        other.append((n, "RCPT", code, msg))
                    break
                code, msg = c.data(harness.message(n, "gavin@hooli.example", size=size))
                if code == 250:
                    with lock:
                        acked.append(n)
                    streak = 0
                elif code == 452 and msg.startswith(b"4.3.1"):
                    with lock:
                        refused.append((n, "DATA", msg))
                    streak += 1
                else:
                    with lock:
                        other.append((n, "DATA", code, msg))
                    break
            except (smtplib.SMTPException, OSError) as e:
                with lock:
                    other.append((n, "dropped", repr(e)))
                return
        try:
            c.quit()
        except (smtplib.SMTPException, OSError):
            pass

    threads = [threading.Thread(target=run, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return acked, refused, other


def firing(s, name):
    status, body = s.api("GET", "/api/v1/alerts")
    assert status == 200, (status, body)
    return any(a["alert"] == name and a["state"] == "firing" for a in body["active"])


def main():
    if os.geteuid() != 0:
        print("SKIP: mounting a tmpfs needs root")
        return SKIP
    mnt = tempfile.mkdtemp(prefix="sluice-fullfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt], check=True)
    relay_port = harness.free_port()
    s = harness.Sluice(relay_port=relay_port, spool_path=os.path.join(mnt, "spool"),
                       spool_extra='min_free = "6MiB"\nreserve = "2MiB"',
                       extra='[alerts]\ninterval = "500ms"\n')
    sink = None
    try:
        s.start()
        pid = s.proc.pid
        # Something else takes the rest of the disk: Sluice gives back its
        # reserve, answers 452 and stays up.
        filler = os.path.join(mnt, "filler")
        subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k"], capture_output=True)
        harness.wait_for(lambda: s.api("GET", "/api/v1/status")[1]["spool"]["reserve_bytes"] == 0, timeout=20,
                         what="the reserve given back")
        c = smtplib.SMTP("127.0.0.1", s.port, timeout=30)
        c.ehlo("late.example")
        code, msg = c.mail("late@outside.example")
        assert code == 452 and msg.startswith(b"4.3.1"), (code, msg)
        c.quit()
        assert s.proc.poll() is None and s.proc.pid == pid, "the daemon died"
        os.unlink(filler)
        harness.wait_for(lambda: s.api("GET", "/api/v1/status")[1]["spool"]["state"] == "ok", timeout=20,
                         what="the spool ok again once the disk is freed")


        # Its own mail fills the disk.
        acked, refused, other = send_until_full(s.port)
        print("acknowledged %d, refused with 452: %d" % (len(acked), len(refused)))
        assert not other, other[:5]
        assert refused, "the disk never filled"
        assert len(acked) > 100, len(acked)
        assert s.proc.poll() is None and s.proc.pid == pid, "the daemon died"

        # The state is visible: status, readiness, metrics and the alert.
        status, body = s.api("GET", "/api/v1/status")
        assert body["spool"]["state"] in ("low", "full"), body["spool"]
        assert body["health"] in ("degraded", "incident"), body
        status, ready = s.api("GET", "/api/v1/health/ready")
        assert status == 503 and any("spool" in r for r in ready["reasons"]), (status, ready)
        status, metrics = s.api("GET", "/metrics")
        assert 'sluice_spool_state{state="ok"} 0' in metrics, metrics
        harness.wait_for(lambda: firing(s, "spool-full"), timeout=20, what="the spool-full alert")
        # A new session is still served: its MAIL gets 452, the session stays.
        # (Compaction may have given back some space meanwhile, and then a
        # 250 is right: take it, so the disk is full when MAIL comes.)
        topup = os.path.join(mnt, "topup")
        subprocess.run(["dd", "if=/dev/zero", "of=" + topup, "bs=64k"], capture_output=True)
        c = smtplib.SMTP("127.0.0.1", s.port, timeout=30)
        c.ehlo("late.example")
        code, msg = c.mail("late@outside.example")
        assert code == 452 and msg.startswith(b"4.3.1"), (code, msg)
        assert c.noop()[0] == 250
        c.quit()
        os.unlink(topup)

        # Killed on the full disk, it starts again on it.
        s.kill9()
        s.start()
        c = smtplib.SMTP("127.0.0.1", s.port, timeout=30)
        c.ehlo("restarted.example")
        code, msg = c.mail("x@outside.example")
        # Recovery may have freed a little (the WAL replayed, the reserve
        # given back): 250 or 452, but always an answer.
        assert code in (250, 452), (code, msg)
        c.quit()
        status, body = s.api("GET", "/api/v1/status")
        print("after the restart: spool %s, %d MiB free" % (body["spool"]["state"], body["spool"]["free_bytes"] >> 20))

        # The next hop returns: everything acknowledged is delivered once.
        sink = harness.SmtpSink(port=relay_port)
        harness.wait_for(lambda: set(acked) <= set(sink.subjects()), timeout=180,
                         what="every acknowledged message at the sink")
        got = sink.subjects()
        dupes = [n for n in set(got) if got.count(n) > 1]
        assert not dupes, "delivered twice: %s" % dupes[:10]

        # Delivered mail is removed and its space reclaimed: mail is accepted
        # again, without a restart and without anyone freeing the disk.
        def accepts():
            try:
                c = smtplib.SMTP("127.0.0.1", s.port, timeout=30)
                c.ehlo("after.example")
                code, _ = c.mail("after@outside.example")
                c.quit()
                return code == 250
            except (smtplib.SMTPException, OSError):
                return False
        harness.wait_for(accepts, timeout=120, what="new mail accepted once space is back")
        c = smtplib.SMTP("127.0.0.1", s.port, timeout=30)
        c.sendmail("after@outside.example", ["gavin@hooli.example"],
                   harness.message(99999, "gavin@hooli.example"))
        c.quit()
        harness.wait_for(lambda: 99999 in sink.subjects(), timeout=60, what="the new message delivered")
        harness.wait_for(lambda: not firing(s, "spool-full"), timeout=60, what="the spool-full alert to resolve")
        assert "alert resolved" in s.log()
        status, body = s.api("GET", "/api/v1/status")
        assert body["spool"]["state"] == "ok", body["spool"]
        print("full disk: %d acknowledged, %d refused with 452 4.3.1, all delivered once; recovered" %
              (len(acked), len(refused)))
        return 0
    finally:
        if sink:
            sink.cleanup()
        if os.environ.get("KEEP_LOG"):
            print(s.log())
        s.cleanup()
        subprocess.run(["umount", mnt], check=False)
        os.rmdir(mnt)


if __name__ == "__main__":
    sys.exit(main())
