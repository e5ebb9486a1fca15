// The issuing service as a value: a CA made by init_ca in a temporary
// folder, a fixed clock, and the store inspected after each call.
#include <catch2/catch.hpp>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "core/ca/authority.h"
#include "core/ca/registry.h"
#include "core/store/sqlite_store.h"

using namespace wotca;
namespace fs = std::filesystem;

namespace {

struct fixture {
  fs::path dir;
  fixed_clock clk{sys_seconds{std::chrono::seconds{1795000000}}};  // 2026-11-18
  system_random rng;
  config cfg;
  std::unique_ptr<sqlite_store> db;
  std::optional<ca_material> ca;

  fixture() {
    std::string pattern = (fs::temp_directory_path() / "wotca-ca-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir = fs::path(pattern) / "data";
    std::string text = render_config(dir);
    auto c = parse_config(text, dir);
    REQUIRE(c);
    cfg = *c;
    auto made = init_ca(cfg, dir / "wotca.yaml", text, clk, rng);
    INFO((made ? std::string() : describe(made.error())));
    REQUIRE(made);
    auto s = sqlite_store::open(cfg.database, open_mode::existing);
    REQUIRE(s);
    db = std::move(*s);
    auto m = load_ca(cfg);
    REQUIRE(m);
    ca = std::move(*m);
  }
  ~fixture() {
    std::error_code ec;
    fs::remove_all(dir.parent_path(), ec);
  }

  member_id member(const std::string& email) {
    registry reg(cfg, *db, clk, rng);
    auto m = reg.add_member(new_member{member_kind::person, "Test Person", "1980-01-01", email, true}, "test");
    REQUIRE(m);
    REQUIRE(reg.verify_email_by_operator(m->id, email, "test", "test"));
    return m->id;
  }

  parsed_csr csr_for(const std::string& san) {
    auto key = generate_key(key_algorithm::ec_p256);
    REQUIRE(key);
    x509_req_ptr req(X509_REQ_new());
    X509_REQ_set_pubkey(req.get(), key->get());
    x509_extension_stack_ptr exts(sk_X509_EXTENSION_new_null());
    sk_X509_EXTENSION_push(exts.get(), X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
    X509_REQ_add_extensions(req.get(), exts.get());
    REQUIRE(X509_REQ_sign(req.get(), key->get(), EVP_sha256()) > 0);
    int len = i2d_X509_REQ(req.get(), nullptr);
    std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
    unsigned char* p = der.data();
    i2d_X509_REQ(req.get(), &p);
    auto parsed = parse_csr(der);
    REQUIRE(parsed);
    return std::move(*parsed);
  }

  int count(const std::function<bool(const certificate_record&)>& pred, member_id who) {
    int n = 0;
    REQUIRE(db->read([&](transaction& tx) -> result<void> {
      auto l = tx.certificates().of_member(who);
      if (!l) return unexpected(l.error());
      for (const auto& c : *l) n += pred(c) ? 1 : 0;
      return {};
    }));
    return n;
  }
  std::int64_t feed_head() {
    std::int64_t h = 0;
    REQUIRE(db->read([&](transaction& tx) -> result<void> {
      auto r = tx.changes().head();
      if (!r) return unexpected(r.error());
      h = *r;
      return {};
    }));
    return h;
  }
};

}  // namespace

TEST_CASE("issue_many decides each request on its own and records only grants", "[ca]") {
  fixture f;
  const member_id alice = f.member("alice@example.org");
  const std::int64_t head_before = f.feed_head();
  parsed_csr email = f.csr_for("email:alice@example.org");
  parsed_csr server = f.csr_for("DNS:www.example.org");
  parsed_csr other = f.csr_for("email:bob@example.org");
  const certificate_authority::request reqs[] = {
      {alice, &email, cert_profile::client_email, std::nullopt, request_path::cli, "test"},
      {alice, &server, cert_profile::server, std::nullopt, request_path::acme, "test"},   // R-SERVER-50
      {alice, &other, cert_profile::client_email, std::nullopt, request_path::cli, "test"},  // not her email
      {alice + 100, &email, cert_profile::client_email, std::nullopt, request_path::cli, "test"},
  };
  certificate_authority authority(f.cfg, *f.db, *f.ca, f.clk, f.rng);
  auto out = authority.issue_many(reqs);
  REQUIRE(out.size() == 4);

  REQUIRE(out[0]);
  const auto& issued = std::get<issued_certificate>(*out[0]);
  CHECK(issued.record.status == cert_status::valid);
  CHECK(issued.record.issuer == issuer_class::class1);
  CHECK(issued.record.subject == "CN=WoTCA Member");
  CHECK(issued.record.not_before == f.clk.now());
  CHECK(issued.record.not_after == f.clk.now() + std::chrono::days(180));
  CHECK(issued.chain_pem.find(to_pem(*f.ca->class1.cert)) != std::string::npos);

  REQUIRE(out[1]);
  CHECK(std::get<denial>(*out[1]).rule == "R-SERVER-50");
  REQUIRE(out[2]);
  CHECK(std::get<denial>(*out[2]).rule == "R-EMAIL-PROBE");
  REQUIRE_FALSE(out[3]);
  CHECK(out[3].error().code == errc::not_found);

  // Exactly one row, valid, with its DER; one change-feed event.
  CHECK(f.count([](const certificate_record&) { return true; }, alice) == 1);
  CHECK(f.count([](const certificate_record& c) { return c.status == cert_status::valid && !c.der.empty(); },
                alice) == 1);
  CHECK(f.feed_head() == head_before + 1);
}

TEST_CASE("a change of facts between two calls is seen by the second (R-RECHECK)", "[ca]") {
  fixture f;
  const member_id alice = f.member("alice@example.org");
  parsed_csr email = f.csr_for("email:alice@example.org");
  certificate_authority authority(f.cfg, *f.db, *f.ca, f.clk, f.rng);
  auto first = authority.issue(alice, email, cert_profile::client_email, 30, request_path::cli, "test");
  REQUIRE(first);
  REQUIRE(std::holds_alternative<issued_certificate>(*first));
  registry reg(f.cfg, *f.db, f.clk, f.rng);
  auto locked = reg.lock_member(alice, "arbitration a-1", "test");
  REQUIRE(locked);
  CHECK(*locked == 1);  // R-REVOKE-CASCADE
  auto second = authority.issue(alice, email, cert_profile::client_email, 30, request_path::cli, "test");
  REQUIRE(second);
  CHECK(std::get<denial>(*second).rule == "R-LOCKED");
  CHECK(f.count([](const certificate_record& c) { return c.status == cert_status::revoked; }, alice) == 1);
}

TEST_CASE("revoke records time and reason once, and feeds the change", "[ca]") {
  fixture f;
  const member_id alice = f.member("alice@example.org");
  parsed_csr email = f.csr_for("email:alice@example.org");
  certificate_authority authority(f.cfg, *f.db, *f.ca, f.clk, f.rng);
  auto issued = authority.issue(alice, email, cert_profile::client_email, 30, request_path::cli, "test");
  REQUIRE(issued);
  const std::string serial = std::get<issued_certificate>(*issued).record.serial;
  const std::int64_t head = f.feed_head();
  f.clk.advance(std::chrono::seconds(90));
  auto r = authority.revoke(serial, revocation_reason::key_compromise, "test", "");
  REQUIRE(r);
  CHECK(r->status == cert_status::revoked);
  CHECK(r->revoked_at == f.clk.now());
  CHECK(f.feed_head() == head + 1);
  auto again = authority.revoke(serial, revocation_reason::key_compromise, "test", "");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == errc::conflict);
  CHECK(f.feed_head() == head + 1);
  auto unknown = authority.revoke(std::string(40, '1'), revocation_reason::unspecified, "test", "");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == errc::not_found);
}

