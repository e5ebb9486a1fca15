"""The `wotca` command line against a real data folder, checked with the
openssl command line: what it issues is what the profile says, and what it
refuses leaves the database exactly as it was."""

import os
import stat
import subprocess

import pytest

from conftest import WOTCA, make_csr, run, split_chain, x509_text


# ---------------------------------------------------------------- init

def test_init_makes_a_hierarchy_that_openssl_verifies(ca):
    root, c1, c3 = ca.pem("root"), ca.pem("class1"), ca.pem("class3")
    for issuing in (c1, c3):
        out = run(["openssl", "verify", "-x509_strict", "-CAfile", root, issuing]).stdout
        assert out.strip().endswith("OK")
    root_text = x509_text(root)
    assert "ASN1 OID: secp384r1" in root_text
    assert "CA:TRUE" in root_text
    c3_text = x509_text(c3)
    # R-SERVER-50 held by the chain too: nothing below Class 1 verifies as a TLS server.
    c1_text = x509_text(c1)
    assert "TLS Web Client Authentication, E-mail Protection, OCSP Signing" in c1_text
    assert "TLS Web Server Authentication" not in c1_text and "Code Signing" not in c1_text
    assert "TLS Web Server Authentication" in c3_text
    assert "CA:TRUE, pathlen:0" in c3_text
    assert "Certificate Sign, CRL Sign" in c3_text
    assert "prime256v1" in c3_text
    # Delegated OCSP signers (RFC 6960 4.2.2.2): OCSPSigning and nocheck.
    for cls in ("class1", "class3"):
        text = x509_text(ca.pem(f"{cls}-ocsp"))
        assert "OCSP Signing" in text
        assert "OCSP No Check" in text
        out = run(["openssl", "verify", "-CAfile", root, "-untrusted", ca.pem(cls), ca.pem(f"{cls}-ocsp")]).stdout
        assert out.strip().endswith("OK")
    # SCEP RA: RSA 3072, for CMS key transport.
    assert "Public-Key: (3072 bit)" in x509_text(ca.pem("scep-ra"))


def test_init_keys_are_owner_only(ca):
    keys = ca.data / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    names = sorted(p.name for p in keys.iterdir())
    assert names == sorted(["root.key", "class1.key", "class3.key", "class1-ocsp.key", "class3-ocsp.key",
                            "scep-ra.key", "acme-tls.key"])
    for k in keys.iterdir():
        assert stat.S_IMODE(k.stat().st_mode) == 0o600, k
    assert stat.S_IMODE(ca.db.stat().st_mode) == 0o600
    # Every certificate init signed is known to the database (none reserved-only).
    rows = ca.rows("select status, count(*) as n from certificate group by status")
    assert rows == [{"status": "valid", "n": 6}]
    assert ca.rows("select action from audit where action = 'ca.init'") == [{"action": "ca.init"}]


def test_second_init_is_refused_and_changes_nothing(ca):
    before = ca.snapshot()
    key_bytes = (ca.data / "keys" / "root.key").read_bytes()
    proc = run([WOTCA, "init", "--data", ca.data], check=False)
    assert proc.returncode == 1
    assert "already holds a CA" in proc.stderr
    assert ca.snapshot() == before
    assert (ca.data / "keys" / "root.key").read_bytes() == key_bytes


def test_init_into_an_unwritable_folder_leaves_nothing(tmp_path, have_runuser):
    if not have_runuser:
        pytest.skip("needs root and setpriv to act as an unprivileged user")
    target = tmp_path / "locked"
    target.mkdir(mode=0o755)
    os.chmod(tmp_path, 0o755)
    proc = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", WOTCA, "init", "--data",
                target / "data"], check=False)
    assert proc.returncode == 3
    assert "cannot create the folder" in proc.stderr
    assert list(target.iterdir()) == []


# ---------------------------------------------------------------- the tour

