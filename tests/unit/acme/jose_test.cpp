// acme/jose.h against hand-built requests (tests/unit/acme/jws_builder.h):
// every accepted algorithm, the RFC 7638 and RFC 8037 thumbprint examples,
// and each way a request must be refused, with the ACME problem it earns.
#include "acme/jose.h"

#include <catch2/catch.hpp>
#include <openssl/err.h>

#include <nlohmann/json.hpp>
#include <cstdio>
#include <string>

#include "core/util/encoding.h"
#include "tests/unit/acme/jws_builder.h"

namespace {

using namespace wotca;
using namespace wotca::acme;
using namespace wotca::acme::testing;
using json = nlohmann::json;

constexpr std::string_view new_account_url = "https://acme.example/acme/new-account";
constexpr std::string_view nonce = "AAAAAGW0x3kAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

jws_limits limits() { return {}; }

// The problem parse_jws reports for `body`; fails the test if it parses.
jose_problem refused(std::string_view body, const jws_limits& l = limits()) {
  auto r = parse_jws(body, l);
  REQUIRE_FALSE(r.has_value());
  INFO(r.error().detail);
  CHECK_FALSE(r.error().detail.empty());
  return r.error().problem;
}

// A body with the given protected header JSON, payload and a syntactically
// fine (but meaningless) signature: for refusals that come before any
// signature check.
std::string unsigned_body(const json& header, std::string_view payload = "{}") {
  return flattened_body(b64u(header.dump()), b64u(payload), b64u(std::string(64, 'x')));
}

json base_header(const test_key& k) { return json::parse(protected_header(k, nonce, new_account_url, std::nullopt)); }

std::string with_member(const std::string& jwk, const std::string& name, const json& value) {
  auto j = json::parse(jwk);
  j[name] = value;
  return j.dump();
}

// RFC 7638 3.1, the example RSA key (with "alg" and "kid", which the
// thumbprint leaves out).
constexpr std::string_view rfc7638_n =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
    "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHz"
    "u6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8a"
    "wapJzKnqDKgw";

}  // namespace

TEST_CASE("every accepted algorithm round-trips: parse, key, thumbprint, verify", "[acme][jose]") {
  std::string alg = GENERATE("ES256", "ES384", "RS256", "EdDSA");
  auto k = make_key(alg);
  std::string payload = R"({"termsOfServiceAgreed":true})";
  auto body = flattened_jws(k, protected_header(k, nonce, new_account_url, std::nullopt), payload);
  auto j = parse_jws(body, limits());
  REQUIRE(j.has_value());
  CHECK(to_string(j->alg) == alg);
  CHECK(j->nonce == nonce);
  CHECK(j->url == new_account_url);
  CHECK_FALSE(j->kid.has_value());
  REQUIRE(j->jwk.has_value());
  CHECK(j->payload == payload);

  auto key = parse_jwk(*j->jwk);
  REQUIRE(key.has_value());
  CHECK(EVP_PKEY_eq(key->get(), k.key.get()) == 1);
  auto canonical = canonical_jwk(key->get());
  REQUIRE(canonical.has_value());
  CHECK(*canonical == k.jwk_json);  // the builder writes RFC 7638 order from OpenSSL's own numbers
  auto print = jwk_thumbprint(key->get());
  REQUIRE(print.has_value());
  CHECK(*print == base64url_encode(sha256(k.jwk_json)));
  CHECK(check_algorithm(key->get(), j->alg).has_value());
  CHECK(verify_jws(*j, key->get()).has_value());
  CHECK(ERR_peek_error() == 0);

  SECTION("POST-as-GET with a kid: empty payload") {
    auto get = flattened_jws(k, protected_header(k, nonce, "https://acme.example/acme/order/7",
                                                 std::string_view("https://acme.example/acme/acct/1")),
                             "");
    auto g = parse_jws(get, limits());
    REQUIRE(g.has_value());
    CHECK(g->payload.empty());
    CHECK(g->payload_b64.empty());
    REQUIRE(g->kid.has_value());
    CHECK(*g->kid == "https://acme.example/acme/acct/1");
    CHECK_FALSE(g->jwk.has_value());
    CHECK(verify_jws(*g, k.key.get()).has_value());
  }
}

