// The ACME service (RFC 8555) as values: directory, accounts with External
// Account Binding, orders under the policy, challenges, finalize,
// certificates, revocation and ARI.
#include <catch2/catch.hpp>

#include <openssl/pem.h>

#include <latch>
#include <set>
#include <thread>

#include "tests/unit/acme/service_fixture.h"

using namespace wotca;
using namespace wotca::acme;
using namespace wotca::acme::testing;

namespace {

std::int64_t feed_head(acme_fixture& f) {
  std::int64_t h = 0;
  REQUIRE(f.db->read([&](transaction& tx) -> result<void> {
    auto r = tx.changes().head();
    if (!r) return unexpected(r.error());
    h = *r;
    return {};
  }));
  return h;
}

std::vector<change_event> feed_after(acme_fixture& f, std::int64_t seq) {
  std::vector<change_event> out;
  REQUIRE(f.db->read([&](transaction& tx) -> result<void> {
    auto r = tx.changes().after(seq, 100);
    if (!r) return unexpected(r.error());
    out = std::move(*r);
    return {};
  }));
  return out;
}

std::optional<domain_name> domain(acme_fixture& f, const std::string& name) {
  std::optional<domain_name> out;
  REQUIRE(f.db->read([&](transaction& tx) -> result<void> {
    auto d = tx.domains().find(name);
    if (!d) return unexpected(d.error());
    out = std::move(*d);
    return {};
  }));
  return out;
}

int count_pem(const std::string& text) {
  int n = 0;
  for (std::size_t at = 0; (at = text.find("-----BEGIN CERTIFICATE-----", at)) != std::string::npos; ++at) ++n;
  return n;
}

x509_ptr leaf_of(const std::string& pem) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(cert != nullptr);
  return cert;
}

std::string der_b64(const X509& cert) {
  const int len = i2d_X509(&cert, nullptr);
  std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_X509(&cert, &p);
  return base64url_encode(der);
}

// RFC 9773 4.1, computed here from OpenSSL's view of the certificate.
std::string ari_id(const X509& cert) {
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(const_cast<X509*>(&cert));
  REQUIRE(aki != nullptr);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(&cert);
  std::vector<std::uint8_t> content(ASN1_STRING_get0_data(serial),
                                    ASN1_STRING_get0_data(serial) + ASN1_STRING_length(serial));
  if (!content.empty() && (content[0] & 0x80)) content.insert(content.begin(), 0);
  return base64url_encode(std::span<const std::uint8_t>(ASN1_STRING_get0_data(aki),
                                                        static_cast<std::size_t>(ASN1_STRING_length(aki)))) +
         "." + base64url_encode(content);
}

}  // namespace

TEST_CASE("the directory names every resource and requires external account binding", "[acme]") {
  acme_fixture f;
  auto r = f.get("/directory");
  REQUIRE(r.status == 200);
  CHECK(header(r, "Content-Type") == "application/json");
  CHECK(header(r, "Link") == "<https://acme.test:14443/directory>;rel=\"index\"");
  CHECK(header(r, "Replay-Nonce").has_value());
  auto d = body_of(r);
  const std::string base = acme_fixture::base;
  CHECK(d["newNonce"] == base + "/acme/new-nonce");
  CHECK(d["newAccount"] == base + "/acme/new-account");
  CHECK(d["newOrder"] == base + "/acme/new-order");
  CHECK(d["revokeCert"] == base + "/acme/revoke-cert");
  CHECK(d["keyChange"] == base + "/acme/key-change");
  CHECK(d["renewalInfo"] == base + "/acme/renewal-info");
  CHECK(d["meta"]["externalAccountRequired"] == true);
  CHECK(d["meta"]["termsOfService"] == "https://ca.test/terms");
  CHECK(d["meta"]["website"] == "https://ca.test/");
  CHECK(d["meta"]["caaIdentities"] == json::array({"ca.test"}));
}

TEST_CASE("newNonce answers HEAD with 200 and GET with 204, never cached", "[acme]") {
  acme_fixture f;
  auto head = f.get("/acme/new-nonce", "HEAD");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(header(head, "Cache-Control") == "no-store");
  auto get = f.get("/acme/new-nonce");
  CHECK(get.status == 204);
  CHECK(header(get, "Cache-Control") == "no-store");
  REQUIRE(header(head, "Replay-Nonce"));
  REQUIRE(header(get, "Replay-Nonce"));
  CHECK(*header(head, "Replay-Nonce") != *header(get, "Replay-Nonce"));
  // An unknown resource is a problem document too.
  problem_of(f.get("/acme/nothing"), "malformed", 405);
}

