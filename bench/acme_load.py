#!/usr/bin/env python3
"""ACME load generator for bench/acme: N client processes against one ACME
server (RFC 8555), on loopback, each with an account of its own made once
with External Account Binding (RFC 8555 7.3.4), then in a loop:

  newOrder (one dns identifier, a new name per order)
  -> POST-as-GET the authorization
  -> POST {} to its http-01 challenge (the key authorization is served by
     this program's own HTTP server on --http-port)
  -> poll the authorization until valid
  -> finalize with a CSR (a new P-256 key per order, SAN only)
  -> poll the order until valid
  -> download the certificate (and check that it names the identifier).

Keys, CSRs and accounts are made before the clock starts. Counted: the
issuances completed (certificate downloaded) within --seconds; timed: each
finalize, from sending the request to the order read as valid, and each
whole issuance. badNonce answers are retried with the nonce they carry and
counted apart. The last line is one of key=value pairs for scripts.

usage: acme_load.py --directory URL --cafile F --eab-kid K[,K...] --eab-hmac H[,H...]
                    [--clients N] [--seconds S] [--http-port P] [--domain-suffix .test]

Only the Python standard library and python3-cryptography are used.
"""

import argparse
import base64
import hashlib
import hmac
import json
import math
import multiprocessing as mp
import os
import re
import secrets
import selectors
import socket
import ssl
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtensionOID


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# --- account keys (ES256) ---

class AccountKey:
    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        nums = self.key.public_key().public_numbers()
        # RFC 7638: the members in lexicographic order, no whitespace.
        self.jwk = {"crv": "P-256", "kty": "EC",
                    "x": b64u(nums.x.to_bytes(32, "big")), "y": b64u(nums.y.to_bytes(32, "big"))}
        self.thumbprint = b64u(hashlib.sha256(compact(self.jwk)).digest())

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def make_csr(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.DER)


# --- the http-01 responder ---
# Every name this program orders is w{client}-{i}-{tag}{suffix}, so the key
# authorization of a token follows from the Host header the validator sends:
# token "." thumbprint of that client's account key (RFC 8555 8.1, 8.3).
# One thread, non-blocking sockets: an answer per connection, then close.

REQUEST_LINE = re.compile(rb"^GET /\.well-known/acme-challenge/([A-Za-z0-9_-]+) HTTP/1\.[01]$")
CLIENT_HOST = re.compile(rb"^w(\d+)-")


def http01_answer(head: bytes, thumbprints):
    """The response to one request head (the bytes before the blank line),
    and whether it is a key authorization."""
    lines = head.split(b"\r\n")
    token = REQUEST_LINE.match(lines[0])
    host = b""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            host = value.strip().rsplit(b":", 1)[0] if value.strip().count(b":") == 1 else value.strip()
    client = CLIENT_HOST.match(host.lower())
    if not token or not client or int(client.group(1)) >= len(thumbprints):
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", False
    body = token.group(1) + b"." + thumbprints[int(client.group(1))].encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)), True


def start_responder(port: int, thumbprints):
    served = {"ok": 0, "bad": 0}
    sel = selectors.DefaultSelector()
    listeners = []
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(1024)
        except OSError as e:
            if family == socket.AF_INET:
                raise SystemExit(f"acme_load: cannot serve http-01 on {addr}:{port}: {e}")
            continue  # no IPv6 loopback here: validators get A records only
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, None)
        listeners.append(s)
    stopping = threading.Event()

    def close(conn):
        sel.unregister(conn)
        conn.close()

    def loop():
        while not stopping.is_set():
            for key, _ in sel.select(timeout=0.2):
                sock = key.fileobj
                if key.data is None:  # a listener
                    try:
                        conn, _ = sock.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, {"in": b"", "t": time.monotonic()})
                    continue
                state = key.data
                try:
                    chunk = sock.recv(8192)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    close(sock)
                    continue
                state["in"] += chunk
                if not chunk or len(state["in"]) > 16384:
                    close(sock)
                    continue
                if b"\r\n\r\n" not in state["in"]:
                    continue
                answer, ok = http01_answer(state["in"].split(b"\r\n\r\n", 1)[0], thumbprints)
                served["ok" if ok else "bad"] += 1
                try:
                    sock.setblocking(True)
                    sock.settimeout(5)
                    sock.sendall(answer)
                except OSError:
                    pass
                close(sock)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def stop():
        stopping.set()
        thread.join(timeout=2)
        for s in listeners:
            s.close()
    return stop, served