TEST_CASE("jwk_cache gives the key parse_jwk gives, parsed once, and refuses what parse_jwk refuses",
          "[acme][jose]") {
  jwk_cache cache(2);
  auto a = make_key("ES256");
  auto b = make_key("EdDSA");
  auto c = make_key("ES384");
  auto first = cache.parse(a.jwk_json);
  REQUIRE(first.has_value());
  CHECK(EVP_PKEY_eq(first->get(), a.key.get()) == 1);
  auto again = cache.parse(a.jwk_json);
  REQUIRE(again.has_value());
  CHECK(again->get() == first->get());  // the same object, shared
  CHECK(cache.size() == 1);
  // Each returned key is its own reference: dropping one leaves the other usable.
  first->reset();
  auto body = flattened_jws(a, protected_header(a, nonce, new_account_url, std::nullopt), "{}");
  auto j = parse_jws(body, limits());
  REQUIRE(j.has_value());
  CHECK(verify_jws(*j, again->get()).has_value());

  auto bad = cache.parse(with_member(a.jwk_json, "d", "AAAA"));
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().problem == jose_problem::bad_public_key);
  CHECK(cache.size() == 1);  // failures are not kept

  REQUIRE(cache.parse(b.jwk_json).has_value());
  CHECK(cache.size() == 2);
  auto third = cache.parse(c.jwk_json);  // full: starts again with this one
  REQUIRE(third.has_value());
  CHECK(EVP_PKEY_eq(third->get(), c.key.get()) == 1);
  CHECK(cache.size() == 1);
  CHECK(EVP_PKEY_eq(again->get(), a.key.get()) == 1);  // still alive after the cache let go
}

