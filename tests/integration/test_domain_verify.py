"""`wotca domain verify --method dns|http` against a DNS responder and a web
server on loopback: the token is issued, looked for, refused while absent,
and accepted once published."""

import pytest

from loopback_servers import DnsResponder, HttpFiles


@pytest.fixture
def net(ca):
    dns, web = DnsResponder(), HttpFiles()
    text = ca.config.read_text()
    text = text.replace('resolver: ""', f'resolver: "{dns.address}"')
    text = text.replace("http_port: 80", f"http_port: {web.port}")
    text = text.replace("timeout_ms: 10000", "timeout_ms: 1000")
    ca.config.write_text(text)
    ca.member("Dora", "dora@example.org")
    ca.cli("domain", "add", "--member", "dora@example.org", "--domain", "example.org")
    yield ca, dns, web
    dns.close()
    web.close()


def allow_private(ca):
    ca.config.write_text(ca.config.read_text().replace("allow_private_addresses: false",
                                                       "allow_private_addresses: true"))


def verify(ca, method, check=True):
    return ca.json("domain", "verify", "--member", "dora@example.org", "--domain", "example.org",
                   "--method", method, check=check)


def test_dns_txt_token(net):
    ca, dns, _ = net
    code, doc = verify(ca, "dns")
    assert code == 0 and not doc["verified"]
    token = doc["token"]
    assert "_wotca-challenge.example.org" in doc["instructions"]

    before = ca.snapshot()
    proc = ca.cli("domain", "verify", "--member", "dora@example.org", "--domain", "example.org",
                  "--method", "dns", check=False)
    assert proc.returncode == 1
    assert "R-DOMAIN-CONTROL" in proc.stderr and "none found" in proc.stderr
    assert ca.snapshot() == before
    assert ("_wotca-challenge.example.org", "TXT") in dns.queries

    dns.records[("_wotca-challenge.example.org", "TXT")] = ["something else"]
    proc = ca.cli("domain", "verify", "--member", "dora@example.org", "--domain", "example.org",
                  "--method", "dns", check=False)
    assert proc.returncode == 1 and "'something else'" in proc.stderr

    dns.records[("_wotca-challenge.example.org", "TXT")] = ["something else", token]
    code, doc = verify(ca, "dns")
    assert code == 0 and doc["verified"] and doc["domain"]["method"] == "dns-txt"
    code, shown = ca.json("member", "show", "--member", "dora@example.org")
    assert shown["domains"][0]["verified"] and "valid_until" in shown["domains"][0]
    assert ca.rows("select challenge_token from domain where name = 'example.org'") == [{"challenge_token": None}]


def test_http_token(net):
    ca, dns, web = net
    allow_private(ca)
    dns.records[("example.org", "A")] = ["127.0.0.1"]
    code, doc = verify(ca, "http")
    token = doc["token"]
    path = f"/.well-known/wotca-challenge/{token}"
    assert path in doc["instructions"]

    proc = ca.cli("domain", "verify", "--member", "dora@example.org", "--domain", "example.org",
                  "--method", "http", check=False)
    assert proc.returncode == 1 and "answered 404" in proc.stderr

    web.files[path] = (200, b"not the token")
    proc = ca.cli("domain", "verify", "--member", "dora@example.org", "--domain", "example.org",
                  "--method", "http", check=False)
    assert proc.returncode == 1 and "another body" in proc.stderr

    web.files[path] = (200, token.encode() + b"\n")
    code, doc = verify(ca, "http")
    assert code == 0 and doc["verified"] and doc["domain"]["method"] == "http-token"
    assert (path, "example.org") in web.requests


def test_private_addresses_are_refused_by_default(net):
    ca, dns, web = net
    dns.records[("example.org", "A")] = ["127.0.0.1"]
    code, doc = verify(ca, "http")
    web.files[f"/.well-known/wotca-challenge/{doc['token']}"] = (200, doc["token"].encode())
    proc = ca.cli("domain", "verify", "--member", "dora@example.org", "--domain", "example.org",
                  "--method", "http", check=False)
    assert proc.returncode == 1 and "private" in proc.stderr
    assert web.requests == []


def test_silent_dns_server_is_an_environment_error(net):
    ca, dns, _ = net
    verify(ca, "dns")
    dns.close()
    proc = ca.cli("domain", "verify", "--member", "dora@example.org", "--domain", "example.org",
                  "--method", "dns", check=False)
    assert proc.returncode == 3
    assert dns.address in proc.stderr


def test_unknown_method_and_foreign_domain(net):
    ca, _, _ = net
    proc = ca.cli("domain", "verify", "--member", "dora@example.org", "--domain", "example.org",
                  "--method", "carrier-pigeon", check=False)
    assert proc.returncode == 1 and "--method" in proc.stderr
    ca.member("Eli", "eli@example.net")
    proc = ca.cli("domain", "verify", "--member", "eli@example.net", "--domain", "example.org",
                  "--method", "dns", check=False)
    assert proc.returncode == 1 and "has no domain example.org" in proc.stderr