def test_tour_from_new_member_to_server_certificate(ca, tmp_path):
    """The README's tour: a member goes from 0 AP to 50 AP; the server
    certificate refused at 45 AP is issued at 50 and verifies."""
    for i in (1, 2, 3):
        ca.founding_assurer(f"Founder {i}", f"founder{i}@wotca.test")
    ca.member("Alice Example", "alice@example.org")
    ca.cli("domain", "add", "--member", "alice@example.org", "--domain", "example.org")
    ca.cli("domain", "verify", "--member", "alice@example.org", "--domain", "example.org",
           "--operator-reason", "TXT record checked by the operator")
    csr = make_csr(tmp_path, "www", subject="/CN=www.example.org", dns=["www.example.org", "example.org"])

    ca.assure("founder1@wotca.test", "alice@example.org", 35)
    ca.assure("founder2@wotca.test", "alice@example.org", 10)
    code, doc = ca.json("points", "--member", "alice@example.org")
    assert code == 0 and doc["ap"] == 45 and doc["status"] == "member"

    before = ca.snapshot()
    refused = ca.cli("cert", "issue", "--member", "alice@example.org", "--profile", "server", "--csr", csr,
                     check=False)
    assert refused.returncode == 1
    assert "R-SERVER-50" in refused.stderr and "45 AP" in refused.stderr
    assert ca.snapshot() == before

    ca.assure("founder3@wotca.test", "alice@example.org", 5)
    code, doc = ca.json("points", "--member", "alice@example.org")
    assert doc["ap"] == 50 and doc["status"] == "assured-member"
    server = {p["name"]: p for p in doc["privileges"]}["server-certificates"]
    assert server["granted"] and server["rule"] == "R-SERVER-50"

    out = tmp_path / "www.pem"
    ca.cli("cert", "issue", "--member", "alice@example.org", "--profile", "server", "--csr", csr, "--out", out)
    leaf, issuer = split_chain(out.read_text())
    (tmp_path / "leaf.pem").write_text(leaf)
    (tmp_path / "issuer.pem").write_text(issuer)
    assert issuer == ca.pem("class3").read_text()
    verified = run(["openssl", "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", ca.pem("root"),
                    "-untrusted", tmp_path / "issuer.pem", tmp_path / "leaf.pem"]).stdout
    assert verified.strip().endswith("OK")
    text = x509_text(tmp_path / "leaf.pem")
    assert "TLS Web Server Authentication" in text
    assert "TLS Web Client Authentication" not in text
    assert "DNS:www.example.org, DNS:example.org" in text
    assert "OCSP - URI:http://127.0.0.1:14081/" in text
    assert "CA Issuers - URI:http://127.0.0.1:14082/class3.crt" in text
    assert "URI:http://127.0.0.1:14082/class3.crl" in text
    assert "CA:FALSE" in text
    # The leaf's serial is what the database recorded, 20 octets, positive.
    serial = run(["openssl", "x509", "-in", tmp_path / "leaf.pem", "-noout", "-serial"]).stdout.strip().split("=")[1]
    assert len(serial) == 40 and int(serial[0], 16) < 8
    rows = ca.rows(f"select status, profile, issuer, via from certificate where serial = '{serial.lower()}'")
    assert rows == [{"status": "valid", "profile": "server", "issuer": "class3", "via": "cli"}]
    assert ca.rows(f"select count(*) as n from audit where action = 'cert.issue' and object = 'cert:{serial.lower()}'") == [{"n": 1}]
    assert ca.rows(f"select kind from change_feed where serial = '{serial.lower()}'") == [{"kind": "issue"}]


