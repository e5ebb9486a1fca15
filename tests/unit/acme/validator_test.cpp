// The challenge validators against tiny peers on 127.0.0.1 (loopback_peers.h):
// a DNS server the validator is configured to ask, an HTTP responder with
// redirects, and TLS servers presenting acme-tls/1 certificates built here.
// The pure checks (redirects, answers, certificates) are tested as tables.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>

#include "acme/validator.h"
#include "loopback_peers.h"

using namespace wotca;
using namespace wotca::acme;
using namespace wotca::acme::testing;
using namespace std::chrono_literals;

namespace {

const std::string token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const std::string key_auth = token + ".nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";

validation_job job_for(challenge_type type, std::string domain) {
  validation_job j;
  j.challenge_id = 7;
  j.type = type;
  j.domain = std::move(domain);
  j.token = token;
  j.key_authorization = key_auth;
  return j;
}

// A validator on loopback: every name resolves to 127.0.0.1 through `dns`.
validator_settings loopback_settings(const dns_peer& dns, std::uint16_t http_port, std::uint16_t tls_port) {
  validator_settings s;
  s.resolver = dns.address();
  s.http_port = http_port;
  s.tls_alpn_port = tls_port;
  s.allow_private_addresses = true;
  s.timeout = 3000ms;
  s.attempts = 1;
  s.retry = 10ms;
  s.workers = 2;
  return s;
}

struct loopback_dns {
  dns_peer dns;
  explicit loopback_dns(std::initializer_list<std::string> names) {
    for (const auto& n : names) dns.a[n] = {"127.0.0.1"};
    dns.start();
  }
};

}  // namespace

// ---- pure checks ------------------------------------------------------------------

TEST_CASE("resolve_redirect follows only http(s) to DNS names on ports 80 and 443", "[acme][validator]") {
  redirect_target from{false, "a.example", 80, "/.well-known/acme-challenge/x"};
  struct row {
    const char* location;
    bool ok;
    bool https;
    const char* host;
    int port;
    const char* path;
  };
  auto r = GENERATE(table<const char*, bool, bool, const char*, int, const char*>({
      {"/other", true, false, "a.example", 80, "/other"},
      {"/other#frag", true, false, "a.example", 80, "/other"},
      {"http://b.example/x?y=1", true, false, "b.example", 80, "/x?y=1"},
      {"HTTPS://B.Example./x", true, true, "b.example", 443, "/x"},
      {"https://b.example:443", true, true, "b.example", 443, "/"},
      {"http://b.example:443/z", true, false, "b.example", 443, "/z"},
      {"http://b.example?q", true, false, "b.example", 80, "/?q"},
      {"http://b.example:8080/x", false, false, "", 0, ""},
      {"http://b.example:/x", false, false, "", 0, ""},
      {"ftp://b.example/x", false, false, "", 0, ""},
      {"//b.example/x", false, false, "", 0, ""},
      {"relative/x", false, false, "", 0, ""},
      {"http://user@b.example/x", false, false, "", 0, ""},
      {"http://127.0.0.1/x", false, false, "", 0, ""},
      {"http://[::1]/x", false, false, "", 0, ""},
      {"http://b_example/x", false, false, "", 0, ""},
      {"http://-b.example/x", false, false, "", 0, ""},
      {"http://b..example/x", false, false, "", 0, ""},
      {"http://b.example/x y", false, false, "", 0, ""},
      {"", false, false, "", 0, ""},
  }));
  const auto& [location, ok, https, host, port, path] = r;
  INFO(location);
  auto to = resolve_redirect(location, from);
  REQUIRE(to.has_value() == ok);
  if (ok) {
    CHECK(to->https == https);
    CHECK(to->host == host);
    CHECK(to->port == port);
    CHECK(to->path == path);
  } else {
    CHECK_FALSE(to.error().message.empty());
  }
}

