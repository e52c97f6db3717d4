"""Test harness: starts the real sluice daemon (and real peers) on loopback.

Every process started here is tracked by PID and ended by PID when the test
finishes; nothing else on the machine is touched.
"""
import atexit
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

SLUICE_BIN = os.environ.get("SLUICE_BIN", "build-asan/sluice")
SLUICECTL_BIN = os.environ.get("SLUICECTL_BIN", os.path.join(os.path.dirname(SLUICE_BIN), "sluicectl"))
SOURCE = os.environ.get("SLUICE_SOURCE", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

_started = []


def _cleanup():
    for p in _started:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_cleanup)


# Ports handed out for servers to listen on later come from below the
# kernel's ephemeral range (32768 and up), so no outbound connection of
# another test (a client, a delivery) can take one in the meantime; each
# test process starts at a place of its own, so two running in parallel
# do not pick the same ones.
_PORTS_LOW, _PORTS_HIGH = 20000, 32000
_next_port = [_PORTS_LOW + (os.getpid() % 59) * 200]


def free_port():
    for _ in range(_PORTS_HIGH - _PORTS_LOW):
        port = _next_port[0]
        _next_port[0] = port + 1 if port + 1 < _PORTS_HIGH else _PORTS_LOW
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def wait_port(port, timeout=30, proc=None, host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


def metric(node, name, labels=""):
    """One sample of the daemon's /metrics, or None when it is not there."""
    text = node.api("GET", "/metrics")[1]
    want = name + ("{%s}" % labels if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


SEED = """
forests = ["na-1", "na-2", "de-1"]

[[tenants]]
name = "acme"
forest = "na-1"
domains = ["acme.example"]
destination = "local"
  [[tenants.recipients]]
  address = "alice@acme.example"
  aliases = ["sales@acme.example"]
  [[tenants.recipients]]
  address = "bob@acme.example"
  [[tenants.recipients]]
  address = "j\u00f6rg@acme.example"

[[tenants]]
name = "globex"
forest = "na-2"
domains = ["globex.example"]
destination = "local"
  [[tenants.recipients]]
  address = "carol@globex.example"

[[tenants]]
name = "initech"
forest = "de-1"
domains = ["initech.example"]
destination = "local"
  [[tenants.recipients]]
  address = "erin@initech.example"

[[tenants]]
name = "hooli"
forest = "de-1"
domains = ["hooli.example"]
destination = "relay"
  [[tenants.recipients]]
  address = "gavin@hooli.example"
  [[tenants.recipients]]
  address = "jared@hooli.example"

[[tenants]]
name = "soylent"
forest = "de-1"
domains = ["soylent.example"]
destination = "relay2"
  [[tenants.recipients]]
  address = "sol@soylent.example"

[[tenants]]
name = "umbrella"
forest = "na-2"
domains = ["umbrella.example"]
destination = "store"
  [[tenants.recipients]]
  address = "ann@umbrella.example"
  [[tenants.recipients]]
  address = "quota@umbrella.example"
  [[tenants.recipients]]
  address = "ghost@umbrella.example"
"""


class Sluice:
    """One sluice daemon with its own temp dir, config, spool and maildirs."""

    def __init__(self, relay_port=None, extra="", queue=None, lmtp_port=None, tls=False,
                 server_extra="", directory_extra="", seed_extra="", destinations_extra="", admin_extra="",
                 spool_path=None, spool_extra="", relay_backoff_max="4s", relay_extra=""):
        self.dir = tempfile.mkdtemp(prefix="sluice-it-")
        self.port = free_port()
        self.submission_port = free_port()
        self.admin_port = free_port()
        self.token = "test-token-0123456789"
        if tls:
            subprocess.run([os.path.join(SOURCE, "scripts", "make-cert"), os.path.join(self.dir, "tls")],
                           check=True, capture_output=True)
            extra = """
[tls]
cert = "%(d)s/tls/cert.pem"
key = "%(d)s/tls/key.pem"
[listeners.submission]
address = "127.0.0.1:%(p)d"
require_tls = true
""" % {"d": self.dir, "p": self.submission_port} + extra
        self.relay_port = relay_port or free_port()
        self.lmtp_port = lmtp_port or free_port()
        self.relay2_port = free_port()
        self.mail = os.path.join(self.dir, "mail")
        self.log_path = os.path.join(self.dir, "sluice.log")
        q = {"retry_initial": '"1s"', "retry_max": '"2s"', "max_lifetime": '"1d"'}
        q.update(queue or {})
        with open(os.path.join(self.dir, "directory.toml"), "w", encoding="utf-8") as f:
            f.write(SEED + seed_extra)
        self.config = os.path.join(self.dir, "sluice.toml")
        with open(self.config, "w") as f:
            f.write("""
[server]
hostname = "mx.sluice.test"
listen = ["127.0.0.1:%(port)d"]
workers = 2
%(server_extra)s
[spool]
path = "%(spool)s"
%(spool_extra)s
[directory]
path = "%(dir)s/directory.db"
seed = "%(dir)s/directory.toml"
%(directory_extra)s
[destinations.local]
type = "maildir"
root = "%(mail)s"
[destinations.relay]
type = "smtp"
host = "127.0.0.1"
port = %(relay)d
connect_timeout = "2s"
reply_timeout = "10s"
backoff_max = "%(relay_backoff_max)s"
%(relay_extra)s
[destinations.relay2]
type = "smtp"
host = "127.0.0.1"
port = %(relay2)d
connect_timeout = "2s"
reply_timeout = "10s"
[destinations.store]
type = "lmtp"
host = "127.0.0.1"
port = %(lmtp)d
%(destinations_extra)s
[queue]
%(queue)s
[admin]
listen = "127.0.0.1:%(admin)d"
token = "%(token)s"
%(admin_extra)s
[log]
format = "json"
%(extra)s
""" % {"port": self.port, "dir": self.dir, "mail": self.mail, "relay": self.relay_port, "lmtp": self.lmtp_port, "relay2": self.relay2_port, "relay_backoff_max": relay_backoff_max, "relay_extra": relay_extra,
       "queue": "\n".join("%s = %s" % kv for kv in q.items()), "extra": extra,
       "server_extra": server_extra, "directory_extra": directory_extra,
       "destinations_extra": destinations_extra, "admin_extra": admin_extra,
       "admin": self.admin_port, "token": self.token,
       "spool": spool_path or os.path.join(self.dir, "spool"), "spool_extra": spool_extra})
        self.proc = None

    def start(self, nofile=None):
        """Starts the daemon; `nofile` lowers its descriptor limit (soft and hard)."""
        self.logf = open(self.log_path, "a")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        preexec = None
        if nofile:
            import resource

            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen([SLUICE_BIN, "serve", "--config", self.config],
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=env, preexec_fn=preexec)
        _started.append(self.proc)
        wait_port(self.port, proc=self.proc)
        wait_port(self.admin_port, proc=self.proc)  # the admin API starts after the edge
        return self

    def stop(self):
        """SIGTERM; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.logf.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def api(self, method, path, body=None, token=True):
        """(status, parsed JSON or text) from the admin API."""
        import http.client
        import json
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=30)
        headers = {"Authorization": "Bearer " + self.token} if token is True else (
            {"Authorization": token} if token else {})
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text

    def ctl(self, *args, token=True):
        """Runs sluicectl against this daemon."""
        cmd = [SLUICECTL_BIN, "--admin", "127.0.0.1:%d" % self.admin_port]
        if token:
            cmd += ["--token", self.token]
        return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60)

    def smtp(self):
        return smtplib.SMTP("127.0.0.1", self.port, timeout=60)

    def maildir_files(self, address=None):
        """Delivered files, for one address or all."""
        out = []
        root = self.mail
        if address:
            local, domain = address.split("@")
            root = os.path.join(self.mail, domain, local)
        for dirpath, _, files in os.walk(root):
            if os.path.basename(dirpath) in ("new", "cur"):
                out.extend(os.path.join(dirpath, f) for f in files)
        return out


class SmtpSink:
    """Postfix's smtp-sink as a real next hop; dumps every transaction to a file."""

    def __init__(self, port=None, extra=(), host="127.0.0.1"):
        self.port = port or free_port()
        self.host = host
        self.dir = tempfile.mkdtemp(prefix="sluice-sink-")
        os.chmod(self.dir, 0o777)
        args = ["smtp-sink", "-u", "nobody", "-d", os.path.join(self.dir, "%H%M%S."), *extra,
                "%s:%d" % (host, self.port), "256"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _started.append(self.proc)
        wait_port(self.port, proc=self.proc, host=host)

    def messages(self):
        out = []
        for f in sorted(os.listdir(self.dir)):
            try:
                with open(os.path.join(self.dir, f), "rb") as fh:
                    out.append(fh.read())
            except FileNotFoundError:
                pass  # smtp-sink removes the file of a transaction that was cut off
        return out

    def subjects(self):
        """The numbers n of the "Subject: test n" messages received."""
        import re
        out = []
        for m in self.messages():
            found = re.search(rb"Subject: test (\d+)", m)
            if found:
                out.append(int(found.group(1)))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def message(n, to, sender="sender@outside.example", size=0):
    """A message with a unique id in Subject and Message-ID; CRLF line ends."""
    body = "".join("line %d of message %d, padding padding padding\r\n" % (i, n)
                   for i in range(max(1, size // 50)))
    return ("From: %s\r\nTo: %s\r\nSubject: test %d\r\nMessage-ID: <m%d@test>\r\n\r\n%s"
            % (sender, to, n, n, body)).encode()


def strip_received(data):
    """The message as sent: the file minus Sluice's Received header."""
    assert data.startswith(b"Received: "), data[:80]
    # The trace header is folded over continuation lines starting with a tab.
    lines = data.split(b"\r\n")
    i = 1
    while lines[i].startswith(b"\t"):
        i += 1
    return b"\r\n".join(lines[i:])


class Dovecot:
    """A real Dovecot LMTP mailbox store, run as `nobody` in a temp dir.

    `users` maps a user to extra userdb fields (e.g. a quota rule)."""

    def __init__(self, users):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="sluice-dovecot-")
        os.makedirs(os.path.join(self.dir, "mail"))
        with open(os.path.join(self.dir, "users"), "w") as f:
            for user, extra in users.items():
                f.write("%s:::::::%s\n" % (user, extra))
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(DOVECOT_CONF % {"dir": self.dir, "port": self.port})
        subprocess.run(["chown", "-R", "nobody:nogroup", self.dir], check=True)
        self.proc = subprocess.Popen(["runuser", "-u", "nobody", "--", "dovecot", "-F", "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _started.append(self.proc)
        wait_port(self.port, proc=self.proc)

    def messages(self, user):
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.dir, "mail", user, sub)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    with open(os.path.join(d, name), "rb") as f:
                        out.append(f.read())
        return out

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


DOVECOT_CONF = """
protocols = lmtp
listen = 127.0.0.1
base_dir = %(dir)s/run
state_dir = %(dir)s/run/state
log_path = %(dir)s/dovecot.log
ssl = no
default_internal_user = nobody
default_internal_group = nogroup
default_login_user = nobody
mail_location = maildir:%(dir)s/mail/%%u
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 0
mail_plugins = quota
plugin {
  quota = maildir:User quota
}
passdb {
  driver = passwd-file
  args = %(dir)s/users
}
userdb {
  driver = passwd-file
  args = %(dir)s/users
  default_fields = uid=nobody gid=nogroup home=%(dir)s/mail/%%u
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %(port)d
  }
  user = nobody
}
service anvil {
  chroot =
}
service log {
  user = nobody
}
service config {
  user = nobody
}
"""


class Raw:
    """A raw SMTP client for what smtplib cannot do: pipelining, BDAT,
    smuggling attempts. Reads replies by their codes."""

    def __init__(self, port, timeout=30, source=None):
        """`source`: a loopback address to connect from, e.g. "127.0.0.2"."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One whole (possibly multiline) reply as bytes; b"" on EOF."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return b"".join(lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line + b"\r\n")
            if len(line) < 4 or line[3:4] == b" ":
                return b"".join(lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def close(self):
        self.sock.close()


class Postfix:
    """A private Postfix instance on loopback: a real sending relay whose
    relayhost is `relay_port`. Its own config, queue and log in a temp dir."""

    def __init__(self, relay_port, tls="encrypt", extra=""):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="sluice-postfix-")
        self.etc = os.path.join(self.dir, "etc")
        os.makedirs(self.etc)
        os.makedirs(os.path.join(self.dir, "queue"))
        os.makedirs(os.path.join(self.dir, "data"))
        os.chmod(self.dir, 0o755)
        subprocess.run(["chown", "postfix", os.path.join(self.dir, "data")], check=True)
        with open("/etc/postfix/master.cf") as f:
            master = []
            for line in f:
                fields = line.split()
                if line[:1].isalnum() and len(fields) >= 8:
                    if fields[0] == "smtp" and fields[1] == "inet":
                        fields[0] = "127.0.0.1:%d" % self.port
                    fields[4] = "n"  # no chroot: nothing to copy into one
                    line = " ".join(fields) + "\n"
                master.append(line)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.writelines(master)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN % {"dir": self.dir, "relay": relay_port, "tls": tls} + extra)
        subprocess.run(["postfix", "-c", self.etc, "check"], check=True, capture_output=True)
        subprocess.run(["postfix", "-c", self.etc, "start"], check=True, capture_output=True)
        wait_port(self.port)

    def postqueue(self, *args):
        return subprocess.run(["postqueue", "-c", self.etc, *args], capture_output=True,
                              text=True, timeout=60)

    def queue_size(self):
        out = self.postqueue("-j").stdout
        return len([l for l in out.splitlines() if l.strip()])

    def log(self):
        path = os.path.join(self.dir, "maillog")
        if not os.path.exists(path):
            return ""
        with open(path, errors="replace") as f:
            return f.read()

    def cleanup(self):
        subprocess.run(["postfix", "-c", self.etc, "stop"], capture_output=True)
        # postfix stop returns before every daemon has gone; wait for the master.
        pid_file = os.path.join(self.dir, "queue", "pid", "master.pid")
        deadline = time.time() + 10
        while os.path.exists(pid_file) and time.time() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


POSTFIX_MAIN = """
compatibility_level = 3.6
queue_directory = %(dir)s/queue
data_directory = %(dir)s/data
maillog_file = %(dir)s/maillog
maillog_file_prefixes = /tmp, /var, %(dir)s
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:%(relay)d
smtp_tls_security_level = %(tls)s
smtp_tls_loglevel = 1
in_flow_delay = 0
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
smtp_connect_timeout = 5s
"""


class Dnsmasq:
    """dnsmasq on a loopback port: real MX, A and NXDOMAIN answers."""

    def __init__(self, args):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
             "--listen-address=127.0.0.1", "--bind-interfaces", "--port=%d" % self.port,
             "--user=nobody", "--pid-file=", "--log-facility=-", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _started.append(self.proc)
        deadline = time.time() + 10
        while time.time() < deadline:  # UDP: ask until it answers
            if self.proc.poll() is not None:
                raise RuntimeError("dnsmasq exited with %s" % self.proc.returncode)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dnsmasq does not answer")

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


class Slapd:
    """A real OpenLDAP slapd on loopback serving one forest (the schema of
    examples/ldap/), loaded with `recipients`: [(address, tenant, aliases)]."""

    def __init__(self, forest, recipients, destination="local"):
        self.port = free_port()
        self.forest = forest
        self.dir = tempfile.mkdtemp(prefix="sluice-slapd-")
        os.makedirs(os.path.join(self.dir, "data"))
        self.suffix = "dc=%s,dc=sluice" % forest
        conf = os.path.join(self.dir, "slapd.conf")
        with open(conf, "w") as f:
            f.write(SLAPD_CONF % {"dir": self.dir, "suffix": self.suffix,
                                  "schema": os.path.join(SOURCE, "examples", "ldap", "sluice.schema")})
        ldif = ["dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: %s\no: forest %s\n"
                % (self.suffix, forest, forest)]
        for address, tenant, aliases in recipients:
            local = address.split("@")[0]
            entry = ("dn: cn=%s,%s\nobjectClass: sluiceRecipient\ncn: %s\nsluiceAddress: %s\n"
                     "sluiceTenant: %s\nsluiceDestination: %s\n"
                     % (address, self.suffix, address, address, tenant, destination))
            entry += "".join("sluiceAlias: %s\n" % a for a in aliases)
            ldif.append(entry)
            del local
        with open(os.path.join(self.dir, "data.ldif"), "w") as f:
            f.write("\n".join(ldif))
        subprocess.run(["slapadd", "-f", conf, "-l", os.path.join(self.dir, "data.ldif")],
                       check=True, capture_output=True)
        self.conf = conf
        self.start()

    @property
    def url(self):
        return "ldap://127.0.0.1:%d/%s" % (self.port, self.suffix)

    def start(self):
        self.proc = subprocess.Popen(["slapd", "-d", "0", "-f", self.conf,
                                      "-h", "ldap://127.0.0.1:%d/" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _started.append(self.proc)
        wait_port(self.port, proc=self.proc)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


SLAPD_CONF = """
include   /etc/ldap/schema/core.schema
include   /etc/ldap/schema/cosine.schema
include   %(schema)s
pidfile   %(dir)s/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database  mdb
maxsize   104857600
suffix    "%(suffix)s"
rootdn    "cn=admin,%(suffix)s"
directory %(dir)s/data
index     sluiceAddress,sluiceAlias eq
access to * by * read
"""


class Redis:
    """A real redis-server on loopback, nothing saved to disk."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="sluice-redis-")
        self.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _started.append(self.proc)
        wait_port(self.port, proc=self.proc)

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True,
                              timeout=10).stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisSentinel:
    """A real redis-sentinel on loopback watching one master, named "sluice"."""

    def __init__(self, master_port):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="sluice-sentinel-")
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor sluice 127.0.0.1 %d 1\n"
                    % (self.port, self.dir, master_port))
        self.proc = subprocess.Popen(["redis-sentinel", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _started.append(self.proc)
        wait_port(self.port, proc=self.proc)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Etcd:
    """A real etcd cluster of `members` on loopback, each with its own data
    directory; members can be stopped and started to take quorum away."""

    def __init__(self, members=3):
        self.dir = tempfile.mkdtemp(prefix="sluice-etcd-")
        self.members = [{"name": "e%d" % i, "client": free_port(), "peer": free_port(), "proc": None}
                        for i in range(members)]
        self.initial = ",".join("%s=http://127.0.0.1:%d" % (m["name"], m["peer"]) for m in self.members)
        for i in range(members):
            self.start(i)
        for m in self.members:
            wait_port(m["client"], proc=m["proc"])
        wait_for(self.healthy, timeout=30, what="etcd quorum")

    @property
    def endpoints(self):
        return ["http://127.0.0.1:%d" % m["client"] for m in self.members]

    def start(self, i):
        m = self.members[i]
        log = open(os.path.join(self.dir, m["name"] + ".log"), "ab")
        m["proc"] = subprocess.Popen(
            ["etcd", "--name", m["name"], "--data-dir", os.path.join(self.dir, m["name"]),
             "--listen-client-urls", "http://127.0.0.1:%d" % m["client"],
             "--advertise-client-urls", "http://127.0.0.1:%d" % m["client"],
             "--listen-peer-urls", "http://127.0.0.1:%d" % m["peer"],
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % m["peer"],
             "--initial-cluster", self.initial, "--initial-cluster-state", "new",
             "--heartbeat-interval", "50", "--election-timeout", "500"],
            stdout=log, stderr=log)
        log.close()
        _started.append(m["proc"])

    def healthy(self):
        import urllib.request
        try:
            with urllib.request.urlopen(self.endpoints[0] + "/health", timeout=2) as r:
                return b'"true"' in r.read()
        except OSError:
            return False

    def stop(self, i):
        p = self.members[i]["proc"]
        if p and p.poll() is None:
            p.kill()
            p.wait()

    def cleanup(self):
        for i in range(len(self.members)):
            self.stop(i)
        shutil.rmtree(self.dir, ignore_errors=True)


class WebhookReceiver:
    """A local HTTP endpoint that records the JSON bodies POSTed to it, as
    an alerting channel would. With fail_first=N it answers 500 to the
    first N requests, to test retries."""

    def __init__(self, fail_first=0):
        import http.server
        import json
        import threading
        receiver = self
        self.refused = 0
        self._bodies = []
        self._lock = threading.Lock()
        self._fail = fail_first

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    if receiver._fail > 0:
                        receiver._fail -= 1
                        receiver.refused += 1
                        status = 500
                    else:
                        receiver._bodies.append(json.loads(data))
                        status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self):
        with self._lock:
            return list(self._bodies)

    def cleanup(self):
        self.server.shutdown()
        self.server.server_close()


class HttpsReceiver:
    """An HTTPS endpoint with the certificate in certdir (scripts/make-cert)
    that records the JSON bodies POSTed to it and their headers."""

    def __init__(self, certdir):
        import http.server
        import json
        import ssl
        import threading
        receiver = self
        self.bodies = []
        self.headers = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.headers.append(dict(self.headers))
                receiver.bodies.append(json.loads(data))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(certdir, "cert.pem"), os.path.join(certdir, "key.pem"))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def cleanup(self):
        self.server.shutdown()
        self.server.server_close()


class Tinyproxy:
    """A real HTTP proxy (Debian's tinyproxy) on loopback that allows CONNECT
    to `connect_ports` only; its log (stderr) shows every request."""

    def __init__(self, connect_ports):
        self.dir = tempfile.mkdtemp(prefix="sluice-proxy-")
        self.port = free_port()
        conf = os.path.join(self.dir, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write("Port %d\nListen 127.0.0.1\nTimeout 30\nLogLevel Connect\nMaxClients 20\nAllow 127.0.0.1\n"
                    % self.port)
            for p in connect_ports:
                f.write("ConnectPort %d\n" % p)
        self.log_path = os.path.join(self.dir, "tinyproxy.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["tinyproxy", "-d", "-c", conf], stdout=self._log, stderr=subprocess.STDOUT)
        _started.append(self.proc)
        wait_port(self.port, proc=self.proc)
        self.url = "http://127.0.0.1:%d" % self.port

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self._log.close()
