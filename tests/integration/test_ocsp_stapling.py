"""nginx staples wotca-ocsp's answer: a TLS server with `ssl_stapling on;
ssl_stapling_verify on;` serving a certificate the CA issued hands clients
the response while it is good. After revocation and nginx's refresh, nginx
fetches our `revoked` answer and, by its design (it staples only good
responses), logs it and withdraws the staple: clients then get none and
must ask the responder themselves, which says revoked."""

import shutil
import socket
import subprocess
import time

import pytest

from conftest import run
from test_ocsp import Ocsp


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, root, cert, key, trusted, responder):
        self.port = free_port()
        self.root = root
        conf = root / "nginx.conf"
        conf.write_text(f"""
daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{self.port} ssl;
    server_name localhost;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_stapling on;
    ssl_stapling_verify on;
    ssl_trusted_certificate {trusted};
    ssl_stapling_responder {responder};
    location / {{ return 200 "hello\\n"; }}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(root)], stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        pytest.fail("nginx did not start: " + (root / "error.log").read_text())

    def status(self, trusted):
        """What a client sees stapled (openssl s_client -status)."""
        out = run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-servername", "localhost",
                   "-status", "-CAfile", trusted], check=False, input="", timeout=20)
        return out.stdout

    def reload(self):
        self.proc.send_signal(1)  # SIGHUP: new workers, staples fetched again

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def stapled(n, trusted, want, seconds=20):
    """nginx fetches the staple after the first handshake: ask until it shows."""
    deadline = time.time() + seconds
    out = ""
    while time.time() < deadline:
        out = n.status(trusted)
        if f"Cert Status: {want}" in out:
            return out
        time.sleep(0.3)
    return out


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_staples_good_then_revoked(ca, tmp_path):
    # The ACME server's TLS certificate, made by init for localhost under
    # Class 3: a real server certificate the CA recorded.
    cert = tmp_path / "fullchain.pem"
    cert.write_text(ca.pem("acme-tls").read_text() + ca.pem("class3").read_text())
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(ca.pem("root").read_text() + ca.pem("class3").read_text())
    serial = run(["openssl", "x509", "-in", ca.pem("acme-tls"), "-noout", "-serial"]).stdout.strip().split("=")[1]

    d = Ocsp(ca)
    web = tmp_path / "nginx"
    web.mkdir()
    n = Nginx(web, cert, ca.data / "keys" / "acme-tls.key", trusted, d.url)
    try:
        out = stapled(n, trusted, "good")
        assert "OCSP Response Status: successful" in out, out
        assert "Cert Status: good" in out, out

        ca.cli("cert", "revoke", "--serial", serial.lower(), "--reason", "superseded")
        # The responder follows the change feed: nginx is reloaded once it
        # answers "revoked", or the new worker could fetch and keep the old
        # "good" on a loaded machine.
        deadline = time.time() + 20
        answer = ""
        while time.time() < deadline and f"{ca.pem('acme-tls')}: revoked" not in answer:
            answer = run(["openssl", "ocsp", "-issuer", ca.pem("class3"), "-cert", ca.pem("acme-tls"), "-url", d.url,
                          "-CAfile", ca.pem("root"), "-no_nonce"], check=False).stdout
            time.sleep(0.2)
        assert f"{ca.pem('acme-tls')}: revoked" in answer, answer
        n.reload()
        log = web / "error.log"
        deadline = time.time() + 20
        while time.time() < deadline and 'certificate status "revoked" in the OCSP response' not in log.read_text():
            n.status(trusted)  # a handshake makes the new worker fetch
            time.sleep(0.3)
        assert 'certificate status "revoked" in the OCSP response' in log.read_text()
        out = n.status(trusted)
        assert "OCSP response: no response sent" in out, out
        assert "Cert Status: good" not in out
    finally:
        n.stop()
        assert d.stop() == 0