def test_client_certificate_under_50_is_pseudonymous_class1(ca, tmp_path):
    ca.member("Bob Person", "bob@example.net")
    csr = make_csr(tmp_path, "bob", subject="/CN=Bob Person", emails=["bob@example.net"])
    out = tmp_path / "bob.pem"
    ca.cli("cert", "issue", "--member", "bob@example.net", "--profile", "client-email", "--csr", csr, "--out", out)
    leaf, issuer = split_chain(out.read_text())
    assert issuer == ca.pem("class1").read_text()
    (tmp_path / "leaf.pem").write_text(leaf)
    text = x509_text(tmp_path / "leaf.pem")
    assert "Subject: CN = WoTCA Member" in text
    assert "Bob Person" not in text  # R-NAME-50
    assert "email:bob@example.net" in text
    assert "E-mail Protection" in text and "TLS Web Client Authentication" in text
    assert "TLS Web Server Authentication" not in text
    verified = run(["openssl", "verify", "-purpose", "smimesign", "-CAfile", ca.pem("root"), "-untrusted",
                    ca.pem("class1"), tmp_path / "leaf.pem"]).stdout
    assert verified.strip().endswith("OK")
    # at most 180 days (R-NAME-50 row of the privilege table)
    end = run(["openssl", "x509", "-in", tmp_path / "leaf.pem", "-noout", "-checkend", str(181 * 86400)], check=False)
    assert end.returncode == 1


def test_real_name_and_server_refused_under_50(ca, tmp_path):
    ca.member("Carol Zero", "carol@example.com")
    ca.cli("domain", "add", "--member", "carol@example.com", "--domain", "example.com")
    ca.cli("domain", "verify", "--member", "carol@example.com", "--domain", "example.com", "--operator-reason", "ok")
    named = make_csr(tmp_path, "named", subject="/CN=Carol Zero", emails=["carol@example.com"])
    server = make_csr(tmp_path, "srv", subject="/CN=example.com", dns=["example.com"])
    before = ca.snapshot()
    for profile, csr, rule in (("client-named", named, "R-NAME-50"), ("server", server, "R-SERVER-50"),
                               ("code-signing", named, "R-CODESIGN")):
        proc = ca.cli("cert", "issue", "--member", "carol@example.com", "--profile", profile, "--csr", csr,
                      check=False)
        assert proc.returncode == 1, profile
        assert rule in proc.stderr, proc.stderr
    code, doc = ca.json("cert", "issue", "--member", "carol@example.com", "--profile", "server", "--csr", server,
                        check=False)
    assert code == 1 and doc["error"]["where"] == "R-SERVER-50" and doc["error"]["facts"]["ap"] == "0"
    assert ca.snapshot() == before


def test_unverified_domain_is_refused(ca, tmp_path):
    for i in (1, 2):
        ca.founding_assurer(f"F{i}", f"f{i}@wotca.test")
    ca.member("Dan", "dan@example.org")
    ca.assure("f1@wotca.test", "dan@example.org", 35)
    ca.assure("f2@wotca.test", "dan@example.org", 35)
    ca.cli("domain", "add", "--member", "dan@example.org", "--domain", "example.org")
    csr = make_csr(tmp_path, "d", subject="/CN=example.org", dns=["example.org", "other.example"])
    proc = ca.cli("cert", "issue", "--member", "dan@example.org", "--profile", "server", "--csr", csr, check=False)
    assert proc.returncode == 1 and "R-NAME-COVERAGE" in proc.stderr


# ---------------------------------------------------------------- revocation

def test_revoke_records_time_reason_audit_and_change_feed(ca, tmp_path):
    ca.member("Eve", "eve@example.org")
    csr = make_csr(tmp_path, "eve", subject="/CN=x", emails=["eve@example.org"])
    code, doc = ca.json("cert", "issue", "--member", "eve@example.org", "--profile", "client-email", "--csr", csr)
    serial = doc["serial"]
    code, doc = ca.json("cert", "revoke", "--serial", serial, "--reason", "keyCompromise")
    assert code == 0 and doc["status"] == "revoked" and doc["reason"] == "keyCompromise"
    assert ca.rows(f"select kind from change_feed where serial = '{serial}' order by seq") == [
        {"kind": "issue"}, {"kind": "revoke"}]
    again = ca.cli("cert", "revoke", "--serial", serial, "--reason", "keyCompromise", check=False)
    assert again.returncode == 1 and "already revoked" in again.stderr
    unknown = ca.cli("cert", "revoke", "--serial", "11" * 20, check=False)
    assert unknown.returncode == 1 and "no certificate" in unknown.stderr