TEST_CASE("domains_covering reads the member's domains that could cover the names, nothing else", "[ca]") {
  fixture f;
  const member_id alice = f.member("alice@example.org");
  const member_id bob = f.member("bob@example.net");
  const sys_seconds now = f.clk.now();
  auto add = [&](member_id who, const std::string& name) {
    REQUIRE(f.db->write([&](transaction& tx) -> result<void> {
      domain_name d;
      d.member = who;
      d.name = name;
      d.method = verification_method::acme_http01;
      d.verified_at = now;
      d.valid_until = now + std::chrono::days(30);
      auto id = tx.domains().add(d);
      if (!id) return unexpected(id.error());
      return {};
    }));
  };
  add(alice, "example.org");
  add(alice, "shop.example.org");
  add(alice, "unrelated.test");
  for (int i = 0; i < 50; ++i) add(alice, "bulk" + std::to_string(i) + ".example");
  add(bob, "example.net");
  add(bob, "www.example.com");

  auto names_of = [&](member_id who, std::vector<std::string> asked) {
    std::vector<std::string> out;
    REQUIRE(f.db->read([&](transaction& tx) -> result<void> {
      auto d = domains_covering(tx, who, asked);
      if (!d) return unexpected(d.error());
      for (const auto& x : *d) out.push_back(x.name);
      return {};
    }));
    return out;
  };
  // Parents, in id order; the wildcard and a trailing dot and upper case are
  // looked up as the name under them.
  CHECK(names_of(alice, {"WWW.Shop.Example.Org."}) == std::vector<std::string>{"example.org", "shop.example.org"});
  CHECK(names_of(alice, {"*.example.org"}) == std::vector<std::string>{"example.org"});
  CHECK(names_of(alice, {"bulk7.example", "a.unrelated.test"}) ==
        std::vector<std::string>{"unrelated.test", "bulk7.example"});
  // Another member's domain never counts, even when it covers the name.
  CHECK(names_of(alice, {"www.example.com", "example.net"}).empty());
  CHECK(names_of(bob, {"www.example.com"}) == std::vector<std::string>{"www.example.com"});
  CHECK(names_of(alice, {}).empty());

  // The policy decides on them as on all the member's domains.
  REQUIRE(f.db->read([&](transaction& tx) -> result<void> {
    auto narrow = gather_facts(tx, alice, now, f.cfg.wot, std::vector<std::string>{"a.shop.example.org"});
    auto all = gather_facts(tx, alice, now, f.cfg.wot);
    REQUIRE(narrow);
    REQUIRE(all);
    CHECK(narrow->domains.size() == 2);
    CHECK(all->domains.size() == 53);
    CHECK(narrow->points.ap == all->points.ap);
    return {};
  }));
}