TEST_CASE("judge_http01: 200 with the key authorization, trailing whitespace ignored", "[acme][validator]") {
  CHECK(judge_http01(200, key_auth, key_auth, "u").valid);
  CHECK(judge_http01(200, key_auth + " \r\n\t\n", key_auth, "u").valid);
  auto leading = judge_http01(200, " " + key_auth, key_auth, "u");
  CHECK_FALSE(leading.valid);
  CHECK(leading.problem_type == problem::incorrect_response);
  auto other = judge_http01(200, "something else", key_auth, "http://a.example/x");
  CHECK(other.problem_type == problem::incorrect_response);
  CHECK(other.detail.find("http://a.example/x answered 'something else'") != std::string::npos);
  auto missing = judge_http01(404, key_auth, key_auth, "http://a.example/x");
  CHECK_FALSE(missing.valid);
  CHECK(missing.problem_type == problem::unauthorized);
  CHECK(missing.detail.find("404") != std::string::npos);
  auto binary = judge_http01(200, std::string("\x01\xff", 2), key_auth, "u");
  CHECK(binary.detail.find("'?" "?'") != std::string::npos);
}

TEST_CASE("judge_dns01: one TXT record must be base64url(SHA-256(key authorization))", "[acme][validator]") {
  const std::string digest = base64url_encode(sha256(key_auth));
  const std::vector<std::string> good{"unrelated", digest};
  CHECK(judge_dns01(good, key_auth, "_acme-challenge.a.example").valid);
  const std::vector<std::string> none;
  auto empty = judge_dns01(none, key_auth, "_acme-challenge.a.example");
  CHECK(empty.problem_type == problem::incorrect_response);
  CHECK(empty.detail.find("no TXT record") != std::string::npos);
  const std::vector<std::string> raw{key_auth};  // the key authorization itself is not the digest
  CHECK_FALSE(judge_dns01(raw, key_auth, "x").valid);
}

TEST_CASE("judge_tls_alpn01 checks the SAN and the critical acmeIdentifier (RFC 8737 3)", "[acme][validator]") {
  const bytes good_value = acme_identifier_for(key_auth);
  auto der = [](const cert_options& o) { return der_of(*make_cert(o).cert); };
  cert_options good{{"a.example"}, true, true, good_value, nullptr, false};
  CHECK(judge_tls_alpn01(der(good), "a.example", key_auth).valid);
  CHECK(judge_tls_alpn01(der(good), "A.EXAMPLE", key_auth).valid);

  struct bad {
    const char* why;
    cert_options options;
    const char* says;
  };
  const std::vector<bad> cases{
      {"other name", {{"b.example"}, true, true, good_value, nullptr, false}, "not a.example"},
      {"two names", {{"a.example", "b.example"}, true, true, good_value, nullptr, false}, "exactly one entry"},
      {"no SAN", {{}, true, true, good_value, nullptr, false}, "exactly one entry"},
      {"no extension", {{"a.example"}, false, true, good_value, nullptr, false}, "no acmeIdentifier"},
      {"not critical", {{"a.example"}, true, false, good_value, nullptr, false}, "not marked critical"},
      {"other digest", {{"a.example"}, true, true, acme_identifier_for("other"), nullptr, false}, "does not hold"},
      {"bare digest", {{"a.example"}, true, true, sha256(key_auth), nullptr, false}, "OCTET STRING of 32 bytes"},
  };
  for (const auto& c : cases) {
    INFO(c.why);
    auto o = judge_tls_alpn01(der(c.options), "a.example", key_auth);
    CHECK_FALSE(o.valid);
    CHECK(o.problem_type == problem::unauthorized);
    CHECK(o.detail.find(c.says) != std::string::npos);
  }
  bytes garbage{0x30, 0x03, 0x02, 0x01, 0x01};
  CHECK(judge_tls_alpn01(garbage, "a.example", key_auth).problem_type == problem::unauthorized);
  bytes trailing = der(good);
  trailing.push_back(0);
  CHECK_FALSE(judge_tls_alpn01(trailing, "a.example", key_auth).valid);
}

// ---- http-01 over loopback ----------------------------------------------------------

TEST_CASE("http-01 follows a redirect to another name and accepts the key authorization", "[acme][validator][loopback]") {
  loopback_dns names{"a.example", "b.example"};
  http_peer web([](const std::string& target, const std::string& host) {
    if (host == "a.example") return http_reply(302, "", "Location: http://b.example/moved/" + target.substr(28) + "\r\n");
    if (host == "b.example" && target == "/moved/" + token) return http_reply(200, key_auth + "\n");
    return http_reply(404, "not here");
  });
  system_random rng;
  network_validator v(loopback_settings(names.dns, web.port(), 1), rng);
  auto o = v.attempt(job_for(challenge_type::http01, "a.example"));
  INFO(o.detail);
  CHECK(o.valid);
  CHECK(o.problem_type.empty());
  REQUIRE(o.addresses_used.size() == 2);
  CHECK(o.addresses_used[0] == "127.0.0.1");
  auto seen = web.requests();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].target == "/.well-known/acme-challenge/" + token);
  CHECK(seen[0].host == "a.example");
  CHECK(seen[1].target == "/moved/" + token);
  CHECK(seen[1].host == "b.example");
}