TEST_CASE("newAccount requires a binding, binds the account to the member once, and finds it again", "[acme]") {
  acme_fixture f;
  const member_id alice = f.member("alice@example.org", 100);
  client c(f);

  // No binding: externalAccountRequired.
  json bare = {{"termsOfServiceAgreed", true}};
  problem_of(c.post("/acme/new-account", bare.dump(), true), "externalAccountRequired", 403);
  // Terms not agreed.
  auto [kid, hmac] = f.eab(alice);
  const std::string new_account = std::string(acme_fixture::base) + "/acme/new-account";
  json unagreed = {{"externalAccountBinding", json::parse(eab_jws(kid, hmac, new_account, c.key))}};
  auto refused = c.post("/acme/new-account", unagreed.dump(), true);
  problem_of(refused, "userActionRequired", 403);
  bool terms_linked = false;  // RFC 8555 7.3.3
  for (const auto& [name, value] : refused.headers) {
    terms_linked = terms_linked || (name == "Link" && value == "<https://ca.test/terms>;rel=\"terms-of-service\"");
  }
  CHECK(terms_linked);
  // onlyReturnExisting for a key without an account.
  json only = {{"onlyReturnExisting", true}};
  problem_of(c.post("/acme/new-account", only.dump(), true), "accountDoesNotExist", 400);
  // A binding made with the wrong HMAC key.
  std::vector<std::uint8_t> wrong = hmac;
  wrong[0] ^= 1;
  json forged = {{"termsOfServiceAgreed", true},
                 {"externalAccountBinding", json::parse(eab_jws(kid, wrong, new_account, c.key))}};
  auto bad_mac = problem_of(c.post("/acme/new-account", forged.dump(), true), "unauthorized", 403);
  CHECK(bad_mac["detail"].get<std::string>().find("MAC") != std::string::npos);

  json payload = {{"termsOfServiceAgreed", true},
                  {"contact", {"mailto:Ops@Example.org"}},
                  {"externalAccountBinding", json::parse(eab_jws(kid, hmac, new_account, c.key))}};
  auto made = c.post("/acme/new-account", payload.dump(), true);
  INFO(made.body);
  REQUIRE(made.status == 201);
  auto location = header(made, "Location");
  REQUIRE(location);
  CHECK(location->rfind(std::string(acme_fixture::base) + "/acme/acct/", 0) == 0);
  auto acct = body_of(made);
  CHECK(acct["status"] == "valid");
  CHECK(acct["contact"] == json::array({"mailto:ops@example.org"}));
  CHECK(acct["orders"] == *location + "/orders");

  // Bound to Alice, with an audit row naming her.
  bool audited = false;
  for (const auto& e : f.audit()) {
    if (e.action == "acme.account.new" && e.object == "member:" + std::to_string(alice)) audited = true;
  }
  CHECK(audited);
  REQUIRE(f.db->read([&](transaction& tx) -> result<void> {
    auto key = tx.eab_keys().find(kid);
    REQUIRE(key);
    REQUIRE(*key);
    CHECK((*key)->used_at.has_value());
    CHECK((*key)->mac_key.empty());  // the secret is gone once used
    return {};
  }));

  // The same key again: the existing account, 200.
  auto again = c.post("/acme/new-account", bare.dump(), true);
  CHECK(again.status == 200);
  CHECK(header(again, "Location") == location);
  auto existing = c.post("/acme/new-account", only.dump(), true);
  CHECK(existing.status == 200);
  CHECK(header(existing, "Location") == location);

  // The same EAB kid for another key: refused, single use.
  client other(f);
  json reuse = {{"termsOfServiceAgreed", true},
                {"externalAccountBinding", json::parse(eab_jws(kid, hmac, new_account, other.key))}};
  auto reused = problem_of(other.post("/acme/new-account", reuse.dump(), true), "unauthorized", 403);
  CHECK(reused["detail"].get<std::string>().find("used") != std::string::npos);

  // An expired key is refused too.
  auto [late_kid, late_hmac] = f.eab(alice);
  f.clk.advance(std::chrono::days(f.cfg.enrolment.eab_key_days) + std::chrono::seconds(1));
  client late(f);
  json expired = {{"termsOfServiceAgreed", true},
                  {"externalAccountBinding", json::parse(eab_jws(late_kid, late_hmac, new_account, late.key))}};
  auto stale = problem_of(late.post("/acme/new-account", expired.dump(), true), "unauthorized", 403);
  CHECK(stale["detail"].get<std::string>().find("expired") != std::string::npos);
}

TEST_CASE("accounts are updated and deactivated by their own key only", "[acme]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  client mallory(f);
  mallory.register_for(f.member("mallory@example.org", 100));

  auto read = c.post(*c.kid, "");
  CHECK(read.status == 200);
  CHECK(body_of(read)["status"] == "valid");

  auto updated = c.post(*c.kid, json{{"contact", {"mailto:new@example.org"}}});
  REQUIRE(updated.status == 200);
  CHECK(body_of(updated)["contact"] == json::array({"mailto:new@example.org"}));
  problem_of(c.post(*c.kid, json{{"contact", {"tel:+15551234"}}}), "unsupportedContact", 400);

  // Mallory cannot touch Alice's account.
  problem_of(mallory.post(*c.kid, json{{"status", "deactivated"}}), "unauthorized", 403);

  auto gone = c.post(*c.kid, json{{"status", "deactivated"}});
  REQUIRE(gone.status == 200);
  CHECK(body_of(gone)["status"] == "deactivated");
  problem_of(c.order({"www.example.org"}), "unauthorized", 403);
}

TEST_CASE("keyChange rolls the account over to a new key", "[acme]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  test_key fresh = make_key("ES256");
  const std::string url = std::string(acme_fixture::base) + "/acme/key-change";
  json inner_header = {{"alg", fresh.alg}, {"jwk", json::parse(fresh.jwk_json)}, {"url", url}};
  json inner_payload = {{"account", *c.kid}, {"oldKey", json::parse(c.key.jwk_json)}};
  const std::string inner = flattened_jws(fresh, inner_header.dump(), inner_payload.dump());

  // Signed by the new key but naming another account: refused.
  json wrong_payload = {{"account", *c.kid + "9"}, {"oldKey", json::parse(c.key.jwk_json)}};
  problem_of(c.post("/acme/key-change", flattened_jws(fresh, inner_header.dump(), wrong_payload.dump())),
             "unauthorized", 403);

  // An inner JWS with an algorithm this CA does not take: badSignatureAlgorithm, listing those it takes.
  json odd_header = inner_header;
  odd_header["alg"] = "PS256";
  auto odd = problem_of(c.post("/acme/key-change", flattened_jws(fresh, odd_header.dump(), inner_payload.dump())),
                        "badSignatureAlgorithm", 400);
  CHECK(odd["algorithms"] == json::array({"ES256", "ES384", "RS256", "EdDSA"}));

  auto rolled = c.post("/acme/key-change", inner);
  INFO(rolled.body);
  REQUIRE(rolled.status == 200);
  // The old key no longer signs for the account; the new one does.
  problem_of(c.post(*c.kid, ""), "unauthorized", 403);
  client renewed(f);
  renewed.key = std::move(fresh);
  renewed.kid = c.kid;
  CHECK(renewed.post(*c.kid, "").status == 200);
  bool audited = false;
  for (const auto& e : f.audit()) audited = audited || e.action == "acme.account.key-change";
  CHECK(audited);
}

