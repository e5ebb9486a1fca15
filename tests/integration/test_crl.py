"""wotca-crl against real clients on loopback: openssl verify -crl_check on
the CRL it serves before and after `wotca cert revoke`, curl for the HTTP
caching a CDN relies on, the CRL number across restarts and kill -9 in the
middle of a generation, GnuTLS certtool, delta CRLs and `wotca crl generate`."""

import os
import re
import signal
import time

import pytest

from conftest import Daemon, run

class Crl(Daemon):
    def __init__(self, ca, debounce=2, extra=None):
        text = ca.config.read_text()
        text = text.replace("  debounce_seconds: 60\n", f"  debounce_seconds: {debounce}\n")
        text = text.replace("  poll_milliseconds: 500\n", "  poll_milliseconds: 100\n")
        for old, new in (extra or {}).items():
            assert old in text, old
            text = text.replace(old, new)
        ca.config.write_text(text)
        super().__init__("wotca-crl", ca, stop_timeout=20)

    def start(self):
        super().start()
        self.url = f"http://127.0.0.1:{self.port}/"

    def fetch(self, name, dest):
        """GETs NAME into DEST, retrying until the first CRL is published."""
        deadline = time.time() + 30
        while True:
            out = run(["curl", "-s", "-o", dest, "-w", "%{http_code}", self.url + name], check=False)
            if out.stdout == "200":
                return dest
            assert time.time() < deadline, f"{name}: HTTP {out.stdout}"
            time.sleep(0.1)


@pytest.fixture
def daemon(issued):
    d = Crl(issued[0])
    try:
        yield d
    finally:
        rc = d.stop()  # SIGTERM, SIGKILL after 20 s: never left running
    assert rc == 0


def crl_number(path, inform="DER"):
    out = run(["openssl", "crl", "-inform", inform, "-in", path, "-noout", "-crlnumber"]).stdout
    return int(out.strip().split("=")[1], 16)


def verify(leaf, chain, crl):
    return run(["openssl", "verify", "-crl_check", "-CAfile", chain, "-CRLfile", crl, leaf], check=False)


def test_verifies_then_fails_as_revoked_within_the_debounce_window(issued, daemon, tmp_path):
    ca, leaf, chain, serial = issued
    crl = daemon.fetch("class1.crl.pem", tmp_path / "class1.crl.pem")
    out = verify(leaf, chain, crl)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{leaf}: OK" in out.stdout
    # The DER form is the same CRL, and verifies under the Class 1 CA.
    der = daemon.fetch("class1.crl", tmp_path / "class1.crl")
    text = run(["openssl", "crl", "-inform", "DER", "-in", der, "-noout", "-CAfile", chain, "-text"])
    assert "verify OK" in text.stderr + text.stdout
    assert "Authority Key Identifier" in text.stdout and "X509v3 CRL Number" in text.stdout
    before = crl_number(der)

    ca.cli("cert", "revoke", "--serial", serial, "--reason", "keyCompromise")
    revoked_at = time.time()
    while True:
        daemon.fetch("class1.crl.pem", crl)
        out = verify(leaf, chain, crl)
        if out.returncode != 0:
            break
        # 2 s of debounce, and slack for a loaded machine: far below the default 60 s
        assert time.time() - revoked_at < 2 + 8, "the revocation was not published within the debounce window"
        time.sleep(0.2)
    assert "certificate revoked" in out.stdout + out.stderr
    text = run(["openssl", "crl", "-in", crl, "-noout", "-text"]).stdout
    assert re.search(serial.upper() + r"\s+Revocation Date: .*\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code:\s*\n\s+Key Compromise", text), text
    assert "Certificate Hold" not in text
    assert crl_number(crl, "PEM") > before
    # A certificate of the other issuing CA is not on this CRL.
    class3 = daemon.fetch("class3.crl", tmp_path / "class3.crl")
    assert serial.upper() not in run(["openssl", "crl", "-inform", "DER", "-in", class3, "-noout", "-text"]).stdout