TEST_CASE("http-01 failures carry the ACME problem a client can act on", "[acme][validator][loopback]") {
  loopback_dns names{"a.example"};
  std::mutex mu;
  std::string mode;
  http_peer web([&](const std::string&, const std::string&) {
    std::lock_guard lock(mu);
    if (mode == "wrong") return http_reply(200, "not the key authorization");
    if (mode == "missing") return http_reply(404, "");
    if (mode == "port") return http_reply(301, "", "Location: http://a.example:8080/x\r\n");
    if (mode == "loop") return http_reply(302, "", "Location: /again\r\n");
    if (mode == "huge") return http_reply(200, std::string(20000, 'x'));
    return std::string("garbage\r\n\r\n");
  });
  system_random rng;
  network_validator v(loopback_settings(names.dns, web.port(), 1), rng);
  auto run = [&](const char* m) {
    {
      std::lock_guard lock(mu);
      mode = m;
    }
    return v.attempt(job_for(challenge_type::http01, "a.example"));
  };
  auto wrong = run("wrong");
  CHECK(wrong.problem_type == problem::incorrect_response);
  CHECK(wrong.detail.find("not the key authorization") != std::string::npos);
  CHECK(run("missing").problem_type == problem::unauthorized);
  auto port = run("port");
  CHECK(port.problem_type == problem::connection);
  CHECK(port.detail.find("port 8080") != std::string::npos);
  auto loop = run("loop");
  CHECK(loop.problem_type == problem::connection);
  CHECK(loop.detail.find("too many redirects") != std::string::npos);
  auto huge = run("huge");
  INFO(huge.detail);
  CHECK(huge.problem_type == problem::unauthorized);
  CHECK(huge.detail.find("body over 8192") != std::string::npos);
  CHECK(run("garbage").problem_type == problem::connection);
  // wrong, missing, port (its redirect is not followed), loop (the first
  // request and 10 redirects), huge, garbage
  CHECK(web.requests().size() == 1 + 1 + 1 + 11 + 1 + 1);
}

TEST_CASE("http-01 refuses loopback and private addresses unless allowed", "[acme][validator][loopback]") {
  dns_peer dns;
  dns.a["inside.example"] = {"127.0.0.1"};
  dns.a["lan.example"] = {"192.168.1.20"};
  dns.aaaa["lan.example"] = {"fd00::1"};
  dns.start();
  http_peer web([](const std::string&, const std::string&) { return http_reply(200, key_auth); });
  system_random rng;
  auto s = loopback_settings(dns, web.port(), 1);
  s.allow_private_addresses = false;
  network_validator v(s, rng);
  auto inside = v.attempt(job_for(challenge_type::http01, "inside.example"));
  CHECK_FALSE(inside.valid);
  CHECK(inside.problem_type == problem::rejected_identifier);
  CHECK(inside.detail.find("127.0.0.1") != std::string::npos);
  auto lan = v.attempt(job_for(challenge_type::http01, "lan.example"));
  CHECK(lan.problem_type == problem::rejected_identifier);
  CHECK(lan.detail.find("fd00::1") != std::string::npos);
  CHECK(lan.addresses_used.empty());
  // The same for tls-alpn-01, and a redirect into the inside is refused too.
  CHECK(v.attempt(job_for(challenge_type::tls_alpn01, "inside.example")).problem_type == problem::rejected_identifier);
  CHECK(web.requests().empty());

  s.allow_private_addresses = true;
  v.set_settings(s);
  CHECK(v.attempt(job_for(challenge_type::http01, "inside.example")).valid);
  CHECK(web.requests().size() == 1);
}

TEST_CASE("a redirect's target is resolved again: a name without addresses is a dns problem",
          "[acme][validator][loopback]") {
  loopback_dns names{"a.example"};
  http_peer web([](const std::string&, const std::string&) {
    return http_reply(302, "", "Location: http://nowhere.example/x\r\n");
  });
  system_random rng;
  network_validator v(loopback_settings(names.dns, web.port(), 1), rng);
  auto o = v.attempt(job_for(challenge_type::http01, "a.example"));
  CHECK(o.problem_type == problem::dns);
  CHECK(o.detail.find("nowhere.example") != std::string::npos);
  CHECK(web.requests().size() == 1);
}