TEST_CASE("newOrder refuses a member under 50 AP at once, naming R-SERVER-50 and the AP", "[acme][policy]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("bob@example.org", 45));
  auto r = c.order({"www.example.org"});
  auto p = problem_of(r, "unauthorized", 403);
  const auto detail = p["detail"].get<std::string>();
  CHECK(detail.find("R-SERVER-50") != std::string::npos);
  CHECK(detail.find("45 AP") != std::string::npos);
  CHECK(f.validator.seen().empty());
}

TEST_CASE("newOrder refuses a domain of another member (R-OWNERSHIP) and bad identifiers, per identifier",
          "[acme][policy]") {
  acme_fixture f;
  const member_id owner = f.member("owner@example.net", 100);
  registry reg(f.cfg, *f.db, f.clk, f.rng);
  REQUIRE(reg.add_domain(owner, "example.net", "test"));
  client c(f);
  c.register_for(f.member("alice@example.org", 100));

  auto p = problem_of(c.order({"www.example.org", "www.example.net"}), "rejectedIdentifier", 400);
  REQUIRE(p["subproblems"].size() == 1);
  CHECK(p["subproblems"][0]["identifier"]["value"] == "www.example.net");
  CHECK(p["subproblems"][0]["detail"].get<std::string>().find("R-OWNERSHIP") != std::string::npos);

  json ids = {{{"type", "dns"}, {"value", "bad..name"}}, {{"type", "ip"}, {"value", "192.0.2.1"}}};
  auto bad = problem_of(c.post("/acme/new-order", json{{"identifiers", ids}}), "rejectedIdentifier", 400);
  REQUIRE(bad["subproblems"].size() == 2);
  CHECK(bad["subproblems"][1]["type"] == "urn:ietf:params:acme:error:unsupportedIdentifier");
  CHECK(bad["subproblems"][1]["identifier"]["value"] == "192.0.2.1");
}

TEST_CASE("the whole flow: order, idempotent challenges, finalize with SANs only, download", "[acme]") {
  acme_fixture f;
  const member_id alice = f.member("alice@example.org", 100);
  client c(f);
  c.register_for(alice);
  f.validator.synchronous = false;

  auto created = c.order({"WWW.example.org", "example.org"});
  INFO(created.body);
  REQUIRE(created.status == 201);
  const auto order_url = *header(created, "Location");
  auto order = body_of(created);
  CHECK(order["status"] == "pending");
  CHECK(order["identifiers"][0]["value"] == "www.example.org");
  REQUIRE(order["authorizations"].size() == 2);

  auto authz = body_of(c.post(order["authorizations"][0].get<std::string>(), ""));
  CHECK(authz["status"] == "pending");
  CHECK(authz["identifier"]["value"] == "www.example.org");
  REQUIRE(authz["challenges"].size() == 3);
  json types = json::array();
  for (const auto& ch : authz["challenges"]) types.push_back(ch["type"]);
  CHECK(types == json::array({"http-01", "dns-01", "tls-alpn-01"}));
  const auto chall_url = authz["challenges"][0]["url"].get<std::string>();
  const auto token = authz["challenges"][0]["token"].get<std::string>();
  CHECK(token.size() >= 43);

  // processing, and a second POST is the same state without a second validation.
  auto first = c.post(chall_url, json::object());
  REQUIRE(first.status == 200);
  CHECK(body_of(first)["status"] == "processing");
  CHECK(header(first, "Link") == "<" + order["authorizations"][0].get<std::string>() + ">;rel=\"up\"");
  auto second = c.post(chall_url, json::object());
  CHECK(body_of(second)["status"] == "processing");
  auto seen = f.validator.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].domain == "www.example.org");
  CHECK(seen[0].type == challenge_type::http01);
  CHECK(seen[0].key_authorization.rfind(token + ".", 0) == 0);
  CHECK(f.validator.finish(true) == 1);
  CHECK(f.validator.finish(true) == 0);

  auto after = body_of(c.post(chall_url, json::object()));
  CHECK(after["status"] == "valid");
  CHECK(after.contains("validated"));
  CHECK(f.validator.seen().size() == 1);
  CHECK(body_of(c.post(order_url, ""))["status"] == "pending");  // example.org still to prove

  // R-DOMAIN-CONTROL: verified for Alice by the ACME challenge.
  auto d = domain(f, "www.example.org");
  REQUIRE(d);
  CHECK(d->member == alice);
  CHECK(d->method == verification_method::acme_http01);
  CHECK(d->verified_at == f.clk.now());

  f.validator.synchronous = true;
  c.validate_all(order);
  auto ready = body_of(c.post(order_url, ""));
  REQUIRE(ready["status"] == "ready");

  // Finalize before ready is refused; here with a CSR without CN.
  test_key leaf_key = make_key("ES256");
  auto done = c.post(ready["finalize"].get<std::string>(),
                     json{{"csr", csr_b64(leaf_key, {"example.org", "www.example.org"})}});
  INFO(done.body);
  REQUIRE(done.status == 200);
  auto valid = body_of(done);
  CHECK(valid["status"] == "valid");
  REQUIRE(valid.contains("certificate"));

  auto pem = c.post(valid["certificate"].get<std::string>(), "");
  REQUIRE(pem.status == 200);
  CHECK(header(pem, "Content-Type") == "application/pem-certificate-chain");
  CHECK(count_pem(pem.body) == 2);
  CHECK(pem.body.find(to_pem(*f.ca->class3.cert)) != std::string::npos);
  auto links = headers(pem, "Link");
  const std::string cert_url = valid["certificate"].get<std::string>();
  CHECK(std::find(links.begin(), links.end(), "<" + cert_url + "/1>;rel=\"alternate\"") != links.end());
  CHECK(std::find(links.begin(), links.end(),
                  "<" + std::string(acme_fixture::base) + "/acme/issuer/class3>;rel=\"up\"") != links.end());
  auto up = f.get("/acme/issuer/class3");
  CHECK(up.body == to_pem(*f.ca->class3.cert));
  auto alternate = c.post(cert_url + "/1", "");
  REQUIRE(alternate.status == 200);
  CHECK(count_pem(alternate.body) == 3);
  CHECK(alternate.body.find(to_pem(*f.ca->root.cert)) != std::string::npos);

  // The certificate carries exactly the order's names.
  auto leaf = leaf_of(pem.body);
  auto certs = f.certificates_of(alice);
  REQUIRE(certs.size() == 1);
  CHECK(certs[0].via == request_path::acme);
  CHECK(certs[0].sans == std::vector<std::string>{"DNS:example.org", "DNS:www.example.org"});

  // Finalizing again is refused (RFC 8555 7.4: only a ready order), naming where the order is;
  // another member cannot download.
  auto again = problem_of(c.post(ready["finalize"].get<std::string>(),
                                 json{{"csr", csr_b64(leaf_key, {"example.org", "www.example.org"})}}),
                          "orderNotReady", 403);
  CHECK(again["detail"].get<std::string>().find("valid already") != std::string::npos);
  client mallory(f);
  mallory.register_for(f.member("mallory@example.org", 100));
  problem_of(mallory.post(cert_url, ""), "unauthorized", 403);
  problem_of(mallory.post(order_url, ""), "unauthorized", 403);

  // The orders list.
  auto list = body_of(c.post(*c.kid + "/orders", ""));
  CHECK(list["orders"] == json::array({order_url}));

  auto text = f.svc->metrics();
  CHECK(text.find("wotca_acme_requests_total{resource=\"new-order\",status=\"201\"} 1") != std::string::npos);
  CHECK(text.find("wotca_acme_issuances_total{result=\"issued\"} 1") != std::string::npos);
  CHECK(text.find("wotca_acme_validations_total{result=\"valid\"} 2") != std::string::npos);
}

