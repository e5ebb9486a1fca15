// wotca-acme's protocol service as a value for the unit tests: a CA made by
// init_ca in a temporary folder, a fixed clock, deterministic randomness, a
// challenge validator that answers at once or when told, and a client that
// signs requests with tests/unit/acme/jws_builder.h.
#pragma once

#include <catch2/catch.hpp>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "acme/service.h"
#include "core/ca/authority.h"
#include "core/ca/material.h"
#include "core/ca/registry.h"
#include "core/store/sqlite_store.h"
#include "core/util/encoding.h"
#include "tests/unit/acme/jws_builder.h"

namespace wotca::acme::testing {

namespace fs = std::filesystem;
using json = nlohmann::json;

// splitmix64: the same bytes every run.
class counting_random final : public random_source {
 public:
  void fill(std::span<std::uint8_t> out) override {
    std::lock_guard lock(mutex_);
    for (auto& b : out) {
      if (left_ == 0) {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        word_ = z ^ (z >> 31);
        left_ = 8;
      }
      b = static_cast<std::uint8_t>(word_ >> (8 * --left_));
    }
  }

 private:
  std::mutex mutex_;
  std::uint64_t state_ = 20240601;
  std::uint64_t word_ = 0;
  int left_ = 0;
};

// Completes at once (valid or not), or holds the jobs until finish().
class fake_validator final : public challenge_validator {
 public:
  bool synchronous = true;
  bool succeed = true;

  void validate(validation_job job, std::function<void(validation_outcome)> done) override {
    std::unique_lock lock(mutex_);
    seen_.push_back(job);
    if (!synchronous) {
      held_.emplace_back(std::move(job), std::move(done));
      return;
    }
    const bool ok = succeed;
    lock.unlock();
    done(outcome(ok));
  }
  // Completes every held job; returns how many.
  std::size_t finish(bool valid) {
    std::vector<std::pair<validation_job, std::function<void(validation_outcome)>>> jobs;
    {
      std::lock_guard lock(mutex_);
      jobs.swap(held_);
    }
    for (auto& [job, done] : jobs) done(outcome(valid));
    return jobs.size();
  }
  std::vector<validation_job> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  // Ends every held job undecided, as a stopping validator does; returns how many.
  std::size_t abandon() {
    std::vector<std::pair<validation_job, std::function<void(validation_outcome)>>> jobs;
    {
      std::lock_guard lock(mutex_);
      jobs.swap(held_);
    }
    for (auto& [job, done] : jobs) {
      validation_outcome o;
      o.abandoned = true;
      done(o);
    }
    return jobs.size();
  }
  // Forgets every held job without an outcome, as a daemon that died does.
  void drop() {
    std::lock_guard lock(mutex_);
    held_.clear();
  }

 private:
  static validation_outcome outcome(bool valid) {
    validation_outcome o;
    o.valid = valid;
    o.addresses_used = {"192.0.2.7"};
    if (!valid) {
      o.problem_type = "urn:ietf:params:acme:error:incorrectResponse";
      o.detail = "http://www.example.org/.well-known/acme-challenge/x answered 404";
    }
    return o;
  }
  std::mutex mutex_;
  std::vector<validation_job> seen_;
  std::vector<std::pair<validation_job, std::function<void(validation_outcome)>>> held_;
};

inline std::optional<std::string> header(const http_exchange_response& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return std::nullopt;
}

inline std::vector<std::string> headers(const http_exchange_response& r, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : r.headers) {
    if (n == name) out.push_back(v);
  }
  return out;
}

