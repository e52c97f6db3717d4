"""A slow link in front of a real slapd: every LDAP message from the server
reaches the client `delay` seconds after slapd sent it (order kept), as a
far or slow-but-healthy directory would answer. It reads the BER framing
to count the searches in flight at the server (SearchRequest seen, its
SearchResultDone not yet passed on), the number a forest's budget must
bound; the highest count is kept."""
import socket
import threading
import time

SEARCH_REQUEST, SEARCH_DONE = 0x63, 0x65


def _messages(buf):
    """Splits complete LDAPMessages (SEQUENCE, BER definite length) off buf:
    returns ([(op_tag, bytes)], rest)."""
    out = []
    while len(buf) >= 2:
        n = buf[1]
        head = 2
        if n & 0x80:
            k = n & 0x7F
            if len(buf) < 2 + k:
                break
            n = int.from_bytes(buf[2:2 + k], "big")
            head = 2 + k
        if len(buf) < head + n:
            break
        msg = buf[:head + n]
        # messageID INTEGER (tag, one length byte, value), then the operation's tag.
        op = msg[head + 2 + msg[head + 1]]
        out.append((op, msg))
        buf = buf[head + n:]
    return out, buf


class LdapDelay:
    def __init__(self, upstream_port, delay):
        self.upstream, self.delay = upstream_port, delay
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.searches = 0
        self.running = True
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, suffix):
        return "ldap://127.0.0.1:%d/%s" % (self.port, suffix)

    def reset_max(self):
        with self.lock:
            self.max_in_flight = self.in_flight

    def _accept(self):
        while self.running:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self.conns += [client, server]
            threading.Thread(target=self._up, args=(client, server), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client), daemon=True).start()

    def _up(self, client, server):
        buf = b""
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                server.close()
                return
            msgs, buf = _messages(buf + data)
            with self.lock:
                for op, _ in msgs:
                    if op == SEARCH_REQUEST:
                        self.searches += 1
                        self.in_flight += 1
                        self.max_in_flight = max(self.max_in_flight, self.in_flight)
            server.sendall(b"".join(m for _, m in msgs))

    def _down(self, server, client):
        # One sender per connection keeps the order; each message waits
        # until `delay` after it arrived.
        queue, cv = [], threading.Condition()

        def send():
            while True:
                with cv:
                    while not queue:
                        cv.wait()
                    due, op, msg = queue.pop(0)
                if msg is None:
                    client.close()
                    return
                time.sleep(max(0, due - time.time()))
                # Counted out before it is passed on: once the client has
                # it, its next search may arrive before this thread runs on.
                if op == SEARCH_DONE:
                    with self.lock:
                        self.in_flight -= 1
                try:
                    client.sendall(msg)
                except OSError:
                    pass

        threading.Thread(target=send, daemon=True).start()
        buf = b""
        while True:
            try:
                data = server.recv(65536)
            except OSError:
                data = b""
            msgs, buf = _messages(buf + data) if data else ([], buf)
            with cv:
                for op, m in msgs:
                    queue.append((time.time() + self.delay, op, m))
                if not data:
                    queue.append((time.time() + self.delay, None, None))
                cv.notify()
            if not data:
                return

    def cleanup(self):
        self.running = False
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