TEST_CASE("a failed validation makes the authorization and its order invalid", "[acme]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  f.validator.succeed = false;
  auto order = body_of(c.order({"www.example.org"}));
  c.validate_all(order);
  auto authz = body_of(c.post(order["authorizations"][0].get<std::string>(), ""));
  CHECK(authz["status"] == "invalid");
  CHECK(authz["challenges"][0]["error"]["type"] == "urn:ietf:params:acme:error:incorrectResponse");
  const auto finalize = order["finalize"].get<std::string>();
  auto o = body_of(c.post(finalize.substr(0, finalize.size() - std::string("/finalize").size()), ""));
  CHECK(o["status"] == "invalid");
  CHECK(o["error"]["detail"].get<std::string>().find("www.example.org") != std::string::npos);
  CHECK_FALSE(domain(f, "www.example.org").has_value());
  problem_of(c.post(order["finalize"].get<std::string>(), json{{"csr", csr_b64(make_key("ES256"), {"www.example.org"})}}),
             "orderNotReady", 403);
}

TEST_CASE("a wildcard is offered dns-01 only and verifies the base domain", "[acme]") {
  acme_fixture f;
  const member_id alice = f.member("alice@example.org", 100);
  client c(f);
  c.register_for(alice);
  auto order = body_of(c.order({"*.example.org"}));
  auto authz = body_of(c.post(order["authorizations"][0].get<std::string>(), ""));
  CHECK(authz["wildcard"] == true);
  CHECK(authz["identifier"]["value"] == "example.org");
  REQUIRE(authz["challenges"].size() == 1);
  CHECK(authz["challenges"][0]["type"] == "dns-01");
  c.validate_all(order);
  auto seen = f.validator.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].type == challenge_type::dns01);
  CHECK(seen[0].domain == "example.org");
  auto d = domain(f, "example.org");
  REQUIRE(d);
  CHECK(d->method == verification_method::acme_dns01);
  test_key k = make_key("ES256");
  auto done = c.post(order["finalize"].get<std::string>(), json{{"csr", csr_b64(k, {"*.example.org"})}});
  INFO(done.body);
  CHECK(done.status == 200);
}

TEST_CASE("authorizations are reused: valid ones for R-DOMAIN-REUSE, pending ones instead of piling up", "[acme]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  auto first = body_of(c.order({"www.example.org"}));
  auto second = body_of(c.order({"www.example.org", "api.example.org"}));
  CHECK(second["authorizations"][0] == first["authorizations"][0]);  // pending, shared
  c.validate_all(first);
  f.clk.advance(std::chrono::hours(1));
  auto third = c.order({"www.example.org"});
  REQUIRE(third.status == 201);
  auto o = body_of(third);
  CHECK(o["authorizations"][0] == first["authorizations"][0]);
  CHECK(o["status"] == "ready");
  // After acme_authz_reuse_days the authorization no longer counts.
  f.clk.advance(std::chrono::days(f.cfg.wot.acme_authz_reuse_days));
  auto later = body_of(c.order({"www.example.org"}));
  CHECK(later["authorizations"][0] != first["authorizations"][0]);
  CHECK(later["status"] == "pending");
}

TEST_CASE("finalize refuses a CSR whose names differ from the order's (badCSR)", "[acme]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  auto created = c.order({"www.example.org"});
  const auto location = *header(created, "Location");
  auto order = body_of(created);
  test_key k = make_key("ES256");
  problem_of(c.post(order["finalize"].get<std::string>(), json{{"csr", csr_b64(k, {"www.example.org"})}}),
             "orderNotReady", 403);
  c.validate_all(order);
  auto extra = problem_of(
      c.post(order["finalize"].get<std::string>(), json{{"csr", csr_b64(k, {"www.example.org", "evil.example.org"})}}),
      "badCSR", 400);
  CHECK(extra["detail"].get<std::string>().find("evil.example.org") != std::string::npos);
  auto cn = problem_of(c.post(order["finalize"].get<std::string>(),
                              json{{"csr", csr_b64(k, {"www.example.org"}, std::string("other.example.org"))}}),
                       "badCSR", 400);
  CHECK(cn["detail"].get<std::string>().find("other.example.org") != std::string::npos);
  problem_of(c.post(order["finalize"].get<std::string>(), json{{"csr", "not base64!"}}), "badCSR", 400);
  // The order is still ready; a CN equal to a SAN is fine.
  CHECK(body_of(c.post(location, ""))["status"] == "ready");
  auto ok = c.post(order["finalize"].get<std::string>(),
                   json{{"csr", csr_b64(k, {"www.example.org"}, std::string("www.example.org"))}});
  CHECK(ok.status == 200);
}

