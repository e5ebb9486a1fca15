// Every POST's JWS and nonce through the service, with hand-built vectors:
// bad signature, alg none, an HS256 account key, the wrong url, a reused or
// stale nonce, an oversized payload; and nonces redeemed once across two
// replicas sharing a database.
#include <catch2/catch.hpp>

#include "tests/unit/acme/service_fixture.h"

using namespace wotca;
using namespace wotca::acme;
using namespace wotca::acme::testing;

namespace {

std::string url_of(std::string_view path) { return std::string(acme_fixture::base) + std::string(path); }

// A body whose protected header is `header` as given, with `signature` as given.
std::string raw_body(const json& header, std::string_view payload, std::string_view signature_b64) {
  return flattened_body(b64u(header.dump()), b64u(payload), signature_b64);
}

}  // namespace

TEST_CASE("accounts with ES256, ES384, RS256 and EdDSA keys", "[acme][jws]") {
  acme_fixture f;
  const member_id alice = f.member("alice@example.org", 100);
  const std::string alg = GENERATE("ES256", "ES384", "RS256", "EdDSA");
  client c(f, alg);
  c.register_for(alice);
  auto r = c.post(*c.kid, "");
  INFO(alg << " " << r.body);
  CHECK(r.status == 200);
  CHECK(body_of(r)["status"] == "valid");
}

TEST_CASE("the JWS is refused before anything else happens", "[acme][jws]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  const json jwk = json::parse(c.key.jwk_json);

  SECTION("alg none") {
    json h = {{"alg", "none"}, {"nonce", f.nonce()}, {"url", url_of("/acme/new-account")}, {"jwk", jwk}};
    auto r = f.svc->handle(c.request("/acme/new-account", raw_body(h, "{}", "")));
    auto p = problem_of(r, "badSignatureAlgorithm", 400);
    CHECK(p.contains("algorithms"));
  }
  SECTION("an HS256 account key") {
    json h = {{"alg", "HS256"}, {"nonce", f.nonce()}, {"url", url_of("/acme/new-account")}, {"jwk", jwk}};
    auto mac = hmac_sha256(std::vector<std::uint8_t>(32, 7), b64u(h.dump()) + "." + b64u("{}"));
    problem_of(f.svc->handle(c.request("/acme/new-account", raw_body(h, "{}", b64u(mac)))),
               "badSignatureAlgorithm", 400);
  }
  SECTION("a bad signature") {
    json h = {{"alg", "ES256"}, {"nonce", f.nonce()}, {"url", url_of("/acme/new-order")}, {"kid", *c.kid}};
    auto sig = sign_raw(c.key, b64u(h.dump()) + "." + b64u("{}"));
    sig[5] ^= 0x40;
    problem_of(f.svc->handle(c.request("/acme/new-order", raw_body(h, "{}", b64u(sig)))), "unauthorized", 403);
  }
  SECTION("a signature by another key than the account's") {
    client stranger(f);
    stranger.kid = c.kid;
    problem_of(stranger.post(*c.kid, ""), "unauthorized", 403);
  }
  SECTION("the wrong url") {
    auto body = c.body("/acme/new-order", "");
    problem_of(f.svc->handle(c.request(client::path_of(*c.kid), body)), "unauthorized", 403);
  }
  SECTION("a kid that is no account") {
    client ghost(f);
    ghost.kid = url_of("/acme/acct/999");
    problem_of(ghost.post("/acme/new-order", json{{"identifiers", json::array()}}), "accountDoesNotExist", 400);
  }
  SECTION("jwk where kid is required") {
    problem_of(c.post("/acme/new-order", std::string("{}"), true), "malformed", 400);
  }
  SECTION("kid on newAccount") {
    problem_of(c.post("/acme/new-account", std::string("{}")), "malformed", 400);
  }
  SECTION("an oversized body") {
    // 70000 bytes of payload make a body over max_request_bytes (65536).
    const std::string huge = R"({"x":")" + std::string(70000, 'a') + R"("})";
    auto r = c.post(*c.kid, huge);
    auto p = problem_of(r, "malformed", 413);
    CHECK(p["detail"].get<std::string>().find("65536") != std::string::npos);
  }
  SECTION("the wrong content type") {
    auto req = c.request(client::path_of(*c.kid), c.body(*c.kid, ""));
    req.content_type = "application/json";
    problem_of(f.svc->handle(req), "malformed", 415);
  }
  SECTION("not a JWS at all") {
    problem_of(f.svc->handle(c.request("/acme/new-order", "{\"protected\":1}")), "malformed", 400);
  }
  SECTION("a GET of a POST-only resource") {
    problem_of(f.get(client::path_of(*c.kid)), "malformed", 405);
  }
}