# --- one keep-alive HTTPS connection, HTTP/1.1 written and read by hand ---
# (http.client parses every header block with the email package: too slow
# for a generator that shares the machine with the server it measures)

class Connection:
    def __init__(self, host, port, tls_name, ctx, stats, timeout):
        """Connects to host:port and checks the certificate against tls_name,
        which may differ (a certificate for "localhost" served on 127.0.0.1)."""
        self.host, self.port, self.tls_name, self.ctx, self.stats = host, port, tls_name, ctx, stats
        self.timeout = timeout
        self.authority = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ValueError("an HTTP line longer than 64 KiB")
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exchange(self, method, path, body, headers):
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.authority}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            head.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ValueError("an HTTP response head longer than 64 KiB")
            self._fill()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(parts[1])
        hdrs = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            hdrs[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self._line().split(b";", 1)[0], 16)
                if size == 0:
                    while self._line():  # trailers, up to the blank line
                        pass
                    break
                data += self._take(size)
                self._take(2)
        elif "content-length" in hdrs:
            data = self._take(int(hdrs["content-length"]))
        else:  # until the server closes
            try:
                while True:
                    self._fill()
            except ConnectionResetError:
                pass
            data, self.buf = self.buf, b""
            hdrs["connection"] = "close"
        if hdrs.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0":
            self.close()
        return status, hdrs, data

    def request(self, method, path, body=None, headers=None):
        for attempt in range(2):
            fresh = self.sock is None
            if fresh:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock, self.buf = self.ctx.wrap_socket(sock, server_hostname=self.tls_name), b""
                self.stats["connections"] += 1
            sent = time.monotonic()
            try:
                out = self._exchange(method, path, body, headers or {})
                self.stats["requests"] += 1
                return out
            except TimeoutError:
                # No answer within --timeout: the server is stuck or
                # overloaded. Counted; the next request gets a new connection.
                self.close()
                self.stats["timeouts"] += 1
                # When the earliest request that got no answer was sent: a
                # server that stops answering is measured up to that moment.
                first = self.stats["first_unanswered"]
                self.stats["first_unanswered"] = sent if first is None else min(first, sent)
                raise
            except (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError, BrokenPipeError):
                # The server closed an idle keep-alive connection: once more
                # on a new one (a replayed nonce would come back as badNonce).
                self.close()
                if fresh or attempt == 1:
                    raise
        raise AssertionError("unreachable")


class AcmeError(Exception):
    def __init__(self, step, status, body):
        self.step, self.status = step, status
        try:
            doc = json.loads(body)
            self.type = str(doc.get("type", "")).rsplit(":", 1)[-1] or f"http-{status}"
            self.detail = str(doc.get("detail", ""))
        except (ValueError, AttributeError):
            self.type, self.detail = f"http-{status}", body[:200].decode("utf-8", "replace")
        super().__init__(f"{step}: {status} {self.type}: {self.detail}")