TEST_CASE("finalize decides again: a member who fell under 50 AP gets no certificate (R-RECHECK)", "[acme][policy]") {
  acme_fixture f;
  const member_id alice = f.member("alice@example.org", 100);
  client c(f);
  c.register_for(alice);
  auto created = c.order({"www.example.org"});
  const auto location = *header(created, "Location");
  auto order = body_of(created);
  c.validate_all(order);
  REQUIRE(body_of(c.post(location, ""))["status"] == "ready");
  f.withdraw_all(alice);
  const auto head = feed_head(f);
  auto p = problem_of(c.post(order["finalize"].get<std::string>(),
                             json{{"csr", csr_b64(make_key("ES256"), {"www.example.org"})}}),
                      "unauthorized", 403);
  const auto detail = p["detail"].get<std::string>();
  CHECK(detail.find("R-RECHECK") != std::string::npos);
  CHECK(detail.find("R-SERVER-50") != std::string::npos);
  CHECK(f.certificates_of(alice).empty());
  CHECK(feed_head(f) == head);
  CHECK(body_of(c.post(location, ""))["status"] == "invalid");
}

TEST_CASE("revokeCert by the account key and by the certificate's key feeds OCSP", "[acme]") {
  acme_fixture f;
  const member_id alice = f.member("alice@example.org", 100);
  client c(f);
  c.register_for(alice);
  test_key k1 = make_key("ES256");
  auto o1 = c.issue({"www.example.org"}, k1);
  auto leaf1 = leaf_of(c.post(o1["certificate"].get<std::string>(), "").body);

  // Another member's account may not revoke it.
  client mallory(f);
  mallory.register_for(f.member("mallory@example.org", 100));
  problem_of(mallory.post("/acme/revoke-cert", json{{"certificate", der_b64(*leaf1)}}), "unauthorized", 403);
  problem_of(c.post("/acme/revoke-cert", json{{"certificate", der_b64(*leaf1)}, {"reason", 6}}),
             "badRevocationReason", 400);
  problem_of(c.post("/acme/revoke-cert", json{{"certificate", der_b64(*leaf1)}, {"reason", 7}}),
             "badRevocationReason", 400);

  const auto head = feed_head(f);
  auto revoked = c.post("/acme/revoke-cert", json{{"certificate", der_b64(*leaf1)}, {"reason", 1}});
  INFO(revoked.body);
  REQUIRE(revoked.status == 200);
  auto events = feed_after(f, head);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == "revoke");
  auto certs = f.certificates_of(alice);
  REQUIRE(certs.size() == 1);
  CHECK(events[0].serial == certs[0].serial);
  CHECK(certs[0].status == cert_status::revoked);
  CHECK(certs[0].reason == revocation_reason::key_compromise);
  problem_of(c.post("/acme/revoke-cert", json{{"certificate", der_b64(*leaf1)}}), "alreadyRevoked", 400);

  // Signed with the certificate's own key (jwk), no account.
  test_key k2 = make_key("ES256");
  auto o2 = c.issue({"api.example.org"}, k2);
  auto leaf2 = leaf_of(c.post(o2["certificate"].get<std::string>(), "").body);
  client holder(f);
  holder.key = make_key("ES256");
  // A stranger's key is refused ...
  problem_of(holder.post("/acme/revoke-cert", json{{"certificate", der_b64(*leaf2)}}.dump(), true), "unauthorized",
             403);
  // ... the certificate's key is accepted.
  client by_cert(f);
  by_cert.key = std::move(k2);
  const auto head2 = feed_head(f);
  auto r2 = by_cert.post("/acme/revoke-cert", json{{"certificate", der_b64(*leaf2)}}.dump(), true);
  INFO(r2.body);
  CHECK(r2.status == 200);
  auto events2 = feed_after(f, head2);
  REQUIRE(events2.size() == 1);
  CHECK(events2[0].kind == "revoke");
}

TEST_CASE("ARI suggests a window per certificate and moves it earlier after revocation", "[acme][ari]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  test_key k = make_key("ES256");
  auto o = c.issue({"www.example.org"}, k);
  auto leaf = leaf_of(c.post(o["certificate"].get<std::string>(), "").body);
  const std::string id = ari_id(*leaf);
  auto r = f.get("/acme/renewal-info/" + id);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(header(r, "Retry-After").has_value());
  auto w = body_of(r)["suggestedWindow"];
  const sys_seconds issued = f.clk.now();
  const auto life = std::chrono::days(f.cfg.policy.acme_server_days);
  CHECK(w["start"] == format_time(issued + std::chrono::duration_cast<std::chrono::seconds>(life) * 2 / 3));
  CHECK(w["end"] == format_time(issued + std::chrono::duration_cast<std::chrono::seconds>(life) * 3 / 4));

  f.clk.advance(std::chrono::days(3));
  REQUIRE(c.post("/acme/revoke-cert", json{{"certificate", der_b64(*leaf)}, {"reason", 4}}).status == 200);
  auto after = body_of(f.get("/acme/renewal-info/" + id))["suggestedWindow"];
  CHECK(after["start"] == format_time(f.clk.now()));
  CHECK(after["start"].get<std::string>() < w["start"].get<std::string>());

  problem_of(f.get("/acme/renewal-info/AAAA.AAAA"), "malformed", 404);
  problem_of(f.get("/acme/renewal-info/nonsense"), "malformed", 400);
}