TEST_CASE("a nonce is good once, and badNonce carries a fresh one", "[acme][nonce]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));

  const auto body = c.body(*c.kid, "");
  const auto req = c.request(client::path_of(*c.kid), body);
  CHECK(f.svc->handle(req).status == 200);
  auto replay = f.svc->handle(req);
  auto p = problem_of(replay, "badNonce", 400);
  CHECK(p["detail"].get<std::string>().find("used") != std::string::npos);
  auto fresh = header(replay, "Replay-Nonce");
  REQUIRE(fresh);
  CHECK(f.svc->handle(c.request(client::path_of(*c.kid), c.body(*c.kid, "", *fresh))).status == 200);

  SECTION("the transport's own problem answers carry a good nonce") {
    http_exchange_response too_big;
    too_big.status = 413;
    f.svc->decorate_error(too_big);
    auto n = header(too_big, "Replay-Nonce");
    REQUIRE(n);
    CHECK(header(too_big, "Link").value_or("").find("rel=\"index\"") != std::string::npos);
    CHECK(f.svc->handle(c.request(client::path_of(*c.kid), c.body(*c.kid, "", *n))).status == 200);
  }
  SECTION("a nonce this CA never issued") {
    problem_of(f.svc->handle(c.request(client::path_of(*c.kid), c.body(*c.kid, "", std::string("bm9wZQ")))),
               "badNonce", 400);
  }
  SECTION("a stale nonce") {
    const auto old = f.nonce();
    f.clk.advance(std::chrono::seconds(f.cfg.acme.nonce_seconds + 1));
    problem_of(f.svc->handle(c.request(client::path_of(*c.kid), c.body(*c.kid, "", old))), "badNonce", 400);
  }
  SECTION("a failed request still uses its nonce up") {
    const auto n = f.nonce();
    auto first = f.svc->handle(c.request("/acme/new-order", c.body("/acme/new-order", "{}", n)));
    problem_of(first, "malformed", 400);
    problem_of(f.svc->handle(c.request("/acme/new-order", c.body("/acme/new-order", "{}", n))), "badNonce", 400);
  }
}

TEST_CASE("replicas sharing the database and nonce key redeem each nonce once", "[acme][nonce]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  auto second_db = sqlite_store::open(f.cfg.database, open_mode::existing);
  REQUIRE(second_db);
  certificate_authority second_ca(f.cfg, **second_db, *f.ca, f.clk, f.rng);
  auto replica = service::make(f.cfg, acme_fixture::base, **second_db, second_ca, *f.ca, f.validator, f.clk, f.rng);
  REQUIRE(replica);

  // Minted by the first, redeemed at the second, then refused at both.
  const auto n = f.nonce();
  const auto req = c.request(client::path_of(*c.kid), c.body(*c.kid, "", n));
  CHECK((*replica)->handle(req).status == 200);
  problem_of((*replica)->handle(req), "badNonce", 400);
  problem_of(f.svc->handle(req), "badNonce", 400);
  // And the other way round.
  auto m = header((*replica)->handle(http_exchange_request{"HEAD", "/acme/new-nonce", "", "", ""}), "Replay-Nonce");
  REQUIRE(m);
  CHECK(f.svc->handle(c.request(client::path_of(*c.kid), c.body(*c.kid, "", *m))).status == 200);
}
