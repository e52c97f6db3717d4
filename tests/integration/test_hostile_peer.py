"""Hostile next hops, scripted on loopback. One answers its greeting with an
endless continuation: Sluice cuts the reply off (its RSS stays flat, the
mail is deferred with "reply too long" and the connection closed). One
sends a megabyte without a line end: the same. One answers MAIL with bytes
that are not UTF-8: the mail is deferred, and the admin API's JSON — status,
destinations, the queue — stays valid, also after a restart that reads the
stored reply back from the spool."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import hostile  # noqa: E402


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def endless(sock, running):
    chunk = b"220-" + b"A" * 1000 + b"\r\n"
    sock.settimeout(10)
    while running():
        sock.sendall(chunk * 64)


def no_line_end(sock, running):
    sock.settimeout(10)
    sock.sendall(b"220 " + b"B" * (1024 * 1024))
    while running() and sock.recv(4096):
        pass


def bad_utf8(sock, running):
    sock.settimeout(10)
    sock.sendall(b"220 peer.example ESMTP\r\n")
    buf = b""
    while running():
        data = sock.recv(4096)
        if not data:
            return
        buf += data
        while b"\r\n" in buf:
            line, buf = buf.split(b"\r\n", 1)
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                sock.sendall(b"250 peer.example\r\n")
            elif verb == b"MAIL":
                sock.sendall(b"451 4.7.0 \xff\xfe\xc3 not \x1b[31mUTF-8\r\n")
            elif verb == b"RSET":
                sock.sendall(b"250 2.0.0 ok\r\n")
            elif verb == b"QUIT":
                sock.sendall(b"221 bye\r\n")
                return
            else:
                sock.sendall(b"500 what\r\n")


class HostilePeer(unittest.TestCase):
    def start(self, script):
        peer = hostile.ScriptedSmtp(script)
        self.addCleanup(peer.cleanup)
        s = harness.Sluice(relay_port=peer.port).start()
        self.addCleanup(s.cleanup)
        c = s.smtp()
        c.sendmail("x@outside.example", ["gavin@hooli.example"], harness.message(1, "gavin@hooli.example"))
        c.quit()
        return peer, s

    def deferred_replies(self, s):
        return [json.loads(l)["reply"] for l in s.log().splitlines()
                if '"msg":"delivery"' in l and '"result":"deferred"' in l]

    def test_endless_reply_is_cut_off(self):
        peer, s = self.start(endless)
        base = rss_mib(s.proc.pid)
        harness.wait_for(lambda: any("reply too long" in r for r in self.deferred_replies(s)), timeout=30,
                         what="the endless reply cut off")
        peak = base
        for _ in range(30):  # it is retried; none of the tries may pile up memory
            peak = max(peak, rss_mib(s.proc.pid))
            time.sleep(0.1)
        print("endless reply: RSS %.0f MiB at start, peak %.0f MiB, %d connections" % (base, peak, peer.connections))
        self.assertLess(peak - base, 50)
        self.assertGreaterEqual(peer.connections, 1)

    def test_a_line_without_end_is_cut_off(self):
        peer, s = self.start(no_line_end)
        harness.wait_for(lambda: any("Message too long" in r or "too long" in r for r in self.deferred_replies(s)),
                         timeout=30, what="the endless line cut off")

    def test_invalid_utf8_never_breaks_the_admin_json(self):
        peer, s = self.start(bad_utf8)
        harness.wait_for(lambda: any(r.startswith("451 4.7.0") for r in self.deferred_replies(s)), timeout=30,
                         what="the 451 from the hostile peer")
        reply = [r for r in self.deferred_replies(s) if r.startswith("451 4.7.0")][0]
        self.assertIn("\ufffd", reply)       # not UTF-8: replaced where it entered
        self.assertIn("\\x1B", reply)        # the escape sequence made visible, not kept
        for _ in range(2):
            for path in ("/api/v1/status", "/api/v1/destinations", "/api/v1/queue/messages"):
                code, body = s.api("GET", path)
                self.assertEqual(code, 200, path)
                self.assertIsInstance(body, (dict, list), path)  # parsed as JSON
            code, body = s.api("GET", "/api/v1/queue/messages")
            self.assertIn("\ufffd", body[0]["recipients"][0]["last_reply"])
            # Stored in the spool, read back after a restart: still valid.
            s.stop()
            s.start()


if __name__ == "__main__":
    unittest.main()