TEST_CASE("orders are rate-limited per account with Retry-After (RFC 8555 6.6)", "[acme]") {
  acme_fixture f([](config& c) { c.acme.orders_per_account_hour = 2; });
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  REQUIRE(c.order({"a.example.org"}).status == 201);
  f.clk.advance(std::chrono::minutes(10));
  REQUIRE(c.order({"b.example.org"}).status == 201);
  auto limited = c.order({"c.example.org"});
  problem_of(limited, "rateLimited", 429);
  CHECK(header(limited, "Retry-After") == std::to_string(3600 - 600));
  f.clk.advance(std::chrono::minutes(51));
  CHECK(c.order({"c.example.org"}).status == 201);
}

TEST_CASE("a rate limit reached with orders to spare waits for the limit-th newest to age", "[acme]") {
  // Three orders in the hour against a limit lowered to two (a
  // configuration reload): the next one is allowed once only two are left
  // in the window, when the second newest is an hour old, not the oldest.
  acme_fixture f([](config& c) { c.acme.orders_per_account_hour = 3; });
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  REQUIRE(c.order({"a.example.org"}).status == 201);
  f.clk.advance(std::chrono::minutes(10));
  REQUIRE(c.order({"b.example.org"}).status == 201);
  f.clk.advance(std::chrono::minutes(10));
  REQUIRE(c.order({"c.example.org"}).status == 201);
  f.cfg.acme.orders_per_account_hour = 2;
  auto limited = c.order({"d.example.org"});
  auto p = problem_of(limited, "rateLimited", 429);
  CHECK(header(limited, "Retry-After") == std::to_string(3600 - 600));
  CHECK(p["detail"].get<std::string>().find("2 orders") != std::string::npos);
  f.clk.advance(std::chrono::minutes(50));
  CHECK(c.order({"d.example.org"}).status == 201);
}

TEST_CASE("orders are rate-limited per member across accounts", "[acme]") {
  acme_fixture f([](config& c) { c.acme.orders_per_member_hour = 1; });
  const member_id alice = f.member("alice@example.org", 100);
  client c1(f), c2(f);
  c1.register_for(alice);
  c2.register_for(alice);
  REQUIRE(c1.order({"a.example.org"}).status == 201);
  auto limited = c2.order({"b.example.org"});
  auto p = problem_of(limited, "rateLimited", 429);
  CHECK(p["detail"].get<std::string>().find("member") != std::string::npos);
  CHECK(header(limited, "Retry-After") == "3600");
}

TEST_CASE("pending orders and authorizations expire", "[acme]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  auto created = c.order({"www.example.org"});
  const auto location = *header(created, "Location");
  auto order = body_of(created);
  f.clk.advance(std::chrono::hours(f.cfg.acme.order_hours) + std::chrono::seconds(1));
  auto o = body_of(c.post(location, ""));
  CHECK(o["status"] == "invalid");
  CHECK(o.contains("error"));
  auto a = body_of(c.post(order["authorizations"][0].get<std::string>(), ""));
  CHECK(a["status"] == "expired");
  // Expired ones are not reused, and the store says so too.
  auto next = body_of(c.order({"www.example.org"}));
  CHECK(next["authorizations"][0] != order["authorizations"][0]);
  REQUIRE(f.db->read([&](transaction& tx) -> result<void> {
    auto stored = tx.acme().find_order(location.substr(location.rfind('/') + 1));
    REQUIRE(stored);
    REQUIRE(*stored);
    CHECK((*stored)->status == acme_order_status::invalid);
    return {};
  }));
  problem_of(c.post(order["authorizations"][0].get<std::string>(), json{{"status", "valid"}}), "malformed", 400);
  // Nor listed.
  auto list = body_of(c.post(*c.kid + "/orders", ""));
  CHECK(list["orders"].size() == 1);
}