TEST_CASE("http-01 to a closed port is a connection problem naming the address", "[acme][validator][loopback]") {
  loopback_dns names{"a.example"};
  std::uint16_t closed = 0;
  {
    asio::io_context ioc;
    tcp::acceptor probe(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed = probe.local_endpoint().port();
  }
  system_random rng;
  network_validator v(loopback_settings(names.dns, closed, 1), rng);
  auto o = v.attempt(job_for(challenge_type::http01, "a.example"));
  CHECK(o.problem_type == problem::connection);
  CHECK(o.detail.find("127.0.0.1:" + std::to_string(closed)) != std::string::npos);
  REQUIRE(o.addresses_used.size() == 1);
  auto unknown = v.attempt(job_for(challenge_type::http01, "unknown.example"));
  CHECK(unknown.problem_type == problem::dns);
  CHECK(unknown.detail.find("no A or AAAA record") != std::string::npos);
}

// ---- dns-01 --------------------------------------------------------------------------------

TEST_CASE("dns-01 reads TXT _acme-challenge.DOMAIN through the configured resolver", "[acme][validator][loopback]") {
  dns_peer dns;
  dns.txt["_acme-challenge.a.example"] = {"stale", base64url_encode(sha256(key_auth))};
  dns.txt["_acme-challenge.b.example"] = {"stale"};
  dns.start();
  system_random rng;
  network_validator v(loopback_settings(dns, 1, 1), rng);
  CHECK(v.attempt(job_for(challenge_type::dns01, "a.example")).valid);
  auto wrong = v.attempt(job_for(challenge_type::dns01, "b.example"));
  CHECK(wrong.problem_type == problem::incorrect_response);
  CHECK(wrong.detail.find("'stale'") != std::string::npos);
  auto none = v.attempt(job_for(challenge_type::dns01, "c.example"));
  CHECK(none.problem_type == problem::incorrect_response);
  CHECK(none.detail.find("_acme-challenge.c.example") != std::string::npos);
  CHECK(dns.queries() == 3);
}

TEST_CASE("dns-01 with a resolver that does not answer is a dns problem", "[acme][validator][loopback]") {
  asio::io_context ioc;
  udp::socket silent(ioc, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  validator_settings s;
  s.resolver = "127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  s.timeout = 300ms;
  s.attempts = 1;
  system_random rng;
  network_validator v(s, rng);
  const auto start = std::chrono::steady_clock::now();
  auto o = v.attempt(job_for(challenge_type::dns01, "a.example"));
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(o.problem_type == problem::dns);
}

// ---- tls-alpn-01 ---------------------------------------------------------------------------

TEST_CASE("tls-alpn-01 accepts the acme-tls/1 certificate and refuses wrong ones", "[acme][validator][loopback]") {
  loopback_dns names{"a.example"};
  system_random rng;
  auto good = make_cert({{"a.example"}, true, true, acme_identifier_for(key_auth), nullptr, false});
  {
    tls_peer peer(good, "acme-tls/1");
    network_validator v(loopback_settings(names.dns, 1, peer.port()), rng);
    auto o = v.attempt(job_for(challenge_type::tls_alpn01, "a.example"));
    INFO(o.detail);
    CHECK(o.valid);
    REQUIRE(peer.server_names().size() == 1);
    CHECK(peer.server_names()[0] == "a.example");
  }
  {
    auto wrong = make_cert({{"a.example"}, true, true, acme_identifier_for("someone else's"), nullptr, false});
    tls_peer peer(wrong, "acme-tls/1");
    network_validator v(loopback_settings(names.dns, 1, peer.port()), rng);
    auto o = v.attempt(job_for(challenge_type::tls_alpn01, "a.example"));
    CHECK(o.problem_type == problem::unauthorized);
  }
  {
    tls_peer peer(good, "");  // a server that does not speak acme-tls/1
    network_validator v(loopback_settings(names.dns, 1, peer.port()), rng);
    auto o = v.attempt(job_for(challenge_type::tls_alpn01, "a.example"));
    CHECK(o.problem_type == problem::tls);
    CHECK(o.detail.find("acme-tls/1") != std::string::npos);
  }
  {
    http_peer plain([](const std::string&, const std::string&) { return http_reply(400, "not TLS"); });
    network_validator v(loopback_settings(names.dns, 1, plain.port()), rng);
    auto o = v.attempt(job_for(challenge_type::tls_alpn01, "a.example"));
    CHECK(o.problem_type == problem::tls);
  }
}

// ---- the pool ---------------------------------------------------------------------------------

TEST_CASE("validate() retries, then calls done exactly once", "[acme][validator][loopback]") {
  loopback_dns names{"a.example"};
  std::atomic<int> served{0};
  http_peer web([&served](const std::string&, const std::string&) {
    // Wrong twice, then right: the third attempt succeeds.
    return ++served < 3 ? http_reply(404, "") : http_reply(200, key_auth);
  });
  system_random rng;
  auto s = loopback_settings(names.dns, web.port(), 1);
  s.attempts = 3;
  s.retry = 50ms;
  network_validator v(s, rng);

  std::mutex mu;
  std::condition_variable cv;
  std::vector<validation_outcome> outcomes;
  auto done = [&](validation_outcome o) {
    std::lock_guard lock(mu);
    outcomes.push_back(std::move(o));
    cv.notify_all();
  };
  const auto start = std::chrono::steady_clock::now();
  v.validate(job_for(challenge_type::http01, "a.example"), done);
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 10s, [&] { return !outcomes.empty(); }));
  }
  CHECK(std::chrono::steady_clock::now() - start >= 100ms);  // two pauses of 50 ms
  CHECK(outcomes.front().valid);
  CHECK(served == 3);

  // Out of attempts: invalid with the last attempt's problem.
  s.attempts = 2;
  v.set_settings(s);
  served = -10;
  v.validate(job_for(challenge_type::http01, "a.example"), done);
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 10s, [&] { return outcomes.size() == 2; }));
  }
  CHECK_FALSE(outcomes[1].valid);
  CHECK(outcomes[1].problem_type == problem::unauthorized);
  CHECK(served == -8);
  std::this_thread::sleep_for(100ms);
  std::lock_guard lock(mu);
  CHECK(outcomes.size() == 2);
  CHECK(v.in_flight() == 0);
  CHECK(v.metrics().find("wotca_acme_validations_total{type=\"http-01\",result=\"valid\"} 1") != std::string::npos);
}