class Client:
    def __init__(self, directory, conn, key, stats):
        self.dir, self.conn, self.key, self.stats = directory, conn, key, stats
        self.kid = None
        self.nonce = None

    @staticmethod
    def path(url):
        u = urllib.parse.urlsplit(url)
        return u.path + (f"?{u.query}" if u.query else "")

    def fresh_nonce(self):
        status, hdrs, _ = self.conn.request("HEAD", self.path(self.dir["newNonce"]))
        if "replay-nonce" not in hdrs:
            raise AcmeError("newNonce", status, b"")
        return hdrs["replay-nonce"]

    def post(self, step, url, payload, accept=None, jwk=False):
        """One signed POST (payload None: POST-as-GET), retried on badNonce
        with the nonce that answer carried."""
        for _ in range(20):
            nonce = self.nonce or self.fresh_nonce()
            self.nonce = None
            protected = {"alg": "ES256", "nonce": nonce, "url": url}
            if jwk:
                protected["jwk"] = self.key.jwk
            else:
                protected["kid"] = self.kid
            prot = b64u(compact(protected))
            pay = "" if payload is None else b64u(compact(payload))
            sig = b64u(self.key.sign(f"{prot}.{pay}".encode()))
            headers = {"Content-Type": "application/jose+json"}
            if accept:
                headers["Accept"] = accept
            t0 = time.monotonic()
            status, hdrs, data = self.conn.request("POST", self.path(url),
                                                   compact({"protected": prot, "payload": pay, "signature": sig}),
                                                   headers)
            step_time = self.stats["step_ms"].setdefault(step, [0, 0.0])
            step_time[0] += 1
            step_time[1] += (time.monotonic() - t0) * 1000.0
            self.nonce = hdrs.get("replay-nonce")
            if status >= 400:
                err = AcmeError(step, status, data)
                if err.type == "badNonce":
                    self.stats["badnonce_retries"] += 1
                    continue
                raise err
            return status, hdrs, data
        raise AcmeError(step, 400, b'{"type":"badNonce","detail":"20 badNonce answers in a row"}')

    def new_account(self, eab_kid, eab_hmac):
        url = self.dir["newAccount"]
        eab_prot = b64u(compact({"alg": "HS256", "kid": eab_kid, "url": url}))
        eab_pay = b64u(compact(self.key.jwk))
        mac = hmac.new(b64u_decode(eab_hmac), f"{eab_prot}.{eab_pay}".encode(), hashlib.sha256).digest()
        payload = {"termsOfServiceAgreed": True,
                   "externalAccountBinding": {"protected": eab_prot, "payload": eab_pay, "signature": b64u(mac)}}
        status, hdrs, _ = self.post("newAccount", url, payload, jwk=True)
        if status not in (200, 201) or "location" not in hdrs:
            raise AcmeError("newAccount", status, b"no Location")
        self.kid = hdrs["location"]


def wait_status(client, step, url, doc, done, deadline, poll, limit):
    """POST-as-GET url until its status is in done; honours Retry-After up to
    `limit` seconds. Returns the document, or None once the deadline passed."""
    first = True
    while doc.get("status") not in done:
        if doc.get("status") == "invalid":
            raise AcmeError(step, 200, compact({"type": "invalid", "detail": json.dumps(doc)[:300]}))
        if time.monotonic() > deadline:
            return None
        if not first:
            time.sleep(poll)
        first = False
        _, hdrs, data = client.post(step, url, None)
        doc = json.loads(data)
        if doc.get("status") not in done and "retry-after" in hdrs:
            try:
                time.sleep(min(max(float(hdrs["retry-after"]) - poll, 0.0), limit))
            except ValueError:
                pass
    return doc


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)  # nearest rank
    return s[max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))]


