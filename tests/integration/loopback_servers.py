"""Servers on loopback for tests that make the CA look things up: a DNS
responder (RFC 1035, UDP and TCP, answering from a dict) and an HTTP server
serving fixed paths. Each runs in a thread and stops at close()."""

import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TYPES = {1: "A", 16: "TXT", 28: "AAAA"}


def _read_name(msg, off):
    labels = []
    while True:
        n = msg[off]
        off += 1
        if n == 0:
            return ".".join(labels).lower(), off
        labels.append(msg[off:off + n].decode("ascii"))
        off += n


def _encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


class DnsResponder:
    """records: {(name, "TXT"|"A"|"AAAA"): [values]}; unknown names get NXDOMAIN."""

    def __init__(self):
        self.records = {}
        self.queries = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _answer(self, query):
        qid, flags, qd = struct.unpack(">HHH", query[:6])
        name, off = _read_name(query, 12)
        qtype, qclass = struct.unpack(">HH", query[off:off + 4])
        question = query[12:off + 4]
        self.queries.append((name, TYPES.get(qtype, str(qtype))))
        values = self.records.get((name, TYPES.get(qtype)), [])
        known = any(k[0] == name for k in self.records)
        rcode = 0 if known else 3
        answers = b""
        for v in values:
            if qtype == 16:
                data = v.encode()
                rdata = b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255] for i in range(0, len(data), 255))
            elif qtype == 1:
                rdata = socket.inet_pton(socket.AF_INET, v)
            else:
                rdata = socket.inet_pton(socket.AF_INET6, v)
            answers += b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 60, len(rdata)) + rdata
        header = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(values), 0, 0)
        return header + question + answers

    def _serve(self):
        self.udp.settimeout(0.2)
        while not self._stop:
            try:
                query, peer = self.udp.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.udp.sendto(self._answer(query), peer)
            except Exception:  # a malformed query gets no answer
                pass

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self.udp.close()


class HttpFiles:
    """Serves {path: (status, body)} on 127.0.0.1, anything else 404."""

    def __init__(self):
        self.files = {}
        files = self.files
        self.requests = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append((self.path, self.headers.get("Host")))
                status, body = files.get(self.path, (404, b"not here"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