TEST_CASE("concurrent challenge POSTs start one validation", "[acme][concurrency]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  f.validator.synchronous = false;
  auto order = body_of(c.order({"www.example.org"}));
  auto authz = body_of(c.post(order["authorizations"][0].get<std::string>(), ""));
  const auto url = authz["challenges"][0]["url"].get<std::string>();
  const auto other = authz["challenges"][1]["url"].get<std::string>();
  // Bodies signed up front (the test's signing is not shared between threads).
  std::vector<http_exchange_request> requests;
  for (int i = 0; i < 8; ++i) {
    const auto& target = i % 2 == 0 ? url : other;
    requests.push_back(c.request(client::path_of(target), c.body(target, "{}")));
  }
  std::vector<http_exchange_response> responses(requests.size());
  std::vector<std::thread> threads;
  std::latch start(static_cast<std::ptrdiff_t>(requests.size()));  // all at once, each on its own connection
  for (std::size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      responses[i] = f.svc->handle(requests[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : responses) CHECK(r.status == 200);
  CHECK(f.validator.seen().size() == 1);
  CHECK(f.validator.finish(true) == 1);
  CHECK(body_of(c.post(order["authorizations"][0].get<std::string>(), ""))["status"] == "valid");
}

TEST_CASE("an order that replaces a certificate must renew one of the member's own, once (RFC 9773 5)",
          "[acme][ari]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  test_key k = make_key("ES256");
  auto first = leaf_of(c.post(c.issue({"www.example.org"}, k)["certificate"].get<std::string>(), "").body);
  auto second = leaf_of(c.post(c.issue({"api.example.org"}, k)["certificate"].get<std::string>(), "").body);
  auto order_replacing = [&](client& who, const std::string& name, const std::string& id) {
    return who.post("/acme/new-order",
                    json{{"identifiers", json::array({{{"type", "dns"}, {"value", name}}})}, {"replaces", id}});
  };

  // Renewing the first certificate: accepted, shown in the order, and once
  // finalized the certificate counts as replaced.
  auto renewal = order_replacing(c, "www.example.org", ari_id(*first));
  INFO(renewal.body);
  REQUIRE(renewal.status == 201);
  auto order = body_of(renewal);
  CHECK(order["replaces"] == ari_id(*first));
  // Not yet finalized: a second renewal order may still be made.
  CHECK(order_replacing(c, "www.example.org", ari_id(*first)).status == 201);
  c.validate_all(order);
  auto ready = body_of(c.post(*header(renewal, "Location"), ""));
  REQUIRE(ready["status"] == "ready");
  auto done = c.post(ready["finalize"].get<std::string>(), json{{"csr", csr_b64(k, {"www.example.org"})}});
  REQUIRE(done.status == 200);
  auto again = problem_of(order_replacing(c, "www.example.org", ari_id(*first)), "alreadyReplaced", 409);
  CHECK_THAT(again["detail"].get<std::string>(), Catch::Contains(*header(renewal, "Location")));

  // No identifier in common with the certificate it names.
  problem_of(order_replacing(c, "www.example.org", ari_id(*second)), "malformed", 400);
  // A well-formed id that names no certificate of this CA (the serial changed).
  std::string forged = ari_id(*second);
  forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
  problem_of(order_replacing(c, "api.example.org", forged), "malformed", 400);
  // Another member's certificate.
  client bob(f);
  bob.register_for(f.member("bob@example.net", 100));
  problem_of(order_replacing(bob, "api.example.org", ari_id(*second)), "unauthorized", 403);
  // The rightful renewal of the second one still goes through.
  CHECK(order_replacing(c, "api.example.org", ari_id(*second)).status == 201);
}

TEST_CASE("the orders list comes in pages linked by rel=\"next\" (RFC 8555 7.1.2.1)", "[acme]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  std::vector<std::string> made;
  for (int i = 0; i < 105; ++i) {
    auto o = c.order({"n" + std::to_string(i) + ".example.org"});
    REQUIRE(o.status == 201);
    made.push_back(*header(o, "Location"));
  }
  auto first = c.post(*c.kid + "/orders", "");
  REQUIRE(first.status == 200);
  auto page1 = body_of(first)["orders"];
  REQUIRE(page1.size() == 100);
  CHECK(page1[0] == made.back());  // newest first
  auto next_of = [](const http_exchange_response& r) -> std::optional<std::string> {
    for (const auto& l : headers(r, "Link")) {
      if (l.ends_with(">;rel=\"next\"")) return l;
    }
    return std::nullopt;
  };
  auto next = next_of(first);
  REQUIRE(next.has_value());
  const std::string next_url = next->substr(1, next->find('>') - 1);
  CHECK(next_url.starts_with(*c.kid + "/orders?cursor="));
  auto second = c.post(next_url, "");
  REQUIRE(second.status == 200);
  auto page2 = body_of(second)["orders"];
  REQUIRE(page2.size() == 5);
  CHECK(page2[4] == made.front());
  CHECK_FALSE(next_of(second).has_value());  // the last page
  // Every order exactly once across the pages.
  std::set<std::string> seen;
  for (const auto& u : page1) seen.insert(u.get<std::string>());
  for (const auto& u : page2) seen.insert(u.get<std::string>());
  CHECK(seen == std::set<std::string>(made.begin(), made.end()));

  problem_of(c.post(*c.kid + "/orders?cursor=x", ""), "malformed", 400);
  problem_of(c.post(*c.kid + "/orders?page=2", ""), "malformed", 400);
}

namespace {
// A transport's timer that fires only when the test says so.
struct manual_timer {
  std::vector<std::pair<std::chrono::milliseconds, std::function<void()>>> armed;
  exchange_timer fn() {
    return [this](std::chrono::milliseconds d, std::function<void()> f) { armed.emplace_back(d, std::move(f)); };
  }
};

// What a transport received through one responder.
struct answers {
  std::vector<http_exchange_response> got;
  exchange_responder fn() {
    return [this](http_exchange_response r) { got.push_back(std::move(r)); };
  }
};

// A pending authorization's first challenge URL, for `c`'s new order of `name`.
std::string challenge_url_of(client& c, const std::string& name) {
  auto order = body_of(c.order({name}));
  auto authz = body_of(c.post(order["authorizations"][0].get<std::string>(), ""));
  return authz["challenges"][0]["url"].get<std::string>();
}

// A member's client POSTs the challenge of a new order for www.example.org
// through handle_async; the answers and the armed deadline are kept.
struct async_challenge {
  client c;
  std::string url;
  manual_timer timer;
  answers a;
  explicit async_challenge(acme_fixture& f) : c(f) { c.register_for(f.member("alice@example.org", 100)); }
  void post() {
    url = challenge_url_of(c, "www.example.org");
    c.f.svc->handle_async(c.request(client::path_of(url), c.body(url, "{}")), a.fn(), timer.fn());
  }
};
}  // namespace

TEST_CASE("a challenge POST is answered with the validation's result when it ends in time", "[acme]") {
  acme_fixture f;
  async_challenge x(f);
  x.post();
  // The fake validator ended at once: one answer, the challenge valid.
  REQUIRE(x.a.got.size() == 1);
  INFO(x.a.got[0].body);
  CHECK(x.a.got[0].status == 200);
  CHECK(body_of(x.a.got[0])["status"] == "valid");
  CHECK(header(x.a.got[0], "Replay-Nonce").has_value());
  auto up = header(x.a.got[0], "Link");
  REQUIRE(up);
  CHECK_THAT(*up, Catch::Contains("rel=\"up\""));
  // The deadline was armed for answer_wait_ms; firing it now answers nothing more.
  REQUIRE(x.timer.armed.size() == 1);
  CHECK(x.timer.armed[0].first == std::chrono::milliseconds(f.cfg.acme.validation.answer_wait_ms));
  x.timer.armed[0].second();
  CHECK(x.a.got.size() == 1);
}

TEST_CASE("a failed validation that ends in time is answered invalid with its error", "[acme]") {
  acme_fixture f;
  async_challenge x(f);
  f.validator.succeed = false;
  x.post();
  REQUIRE(x.a.got.size() == 1);
  auto ch = body_of(x.a.got[0]);
  CHECK(ch["status"] == "invalid");
  CHECK(ch["error"]["type"] == "urn:ietf:params:acme:error:incorrectResponse");
}

TEST_CASE("a validation lost with its daemon is validated again by a later sweep", "[acme]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  f.validator.synchronous = false;
  auto order = body_of(c.order({"www.example.org"}));
  const auto authz_url = order["authorizations"][0].get<std::string>();
  const auto url = body_of(c.post(authz_url, ""))["challenges"][0]["url"].get<std::string>();
  CHECK(body_of(c.post(url, json::object()))["status"] == "processing");
  f.validator.drop();  // the daemon running it died: no outcome ever comes
  // Within the time a validation may take, it stays processing and is not started twice.
  f.clk.advance(std::chrono::minutes(2));
  CHECK(body_of(c.post(url, ""))["status"] == "processing");
  CHECK(body_of(c.post(url, json::object()))["status"] == "processing");
  CHECK(f.validator.seen().size() == 1);
  // Past it (at least 5 minutes), the next request's sweep claims it and validates it again.
  f.clk.advance(std::chrono::minutes(10));
  CHECK(body_of(c.post(url, ""))["status"] == "processing");
  REQUIRE(f.validator.seen().size() == 2);
  CHECK(f.validator.seen()[1].challenge_id == f.validator.seen()[0].challenge_id);
  CHECK(f.validator.seen()[1].key_authorization == f.validator.seen()[0].key_authorization);
  CHECK(f.validator.seen()[1].domain == "www.example.org");
  // Claimed once: a later sweep within the time a validation may take leaves it.
  f.clk.advance(std::chrono::minutes(2));
  CHECK(body_of(c.post(url, ""))["status"] == "processing");
  CHECK(f.validator.seen().size() == 2);
  CHECK(f.validator.finish(true) == 1);
  CHECK(body_of(c.post(authz_url, ""))["status"] == "valid");
  CHECK(domain(f, "www.example.org").has_value());
}

TEST_CASE("a validation its validator abandons on shutdown is run again by the next sweep, not failed", "[acme]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  f.validator.synchronous = false;
  auto order = body_of(c.order({"www.example.org"}));
  const auto authz_url = order["authorizations"][0].get<std::string>();
  const auto url = body_of(c.post(authz_url, ""))["challenges"][0]["url"].get<std::string>();
  CHECK(body_of(c.post(url, json::object()))["status"] == "processing");
  CHECK(f.validator.abandon() == 1);  // the daemon stops (SIGTERM, a restart)
  // Not failed: still processing, as the client keeps seeing it.
  auto authz = body_of(c.post(authz_url, ""));
  CHECK(authz["status"] == "pending");
  CHECK(authz["challenges"][0]["status"] == "processing");
  CHECK_FALSE(authz["challenges"][0].contains("error"));
  CHECK(f.validator.seen().size() == 1);
  // The first sweep after it (a minute at most; at once after a restart) claims it.
  f.clk.advance(std::chrono::seconds(61));
  CHECK(body_of(c.post(url, ""))["status"] == "processing");
  REQUIRE(f.validator.seen().size() == 2);
  CHECK(f.validator.seen()[1].challenge_id == f.validator.seen()[0].challenge_id);
  CHECK(f.validator.finish(true) == 1);
  CHECK(body_of(c.post(authz_url, ""))["status"] == "valid");
}

TEST_CASE("a validation that ends after its authorization was deactivated changes nothing else", "[acme]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  f.validator.synchronous = false;
  auto order = body_of(c.order({"www.example.org"}));
  const auto authz_url = order["authorizations"][0].get<std::string>();
  const auto url = body_of(c.post(authz_url, ""))["challenges"][0]["url"].get<std::string>();
  CHECK(body_of(c.post(url, json::object()))["status"] == "processing");
  CHECK(body_of(c.post(authz_url, json{{"status", "deactivated"}}))["status"] == "deactivated");
  CHECK(f.validator.finish(true) == 1);
  // Deactivated is final (RFC 8555 7.1.6): the result closes the challenge only.
  auto authz = body_of(c.post(authz_url, ""));
  CHECK(authz["status"] == "deactivated");
  CHECK(authz["challenges"][0]["status"] == "invalid");
  CHECK(authz["challenges"][0]["error"]["detail"].get<std::string>().find("deactivated") != std::string::npos);
  CHECK_FALSE(domain(f, "www.example.org").has_value());
  const auto finalize = order["finalize"].get<std::string>();
  CHECK(body_of(c.post(finalize.substr(0, finalize.size() - std::string("/finalize").size()), ""))["status"] != "ready");
}

TEST_CASE("a validation still running at the deadline is answered processing, once", "[acme]") {
  acme_fixture f;
  async_challenge x(f);
  f.validator.synchronous = false;
  x.post();
  CHECK(x.a.got.empty());  // waiting for the validation or the deadline
  REQUIRE(x.timer.armed.size() == 1);
  x.timer.armed[0].second();
  REQUIRE(x.a.got.size() == 1);
  CHECK(body_of(x.a.got[0])["status"] == "processing");
  // The validation ends later: recorded, but not answered a second time.
  CHECK(f.validator.finish(true) == 1);
  CHECK(x.a.got.size() == 1);
  auto again = body_of(x.c.post(x.url, ""));
  CHECK(again["status"] == "valid");
}

TEST_CASE("with answer_wait_ms 0 a challenge POST is answered at once", "[acme]") {
  acme_fixture f([](config& cfg) { cfg.acme.validation.answer_wait_ms = 0; });
  async_challenge x(f);
  f.validator.synchronous = false;
  x.post();
  REQUIRE(x.a.got.size() == 1);
  CHECK(body_of(x.a.got[0])["status"] == "processing");
  CHECK(x.timer.armed.empty());
  CHECK(f.validator.finish(true) == 1);
  CHECK(x.a.got.size() == 1);
}

TEST_CASE("requests other than a challenge POST are answered at once by handle_async", "[acme]") {
  acme_fixture f;
  manual_timer timer;
  answers a;
  http_exchange_request dir;
  dir.method = "GET";
  dir.target = "/directory";
  f.svc->handle_async(dir, a.fn(), timer.fn());
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].status == 200);
  CHECK(body_of(a.got[0]).contains("newOrder"));
  CHECK(timer.armed.empty());
}
