"""A transparent link in front of a real next hop (Postfix's smtp-sink)
that counts the SMTP transactions in flight there: one from the client's
MAIL until the server's reply to the end of data ("250 2.0.0"), or until
the connection closes. The highest count is kept: the number a
destination's fleet budget must bound."""
import socket
import threading


class SmtpCount:
    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.transactions = 0
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            self.conns += [client, server]
            state = {"open": 0}
            threading.Thread(target=self._pipe, args=(client, server, state, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, state, False), daemon=True).start()

    def _pipe(self, src, dst, state, up):
        tail = b""
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self.lock:
                    self.in_flight -= state["open"]
                    state["open"] = 0
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            # Lines may straddle reads: count in what is whole.
            text = tail + data
            whole, _, tail = text.rpartition(b"\r\n")
            lines = whole.split(b"\r\n") if whole else []
            with self.lock:
                for line in lines:
                    if up and line[:10].upper() == b"MAIL FROM:":
                        state["open"] += 1
                        self.transactions += 1
                        self.in_flight += 1
                        self.max_in_flight = max(self.max_in_flight, self.in_flight)
                    elif not up and line.startswith(b"250 2.0.0") and state["open"] > 0:
                        state["open"] -= 1
                        self.in_flight -= 1
            try:
                dst.sendall(data)
            except OSError:
                pass

    def reset_max(self):
        with self.lock:
            self.max_in_flight = self.in_flight

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
