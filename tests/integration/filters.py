"""Content filters for the integration tests, each started on loopback by
the test and ended by PID: a private rspamd (Debian's, offline: no RBLs,
fuzzy checks, map downloads or DNS beyond a local dnsmasq that knows
nothing), ClamAV (clamd with a signature database the test writes, and
clamav-milter in front of it), and a scripted milter that misbehaves on
purpose. Nothing under /etc is touched: rspamd reads its stock config with
overrides from its own directory."""
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import harness

# rspamd compiles its TLD list at start (15 s or more); a cache shared by
# the tests of one machine makes later starts take a second.
RSPAMD_CACHE = os.environ.get("SLUICE_RSPAMD_CACHE", os.path.join(tempfile.gettempdir(), "sluice-rspamd-cache"))

GTUBE = {  # rspamd's test patterns (enable_test_patterns) and what each gives
    "reject": "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    "add header": "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    "rewrite subject": "ZJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    "no action": "AJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
}

_RSPAMD_OFF = ["rbl", "emails", "spf", "dkim", "dmarc", "arc", "asn", "fuzzy_check", "hfilter", "whitelist",
               "phishing", "multimap", "mime_types", "mid", "elastic", "metadata_exporter", "dkim_signing"]


def milter_answers(port, timeout=2):
    """Whether a milter on the port answers an option negotiation."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
            c.sendall(struct.pack(">IcIII", 13, b"O", 6, 0x1FF, 0))
            head = c.recv(5)
            return len(head) == 5 and head[4:5] == b"O"
    except OSError:
        return False


class Rspamd:
    """rspamd's proxy worker as a milter (self_scan), on a loopback port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-rspamd-")
        self.port = harness.free_port()
        self.dns = harness.Dnsmasq([])  # answers REFUSED at once: rspamd's lookups fail fast
        conf = os.path.join(self.dir, "conf", "override.d")
        os.makedirs(conf)
        for module in _RSPAMD_OFF:
            self._write(conf, module + ".conf", "enabled = false;\n")
        self._write(conf, "options.inc", """
enable_test_patterns = true;
disable_monitoring = true;
filters = "chartable,regexp";
map_watch_interval = 1h;
task_timeout = 8s;
dns { nameserver = ["127.0.0.1:%d"]; timeout = 0.3s; retransmits = 1; }
hs_cache_dir = "%s/";
""" % (self.dns.port, RSPAMD_CACHE))
        self._write(conf, "logging.inc", 'type = "file"; filename = "%s/rspamd.log"; level = "info";\n' % self.dir)
        self._write(conf, "worker-proxy.inc", """
bind_socket = "127.0.0.1:%d";
milter = yes;
timeout = 120s;
count = 1;
upstream "local" { default = yes; self_scan = yes; }
""" % self.port)
        self._write(conf, "worker-normal.inc", 'bind_socket = "127.0.0.1:%d"; count = 1;\n' % harness.free_port())
        self._write(conf, "worker-controller.inc", 'bind_socket = "127.0.0.1:%d"; count = 1;\n' % harness.free_port())
        os.makedirs(RSPAMD_CACHE, exist_ok=True)
        for d in ("db", "run"):
            os.makedirs(os.path.join(self.dir, d))
        self.proc = None

    @staticmethod
    def _write(d, name, text):
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write(text)

    def start(self, timeout=90):
        args = ["/usr/bin/rspamd", "-f", "-c", "/etc/rspamd/rspamd.conf",
                "--var=LOCAL_CONFDIR=%s/conf" % self.dir, "--var=DBDIR=%s/db" % self.dir,
                "--var=RUNDIR=%s/run" % self.dir, "--var=LOGDIR=%s" % self.dir]
        if os.geteuid() == 0:
            args.insert(2, "-i")  # root: run the workers as root too, in this private instance
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        harness._started.append(self.proc)
        harness.wait_for(lambda: self.proc.poll() is not None or milter_answers(self.port), timeout=timeout,
                         what="rspamd's milter port")
        if self.proc.poll() is not None:
            raise RuntimeError("rspamd exited with %s: %s" % (self.proc.returncode, self.log()[-2000:]))
        # The first scan also loads rules: make it here, not in a measurement.
        harness.wait_for(lambda: milter_answers(self.port), timeout=10, what="rspamd warm")

    def log(self):
        try:
            with open(os.path.join(self.dir, "rspamd.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self):
        self.stop()
        self.dns.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- A scripted milter ---------------------------------------------------

def _packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


class FaultMilter:
    """A milter server in a thread of the test, answering each connection
    from a script: `mode` names what it does at end of message (or before):
    accept, reject ("y" 554), tempfail ("y" 451), discard, quarantine, edit
    (insert, change and add headers, replace the body), score (adds
    X-Spam-Score: 12.5), garbage (bytes that
    are no packet), drop (closes mid-exchange), slow (stalls in the body
    stage), hugelen (a length above the limit)."""

    def __init__(self, mode="accept"):
        self.mode = mode
        self.port = harness.free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.seen = []  # per connection: the commands received, in order
        self.macros = {}
        self.bodies = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop_event.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        cmds = []
        self.seen.append(cmds)
        body = b""
        conn.settimeout(30)
        f = conn.makefile("rb")
        try:
            while True:
                head = f.read(4)
                if len(head) < 4:
                    return
                (n,) = struct.unpack(">I", head)
                data = f.read(n)
                cmd, rest = data[:1], data[1:]
                cmds.append(cmd.decode())
                if cmd == b"O":
                    conn.sendall(_packet(b"O", struct.pack(">III", 6, 0x1FF, 0)))
                elif cmd == b"D":
                    parts = rest[1:].split(b"\0")
                    for k, v in zip(parts[0::2], parts[1::2]):
                        self.macros[k.decode()] = v.decode()
                elif cmd in (b"C", b"H", b"M", b"R", b"T", b"L", b"N"):
                    conn.sendall(_packet(b"c"))
                elif cmd == b"B":
                    body += rest
                    if self.mode == "slow":
                        time.sleep(30)
                    conn.sendall(_packet(b"c"))
                elif cmd == b"E":
                    self.bodies.append(body)
                    self._end(conn)
                elif cmd in (b"Q", b"A"):
                    if cmd == b"Q":
                        return
        except OSError:
            return
        finally:
            conn.close()

    def _end(self, conn):
        m = self.mode
        if m == "accept":
            conn.sendall(_packet(b"a"))
        elif m == "reject":
            conn.sendall(_packet(b"y", b"554 5.7.1 Refused by the fault milter\0"))
        elif m == "tempfail":
            conn.sendall(_packet(b"y", b"451 4.7.1 Try later, says the fault milter\0"))
        elif m == "discard":
            conn.sendall(_packet(b"d"))
        elif m == "quarantine":
            conn.sendall(_packet(b"q", b"held by the fault milter\0") + _packet(b"a"))
        elif m == "edit":
            conn.sendall(_packet(b"i", struct.pack(">I", 0) + b"X-Top\0first\0") +
                         _packet(b"m", struct.pack(">I", 1) + b"Subject\0rewritten\0") +
                         _packet(b"h", b"X-Fault\0yes\0") +
                         _packet(b"b", b"replaced body\n") + _packet(b"c"))
        elif m == "score":  # a spam filter's score, as rspamd or SpamAssassin writes it
            conn.sendall(_packet(b"h", b"X-Spam-Score\x0012.5\0") + _packet(b"a"))
        elif m == "garbage":
            conn.sendall(b"\x00\x00\x00\x02Z?" + b"\xff" * 64)
        elif m == "hugelen":
            conn.sendall(struct.pack(">I", 0x7FFFFFFF) + b"h")
        elif m == "drop":
            conn.shutdown(socket.SHUT_RDWR)
        elif m == "unnegotiated":  # an edit outside the negotiated actions
            conn.sendall(_packet(b"+", b"<extra@example.org>\0") + _packet(b"a"))

    def cleanup(self):
        self.stop_event.set()
        self.sock.close()
        self.thread.join(timeout=5)


def _clamd_pongs(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
            c.sendall(b"zPING\0")
            return c.recv(16).startswith(b"PONG")
    except OSError:
        return False


# A signature for the tests: the string anywhere in a scanned part.
CLAMAV_TEST_STRING = "SLUICE-TEST-MALWARE-7f3a"


class Clamav:
    """clamd with a one-signature database written here (no freshclam, no
    network), and clamav-milter in front of it quarantining what it finds."""

    def __init__(self, on_infected="Quarantine"):
        self.dir = tempfile.mkdtemp(prefix="sluice-clamav-")
        self.clamd_port = harness.free_port()
        self.port = harness.free_port()
        db = os.path.join(self.dir, "db")
        os.makedirs(db)
        os.makedirs(os.path.join(self.dir, "tmp"))
        with open(os.path.join(db, "sluice.ndb"), "w", encoding="ascii") as f:
            f.write("Sluice.Test.Malware-7f3a:0:*:%s\n" % CLAMAV_TEST_STRING.encode().hex())
        with open(os.path.join(self.dir, "clamd.conf"), "w", encoding="ascii") as f:
            f.write("Foreground yes\nTCPSocket %d\nTCPAddr 127.0.0.1\nDatabaseDirectory %s\nTemporaryDirectory %s/tmp\n"
                    "LogFile %s/clamd.log\nPidFile %s/clamd.pid\nSelfCheck 0\nBytecode no\nScanMail yes\n"
                    % (self.clamd_port, db, self.dir, self.dir, self.dir))
        with open(os.path.join(self.dir, "milter.conf"), "w", encoding="ascii") as f:
            f.write("MilterSocket inet:%d@127.0.0.1\nForeground yes\nPidFile %s/milter.pid\nTemporaryDirectory %s/tmp\n"
                    "ClamdSocket tcp:127.0.0.1:%d\nOnClean Accept\nOnInfected %s\nOnFail Defer\nAddHeader Replace\n"
                    "LogFile %s/milter.log\nLogVerbose yes\nLogInfected Full\n"
                    % (self.port, self.dir, self.dir, self.clamd_port, on_infected, self.dir))
        self.procs = []

    def start(self):
        clamd = subprocess.Popen(["/usr/sbin/clamd", "-c", os.path.join(self.dir, "clamd.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        harness._started.append(clamd)
        self.procs.append(clamd)
        harness.wait_for(lambda: clamd.poll() is not None or _clamd_pongs(self.clamd_port), timeout=60, what="clamd")
        if clamd.poll() is not None:
            raise RuntimeError("clamd exited with %s" % clamd.returncode)
        # The milter checks clamd once at start: clamd answers first.
        milter = subprocess.Popen(["/usr/sbin/clamav-milter", "-c", os.path.join(self.dir, "milter.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        harness._started.append(milter)
        self.procs.append(milter)

        def probed():
            try:
                with open(os.path.join(self.dir, "milter.log"), errors="replace") as f:
                    return "returned: success" in f.read()
            except OSError:
                return False
        harness.wait_for(lambda: milter.poll() is not None or probed(), timeout=60, what="clamav-milter")
        if milter.poll() is not None:
            raise RuntimeError("clamav-milter exited with %s" % milter.returncode)

    def cleanup(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