def worker(index, args, key, eab, host, port, barrier, go, start, results):
    stats = {"requests": 0, "connections": 0, "badnonce_retries": 0, "timeouts": 0, "first_unanswered": None,
             "step_ms": {}}  # step: [requests, milliseconds waiting for the answers]
    out = {"index": index, "issued": 0, "late": 0, "finalize_ms": [], "issuance_ms": [], "issued_at": [], "errors": {},
           "examples": {}, "fatal": None, "cpu_seconds": 0.0, "prepared_lazily": 0, "stats": stats}
    try:
        ctx = ssl.create_default_context(cafile=args.cafile)
        names = [f"w{index}-{i}-{args.tag}{args.domain_suffix}" for i in range(args.prepare)]
        csrs = [make_csr(n) for n in names]
        conn = Connection(host, port, args.tls_name or host, ctx, stats, args.timeout)
        status, _, data = conn.request("GET", Client.path(args.directory))
        if status != 200:
            raise AcmeError("directory", status, data)
        client = Client(json.loads(data), conn, key, stats)
        client.new_account(*eab)
    except Exception as e:  # reported by the main process; this client does no work
        out["fatal"] = f"client {index} setup: {e}"
    try:
        barrier.wait(timeout=600)
        go.wait(timeout=60)
    except Exception as e:  # noqa: BLE001
        out["fatal"] = out["fatal"] or f"client {index}: start barrier: {e}"
    if out["fatal"]:
        results.put(out)
        return
    t0 = start.value
    time.sleep(max(0.0, t0 - time.monotonic()))
    cpu0 = time.process_time()
    deadline = t0 + args.seconds
    i = 0
    while time.monotonic() < deadline:
        if i < len(csrs):
            name, csr = names[i], csrs[i]
        else:
            name = f"w{index}-{i}-{args.tag}{args.domain_suffix}"
            csr = make_csr(name)
            out["prepared_lazily"] += 1
        i += 1
        began = time.monotonic()
        try:
            status, hdrs, data = client.post("newOrder", client.dir["newOrder"],
                                             {"identifiers": [{"type": "dns", "value": name}]})
            order = json.loads(data)
            order_url = hdrs.get("location")
            if status != 201 or not order_url:
                raise AcmeError("newOrder", status, b'{"detail":"not 201 with a Location"}')
            authz_url = order["authorizations"][0]
            _, _, data = client.post("authz", authz_url, None)
            authz = json.loads(data)
            if authz.get("status") != "valid":
                chall = next((c for c in authz.get("challenges", []) if c.get("type") == "http-01"), None)
                if chall is None:
                    raise AcmeError("authz", 200, b'{"detail":"no http-01 challenge"}')
                client.post("challenge", chall["url"], {})
                if wait_status(client, "authz-poll", authz_url, {"status": "pending"}, ("valid",), deadline,
                               args.poll, args.retry_after_cap) is None:
                    break
            if time.monotonic() > deadline:
                break
            f0 = time.monotonic()
            _, _, data = client.post("finalize", order["finalize"], {"csr": b64u(csr)})
            order = wait_status(client, "order-poll", order_url, json.loads(data), ("valid",), deadline,
                                args.poll, args.retry_after_cap)
            if order is None:
                break
            f1 = time.monotonic()
            _, _, pem = client.post("certificate", order["certificate"], None,
                                    accept="application/pem-certificate-chain")
            leaf = x509.load_pem_x509_certificate(pem)
            sans = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
            if name not in sans.get_values_for_type(x509.DNSName):
                raise AcmeError("certificate", 200, compact({"detail": f"certificate does not name {name}"}))
            done = time.monotonic()
            if done <= deadline:
                out["issued"] += 1
                out["finalize_ms"].append((f1 - f0) * 1000.0)
                out["issuance_ms"].append((done - began) * 1000.0)
                out["issued_at"].append(done)
            else:
                out["late"] += 1
        except AcmeError as e:
            key_ = f"{e.step}:{e.type}"
            out["errors"][key_] = out["errors"].get(key_, 0) + 1
            out["examples"].setdefault(key_, str(e)[:400])
            time.sleep(args.poll)
        except Exception as e:  # noqa: BLE001 (a transport or parse error counts; the loop goes on)
            key_ = f"{type(e).__name__}"
            out["errors"][key_] = out["errors"].get(key_, 0) + 1
            out["examples"].setdefault(key_, str(e)[:400])
            client.nonce = None
            conn.close()
            time.sleep(args.poll)
    out["cpu_seconds"] = time.process_time() - cpu0
    results.put(out)