def test_lock_revokes_everything_and_refuses_more(ca, tmp_path):
    ca.member("Fay", "fay@example.org")
    csr = make_csr(tmp_path, "fay", subject="/CN=x", emails=["fay@example.org"])
    ca.cli("cert", "issue", "--member", "fay@example.org", "--profile", "client-email", "--csr", csr)
    code, doc = ca.json("member", "lock", "--member", "fay@example.org", "--reason", "arbitration case a-1")
    assert doc["certificates_revoked"] == 1
    proc = ca.cli("cert", "issue", "--member", "fay@example.org", "--profile", "client-email", "--csr", csr,
                  check=False)
    assert proc.returncode == 1 and "R-LOCKED" in proc.stderr


# ---------------------------------------------------------------- bad input changes nothing

@pytest.fixture
def member_ca(ca, tmp_path):
    ca.founding_assurer("Founder", "founder@wotca.test")
    ca.member("Gil", "gil@example.org")
    return ca


def test_malformed_and_weak_csrs(member_ca, tmp_path):
    ca = member_ca
    garbage = tmp_path / "garbage.csr"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n")
    weak = make_csr(tmp_path, "weak", subject="/CN=x", emails=["gil@example.org"], kind="rsa1024")
    good = make_csr(tmp_path, "good", subject="/CN=x", emails=["gil@example.org"])
    der = tmp_path / "trailing.der"
    der.write_bytes(subprocess.run(["openssl", "req", "-in", str(good), "-outform", "DER"],
                                   capture_output=True, check=True).stdout + b"\x00junk")
    before = ca.snapshot()
    for csr, words in ((garbage, "csr"), (weak, "RSA 1024"), (der, "csr"), (tmp_path / "missing.csr", "cannot read")):
        proc = ca.cli("cert", "issue", "--member", "gil@example.org", "--profile", "client-email", "--csr", csr,
                      check=False)
        assert proc.returncode == 1, (csr, proc.stderr)
        assert words in proc.stderr, proc.stderr
    assert ca.snapshot() == before


def test_unknown_member_duplicate_email_and_bad_fields(member_ca):
    ca = member_ca
    before = ca.snapshot()
    cases = [
        (["points", "--member", "nobody@example.org"], "--member"),
        (["points", "--member", "999"], "--member"),
        (["member", "add", "--name", "Other", "--dob", "1990-01-01", "--email", "GIL@example.org", "--accept-cca"],
         "R-OWNERSHIP"),
        (["member", "add", "--name", "Other", "--dob", "1990-01-01", "--email", "new@example.org"], "R-MEMBER-CCA"),
        (["member", "add", "--name", "Other", "--dob", "1990-02-30", "--email", "new@example.org", "--accept-cca"],
         "--dob"),
        (["member", "add", "--name", "Other", "--dob", "1990-01-01", "--email", "not-an-email", "--accept-cca"],
         "--email"),
        (["email", "add", "--member", "gil@example.org", "--email", "founder@wotca.test"], "R-OWNERSHIP"),
        (["domain", "add", "--member", "gil@example.org", "--domain", "bad..example"], "--domain"),
        (["cert", "revoke", "--serial", "00", "--reason", "certificateHold"], "--reason"),
        (["audit", "--since", "yesterday"], "--since"),
    ]
    for args, where in cases:
        proc = ca.cli(*args, check=False)
        assert proc.returncode == 1, (args, proc.returncode, proc.stderr)
        assert where in proc.stderr, (args, proc.stderr)
    assert ca.snapshot() == before