TEST_CASE("RFC 7638 3.1 and RFC 8037 A.3 published thumbprints", "[acme][jose]") {
  json rsa = {{"kty", "RSA"}, {"n", rfc7638_n}, {"e", "AQAB"}, {"alg", "RS256"}, {"kid", "2011-04-29"}};
  auto key = parse_jwk(rsa.dump());
  REQUIRE(key.has_value());
  auto canonical = canonical_jwk(key->get());
  REQUIRE(canonical.has_value());
  CHECK(*canonical == std::string(R"({"e":"AQAB","kty":"RSA","n":")") + std::string(rfc7638_n) + "\"}");
  auto print = jwk_thumbprint(key->get());
  REQUIRE(print.has_value());
  CHECK(*print == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");

  auto ed = parse_jwk(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})");
  REQUIRE(ed.has_value());
  auto ed_print = jwk_thumbprint(ed->get());
  REQUIRE(ed_print.has_value());
  CHECK(*ed_print == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

TEST_CASE("a signature that does not verify is unauthorized", "[acme][jose]") {
  std::string alg = GENERATE("ES256", "ES384", "RS256", "EdDSA");
  auto k = make_key(alg);
  auto header = protected_header(k, nonce, new_account_url, std::nullopt);
  auto body = json::parse(flattened_jws(k, header, R"({"contact":[]})"));

  std::string damage = GENERATE("payload changed after signing", "one bit of the signature flipped", "signed by another key of the same kind", "signature truncated by one byte");
  INFO(damage);
  if (damage == "payload changed after signing") {
    body["payload"] = b64u(std::string(R"({"contact":["mailto:x@example.org"]})"));
  }
  if (damage == "one bit of the signature flipped") {
    auto sig = *base64url_decode(body["signature"].get<std::string>());
    sig[sig.size() / 2] ^= 0x01;
    body["signature"] = b64u(sig);
  }
  if (damage == "signed by another key of the same kind") {
    auto other = make_key(alg);
    body["signature"] = json::parse(flattened_jws(other, header, R"({"contact":[]})"))["signature"];
  }
  if (damage == "signature truncated by one byte") {
    auto sig = *base64url_decode(body["signature"].get<std::string>());
    sig.pop_back();
    body["signature"] = b64u(sig);
  }
  auto j = parse_jws(body.dump(), limits());
  REQUIRE(j.has_value());
  auto v = verify_jws(*j, k.key.get());
  REQUIRE_FALSE(v.has_value());
  CHECK(v.error().problem == jose_problem::unauthorized);
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("alg none, HMAC and unknown algorithms are badSignatureAlgorithm", "[acme][jose]") {
  auto k = make_key("ES256");
  std::string alg = GENERATE("none", "HS256", "HS384", "HS512", "PS256", "ES512", "RS512", "Ed25519", "", "es256");
  INFO("alg " << alg);
  auto header = base_header(k);
  header["alg"] = alg;
  // alg none comes with an empty signature; it must be judged by its alg.
  auto body = flattened_body(b64u(header.dump()), b64u(std::string("{}")), "");
  CHECK(refused(body) == jose_problem::bad_signature_algorithm);
  CHECK(refused(unsigned_body(header)) == jose_problem::bad_signature_algorithm);
}

TEST_CASE("an HS256 request with an oct account key is refused before any key is used", "[acme][jose]") {
  std::vector<std::uint8_t> secret(32, 0x42);
  json header = {{"alg", "HS256"},
                 {"nonce", nonce},
                 {"url", new_account_url},
                 {"jwk", {{"kty", "oct"}, {"k", b64u(secret)}}}};
  std::string protected_b64 = b64u(header.dump());
  std::string payload_b64 = b64u(std::string("{}"));
  auto mac = hmac_sha256(secret, protected_b64 + "." + payload_b64);
  CHECK(refused(flattened_body(protected_b64, payload_b64, b64u(mac))) == jose_problem::bad_signature_algorithm);
  auto key = parse_jwk(header["jwk"].dump());
  REQUIRE_FALSE(key.has_value());
  CHECK(key.error().problem == jose_problem::bad_public_key);
}

TEST_CASE("an algorithm that does not fit the key is badSignatureAlgorithm", "[acme][jose]") {
  auto [key_alg, claimed] = GENERATE(table<std::string, std::string>({{"ES256", "ES384"},
                                                                       {"ES384", "ES256"},
                                                                       {"ES256", "RS256"},
                                                                       {"RS256", "ES256"},
                                                                       {"RS256", "EdDSA"},
                                                                       {"EdDSA", "ES256"},
                                                                       {"EdDSA", "RS256"}}));
  INFO(key_alg << " key claiming " << claimed);
  auto k = make_key(key_alg);
  auto header = base_header(k);
  header["alg"] = claimed;
  auto j = parse_jws(unsigned_body(header), limits());
  REQUIRE(j.has_value());
  auto key = parse_jwk(*j->jwk);
  REQUIRE(key.has_value());
  auto fits = check_algorithm(key->get(), j->alg);
  REQUIRE_FALSE(fits.has_value());
  CHECK(fits.error().problem == jose_problem::bad_signature_algorithm);
  auto v = verify_jws(*j, key->get());
  REQUIRE_FALSE(v.has_value());
  CHECK(v.error().problem == jose_problem::bad_signature_algorithm);
}

TEST_CASE("unusable JWKs are badPublicKey", "[acme][jose]") {
  auto ec = make_key("ES256");
  static const test_key rsa = make_key("RS256");  // one RSA key for all the cases: keygen is slow
  auto ed = make_key("EdDSA");
  auto ec_json = json::parse(ec.jwk_json);
  auto rsa_json = json::parse(rsa.jwk_json);
  std::string jwk;

  std::string flaw = GENERATE("RSA 1024", "RSA exponent 3", "RSA exponent even", "RSA modulus with a leading zero byte", "private EC member d", "private RSA d", "private RSA p", "private RSA q", "private RSA dp", "private RSA dq", "private RSA qi", "private RSA oth", "private Ed25519 d", "symmetric key", "P-521", "P-256 curve name on P-384 coordinates", "EC point not on the curve", "EC coordinate one byte short", "EC without y", "X25519", "Ed25519 key of 31 bytes", "no kty", "x not base64url");
  INFO(flaw);
  if (flaw == "RSA 1024") { jwk = make_key("RS256", 1024).jwk_json; }
  if (flaw == "RSA exponent 3") { jwk = with_member(rsa.jwk_json, "e", "Aw"); }
  if (flaw == "RSA exponent even") { jwk = with_member(rsa.jwk_json, "e", "AQAC"); }
  if (flaw == "RSA modulus with a leading zero byte") {
    auto n = *base64url_decode(rsa_json["n"].get<std::string>());
    n.insert(n.begin(), 0);
    jwk = with_member(rsa.jwk_json, "n", b64u(n));
  }
  if (flaw == "private EC member d") { jwk = with_member(ec.jwk_json, "d", b64u(std::string(32, 'd'))); }
  if (flaw.starts_with("private RSA ")) jwk = with_member(rsa.jwk_json, flaw.substr(12), "AQAB");
  if (flaw == "private Ed25519 d") { jwk = with_member(ed.jwk_json, "d", b64u(std::string(32, 'd'))); }
  if (flaw == "symmetric key") { jwk = R"({"kty":"oct","k":"c2VjcmV0"})"; }
  if (flaw == "P-521") { jwk = with_member(ec.jwk_json, "crv", "P-521"); }
  if (flaw == "P-256 curve name on P-384 coordinates") { jwk = with_member(make_key("ES384").jwk_json, "crv", "P-256"); }
  if (flaw == "EC point not on the curve") {
    auto y = *base64url_decode(ec_json["y"].get<std::string>());
    y.back() ^= 0x01;
    jwk = with_member(ec.jwk_json, "y", b64u(y));
  }
  if (flaw == "EC coordinate one byte short") {
    auto x = *base64url_decode(ec_json["x"].get<std::string>());
    x.erase(x.begin());
    jwk = with_member(ec.jwk_json, "x", b64u(x));
  }
  if (flaw == "EC without y") {
    ec_json.erase("y");
    jwk = ec_json.dump();
  }
  if (flaw == "X25519") { jwk = with_member(ed.jwk_json, "crv", "X25519"); }
  if (flaw == "Ed25519 key of 31 bytes") { jwk = with_member(ed.jwk_json, "x", b64u(std::string(31, 'x'))); }
  if (flaw == "no kty") {
    ec_json.erase("kty");
    jwk = ec_json.dump();
  }
  if (flaw == "x not base64url") { jwk = with_member(ec.jwk_json, "x", "a+b/"); }
  INFO(jwk);
  auto r = parse_jwk(jwk);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().problem == jose_problem::bad_public_key);
  CHECK_FALSE(r.error().detail.empty());
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("kid and jwk: exactly one", "[acme][jose]") {
  auto k = make_key("ES256");
  auto header = base_header(k);
  SECTION("both") {
    header["kid"] = "https://acme.example/acme/acct/1";
    CHECK(refused(unsigned_body(header)) == jose_problem::malformed);
  }
  SECTION("neither") {
    header.erase("jwk");
    CHECK(refused(unsigned_body(header)) == jose_problem::malformed);
  }
  SECTION("kid not a string") {
    header.erase("jwk");
    header["kid"] = 1;
    CHECK(refused(unsigned_body(header)) == jose_problem::malformed);
  }
  SECTION("jwk not an object") {
    header["jwk"] = k.jwk_json;  // a string holding JSON
    CHECK(refused(unsigned_body(header)) == jose_problem::malformed);
  }
}

TEST_CASE("protected header members: nonce, url, crit", "[acme][jose]") {
  auto k = make_key("ES256");
  auto header = base_header(k);
  SECTION("no nonce is badNonce (RFC 8555 6.5)") {
    header.erase("nonce");
    CHECK(refused(unsigned_body(header)) == jose_problem::bad_nonce);
  }
  SECTION("empty nonce is badNonce") {
    header["nonce"] = "";
    CHECK(refused(unsigned_body(header)) == jose_problem::bad_nonce);
  }
  SECTION("no url") {
    header.erase("url");
    CHECK(refused(unsigned_body(header)) == jose_problem::malformed);
  }
  SECTION("url not a string") {
    header["url"] = json::array({new_account_url});
    CHECK(refused(unsigned_body(header)) == jose_problem::malformed);
  }
  SECTION("crit") {
    header["crit"] = json::array({"exp"});
    header["exp"] = 1;
    CHECK(refused(unsigned_body(header)) == jose_problem::malformed);
  }
  SECTION("b64 (RFC 7797)") {
    header["b64"] = false;
    CHECK(refused(unsigned_body(header)) == jose_problem::malformed);
  }
  SECTION("the url is reported as sent, for the caller to compare") {
    header["url"] = "https://acme.example/acme/new-order";
    auto j = parse_jws(unsigned_body(header), limits());
    REQUIRE(j.has_value());
    CHECK(j->url != new_account_url);
    CHECK(j->url == "https://acme.example/acme/new-order");
  }
}

TEST_CASE("only the flattened serialization with its three members", "[acme][jose]") {
  auto k = make_key("ES256");
  auto body = json::parse(flattened_jws(k, protected_header(k, nonce, new_account_url, std::nullopt), "{}"));
  REQUIRE(parse_jws(body.dump(), limits()).has_value());
  std::string change = GENERATE("unprotected header", "general serialization", "general serialization only", "unknown member", "missing payload", "missing signature", "protected not a string", "empty protected", "compact serialization");
  INFO(change);
  if (change == "unprotected header") { body["header"] = {{"kid", "x"}}; }
  if (change == "general serialization") {
    body["signatures"] = json::array({{{"protected", body["protected"]}, {"signature", body["signature"]}}});
  }
  if (change == "general serialization only") {
    body = {{"payload", body["payload"]},
            {"signatures", json::array({{{"protected", body["protected"]}, {"signature", body["signature"]}}})}};
  }
  if (change == "unknown member") { body["extra"] = 1; }
  if (change == "missing payload") { body.erase("payload"); }
  if (change == "missing signature") { body.erase("signature"); }
  if (change == "protected not a string") { body["protected"] = base_header(k); }
  if (change == "empty protected") { body["protected"] = ""; }
  if (change == "compact serialization") {
    body = body["protected"].get<std::string>() + "." + body["payload"].get<std::string>() + "." +
           body["signature"].get<std::string>();
  }
  CHECK(refused(body.dump()) == jose_problem::malformed);
}

TEST_CASE("a member twice is malformed, not last-one-wins", "[acme][jose]") {
  auto k = make_key("ES256");
  auto good = json::parse(flattened_jws(k, protected_header(k, nonce, new_account_url, std::nullopt), "{}"));
  std::string body = R"({"protected":")" + good["protected"].get<std::string>() + R"(","payload":"","payload":")" +
                     good["payload"].get<std::string>() + R"(","signature":")" +
                     good["signature"].get<std::string>() + R"("})";
  CHECK(refused(body) == jose_problem::malformed);
  std::string header = R"({"alg":"ES256","alg":"none","nonce":"n","url":"u","kid":"k"})";
  CHECK(refused(flattened_body(b64u(header), "", b64u(std::string(64, 'x')))) == jose_problem::malformed);
}

