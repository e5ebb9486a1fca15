"""wotca-ocsp against real clients on loopback: openssl ocsp (POST, GET,
nonces, verification against the CA), curl for the HTTP profile of RFC 5019,
GnuTLS ocsptool, and bad input that must leave the daemon answering."""

import base64
import os
import re
import shutil
import signal
import time
import urllib.parse

import pytest

from conftest import Daemon, run


class Ocsp(Daemon):
    def __init__(self, ca, extra_config=""):
        if extra_config:
            ca.config.write_text(ca.config.read_text().replace("  nonces: false", extra_config))
        super().__init__("wotca-ocsp", ca)
        self.url = f"http://127.0.0.1:{self.port}/"

    def alive(self):
        return self.proc.poll() is None and run(["curl", "-sf", self.url + "healthz"], check=False).stdout == "ok\n"


@pytest.fixture
def daemon(issued):
    ca = issued[0]
    d = Ocsp(ca)
    yield d
    assert d.stop() == 0


def ask(d, ca, chain, *args):
    return run(["openssl", "ocsp", "-issuer", ca.pem("class1"), "-url", d.url, "-CAfile", chain, *args], check=False)


def test_good_then_revoked_within_a_second_then_unknown(issued, daemon):
    ca, leaf, chain, serial = issued
    out = ask(daemon, ca, chain, "-cert", leaf)
    assert "Response verify OK" in out.stderr + out.stdout
    assert f"{leaf}: good" in out.stdout

    ca.cli("cert", "revoke", "--serial", serial, "--reason", "keyCompromise")
    revoked_at = time.time()
    while True:
        out = ask(daemon, ca, chain, "-cert", leaf, "-no_nonce")
        if f"{leaf}: revoked" in out.stdout:
            break
        assert time.time() - revoked_at < 1.5, out.stdout
        time.sleep(0.05)
    assert time.time() - revoked_at < 1.0 + 0.5  # R-REVOKE-PUBLISH: within a second (+ the client's own time)
    assert "Reason: keyCompromise" in out.stdout

    out = ask(daemon, ca, chain, "-serial", "0x1234")
    assert "0x1234: unknown" in out.stdout and "Response verify OK" in out.stderr + out.stdout


def test_get_as_browsers_send_it(issued, daemon, tmp_path):
    ca, leaf, chain, serial = issued
    req = tmp_path / "req.der"
    run(["openssl", "ocsp", "-issuer", ca.pem("class1"), "-cert", leaf, "-no_nonce", "-reqout", req])
    b64 = base64.b64encode(req.read_bytes()).decode()
    variants = [b64, urllib.parse.quote(b64, safe=""), "/" + b64,
                base64.urlsafe_b64encode(req.read_bytes()).decode().rstrip("=")]
    bodies = set()
    for v in variants:
        resp = tmp_path / "resp.der"
        hdr = run(["curl", "-s", "-D", "-", "-o", resp, daemon.url + v]).stdout
        assert hdr.startswith("HTTP/1.1 200")
        assert "Content-Type: application/ocsp-response" in hdr
        assert re.search(r"Cache-Control: max-age=\d+, public, no-transform, must-revalidate", hdr)
        for h in ("Last-Modified:", "Expires:", "ETag:"):
            assert h in hdr
        text = run(["openssl", "ocsp", "-respin", resp, "-issuer", ca.pem("class1"), "-cert", leaf,
                    "-CAfile", chain], check=False)
        assert f"{leaf}: good" in text.stdout
        bodies.add(resp.read_bytes())
    assert len(bodies) == 1  # the same pre-signed bytes every time

    etag = re.search(r"ETag: (\S+)", hdr).group(1)
    last_modified = re.search(r"Last-Modified: (.+?)\s*$", hdr, re.M).group(1)
    assert run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-None-Match: {etag}",
                daemon.url + b64]).stdout == "304"
    assert run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-Modified-Since: {last_modified}",
                daemon.url + b64]).stdout == "304"


def test_nonces_signed_on_demand_when_enabled(issued):
    ca, leaf, chain, serial = issued
    d = Ocsp(ca, extra_config="  nonces: true")
    try:
        out = ask(d, ca, chain, "-cert", leaf)
        assert f"{leaf}: good" in out.stdout
        assert "WARNING: no nonce" not in out.stderr + out.stdout
        assert "Response verify OK" in out.stderr + out.stdout
    finally:
        assert d.stop() == 0


def test_nonce_ignored_by_default(issued, daemon):
    ca, leaf, chain, serial = issued
    out = ask(daemon, ca, chain, "-cert", leaf)
    assert "WARNING: no nonce in response" in out.stderr + out.stdout
    assert f"{leaf}: good" in out.stdout