def test_assurance_refusals_name_their_rule(member_ca):
    ca = member_ca
    ca.member("Hal", "hal@example.org")
    ca.member("Ida Unverified", "ida@example.org", verify=False)
    before = ca.snapshot()
    cases = [
        (dict(assurer="founder@wotca.test", member="hal@example.org", points=36), "R-ASSURE-MAX"),
        (dict(assurer="gil@example.org", member="hal@example.org", points=10), "R-ASSURE-ASSURER"),
        (dict(assurer="founder@wotca.test", member="founder@wotca.test", points=10), "R-ASSURE-SELF"),
        (dict(assurer="founder@wotca.test", member="hal@example.org", points=10, dob="1980-05-18"), "R-ASSURE-FACTS"),
        (dict(assurer="founder@wotca.test", member="hal@example.org", points=10, date="2099-01-01"), "R-ASSURE-FACTS"),
        (dict(assurer="founder@wotca.test", member="hal@example.org", points=10, place="X"), "R-ASSURE-FACTS"),
        (dict(assurer="founder@wotca.test", member="hal@example.org", points=10, documents="passport,utility-bill"),
         "R-ASSURE-DOCS"),
        (dict(assurer="founder@wotca.test", member="ida@example.org", points=10), "R-ASSURE-VERIFIED"),
    ]
    for kw, rule in cases:
        proc = ca.assure(check=False, **kw)
        assert proc.returncode == 1, (kw, proc.stderr)
        assert rule in proc.stderr, (kw, proc.stderr)
    assert ca.snapshot() == before
    ca.assure("founder@wotca.test", "hal@example.org", 10)
    proc = ca.assure("founder@wotca.test", "hal@example.org", 10, check=False)
    assert proc.returncode == 1 and "R-ASSURE-ONCE" in proc.stderr


def test_founding_appointments_are_limited(ca):
    for i in (1, 2, 3):
        ca.founding_assurer(f"F{i}", f"f{i}@wotca.test")
    ca.member("Fourth", "f4@wotca.test")
    before = ca.snapshot()
    proc = ca.cli("member", "found", "--member", "f4@wotca.test", "--reason", "one more", check=False)
    assert proc.returncode == 1 and "R-BOOTSTRAP" in proc.stderr
    assert ca.snapshot() == before
    code, doc = ca.json("points", "--member", "f1@wotca.test")
    assert doc["ap"] == 100 and doc["ep"] == 50 and doc["is_assurer"] and doc["max_award"] == 35


def test_corrupt_config_names_the_key(ca):
    ca.config.write_text(ca.config.read_text().replace("server_days: 398", "server_days: 999"))
    proc = ca.cli("member", "list", check=False)
    assert proc.returncode == 3
    assert "policy.server_days" in proc.stderr and "out of range" in proc.stderr
    ca.config.write_text("ca: [unclosed\n")
    proc = ca.cli("member", "list", check=False)
    assert proc.returncode == 3 and "YAML" in proc.stderr


def test_group_readable_key_is_refused(member_ca, tmp_path):
    ca = member_ca
    os.chmod(ca.data / "keys" / "class1.key", 0o640)
    csr = make_csr(tmp_path, "g", subject="/CN=x", emails=["gil@example.org"])
    before = ca.snapshot()
    proc = ca.cli("cert", "issue", "--member", "gil@example.org", "--profile", "client-email", "--csr", csr,
                  check=False)
    assert proc.returncode == 3
    assert "class1.key" in proc.stderr and "0640" in proc.stderr
    assert ca.snapshot() == before


def test_read_only_data_folder_changes_nothing(member_ca, have_runuser):
    """A folder the process cannot write (here: an unprivileged user against
    a root-owned CA) gets a clear error and no change."""
    if not have_runuser:
        pytest.skip("needs root and setpriv to act as an unprivileged user")
    ca = member_ca
    os.chmod(ca.root, 0o755)
    os.chmod(ca.data, 0o755)
    os.chmod(ca.db, 0o644)
    for p in ca.data.glob("wotca.db-*"):
        os.chmod(p, 0o644)
    before = ca.snapshot()
    proc = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", WOTCA, "--config", ca.config,
                "member", "add", "--name", "Ro", "--dob", "1990-01-01", "--email", "ro@example.org", "--accept-cca"],
               check=False)
    assert proc.returncode == 3, proc.stderr
    assert "wotca.db" in proc.stderr or "read" in proc.stderr
    assert ca.snapshot() == before