TEST_CASE("base64url is strict: no padding, no '+', no '/', no whitespace", "[acme][jose]") {
  auto k = make_key("ES256");
  auto body = json::parse(flattened_jws(k, protected_header(k, nonce, new_account_url, std::nullopt), R"({"a":1})"));
  std::string member = GENERATE("protected", "payload", "signature");
  std::string damage = GENERATE("pad", "plus", "slash", "space");
  INFO(member << " " << damage);
  std::string v = body[member].get<std::string>();
  if (damage == "pad") v += v.size() % 4 == 2 ? "==" : (v.size() % 4 == 3 ? "=" : "====");
  if (damage == "plus") v[v.size() / 2] = '+';
  if (damage == "slash") v[v.size() / 2] = '/';
  if (damage == "space") v.insert(v.size() / 2, " ");
  body[member] = v;
  CHECK(refused(body.dump()) == jose_problem::malformed);
}

TEST_CASE("size limits", "[acme][jose]") {
  auto k = make_key("ES256");
  auto header = protected_header(k, nonce, new_account_url, std::nullopt);
  jws_limits l;
  l.max_body_bytes = 1 << 20;
  l.max_payload_bytes = 1000;
  std::string at_limit = R"({"a":")" + std::string(1000 - 8, 'x') + R"("})";
  REQUIRE(at_limit.size() == 1000);
  auto ok = parse_jws(flattened_jws(k, header, at_limit), l);
  REQUIRE(ok.has_value());
  CHECK(verify_jws(*ok, k.key.get()).has_value());

  SECTION("payload one byte over") {
    CHECK(refused(flattened_jws(k, header, at_limit + " "), l) == jose_problem::malformed);
  }
  SECTION("payload far over, refused before decoding") {
    CHECK(refused(flattened_jws(k, header, std::string(100000, ' ')), l) == jose_problem::malformed);
  }
  SECTION("body over its limit") {
    l.max_body_bytes = 600;
    CHECK(refused(flattened_jws(k, header, at_limit), l) == jose_problem::malformed);
  }
  SECTION("protected header over its limit") {
    auto big = base_header(k);
    big["x-padding"] = std::string(9000, 'p');
    CHECK(refused(flattened_jws(k, big.dump(), "{}")) == jose_problem::malformed);
  }
  SECTION("default limits: a 64 KiB body") {
    CHECK(refused(flattened_jws(k, header, std::string(60000, ' '))) == jose_problem::malformed);
  }
}