def test_http_caching_conditional_get_head_and_unknown_paths(issued, daemon, tmp_path):
    ca = issued[0]
    der = daemon.fetch("class1.crl", tmp_path / "class1.crl")
    hdr = run(["curl", "-s", "-D", "-", "-o", "/dev/null", daemon.url + "class1.crl"]).stdout
    assert hdr.startswith("HTTP/1.1 200")
    assert "Content-Type: application/pkix-crl" in hdr
    assert f"Content-Length: {der.stat().st_size}" in hdr
    assert re.search(r"Cache-Control: max-age=(\d+), public", hdr)
    max_age = int(re.search(r"max-age=(\d+)", hdr).group(1))
    assert 0 < max_age <= 7 * 86400
    etag = re.search(r"ETag: (\"[^\"]+\")", hdr).group(1)
    assert "Last-Modified:" in hdr and "Expires:" in hdr

    # curl -z FILE sends If-Modified-Since with the file's time: 304, no body.
    os.utime(der, (time.time(), time.time()))
    out = run(["curl", "-s", "-z", der, "-o", tmp_path / "again", "-w", "%{http_code}", daemon.url + "class1.crl"])
    assert out.stdout == "304"
    out = run(["curl", "-s", "-H", f"If-None-Match: {etag}", "-o", "/dev/null", "-w", "%{http_code}",
               daemon.url + "class1.crl"])
    assert out.stdout == "304"
    out = run(["curl", "-s", "-H", 'If-None-Match: "stale"', "-o", "/dev/null", "-w", "%{http_code}",
               daemon.url + "class1.crl"])
    assert out.stdout == "200"

    head = run(["curl", "-s", "-I", daemon.url + "class1.crl"]).stdout
    assert head.startswith("HTTP/1.1 200") and f"Content-Length: {der.stat().st_size}" in head
    pem = run(["curl", "-s", "-D", "-", daemon.url + "class1.crl.pem"]).stdout
    assert "Content-Type: application/x-pem-file" in pem and "-----BEGIN X509 CRL-----" in pem
    # Small files are served from memory: the same bytes as the folder's.
    assert der.read_bytes() == (ca.data / "crl" / "class1.crl").read_bytes()
    pem_body = daemon.fetch("class1.crl.pem", tmp_path / "class1.crl.pem")
    assert pem_body.read_bytes() == (ca.data / "crl" / "class1.crl.pem").read_bytes()
    # Request header fields past 8 KiB are refused, smaller ones served.
    for size, want in ((4000, "200"), (10000, "431")):
        code = run(["curl", "-s", "-H", "X-Pad: " + "a" * size, "-o", "/dev/null", "-w", "%{http_code}",
                    daemon.url + "class1.crl"]).stdout
        assert code == want, size
    # The caIssuers URL of every certificate: the CA certificate, DER.
    crt = tmp_path / "class1.crt"
    assert run(["curl", "-s", "-o", crt, "-w", "%{http_code}", daemon.url + "class1.crt"]).stdout == "200"
    run(["openssl", "x509", "-inform", "DER", "-in", crt, "-noout"])
    for path in ("nope.crl", "class2.crl", "../wotca.db", "keys/root.key", "wotca.yaml", ""):
        code = run(["curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", daemon.url + path]).stdout
        assert code == "404", path
    code = run(["curl", "-s", "-X", "POST", "-o", "/dev/null", "-w", "%{http_code}", daemon.url + "class1.crl"]).stdout
    assert code == "405"
    assert run(["curl", "-sf", daemon.url + "healthz"]).stdout == "ok\n"
    metrics = run(["curl", "-sf", daemon.url + "metrics"]).stdout
    assert re.search(r'wotca_crl_number\{issuer="class1",kind="complete"\} \d+', metrics)
    assert re.search(r'wotca_crl_entries\{issuer="class1",kind="complete"\} 0', metrics)
    assert "wotca_crl_age_seconds" in metrics and "wotca_crl_generation_seconds" in metrics