inline json body_of(const http_exchange_response& r) {
  auto j = json::parse(r.body, nullptr, false);
  INFO(r.body);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

// The problem document of `r`, which must be one of `type` (the part after
// "urn:ietf:params:acme:error:") with `status`.
inline json problem_of(const http_exchange_response& r, std::string_view type, unsigned status) {
  INFO(r.status << " " << r.body);
  CHECK(r.status == status);
  CHECK(header(r, "Content-Type") == "application/problem+json");
  json j = body_of(r);
  CHECK(j.value("type", "") == "urn:ietf:params:acme:error:" + std::string(type));
  CHECK(j.value("status", 0u) == status);
  CHECK(header(r, "Replay-Nonce").has_value());
  return j;
}

// A CSR for `names` (SAN dNSNames only unless `cn` is given), signed by `key`, as base64url DER.
inline std::string csr_b64(const test_key& key, const std::vector<std::string>& names,
                           std::optional<std::string> cn = std::nullopt) {
  x509_req_ptr req(X509_REQ_new());
  REQUIRE(X509_REQ_set_pubkey(req.get(), key.key.get()) == 1);
  if (cn) {
    x509_name_ptr subject(X509_NAME_new());
    REQUIRE(X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(cn->c_str()), -1, -1, 0) == 1);
    REQUIRE(X509_REQ_set_subject_name(req.get(), subject.get()) == 1);
  }
  std::string san;
  for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  x509_extension_stack_ptr exts(sk_X509_EXTENSION_new_null());
  sk_X509_EXTENSION_push(exts.get(), X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
  REQUIRE(X509_REQ_add_extensions(req.get(), exts.get()) == 1);
  REQUIRE(X509_REQ_sign(req.get(), key.key.get(), key.alg == "EdDSA" ? nullptr : EVP_sha256()) > 0);
  const int len = i2d_X509_REQ(req.get(), nullptr);
  REQUIRE(len > 0);
  std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_X509_REQ(req.get(), &p);
  return base64url_encode(der);
}

struct acme_fixture {
  static constexpr const char* base = "https://acme.test:14443";
  fs::path dir;
  fixed_clock clk{sys_seconds{std::chrono::seconds{1795000000}}};  // 2026-11-18
  counting_random rng;
  config cfg;
  std::unique_ptr<sqlite_store> db;
  std::optional<ca_material> ca;
  std::optional<certificate_authority> authority;
  fake_validator validator;
  std::unique_ptr<service> svc;

  explicit acme_fixture(const std::function<void(config&)>& tune = {}) {
    std::string pattern = (fs::temp_directory_path() / "wotca-acme-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir = fs::path(pattern) / "data";
    const std::string text = render_config(dir);
    auto c = parse_config(text, dir);
    REQUIRE(c);
    cfg = *c;
    auto made = init_ca(cfg, dir / "wotca.yaml", text, clk, rng);
    INFO((made ? std::string() : describe(made.error())));
    REQUIRE(made);
    cfg.acme.terms_of_service = "https://ca.test/terms";
    cfg.acme.website = "https://ca.test/";
    cfg.acme.caa_identities = {"ca.test"};
    if (tune) tune(cfg);
    auto s = sqlite_store::open(cfg.database, open_mode::existing);
    REQUIRE(s);
    db = std::move(*s);
    auto m = load_ca(cfg);
    REQUIRE(m);
    ca = std::move(*m);
    authority.emplace(cfg, *db, *ca, clk, rng);
    auto made_service = service::make(cfg, base, *db, *authority, *ca, validator, clk, rng);
    INFO((made_service ? std::string() : describe(made_service.error())));
    REQUIRE(made_service);
    svc = std::move(*made_service);
  }
  ~acme_fixture() {
    svc.reset();
    std::error_code ec;
    fs::remove_all(dir.parent_path(), ec);
  }

  // A member with `ap` AP (one founding assurance of that many points).
  member_id member(const std::string& email, int ap) {
    registry reg(cfg, *db, clk, rng);
    auto m = reg.add_member(new_member{member_kind::person, "Test Person", "1980-01-01", email, true}, "test");
    REQUIRE(m);
    REQUIRE(reg.verify_email_by_operator(m->id, email, "test", "test"));
    if (ap > 0) {
      REQUIRE(db->write([&](transaction& tx) -> result<void> {
        assurance a;
        a.assuree = m->id;
        a.points = ap;
        a.met_on = day_of(clk.now());
        a.place = "Test";
        a.documents = {"passport", "id-card"};
        a.method = assurance_method::founding;
        a.reason = "unit test";
        a.recorded_at = clk.now();
        auto id = tx.assurances().add(a);
        if (!id) return unexpected(id.error());
        return {};
      }));
    }
    return m->id;
  }

  // Withdraws every assurance `who` received (the member falls to 0 AP).
  void withdraw_all(member_id who) {
    REQUIRE(db->write([&](transaction& tx) -> result<void> {
      auto list = tx.assurances().received_by(who);
      if (!list) return unexpected(list.error());
      for (const auto& a : *list) {
        if (auto w = tx.assurances().withdraw(a.id, "case-2026-1"); !w) return w;
      }
      return {};
    }));
  }

  // An EAB key for `who`: kid and raw HMAC key.
  std::pair<std::string, std::vector<std::uint8_t>> eab(member_id who) {
    registry reg(cfg, *db, clk, rng);
    auto k = reg.new_eab_key(who, "test");
    REQUIRE(k);
    auto raw = base64url_decode(k->secret);
    REQUIRE(raw);
    return {k->id, *raw};
  }

  http_exchange_response get(const std::string& path, const std::string& method = "GET") {
    http_exchange_request r;
    r.method = method;
    r.target = path;
    r.remote = "192.0.2.1";
    return svc->handle(r);
  }

  std::string nonce() {
    auto r = get("/acme/new-nonce", "HEAD");
    auto n = header(r, "Replay-Nonce");
    REQUIRE(n);
    return *n;
  }

  std::vector<audit_entry> audit() {
    std::vector<audit_entry> out;
    REQUIRE(db->read([&](transaction& tx) -> result<void> {
      auto l = tx.audit().since(sys_seconds{});
      if (!l) return unexpected(l.error());
      out = std::move(*l);
      return {};
    }));
    return out;
  }

  std::vector<certificate_record> certificates_of(member_id who) {
    std::vector<certificate_record> out;
    REQUIRE(db->read([&](transaction& tx) -> result<void> {
      auto l = tx.certificates().of_member(who);
      if (!l) return unexpected(l.error());
      out = std::move(*l);
      return {};
    }));
    return out;
  }
};

// An ACME client as values: one account key, its kid once registered.
struct client {
  acme_fixture& f;
  test_key key;
  std::optional<std::string> kid;

  explicit client(acme_fixture& fx, std::string_view alg = "ES256") : f(fx), key(make_key(alg)) {}

  static std::string path_of(const std::string& url) {
    const std::string base = acme_fixture::base;
    return url.substr(0, base.size()) == base ? url.substr(base.size()) : url;
  }

  http_exchange_request request(const std::string& path, const std::string& body) const {
    http_exchange_request r;
    r.method = "POST";
    r.target = path;
    r.content_type = "application/jose+json";
    r.body = body;
    r.remote = "192.0.2.1";
    return r;
  }

  // The signed body for `path` (or a full URL) with `payload` ("" is POST-as-GET).
  std::string body(const std::string& path, const std::string& payload, std::optional<std::string> nonce = {},
                   bool use_jwk = false) {
    const std::string p = path_of(path);
    const std::string n = nonce ? *nonce : f.nonce();
    std::optional<std::string_view> k;
    if (kid && !use_jwk) k = *kid;
    return flattened_jws(key, protected_header(key, n, acme_fixture::base + p, k), payload);
  }

  http_exchange_response post(const std::string& path, const std::string& payload, bool use_jwk = false) {
    return f.svc->handle(request(path_of(path), body(path, payload, std::nullopt, use_jwk)));
  }
  http_exchange_response post(const std::string& path, const json& payload) { return post(path, payload.dump()); }
  http_exchange_response post(const std::string& path, const char* payload) { return post(path, std::string(payload)); }

  // newAccount with an EAB key of `who`; REQUIREs 201.
  json register_for(member_id who) {
    auto [eab_kid, hmac] = f.eab(who);
    json payload = {{"termsOfServiceAgreed", true},
                    {"contact", {"mailto:ops@example.org"}},
                    {"externalAccountBinding",
                     json::parse(eab_jws(eab_kid, hmac, std::string(acme_fixture::base) + "/acme/new-account", key))}};
    auto r = post("/acme/new-account", payload.dump(), true);
    INFO(r.body);
    REQUIRE(r.status == 201);
    auto location = header(r, "Location");
    REQUIRE(location);
    kid = *location;
    return body_of(r);
  }

  // newOrder for `names`; returns the response.
  http_exchange_response order(const std::vector<std::string>& names) {
    json ids = json::array();
    for (const auto& n : names) ids.push_back({{"type", "dns"}, {"value", n}});
    return post("/acme/new-order", json{{"identifiers", ids}});
  }

  // Validates every pending authorization of `order` through its first
  // offered challenge (the fake validator answers at once).
  void validate_all(const json& order) {
    for (const auto& az : order["authorizations"]) {
      auto a = body_of(post(az.get<std::string>(), ""));
      if (a["status"] == "valid") continue;
      auto r = post(a["challenges"][0]["url"].get<std::string>(), json::object());
      REQUIRE(r.status == 200);
    }
  }

  // The whole flow for `names` with a CSR under `csr_key`; returns the valid order.
  json issue(const std::vector<std::string>& names, const test_key& csr_key) {
    auto created = order(names);
    INFO(created.body);
    REQUIRE(created.status == 201);
    const auto location = *header(created, "Location");
    validate_all(body_of(created));
    auto ready = body_of(post(location, ""));
    REQUIRE(ready["status"] == "ready");
    auto done = post(ready["finalize"].get<std::string>(), json{{"csr", csr_b64(csr_key, names)}});
    INFO(done.body);
    REQUIRE(done.status == 200);
    auto o = body_of(done);
    REQUIRE(o["status"] == "valid");
    return o;
  }
};

}  // namespace wotca::acme::testing