TEST_CASE("JSON that is not a JWS object", "[acme][jose]") {
  auto k = make_key("ES256");
  auto good = flattened_jws(k, protected_header(k, nonce, new_account_url, std::nullopt), "{}");
  auto [what, body] = GENERATE_COPY(table<std::string, std::string>({
      {"truncated", good.substr(0, good.size() - 1)},
      {"cut in half", good.substr(0, good.size() / 2)},
      {"empty", ""},
      {"an array", "[" + good + "]"},
      {"a string", "\"x\""},
      {"trailing garbage", good + "x"},
      {"deep nesting in the body", R"({"protected":"e30","x":)" + std::string(5000, '[') + "]"},
      {"balanced deep nesting", R"({"x":)" + std::string(100, '[') + std::string(100, ']') + "}"},
      {"invalid UTF-8", "{\"protected\":\"\xff\xfe\",\"payload\":\"\",\"signature\":\"AA\"}"},
  }));
  INFO(what);
  CHECK(refused(body) == jose_problem::malformed);
}

TEST_CASE("a protected header that is not a JSON object of bounded depth", "[acme][jose]") {
  std::string header = GENERATE(std::string(R"({"alg":"ES256","nonce":"n")"),
                                R"({"alg":"ES256","x":)" + std::string(20, '[') + std::string(20, ']') + "}",
                                std::string("[]"), std::string("null"), std::string("{} {}"));
  INFO(header);
  CHECK(refused(flattened_body(b64u(header), "", b64u(std::string(64, 'x')))) == jose_problem::malformed);
}