TEST_CASE("jobs still waiting when the validator stops end abandoned, not failed", "[acme][validator]") {
  system_random rng;
  validator_settings s;
  s.resolver = "127.0.0.1:9";
  s.timeout = 100ms;
  s.attempts = 5;
  s.retry = 60s;  // the retry never comes before the destructor
  s.workers = 1;
  std::atomic<int> calls{0};
  std::atomic<int> abandoned{0};
  std::string last_type;
  std::mutex mu;
  {
    network_validator v(s, rng);
    for (int i = 0; i < 3; ++i) {
      v.validate(job_for(challenge_type::dns01, "a.example"), [&](validation_outcome o) {
        ++calls;
        if (o.abandoned && !o.valid) ++abandoned;
        std::lock_guard lock(mu);
        last_type = o.problem_type;
      });
    }
    std::this_thread::sleep_for(500ms);
  }
  CHECK(calls == 3);
  // Each had failed once and waited for its retry: undecided, for the next
  // daemon to validate again (a restart must not fail them).
  CHECK(abandoned == 3);
  CHECK(last_type.empty());
}

TEST_CASE("judge_tls_alpn01 accepts a certificate made by the openssl command line", "[acme][validator]") {
  // tests/fuzz/corpus/acme_http01_fuzzer/tls_alpn_cert: 3 selector bytes,
  // then the DER of `openssl req -x509 ... -addext "subjectAltName=DNS:a.example"
  // -addext "1.3.6.1.5.5.7.1.31=critical,DER:04:20:<sha256("token.thumbprint")>"`.
  std::ifstream in(std::string(WOTCA_TESTDATA) + "/../fuzz/corpus/acme_http01_fuzzer/tls_alpn_cert", std::ios::binary);
  REQUIRE(in);
  bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(file.size() > 3);
  const std::span<const std::uint8_t> der(file.data() + 3, file.size() - 3);
  CHECK(judge_tls_alpn01(der, "a.example", "token.thumbprint").valid);
  CHECK_FALSE(judge_tls_alpn01(der, "a.example", "token.other").valid);
  CHECK_FALSE(judge_tls_alpn01(der, "b.example", "token.thumbprint").valid);
}