def test_certtool_parses_the_crl(issued, daemon, tmp_path):
    ca, leaf, chain, serial = issued
    ca.cli("cert", "revoke", "--serial", serial, "--reason", "superseded")
    der = tmp_path / "class1.crl"
    deadline = time.time() + 10
    while True:
        daemon.fetch("class1.crl", der)
        info = run(["certtool", "--crl-info", "--inder", "--infile", der], check=False)
        assert info.returncode == 0, info.stderr
        if "Revoked certificates (1)" in info.stdout:
            break
        assert time.time() < deadline, info.stdout
        time.sleep(0.2)
    assert "Version: 2" in info.stdout
    assert "CRL Number" in info.stdout and "Authority Key Identifier" in info.stdout
    assert serial in info.stdout.replace(":", "").lower()
    # --inder would apply to the CA certificate too: verify the PEM form.
    pem = daemon.fetch("class1.crl.pem", tmp_path / "class1.crl.pem")
    check = run(["certtool", "--verify-crl", "--infile", pem, "--load-ca-certificate", ca.pem("class1")], check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_number_increases_across_restart_and_sighup(issued, daemon, tmp_path):
    ca = issued[0]
    first = crl_number(daemon.fetch("class3.crl", tmp_path / "a.crl"))
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while crl_number(daemon.fetch("class3.crl", tmp_path / "b.crl")) <= first:
        assert time.time() < deadline
        time.sleep(0.1)
    assert daemon.stop() == 0
    second = crl_number(tmp_path / "b.crl")
    daemon.start()
    deadline = time.time() + 10
    while crl_number(daemon.fetch("class3.crl", tmp_path / "c.crl")) <= second:
        assert time.time() < deadline
        time.sleep(0.1)
    numbers = [r["crl_number"] for r in ca.rows("SELECT crl_number FROM crl_state WHERE issuer = 'class3'")]
    assert numbers and numbers[0] >= crl_number(tmp_path / "c.crl")


def fill_revoked(ca, count, issuer="class1"):
    """COUNT revoked certificates of ISSUER, written straight into the store."""
    ca.sql(f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
        INSERT INTO certificate (serial, issuer, member_id, profile, subject, sans, not_before, not_after, der,
                                 status, revoked_at, reason, via, created_at)
        SELECT printf('7f%038x', i), '{issuer}', NULL, 'client-email', 'CN=x', '', 1700000000, 4102444800, x'00',
               'revoked', 1700000000 + i, CASE i % 3 WHEN 0 THEN 1 WHEN 1 THEN 4 ELSE 0 END, 'cli', 1700000000
        FROM n""")


def test_kill_9_mid_generation_leaves_a_whole_crl_and_never_reuses_a_number(ca, tmp_path):
    fill_revoked(ca, 300000)
    chain = tmp_path / "trust.pem"
    chain.write_text(ca.pem("root").read_text() + ca.pem("class1").read_text())
    crl = ca.data / "crl" / "class1.crl"
    d = Crl(ca)
    try:
        d.fetch("class1.crl", tmp_path / "first.crl")  # one whole CRL exists
        d.kill()
        seen = [crl_number(crl)]
        killed_mid_generation = 0
        for delay in (0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0):
            d.start()
            time.sleep(delay)
            d.kill()  # SIGKILL: no chance to clean up
            # The file on disk is always a whole CRL that verifies.
            out = run(["openssl", "crl", "-inform", "DER", "-in", crl, "-noout", "-CAfile", chain, "-crlnumber"],
                      check=False)
            assert out.returncode == 0 and "verify OK" in out.stderr + out.stdout, out.stderr
            on_disk = crl_number(crl)
            taken = ca.rows("SELECT crl_number FROM crl_state WHERE issuer = 'class1'")[0]["crl_number"]
            assert on_disk >= seen[-1] and taken >= on_disk
            if taken > on_disk:
                killed_mid_generation += 1  # a number was taken, its CRL never written: a gap, never a repeat
            seen.append(on_disk)
        assert killed_mid_generation > 0, "no kill landed inside a generation; make the store larger"
        d.start()
        d.fetch("class1.crl", tmp_path / "last.crl")
        deadline = time.time() + 30
        while crl_number(crl) <= taken:
            assert time.time() < deadline
            time.sleep(0.2)
        text = run(["openssl", "crl", "-inform", "DER", "-in", crl, "-noout", "-CAfile", chain]).stderr
        assert "verify OK" in text
        assert d.stop() == 0
        leftovers = [p.name for p in (ca.data / "crl").iterdir() if p.name.startswith(".wotca-tmp-")]
        assert len(leftovers) <= len(seen), leftovers  # stale temporaries of killed runs; removed after an hour
    finally:
        d.kill()


def test_delta_crls(issued, tmp_path):
    ca, leaf, chain, serial = issued
    d = Crl(ca, extra={"  delta: false\n": "  delta: true\n"})
    try:
        full = d.fetch("class1.crl", tmp_path / "full.crl")
        text = run(["openssl", "crl", "-inform", "DER", "-in", full, "-noout", "-text"]).stdout
        assert "Freshest CRL" in text and "class1-delta.crl" in text
        base = crl_number(full)
        ca.cli("cert", "revoke", "--serial", serial, "--reason", "affiliationChanged")
        deadline = time.time() + 10
        while True:
            delta = d.fetch("class1-delta.crl", tmp_path / "delta.crl")
            text = run(["openssl", "crl", "-inform", "DER", "-in", delta, "-noout", "-CAfile", chain, "-text"])
            if serial.upper() in text.stdout:
                break
            assert time.time() < deadline, text.stdout
            time.sleep(0.2)
        assert "verify OK" in text.stderr + text.stdout
        assert re.search(r"X509v3 Delta CRL Indicator: critical\s*\n\s*(\d+)", text.stdout)
        assert int(re.search(r"Delta CRL Indicator: critical\s*\n\s*(\d+)", text.stdout).group(1)) >= base
        assert "Affiliation Changed" in text.stdout
        assert run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", d.url + "class1-delta.crl.pem"]).stdout == "200"
        assert d.stop() == 0
    finally:
        d.kill()


def test_offline_generate_writes_the_same_files(issued, tmp_path):
    ca, leaf, chain, serial = issued
    ca.cli("cert", "revoke", "--serial", serial, "--reason", "cessationOfOperation")
    code, doc = ca.json("crl", "generate", "--issuer", "class1")
    assert code == 0, doc
    assert [(x["issuer"], x["kind"], x["entries"]) for x in doc] == [("class1", "complete", 1)]
    crl = ca.data / "crl" / "class1.crl.pem"
    out = verify(leaf, chain, crl)
    assert out.returncode != 0 and "certificate revoked" in out.stdout + out.stderr
    first = doc[0]["crl_number"]
    code, doc = ca.json("crl", "generate")
    assert code == 0, doc
    assert sorted(x["issuer"] for x in doc) == ["class1", "class3", "root"]
    assert [x["crl_number"] for x in doc if x["issuer"] == "class1"] == [first + 1]
    # The root's CRL is signed by the root and lists none of its sub-CAs.
    root = ca.data / "crl" / "root.crl"
    text = run(["openssl", "crl", "-inform", "DER", "-in", root, "-noout", "-CAfile", ca.pem("root"), "-text"])
    assert "verify OK" in text.stderr + text.stdout and "No Revoked Certificates" in text.stdout
    for name in ("root.crt", "class1.crt", "class3.crt"):
        run(["openssl", "x509", "-inform", "DER", "-in", ca.data / "crl" / name, "-noout"])