namespace {

struct eab_case {
  test_key account = make_key("ES256");
  std::vector<std::uint8_t> hmac_key = std::vector<std::uint8_t>(32, 0x5a);
  std::string kid = "eab-kid-1";
};

json eab_object(const eab_case& c) { return json::parse(eab_jws(c.kid, c.hmac_key, new_account_url, c.account)); }

// An EAB object with its protected header replaced and MAC'd again.
std::string eab_with_header(const eab_case& c, const json& header) {
  std::string protected_b64 = b64u(header.dump());
  std::string payload_b64 = b64u(c.account.jwk_json);
  return flattened_body(protected_b64, payload_b64, b64u(hmac_sha256(c.hmac_key, protected_b64 + "." + payload_b64)));
}

}  // namespace

TEST_CASE("External Account Binding", "[acme][jose][eab]") {
  eab_case c;
  std::string account_alg = GENERATE("ES256", "RS256", "EdDSA");
  c.account = make_key(account_alg);

  SECTION("good binding: kid returned, MAC verifies with the right key only") {
    auto b = parse_eab(eab_object(c).dump(), new_account_url, c.account.key.get());
    REQUIRE(b.has_value());
    CHECK(b->kid == c.kid);
    CHECK(b->mac.size() == 32);
    CHECK(verify_eab_mac(*b, c.hmac_key));
    auto wrong = c.hmac_key;
    wrong[0] ^= 1;
    CHECK_FALSE(verify_eab_mac(*b, wrong));
    CHECK_FALSE(verify_eab_mac(*b, std::span<const std::uint8_t>()));
    auto tampered = *b;
    tampered.mac[31] ^= 0x80;
    CHECK_FALSE(verify_eab_mac(tampered, c.hmac_key));
  }
  SECTION("wrong url") {
    auto b = parse_eab(eab_jws(c.kid, c.hmac_key, "https://acme.example/acme/new-order", c.account), new_account_url,
                       c.account.key.get());
    REQUIRE_FALSE(b.has_value());
    CHECK(b.error().problem == jose_problem::unauthorized);
  }
  SECTION("MAC made with another key") {
    std::vector<std::uint8_t> other(32, 0x01);
    auto b = parse_eab(eab_jws(c.kid, other, new_account_url, c.account), new_account_url, c.account.key.get());
    REQUIRE(b.has_value());  // the key is looked up by kid, then:
    CHECK_FALSE(verify_eab_mac(*b, c.hmac_key));
  }
  SECTION("payload changed after the MAC") {
    auto obj = eab_object(c);
    auto other = make_key(account_alg);
    obj["payload"] = b64u(other.jwk_json);
    auto b = parse_eab(obj.dump(), new_account_url, other.key.get());
    REQUIRE(b.has_value());
    CHECK_FALSE(verify_eab_mac(*b, c.hmac_key));
  }
  SECTION("bound key is not the account key") {
    auto other = make_key(account_alg);
    auto b = parse_eab(eab_object(c).dump(), new_account_url, other.key.get());
    REQUIRE_FALSE(b.has_value());
    CHECK(b.error().problem == jose_problem::unauthorized);
  }
  SECTION("alg not HS256") {
    std::string alg = GENERATE("HS384", "HS512", "none", "ES256");
    json h = {{"alg", alg}, {"kid", c.kid}, {"url", new_account_url}};
    auto b = parse_eab(eab_with_header(c, h), new_account_url, c.account.key.get());
    REQUIRE_FALSE(b.has_value());
    CHECK(b.error().problem == jose_problem::malformed);
  }
  SECTION("nonce present, kid missing, url missing, crit") {
    json h = {{"alg", "HS256"}, {"kid", c.kid}, {"url", new_account_url}};
    int which = GENERATE(0, 1, 2, 3);
    if (which == 0) h["nonce"] = "abc";
    if (which == 1) h.erase("kid");
    if (which == 2) h.erase("url");
    if (which == 3) h["crit"] = json::array({"x"});
    auto b = parse_eab(eab_with_header(c, h), new_account_url, c.account.key.get());
    REQUIRE_FALSE(b.has_value());
    CHECK(b.error().problem == jose_problem::malformed);
  }
  SECTION("malformed objects") {
    auto obj = eab_object(c);
    int which = GENERATE(0, 1, 2, 3, 4);
    if (which == 0) obj["header"] = json::object();
    if (which == 1) obj["signature"] = b64u(std::string(16, 'x'));  // not an HS256 tag
    if (which == 2) obj["payload"] = b64u(std::string("not a key"));
    if (which == 3) obj["payload"] = b64u(with_member(c.account.jwk_json, "d", "AAAA"));
    if (which == 4) obj = json::array({obj});
    auto b = parse_eab(obj.dump(), new_account_url, c.account.key.get());
    REQUIRE_FALSE(b.has_value());
    CHECK(b.error().problem == jose_problem::malformed);
  }
}