def split_list(values):
    out = []
    for v in values or []:
        out += [x for x in v.split(",") if x]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--directory", required=True, help="the server's directory URL (https)")
    ap.add_argument("--cafile", required=True, help="PEM file of the CA that issued the server's TLS certificate")
    ap.add_argument("--eab-kid", action="append", required=True,
                    help="EAB key id; one for all clients, or one per client (comma-separated or repeated)")
    ap.add_argument("--eab-hmac", action="append", required=True, help="EAB HMAC key (base64url), as --eab-kid")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients, each a process (8)")
    ap.add_argument("--seconds", type=float, default=15.0, help="length of the timed run (15)")
    ap.add_argument("--http-port", type=int, required=True, help="port the http-01 responder listens on")
    ap.add_argument("--domain-suffix", default=".test", help="suffix of every ordered name (.test)")
    ap.add_argument("--tag", default=secrets.token_hex(3), help="label in every name, new names per run (random)")
    ap.add_argument("--prepare", type=int, default=300, help="keys and CSRs made per client before the clock (300)")
    ap.add_argument("--timeout", type=float, default=10.0,
                    help="seconds to wait for a connection or an answer before counting a timeout (10)")
    ap.add_argument("--poll", type=float, default=0.02, help="pause between polls, seconds (0.02)")
    ap.add_argument("--retry-after-cap", type=float, default=0.1,
                    help="longest pause a Retry-After header adds to a poll, seconds (0.1)")
    ap.add_argument("--tls-name", default="",
                    help="name the server's certificate must carry (default: the directory URL's host)")
    ap.add_argument("--label", default="", help="name printed with the figures")
    ap.add_argument("--json", help="also write the figures to this file as JSON")
    args = ap.parse_args()

    kids, macs = split_list(args.eab_kid), split_list(args.eab_hmac)
    if len(kids) != len(macs) or len(kids) not in (1, args.clients):
        ap.error(f"give 1 or {args.clients} EAB keys (--eab-kid and --eab-hmac alike); got {len(kids)} and {len(macs)}")
    if len(kids) == 1:
        kids, macs = kids * args.clients, macs * args.clients
    u = urllib.parse.urlsplit(args.directory)
    if u.scheme != "https" or not u.hostname:
        ap.error("--directory must be an https URL")
    host, port = u.hostname, u.port or 443

    keys = [AccountKey() for _ in range(args.clients)]
    stop_responder, served = start_responder(args.http_port, [k.thumbprint for k in keys])

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(args.clients + 1)
    start = ctx.Value("d", 0.0)
    go = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(i, args, keys[i], (kids[i], macs[i]), host, port, barrier, go, start, results),
                         daemon=True) for i in range(args.clients)]
    t_setup = time.monotonic()
    for p in procs:
        p.start()
    # Every client has its keys, CSRs and account: the clock starts.
    barrier.wait(timeout=600)
    setup_s = time.monotonic() - t_setup
    start.value = time.monotonic() + 0.02
    go.set()
    cpu0 = time.process_time()
    outs = []
    for _ in procs:
        try:
            outs.append(results.get(timeout=args.seconds + 180))
        except Exception:  # noqa: BLE001
            break
    elapsed = time.monotonic() - start.value
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
    stop_responder()
    cpu1 = time.process_time()

    fatal = [o["fatal"] for o in outs if o["fatal"]]
    issued = sum(o["issued"] for o in outs)
    late = sum(o["late"] for o in outs)
    fin = [x for o in outs for x in o["finalize_ms"]]
    iss = [x for o in outs for x in o["issuance_ms"]]
    errors, examples = {}, {}
    for o in outs:
        for k, v in o["errors"].items():
            errors[k] = errors.get(k, 0) + v
        for k, v in o["examples"].items():
            examples.setdefault(k, v)
    stats = {k: sum(o["stats"][k] for o in outs) for k in ("requests", "connections", "badnonce_retries", "timeouts")}
    lazily = sum(o["prepared_lazily"] for o in outs)
    steps = {}
    for o in outs:
        for k, (n, ms) in o["stats"]["step_ms"].items():
            steps.setdefault(k, [0, 0.0])
            steps[k][0] += n
            steps[k][1] += ms
    label = args.label or args.directory
    rate = issued / args.seconds
    # The timed seconds in which the server answered every request: all of
    # them, or those before the first request that never got an answer was
    # sent; and the issuances completed within them.
    unanswered = [o["stats"]["first_unanswered"] for o in outs if o["stats"]["first_unanswered"] is not None]
    answering, issued_answering = args.seconds, issued
    if unanswered:
        answering = min(max(min(unanswered) - start.value, 0.0), args.seconds)
        issued_answering = sum(1 for o in outs for t in o["issued_at"] if t <= min(unanswered))
    figures = {
        "label": label, "clients": args.clients, "seconds": args.seconds, "issued": issued,
        "per_second": round(rate, 2),
        "answering_seconds": round(answering, 2),
        "answering_per_second": round(issued_answering / answering, 2) if answering > 0 else 0.0,
        "finalize_p50_ms": round(percentile(fin, 50), 1), "finalize_p99_ms": round(percentile(fin, 99), 1),
        "issuance_p50_ms": round(percentile(iss, 50), 1), "issuance_p99_ms": round(percentile(iss, 99), 1),
        "errors": sum(errors.values()), "badnonce_retries": stats["badnonce_retries"], "timeouts": stats["timeouts"],
        "requests": stats["requests"], "connections": stats["connections"],
        "http01_served": served["ok"], "http01_refused": served["bad"], "late": late,
        "csrs_made_during_run": lazily, "setup_seconds": round(setup_s, 2),
        # the clients' timed loops and the http-01 responder's threads
        "generator_cpu_seconds": round(sum(o["cpu_seconds"] for o in outs) + cpu1 - cpu0, 2),
        "responder_cpu_seconds": round(cpu1 - cpu0, 2),
        "steps": {k: {"requests": n, "mean_ms": round(ms / n, 2)} for k, (n, ms) in steps.items()},
        "clients_reported": len(outs), "fatal": fatal, "error_kinds": errors, "error_examples": examples,
    }
    print(f"# {label}: {args.clients} clients, {args.seconds:g} s timed (clients ready after {setup_s:.1f} s;"
          f" {elapsed:.1f} s until the last one reported)")
    for f in fatal:
        print(f"FATAL {f}")
    for k, v in sorted(errors.items()):
        print(f"error {k}: {v}  e.g. {examples[k]}")
    print(f"requests {stats['requests']} on {stats['connections']} connections, badNonce retries"
          f" {stats['badnonce_retries']}, http-01 answers {served['ok']} (refused {served['bad']}),"
          f" issuances completed after the deadline {late}, CSRs made during the run {lazily};"
          f" CPU seconds: clients {figures['generator_cpu_seconds'] - figures['responder_cpu_seconds']:.2f},"
          f" http-01 responder {figures['responder_cpu_seconds']:.2f}")
    if issued:
        print("requests per issuance and mean answer time by step: " + ", ".join(
            f"{k} {n / issued:.2f} x {ms / n:.1f} ms" for k, (n, ms) in steps.items() if k != "newAccount"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1)
    print(" ".join(f"{k}={figures[k]}" for k in
                   ("issued", "seconds", "per_second", "answering_seconds", "answering_per_second", "finalize_p50_ms", "finalize_p99_ms",
                    "issuance_p50_ms", "issuance_p99_ms", "errors", "timeouts", "badnonce_retries", "requests",
                    "generator_cpu_seconds")))
    return 1 if fatal or len(outs) != args.clients else 0


if __name__ == "__main__":
    sys.exit(main())
