"""Small hostile peers for the security tests, run on loopback by the tests
that use them: an authoritative DNS server whose MX hosts never resolve, and
an SMTP next hop that answers with whatever bytes it is told to."""
import socket
import struct
import threading


def _name(data, pos):
    labels = []
    while data[pos] != 0:
        n = data[pos]
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    return ".".join(labels).lower(), pos + 1


def _encode(name):
    out = b""
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


class BlackholeDns:
    """Answers MX queries for `domain` with `hosts` MX records under
    `dead_zone` (each at its own preference), never answers anything under
    `dead_zone` (so every address lookup times out), and NXDOMAIN for the
    rest. Counts queries by (name, type)."""

    def __init__(self, domain="attacker.example", hosts=20, dead_zone="d.example"):
        self.domain, self.hosts, self.dead = domain, hosts, dead_zone
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = {}
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def count(self, name, qtype=None):
        with self.lock:
            return sum(n for (q, t), n in self.queries.items() if q == name and (qtype is None or t == qtype))

    def names(self):
        with self.lock:
            return {q for q, _ in self.queries}

    def _serve(self):
        self.sock.settimeout(0.2)
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 17:
                continue
            qid = data[:2]
            name, pos = _name(data, 12)
            qtype, = struct.unpack("!H", data[pos:pos + 2])
            with self.lock:
                self.queries[(name, qtype)] = self.queries.get((name, qtype), 0) + 1
            question = data[12:pos + 4]
            if name == self.dead or name.endswith("." + self.dead):
                continue  # the black hole: no answer, ever
            if name == self.domain and qtype == 15:
                # "mN.d" and a pointer to the question's "example": twenty
                # records still fit a 512-byte UDP answer.
                suffix = self.dead[:-len(".example")] if self.dead.endswith(".example") else self.dead
                example = 12 + 1 + len(self.domain.split(".")[0])
                answers = b""
                for i in range(self.hosts):
                    rdata = (struct.pack("!H", 10 + i) + bytes([len("m%d" % (i + 1))]) + b"m%d" % (i + 1) +
                             bytes([len(suffix)]) + suffix.encode() + struct.pack("!H", 0xC000 | example))
                    answers += b"\xc0\x0c" + struct.pack("!HHIH", 15, 1, 60, len(rdata)) + rdata
                header = qid + struct.pack("!HHHHH", 0x8580, 1, self.hosts, 0, 0)
                self.sock.sendto(header + question + answers, peer)
            else:
                header = qid + struct.pack("!HHHHH", 0x8583, 1, 0, 0, 0)  # NXDOMAIN
                self.sock.sendto(header + question, peer)

    def cleanup(self):
        self.running = False
        self.sock.close()
        self.thread.join(timeout=5)


class ScriptedSmtp:
    """A next hop that sends `greeting` (bytes, or a callable writing to the
    socket) to every connection and then reads and discards what comes."""

    def __init__(self, greeting):
        self.greeting = greeting
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.server.settimeout(0.2)
        while self.running:
            try:
                c, _ = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(c,), daemon=True).start()

    def _talk(self, c):
        try:
            if callable(self.greeting):
                self.greeting(c, lambda: self.running)
            else:
                c.sendall(self.greeting)
                c.settimeout(30)
                while self.running and c.recv(4096):
                    pass
        except OSError:
            pass
        finally:
            c.close()

    def cleanup(self):
        self.running = False
        self.server.close()
        self.thread.join(timeout=5)