def test_other_issuers_are_unauthorized(issued, daemon, tmp_path):
    ca, leaf, chain, serial = issued
    other = tmp_path / "other"
    other.mkdir()
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         other / "k", "-subj", "/CN=Elsewhere", "-out", other / "ca.pem", "-days", "2"])
    out = run(["openssl", "ocsp", "-issuer", other / "ca.pem", "-serial", "0x" + serial, "-url", daemon.url],
              check=False)
    assert "unauthorized" in (out.stdout + out.stderr).lower()


def test_gnutls_ocsptool(issued, daemon):
    if not shutil.which("ocsptool"):
        pytest.skip("gnutls-bin is not installed")
    ca, leaf, chain, serial = issued
    # --ask with the issuer checks the response's signature chain to it.
    out = run(["ocsptool", f"--ask={daemon.url}", f"--load-issuer={ca.pem('class1')}", f"--load-cert={leaf}",
               "--no-nonce"], check=False)
    text = out.stdout + out.stderr
    assert "Certificate Status: good" in text, text
    assert "Verifying OCSP Response: Success" in text, text


def test_bad_input_gets_the_right_error_and_the_daemon_lives(issued, daemon, tmp_path):
    ca, leaf, chain, serial = issued
    req = tmp_path / "req.der"
    run(["openssl", "ocsp", "-issuer", ca.pem("class1"), "-cert", leaf, "-no_nonce", "-reqout", req])
    good = req.read_bytes()
    malformed = bytes([0x30, 0x03, 0x0a, 0x01, 0x01])

    def post(body, ctype="application/ocsp-request"):
        f = tmp_path / "body"
        f.write_bytes(body)
        out = tmp_path / "out"
        code = run(["curl", "-s", "-o", out, "-w", "%{http_code}", "-H", f"Content-Type: {ctype}",
                    "--data-binary", f"@{f}", daemon.url]).stdout
        return code, out.read_bytes()

    assert post(good[:-3]) == ("200", malformed)                      # truncated
    assert post(good + b"\x00") == ("200", malformed)                 # trailing byte
    assert post(os.urandom(300)) == ("200", malformed)                # garbage
    assert post(good, ctype="text/plain") == ("200", malformed)       # wrong content type
    code, _ = post(b"\x30" * 70000)                                   # oversized: refused by the adapter
    assert code == "413"
    for path in ["%%%", "!!!notbase64", "", "MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ"]:
        out = tmp_path / "get"
        code = run(["curl", "-s", "-o", out, "-w", "%{http_code}", daemon.url + path]).stdout
        assert code == "200" and out.read_bytes() == malformed, path
    # 120 CertIDs fit the size limit but not the count: malformed (at most 100).
    run(["openssl", "ocsp", "-issuer", ca.pem("class1"), "-no_nonce", "-reqout", tmp_path / "many.der",
         *sum([["-serial", str(i + 1)] for i in range(120)], [])])
    many = (tmp_path / "many.der").read_bytes()
    assert len(many) < 8192
    assert post(many) == ("200", malformed)
    # 10,000 CertIDs (640 kB, far beyond the socket buffers) with no
    # Expect: 100-continue: curl sends it all and reads 413 every time.
    run(["openssl", "ocsp", "-issuer", ca.pem("class1"), "-no_nonce", "-reqout", tmp_path / "huge.der",
         *sum([["-serial", str(i + 1)] for i in range(10000)], [])], timeout=120)
    huge = (tmp_path / "huge.der").read_bytes()
    assert len(huge) > 600000
    f = tmp_path / "huge-body"
    f.write_bytes(huge)
    code = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect:", "-H",
                "Content-Type: application/ocsp-request", "--data-binary", f"@{f}", daemon.url]).stdout
    assert code == "413"
    assert daemon.alive()
    metrics = run(["curl", "-s", daemon.url + "metrics"]).stdout
    assert re.search(r'wotca_ocsp_responses_total\{status="malformedRequest"\} [1-9]', metrics)
    assert "wotca_ocsp_oldest_response_age_seconds" in metrics


def test_sighup_reloads_and_sigterm_stops(issued, daemon):
    ca, leaf, chain, serial = issued
    daemon.proc.send_signal(signal.SIGHUP)
    assert daemon.wait_for_log("reloaded")
    out = ask(daemon, ca, chain, "-cert", leaf, "-no_nonce")
    assert f"{leaf}: good" in out.stdout
    # A broken configuration is refused and the old one kept.
    text = ca.config.read_text()
    ca.config.write_text("ocsp: [broken\n")
    daemon.proc.send_signal(signal.SIGHUP)
    assert daemon.wait_for_log("reload refused")
    ca.config.write_text(text)
    assert daemon.alive()