TEST_CASE("issue's recording step commits with the certificate, or takes it down with it", "[ca]") {
  fixture f;
  const member_id alice = f.member("alice@example.org");
  parsed_csr email = f.csr_for("email:alice@example.org");
  certificate_authority authority(f.cfg, *f.db, *f.ca, f.clk, f.rng);

  SECTION("it sees the stored record and writes in the same transaction") {
    std::string seen_serial;
    bool had_der = false;
    auto out = authority.issue(alice, email, cert_profile::client_email, 30, request_path::acme, "test",
                               [&](transaction& tx, const certificate_record& rec) -> result<void> {
                                 seen_serial = rec.serial;
                                 had_der = !rec.der.empty() && rec.status == cert_status::valid;
                                 auto e = tx.audit().append(
                                     audit_entry{0, f.clk.now(), "test", "test.step", "cert:" + rec.serial, "{}"});
                                 if (!e) return unexpected(e.error());
                                 return {};
                               });
    REQUIRE(out);
    const auto& issued = std::get<issued_certificate>(*out);
    CHECK(seen_serial == issued.record.serial);
    CHECK(had_der);
    CHECK(f.count([](const certificate_record& c) { return c.status == cert_status::valid; }, alice) == 1);
  }
  SECTION("its error rolls the recording back: no valid certificate, the row stays reserved") {
    const std::int64_t head_before = f.feed_head();
    auto out = authority.issue(alice, email, cert_profile::client_email, 30, request_path::acme, "test",
                               [&](transaction&, const certificate_record&) -> result<void> {
                                 return fail(errc::conflict, "acme_order", "the order changed meanwhile");
                               });
    REQUIRE_FALSE(out);
    CHECK(out.error().message == "the order changed meanwhile");
    CHECK(f.count([](const certificate_record& c) { return c.status == cert_status::valid; }, alice) == 0);
    CHECK(f.count([](const certificate_record& c) { return c.status == cert_status::reserved && c.der.empty(); },
                  alice) == 1);
    CHECK(f.feed_head() == head_before);  // no issue event for OCSP and CRL
  }
}