namespace {

std::string read_seed(const std::string& name) {
  std::string path = std::string(WOTCA_TESTDATA) + "/../fuzz/corpus/acme_jws_fuzzer/" + name;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  std::string text;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  return text;
}

}  // namespace

// The seed corpus was made by python3-cryptography
// (tests/fuzz/tools/make_acme_jws_corpus.py): requests no code of ours signed, verified and bound here.
TEST_CASE("requests made by another JOSE implementation verify, EAB included", "[acme][jose][eab]") {
  std::string alg = GENERATE("es256", "es384", "rs256", "eddsa");
  auto j = parse_jws(read_seed("new_account_eab_" + alg + ".json"), limits());
  REQUIRE(j.has_value());
  REQUIRE(j->jwk.has_value());
  auto key = parse_jwk(*j->jwk);
  REQUIRE(key.has_value());
  CHECK(verify_jws(*j, key->get()).has_value());
  auto payload = json::parse(j->payload);
  auto b = parse_eab(payload["externalAccountBinding"].dump(), j->url, key->get());
  REQUIRE(b.has_value());
  CHECK(b->kid == "kid-1");
  std::vector<std::uint8_t> eab_key(32);
  for (std::size_t i = 0; i < eab_key.size(); ++i) eab_key[i] = static_cast<std::uint8_t>(i);
  CHECK(verify_eab_mac(*b, eab_key));
  eab_key[0] = 0xff;
  CHECK_FALSE(verify_eab_mac(*b, eab_key));
}