def test_full_disk_changes_nothing(member_ca, tmp_path):
    """A write that hits the file size limit (as a full disk would) fails
    with a storage error and leaves the database as it was."""
    ca = member_ca
    import resource
    run(["sqlite3", ca.db, "PRAGMA wal_checkpoint(TRUNCATE);"])
    before = ca.snapshot()
    size = ca.db.stat().st_size

    def limit():
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

    csr = make_csr(tmp_path, "full", subject="/CN=x", emails=["gil@example.org"])
    proc = subprocess.run([str(WOTCA), "cert", "issue", "--member", "gil@example.org", "--profile", "client-email",
                           "--csr", str(csr)], capture_output=True, text=True, env=ca.env, preexec_fn=limit)
    assert proc.returncode == 3, proc.stderr
    assert "wotca" in proc.stderr
    assert ca.snapshot() == before
    assert ca.db.stat().st_size == size


# ---------------------------------------------------------------- the command line itself

def test_usage_errors_exit_2(ca):
    assert ca.cli("cert", "issue", "--member", "1", check=False).returncode == 2
    assert ca.cli("frobnicate", check=False).returncode == 2
    assert ca.cli("assure", "--method", "telepathy", check=False).returncode == 2
    help_ = ca.cli("cert", "issue", "--help")
    assert "--profile" in help_.stdout


def test_config_is_found_through_env_flag_and_default(ca, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "WOTCA_CONFIG"}
    assert run([WOTCA, "--config", ca.config, "member", "list"], env=env).returncode == 0
    assert run([WOTCA, "member", "list"], env=dict(env, WOTCA_CONFIG=str(ca.config))).returncode == 0
    proc = subprocess.run([str(WOTCA), "member", "list"], cwd=ca.root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0
    elsewhere = subprocess.run([str(WOTCA), "member", "list"], cwd=tmp_path / "data" / "public", env=env,
                               capture_output=True, text=True)
    assert elsewhere.returncode == 3 and "wotca init" in elsewhere.stderr


def test_email_probe_round_trip(ca):
    ca.member("Jo", "jo@example.org", verify=False)
    mails = sorted((ca.data / "outbox").glob("*jo@example.org*.eml"))
    assert len(mails) == 1
    token = [line.strip() for line in mails[0].read_text().splitlines() if line.startswith("    ")][0]
    bad = ca.cli("email", "confirm", "--email", "jo@example.org", "--token", "wrong", check=False)
    assert bad.returncode == 1 and "R-EMAIL-PROBE" in bad.stderr
    code, doc = ca.json("email", "confirm", "--email", "jo@example.org", "--token", token)
    assert code == 0 and doc["verified"] and doc["method"] == "email-probe"
    again = ca.cli("email", "confirm", "--email", "jo@example.org", "--token", token, check=False)
    assert again.returncode == 1


def test_eab_and_scep_secrets_are_stored_hashed(ca):
    ca.member("Kim", "kim@example.org")
    code, eab = ca.json("eab", "new", "--member", "kim@example.org")
    assert code == 0 and set(eab) >= {"kid", "hmac_key"}
    code, scep = ca.json("scep", "challenge", "new", "--member", "kim@example.org", "--profile", "device")
    assert code == 0
    dump = run(["sqlite3", ca.db, ".dump"]).stdout
    assert eab["hmac_key"] not in dump and scep["challenge"] not in dump
    assert eab["kid"] in dump


def test_audit_lists_every_change(ca, tmp_path):
    ca.member("Lee", "lee@example.org")
    code, rows = ca.json("audit")
    actions = [r["action"] for r in rows]
    assert actions[0] == "cert.issue" and "ca.init" in actions
    assert actions[-2:] == ["member.add", "email.verify"]
