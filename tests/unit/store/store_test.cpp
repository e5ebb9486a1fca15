// The one store suite (STYLE.md 3): every case runs against every backend
// in backends.h. Behaviour particular to SQLite (files, WAL, migrations,
// locks) is in sqlite_store_test.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/store/store.h"
#include "tests/unit/store/backends.h"

namespace wotca {
namespace {

using test::must;
using test::must_fail;

sys_seconds at(int y, int m, int d, int h = 0, int min = 0) {
  using namespace std::chrono;
  return sys_seconds{sys_days{year{y} / m / d}.time_since_epoch()} + hours{h} + minutes{min};
}

date day(int y, int m, int d) { return std::chrono::year{y} / m / d; }

// Runs `body` in a write transaction that must commit; `body` checks with
// REQUIRE, whose exception rolls the transaction back.
template <class Body>
void write(store& s, Body body) {
  must(s.write([&](transaction& t) -> result<void> {
    body(t);
    return {};
  }));
}

template <class Body>
void read(store& s, Body body) {
  must(s.read([&](transaction& t) -> result<void> {
    body(t);
    return {};
  }));
}

member person(std::string email, std::string name = "Alice Example") {
  member m;
  m.kind = member_kind::person;
  m.name = std::move(name);
  m.date_of_birth = day(1990, 5, 17);
  m.primary_email = std::move(email);
  m.cca_accepted_at = at(2024, 3, 1, 9, 30);
  m.created_at = at(2024, 3, 1, 9, 31);
  return m;
}

void check_same(const member& got, const member& want) {
  CHECK(got.kind == want.kind);
  CHECK(got.name == want.name);
  CHECK(got.date_of_birth == want.date_of_birth);
  CHECK(got.primary_email == want.primary_email);
  CHECK(got.cca_accepted_at == want.cca_accepted_at);
  CHECK(got.created_at == want.created_at);
  CHECK(got.locked == want.locked);
  CHECK(got.parental_consent_at == want.parental_consent_at);
  CHECK(got.code_signing_enabled == want.code_signing_enabled);
}

void check_same(const email_address& got, const email_address& want) {
  CHECK(got.member == want.member);
  CHECK(got.address == want.address);
  CHECK(got.method == want.method);
  CHECK(got.verified_at == want.verified_at);
  CHECK(got.valid_until == want.valid_until);
}

void check_same(const domain_name& got, const domain_name& want) {
  CHECK(got.member == want.member);
  CHECK(got.name == want.name);
  CHECK(got.method == want.method);
  CHECK(got.verified_at == want.verified_at);
  CHECK(got.valid_until == want.valid_until);
}

void check_same(const assurance& got, const assurance& want) {
  CHECK(got.assurer == want.assurer);
  CHECK(got.assuree == want.assuree);
  CHECK(got.points == want.points);
  CHECK(got.met_on == want.met_on);
  CHECK(got.place == want.place);
  CHECK(got.documents == want.documents);
  CHECK(got.method == want.method);
  CHECK(got.appeared_in_person == want.appeared_in_person);
  CHECK(got.mass_event == want.mass_event);
  CHECK(got.reason == want.reason);
  CHECK(got.recorded_at == want.recorded_at);
  CHECK(got.revoked_case == want.revoked_case);
}

void check_same(const certificate_record& got, const certificate_record& want) {
  CHECK(got.serial == want.serial);
  CHECK(got.issuer == want.issuer);
  CHECK(got.member == want.member);
  CHECK(got.profile == want.profile);
  CHECK(got.subject == want.subject);
  CHECK(got.sans == want.sans);
  CHECK(got.not_before == want.not_before);
  CHECK(got.not_after == want.not_after);
  CHECK(got.via == want.via);
  CHECK(got.created_at == want.created_at);
}

certificate_record certificate_for(member_id m, std::string serial, sys_seconds created) {
  certificate_record r;
  r.serial = std::move(serial);
  r.issuer = issuer_class::class3;
  r.member = m;
  r.profile = cert_profile::server;
  r.subject = "CN=www.example.org";
  r.sans = {"DNS:www.example.org", "DNS:example.org"};
  r.not_before = created;
  r.not_after = created + std::chrono::days{90};
  r.via = request_path::acme;
  r.created_at = created;
  return r;
}

std::vector<std::string> serials_of(const std::vector<certificate_record>& v) {
  std::vector<std::string> out;
  for (const auto& c : v) out.push_back(c.serial);
  return out;
}

// ---------------------------------------------------------------------------

TEMPLATE_TEST_CASE("members round-trip every field", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();

  member minor = person("alice@example.org");
  minor.date_of_birth = day(2010, 2, 28);
  minor.locked = true;
  minor.parental_consent_at = at(2024, 2, 29, 12);
  minor.code_signing_enabled = true;
  member org;
  org.kind = member_kind::organisation;
  org.name = "Example e.V.";
  org.date_of_birth = day(1900, 1, 1);
  org.primary_email = "office@example.org";
  org.cca_accepted_at = at(2024, 1, 1);
  org.created_at = at(2024, 1, 2);

  member_id minor_id = 0, org_id = 0;
  write(db, [&](transaction& t) {
    minor_id = must(t.members().add(minor));
    org_id = must(t.members().add(org));
  });
  CHECK(minor_id > 0);
  CHECK(org_id != minor_id);

  read(db, [&](transaction& t) {
    auto found = must(t.members().find(minor_id));
    REQUIRE(found);
    CHECK(found->id == minor_id);
    check_same(*found, minor);
    auto by_email = must(t.members().find_by_email("office@example.org"));
    REQUIRE(by_email);
    CHECK(by_email->id == org_id);
    check_same(*by_email, org);
    CHECK_FALSE(must(t.members().find(org_id + 1000)));
    CHECK_FALSE(must(t.members().find_by_email("nobody@example.org")));
    auto all = must(t.members().list());
    REQUIRE(all.size() == 2);
    CHECK(all[0].id == minor_id);
    CHECK(all[1].id == org_id);
  });

  SECTION("update changes every field and keeps the id") {
    std::optional<member> fetched;
    read(db, [&](transaction& t) { fetched = must(t.members().find(minor_id)); });
    REQUIRE(fetched);
    member changed = *fetched;
    changed.name = "Alice Renamed";
    changed.date_of_birth = day(2009, 12, 31);
    changed.primary_email = "alice@example.net";
    changed.locked = false;
    changed.parental_consent_at.reset();
    changed.code_signing_enabled = false;
    changed.cca_accepted_at = at(2024, 4, 1);
    write(db, [&](transaction& t) { must(t.members().update(changed)); });
    read(db, [&](transaction& t) {
      auto found = must(t.members().find(minor_id));
      REQUIRE(found);
      check_same(*found, changed);
      CHECK_FALSE(must(t.members().find_by_email("alice@example.org")));
    });
  }

  SECTION("update of an absent member is not_found") {
    member ghost = person("ghost@example.org");
    ghost.id = org_id + 1000;
    write(db, [&](transaction& t) { must_fail(t.members().update(ghost), errc::not_found); });
  }

  SECTION("a primary email belongs to one member (R-OWNERSHIP)") {
    write(db, [&](transaction& t) {
      auto e = must_fail(t.members().add(person("alice@example.org", "Mallory")), errc::conflict);
      CHECK(e.where == "R-OWNERSHIP");
      CHECK_THAT(e.message, Catch::Contains("alice@example.org"));
      member taken = org;
      taken.id = org_id;
      taken.primary_email = "alice@example.org";
      CHECK(must_fail(t.members().update(taken), errc::conflict).where == "R-OWNERSHIP");
    });
    read(db, [&](transaction& t) { CHECK(must(t.members().list()).size() == 2); });
  }

  SECTION("a date that cannot be read back is refused") {
    member bad = person("bad@example.org");
    bad.date_of_birth = day(2023, 2, 30);
    write(db, [&](transaction& t) {
      CHECK(must_fail(t.members().add(bad), errc::invalid_input).where == "member.date_of_birth");
    });
  }
}

TEMPLATE_TEST_CASE("emails round-trip, carry probes and belong to one member", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  member_id alice = 0, bob = 0;
  write(db, [&](transaction& t) {
    alice = must(t.members().add(person("alice@example.org")));
    bob = must(t.members().add(person("bob@example.org", "Bob Example")));
  });

  email_address verified{0, alice, "alice@example.org", verification_method::email_probe, at(2024, 3, 2, 8),
                         at(2026, 3, 2)};
  email_address pending{0, alice, "alice@work.example", verification_method::none, std::nullopt, std::nullopt};
  write(db, [&](transaction& t) {
    auto id1 = must(t.emails().add(verified));
    auto id2 = must(t.emails().add(pending));
    CHECK(id1 > 0);
    CHECK(id2 > id1);
  });

  read(db, [&](transaction& t) {
    auto found = must(t.emails().find("alice@example.org"));
    REQUIRE(found);
    CHECK(found->id > 0);
    check_same(*found, verified);
    auto mine = must(t.emails().of_member(alice));
    REQUIRE(mine.size() == 2);
    check_same(mine[0], verified);
    check_same(mine[1], pending);
    CHECK(must(t.emails().of_member(bob)).empty());
    CHECK_FALSE(must(t.emails().find("nobody@example.org")));
  });

  SECTION("an address belongs to at most one member (R-OWNERSHIP)") {
    write(db, [&](transaction& t) {
      auto e = must_fail(t.emails().add({0, bob, "alice@example.org", verification_method::none, {}, {}}),
                         errc::conflict);
      CHECK(e.where == "R-OWNERSHIP");
      CHECK_THAT(e.message, Catch::Contains("alice@example.org"));
      CHECK(must_fail(t.emails().add(verified), errc::conflict).where == "R-OWNERSHIP");
      // Case does not make a different address.
      must_fail(t.emails().add({0, bob, "Alice@EXAMPLE.org", verification_method::none, {}, {}}), errc::conflict);
      must_fail(t.members().add(person("ALICE@example.org")), errc::conflict);
    });
    read(db, [&](transaction& t) { CHECK(must(t.emails().find("alice@example.org"))->member == alice); });
  }

  SECTION("update keys by address") {
    email_address now_verified = pending;
    now_verified.method = verification_method::operator_override;
    now_verified.verified_at = at(2024, 3, 5);
    now_verified.valid_until = at(2025, 3, 5);
    write(db, [&](transaction& t) {
      must(t.emails().update(now_verified));
      must_fail(t.emails().update({0, alice, "nobody@example.org", verification_method::none, {}, {}}),
                errc::not_found);
    });
    read(db, [&](transaction& t) { check_same(*must(t.emails().find("alice@work.example")), now_verified); });
  }

  SECTION("a probe is stored hashed, replaced on resend and cleared") {
    const std::vector<std::uint8_t> first{0x01, 0x02, 0x03}, second(32, 0xab);
    write(db, [&](transaction& t) {
      CHECK_FALSE(must(t.emails().probe("alice@work.example")));
      must(t.emails().set_probe("alice@work.example", first, at(2024, 3, 3)));
      auto p = must(t.emails().probe("alice@work.example"));
      REQUIRE(p);
      CHECK(p->first == first);
      CHECK(p->second == at(2024, 3, 3));
      must(t.emails().set_probe("alice@work.example", second, at(2024, 3, 4)));
      p = must(t.emails().probe("alice@work.example"));
      REQUIRE(p);
      CHECK(p->first == second);
      CHECK(p->second == at(2024, 3, 4));
    });
    write(db, [&](transaction& t) {
      CHECK(must(t.emails().probe("alice@work.example"))->first == second);  // committed
      must(t.emails().clear_probe("alice@work.example"));
      CHECK_FALSE(must(t.emails().probe("alice@work.example")));
      must_fail(t.emails().set_probe("nobody@example.org", first, at(2024, 3, 3)), errc::not_found);
      must_fail(t.emails().probe("nobody@example.org"), errc::not_found);
      must_fail(t.emails().clear_probe("nobody@example.org"), errc::not_found);
    });
  }

  SECTION("a removed address may be registered again, by anyone") {
    write(db, [&](transaction& t) {
      must(t.emails().remove("alice@work.example"));
      must_fail(t.emails().remove("alice@work.example"), errc::not_found);
      CHECK_FALSE(must(t.emails().find("alice@work.example")));
      must(t.emails().add({0, bob, "alice@work.example", verification_method::none, {}, {}}));
    });
    read(db, [&](transaction& t) { CHECK(must(t.emails().find("alice@work.example"))->member == bob); });
  }

  SECTION("every verification method round-trips") {
    int n = 0;
    for (auto method : {verification_method::none, verification_method::email_probe,
                        verification_method::acme_http01, verification_method::acme_dns01,
                        verification_method::acme_tls_alpn01, verification_method::dns_txt,
                        verification_method::http_token, verification_method::operator_override}) {
      const std::string address = "m" + std::to_string(n++) + "@example.org";
      write(db, [&](transaction& t) { must(t.emails().add({0, bob, address, method, at(2024, 1, 1), {}})); });
      read(db, [&](transaction& t) { CHECK(must(t.emails().find(address))->method == method); });
    }
  }

  SECTION("an address of an absent member is not_found") {
    write(db, [&](transaction& t) {
      must_fail(t.emails().add({0, bob + 1000, "x@example.org", verification_method::none, {}, {}}),
                errc::not_found);
    });
  }
}

TEMPLATE_TEST_CASE("domains round-trip and belong to one member", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  member_id alice = 0, bob = 0;
  write(db, [&](transaction& t) {
    alice = must(t.members().add(person("alice@example.org")));
    bob = must(t.members().add(person("bob@example.org", "Bob Example")));
  });
  domain_name verified{0, alice, "example.org", verification_method::acme_dns01, at(2024, 3, 2), at(2025, 4, 4)};
  domain_name pending{0, alice, "xn--bcher-kva.example", verification_method::none, {}, {}};
  write(db, [&](transaction& t) {
    CHECK(must(t.domains().add(verified)) > 0);
    must(t.domains().add(pending));
  });

  read(db, [&](transaction& t) {
    check_same(*must(t.domains().find("example.org")), verified);
    auto mine = must(t.domains().of_member(alice));
    REQUIRE(mine.size() == 2);
    check_same(mine[0], verified);
    check_same(mine[1], pending);
    CHECK_FALSE(must(t.domains().find("example.net")));
  });

  SECTION("a domain belongs to at most one member (R-OWNERSHIP)") {
    write(db, [&](transaction& t) {
      auto e = must_fail(t.domains().add({0, bob, "example.org", verification_method::none, {}, {}}), errc::conflict);
      CHECK(e.where == "R-OWNERSHIP");
      CHECK_THAT(e.message, Catch::Contains("example.org"));
      must_fail(t.domains().add({0, bob, "Example.ORG", verification_method::none, {}, {}}), errc::conflict);
    });
  }

  SECTION("update, remove") {
    domain_name renewed = pending;
    renewed.method = verification_method::http_token;
    renewed.verified_at = at(2024, 5, 1);
    renewed.valid_until = at(2025, 6, 3);
    write(db, [&](transaction& t) {
      must(t.domains().update(renewed));
      must_fail(t.domains().update({0, alice, "example.net", verification_method::none, {}, {}}), errc::not_found);
      must(t.domains().remove("example.org"));
      must_fail(t.domains().remove("example.org"), errc::not_found);
    });
    read(db, [&](transaction& t) {
      check_same(*must(t.domains().find("xn--bcher-kva.example")), renewed);
      CHECK_FALSE(must(t.domains().find("example.org")));
    });
  }
}

TEMPLATE_TEST_CASE("a domain holds one pending proof-of-control challenge", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  write(db, [&](transaction& t) {
    auto alice = must(t.members().add(person("alice@example.org")));
    domain_name d;
    d.member = alice;
    d.name = "example.org";
    must(t.domains().add(d));
    CHECK_FALSE(must(t.domains().challenge("example.org")));
    must(t.domains().set_challenge("example.org", {"dns", "tok-1", at(2024, 3, 2)}));
    must(t.domains().set_challenge("example.org", {"http", "tok-2", at(2024, 3, 3)}));
    must_fail(t.domains().set_challenge("other.example", {"dns", "x", at(2024, 3, 2)}), errc::not_found);
  });
  read(db, [&](transaction& t) {
    auto c = must(t.domains().challenge("example.org"));
    REQUIRE(c);
    CHECK(c->method == "http");
    CHECK(c->token == "tok-2");
    CHECK(c->expires_at == at(2024, 3, 3));
  });
  write(db, [&](transaction& t) {
    must(t.domains().clear_challenge("example.org"));
    CHECK_FALSE(must(t.domains().challenge("example.org")));
    // The store refuses a method it does not know (CHECK constraint).
    CHECK_FALSE(t.domains().set_challenge("example.org", {"carrier-pigeon", "x", at(2024, 3, 2)}));
  });
}

TEMPLATE_TEST_CASE("assurances and CATS passes round-trip", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  member_id alice = 0, bob = 0, carol = 0;
  write(db, [&](transaction& t) {
    alice = must(t.members().add(person("alice@example.org")));
    bob = must(t.members().add(person("bob@example.org", "Bob Example")));
    carol = must(t.members().add(person("carol@example.org", "Carol Example")));
  });

  assurance met;
  met.assurer = alice;
  met.assuree = bob;
  met.points = 35;
  met.met_on = day(2024, 3, 9);
  met.place = "Berlin, Chaos Communication Camp";
  met.documents = {"passport", "id-card"};
  met.method = assurance_method::face_to_face;
  met.appeared_in_person = true;
  met.mass_event = true;
  met.recorded_at = at(2024, 3, 9, 15);
  assurance remote = met;
  remote.assuree = carol;
  remote.points = 35;
  remote.method = assurance_method::ttp;
  remote.appeared_in_person = false;
  remote.mass_event = false;
  remote.documents = {};
  std::int64_t met_id = 0;
  write(db, [&](transaction& t) {
    met_id = must(t.assurances().add(met));
    must(t.assurances().add(remote));
  });

  read(db, [&](transaction& t) {
    auto received = must(t.assurances().received_by(bob));
    REQUIRE(received.size() == 1);
    CHECK(received[0].id == met_id);
    check_same(received[0], met);
    auto given = must(t.assurances().given_by(alice));
    REQUIRE(given.size() == 2);
    check_same(given[0], met);
    check_same(given[1], remote);
    CHECK(must(t.assurances().given_by(bob)).empty());
    CHECK(must(t.assurances().count_founding()) == 0);
  });

  SECTION("an Assurer assures a member once (R-ASSURE-ONCE)") {
    assurance again = met;
    again.points = 10;
    again.met_on = day(2024, 4, 1);
    write(db, [&](transaction& t) {
      auto e = must_fail(t.assurances().add(again), errc::conflict);
      CHECK(e.where == "R-ASSURE-ONCE");
      // The other direction is a different pair.
      assurance back = met;
      back.assurer = bob;
      back.assuree = alice;
      must(t.assurances().add(back));
    });
    read(db, [&](transaction& t) { CHECK(must(t.assurances().received_by(bob)).size() == 1); });
  }

  SECTION("founding appointments have no assurer and never collide (R-BOOTSTRAP)") {
    assurance founding;
    founding.assurer.reset();
    founding.points = 100;
    founding.met_on = day(2024, 1, 1);
    founding.place = "operator";
    founding.method = assurance_method::founding;
    founding.reason = "first Assurer of the Example community, known in person to the operator";
    founding.recorded_at = at(2024, 1, 1, 10);
    write(db, [&](transaction& t) {
      founding.assuree = alice;
      must(t.assurances().add(founding));
      founding.assuree = carol;
      must(t.assurances().add(founding));
      must(t.assurances().add(founding));  // twice for one member: the store does not judge, policy does
      CHECK(must(t.assurances().count_founding()) == 3);
    });
    read(db, [&](transaction& t) {
      auto received = must(t.assurances().received_by(alice));
      REQUIRE(received.size() == 1);
      founding.assuree = alice;
      check_same(received[0], founding);
      CHECK_FALSE(received[0].assurer.has_value());
    });
  }

  SECTION("withdrawal records the case; counting founding includes withdrawn ones (R-ARBITRATION)") {
    std::int64_t founding_id = 0;
    write(db, [&](transaction& t) {
      assurance founding = met;
      founding.assurer.reset();
      founding.assuree = alice;
      founding.method = assurance_method::founding;
      founding.points = 100;
      founding_id = must(t.assurances().add(founding));
      must(t.assurances().withdraw(met_id, "a20240315.1"));
      must(t.assurances().withdraw(founding_id, "a20240315.2"));
    });
    write(db, [&](transaction& t) {
      CHECK(must(t.assurances().received_by(bob))[0].revoked_case == std::optional<std::string>("a20240315.1"));
      CHECK(must(t.assurances().count_founding()) == 1);
      auto e = must_fail(t.assurances().withdraw(met_id, "a20240316.1"), errc::conflict);
      CHECK_THAT(e.message, Catch::Contains("a20240315.1"));
      must_fail(t.assurances().withdraw(founding_id + 1000, "a20240316.1"), errc::not_found);
      must_fail(t.assurances().withdraw(met_id, ""), errc::invalid_input);
    });
  }

  SECTION("documents must be storable") {
    assurance bad = met;
    bad.assurer = carol;
    bad.documents = {"passport", "id\ncard"};
    write(db, [&](transaction& t) {
      CHECK(must_fail(t.assurances().add(bad), errc::invalid_input).where == "assurance.documents");
      bad.documents = {""};
      must_fail(t.assurances().add(bad), errc::invalid_input);
      bad.assurer = alice + 1000;
      bad.documents = {"passport"};
      must_fail(t.assurances().add(bad), errc::not_found);
    });
  }

  SECTION("every assurance method round-trips") {
    member_id assurer = carol;
    for (auto method : {assurance_method::face_to_face, assurance_method::ttp, assurance_method::topup,
                        assurance_method::founding}) {
      assurance a = met;
      a.assurer = assurer;
      a.assuree = alice;
      a.method = method;
      write(db, [&](transaction& t) {
        must(t.assurances().add(a));
        assurer = must(t.members().add(person("assurer" + std::to_string(assurer) + "@example.org")));
      });
      read(db, [&](transaction& t) { CHECK(must(t.assurances().received_by(alice)).back().method == method); });
    }
  }

  SECTION("CATS passes, oldest first") {
    write(db, [&](transaction& t) {
      must(t.assurances().add_cats_pass({alice, day(2024, 2, 1), "CATS-2024-en"}));
      must(t.assurances().add_cats_pass({alice, day(2023, 2, 1), "CATS-2023-de"}));
      must(t.assurances().add_cats_pass({bob, day(2024, 2, 2), "CATS-2024-en"}));
      must_fail(t.assurances().add_cats_pass({alice + 1000, day(2024, 2, 1), "x"}), errc::not_found);
    });
    read(db, [&](transaction& t) {
      auto passes = must(t.assurances().cats_of(alice));
      REQUIRE(passes.size() == 2);
      CHECK(passes[0].member == alice);
      CHECK(passes[0].passed_on == day(2023, 2, 1));
      CHECK(passes[0].test_version == "CATS-2023-de");
      CHECK(passes[1].passed_on == day(2024, 2, 1));
      CHECK(must(t.assurances().cats_of(carol)).empty());
    });
  }
}

TEMPLATE_TEST_CASE("a serial goes reserved -> valid -> revoked and no other way", "[store]",
                   WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  member_id alice = 0;
  write(db, [&](transaction& t) { alice = must(t.members().add(person("alice@example.org"))); });

  certificate_record r = certificate_for(alice, "5f3a9c0e11", at(2024, 3, 10, 12));
  // reserve() ignores what a record says about the outcome.
  r.status = cert_status::valid;
  r.der = {0xde, 0xad};
  r.revoked_at = at(2024, 3, 11);
  r.reason = revocation_reason::superseded;
  write(db, [&](transaction& t) { must(t.certificates().reserve(r)); });

  read(db, [&](transaction& t) {
    auto c = must(t.certificates().find("5f3a9c0e11"));
    REQUIRE(c);
    check_same(*c, r);
    CHECK(c->status == cert_status::reserved);
    CHECK(c->der.empty());
    CHECK_FALSE(c->revoked_at);
    CHECK_FALSE(c->reason);
    CHECK_FALSE(must(t.certificates().find("00")));
  });

  const std::vector<std::uint8_t> der{0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x00};
  write(db, [&](transaction& t) {
    CHECK(must_fail(t.certificates().reserve(r), errc::conflict).where == "certificate.serial");
    auto e = must_fail(t.certificates().revoke("5f3a9c0e11", at(2024, 3, 11), revocation_reason::unspecified),
                       errc::conflict);
    CHECK_THAT(e.message, Catch::Contains("reserved"));
    must_fail(t.certificates().complete("5f3a9c0e11", {}), errc::invalid_input);
    must(t.certificates().complete("5f3a9c0e11", der));
  });
  read(db, [&](transaction& t) {
    auto c = must(t.certificates().find("5f3a9c0e11"));
    CHECK(c->status == cert_status::valid);
    CHECK(c->der == der);
    CHECK_FALSE(c->revoked_at);
    check_same(*c, r);
  });

  write(db, [&](transaction& t) {
    auto e = must_fail(t.certificates().complete("5f3a9c0e11", der), errc::conflict);
    CHECK(e.message == "certificate 5f3a9c0e11 is not reserved (status valid)");
    must(t.certificates().revoke("5f3a9c0e11", at(2024, 4, 1, 8, 15), revocation_reason::key_compromise));
  });
  read(db, [&](transaction& t) {
    auto c = must(t.certificates().find("5f3a9c0e11"));
    CHECK(c->status == cert_status::revoked);
    CHECK(c->revoked_at == at(2024, 4, 1, 8, 15));
    CHECK(c->reason == revocation_reason::key_compromise);
    CHECK(c->der == der);
  });

  write(db, [&](transaction& t) {
    auto e = must_fail(t.certificates().revoke("5f3a9c0e11", at(2024, 4, 2), revocation_reason::superseded),
                       errc::conflict);
    CHECK(e.message == "certificate 5f3a9c0e11 is already revoked since 2024-04-01T08:15:00Z");
    CHECK_THAT(must_fail(t.certificates().complete("5f3a9c0e11", der), errc::conflict).message,
               Catch::Contains("(status revoked)"));
    must_fail(t.certificates().complete("77", der), errc::not_found);
    must_fail(t.certificates().revoke("77", at(2024, 4, 2), revocation_reason::superseded), errc::not_found);
    must_fail(t.certificates().reserve(certificate_for(alice + 1000, "78", at(2024, 4, 2))), errc::not_found);
  });
  read(db, [&](transaction& t) {
    CHECK(must(t.certificates().find("5f3a9c0e11"))->reason == revocation_reason::key_compromise);
  });
}

TEMPLATE_TEST_CASE("the CA's own certificates belong to no member", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  // Member 0 stands for "no member": issuing CAs, OCSP signers, the SCEP RA.
  certificate_record r = certificate_for(0, "0c0ffee0", at(2024, 3, 10, 12));
  r.issuer = issuer_class::root;
  r.profile = cert_profile::sub_ca;
  write(db, [&](transaction& t) {
    must(t.certificates().reserve(r));
    must(t.certificates().complete("0c0ffee0", {0x30, 0x00}));
  });
  read(db, [&](transaction& t) {
    auto c = must(t.certificates().find("0c0ffee0"));
    REQUIRE(c);
    CHECK(c->member == 0);
    CHECK(c->issuer == issuer_class::root);
    CHECK(c->status == cert_status::valid);
    CHECK(must(t.certificates().of_member(0)).empty());
  });
}

TEMPLATE_TEST_CASE("certificates keep every enum value and list newest first", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  member_id alice = 0, bob = 0;
  write(db, [&](transaction& t) {
    alice = must(t.members().add(person("alice@example.org")));
    bob = must(t.members().add(person("bob@example.org", "Bob Example")));
  });

  SECTION("profiles, issuers, paths and reasons") {
    const std::vector<revocation_reason> reasons = {
        revocation_reason::unspecified,         revocation_reason::key_compromise,
        revocation_reason::ca_compromise,       revocation_reason::affiliation_changed,
        revocation_reason::superseded,          revocation_reason::cessation_of_operation,
        revocation_reason::privilege_withdrawn};
    const std::vector<cert_profile> profiles = {cert_profile::client_email, cert_profile::client_named,
                                                cert_profile::server,       cert_profile::code_signing,
                                                cert_profile::device,       cert_profile::ocsp_signer,
                                                cert_profile::sub_ca};
    for (std::size_t i = 0; i < reasons.size(); ++i) {
      certificate_record r = certificate_for(alice, "a" + std::to_string(i), at(2024, 3, 1) + std::chrono::hours(i));
      r.profile = profiles[i % profiles.size()];
      r.issuer = i % 2 ? issuer_class::class1 : issuer_class::class3;
      r.via = i % 3 == 0 ? request_path::cli : i % 3 == 1 ? request_path::acme : request_path::scep;
      r.sans = i == 0 ? std::vector<std::string>{} : std::vector<std::string>{"email:a@example.org"};
      write(db, [&](transaction& t) {
        must(t.certificates().reserve(r));
        must(t.certificates().complete(r.serial, {0x30, 0x00}));
        must(t.certificates().revoke(r.serial, at(2024, 5, 1), reasons[i]));
      });
      read(db, [&](transaction& t) {
        auto c = must(t.certificates().find(r.serial));
        REQUIRE(c);
        check_same(*c, r);
        CHECK(c->reason == reasons[i]);
      });
    }
  }

  SECTION("list and of_member, newest first, serial breaking ties") {
    write(db, [&](transaction& t) {
      must(t.certificates().reserve(certificate_for(alice, "01", at(2024, 3, 1))));
      must(t.certificates().reserve(certificate_for(bob, "02", at(2024, 3, 3))));
      must(t.certificates().reserve(certificate_for(alice, "04", at(2024, 3, 2))));
      must(t.certificates().reserve(certificate_for(alice, "03", at(2024, 3, 2))));
    });
    read(db, [&](transaction& t) {
      CHECK(serials_of(must(t.certificates().list(100))) == std::vector<std::string>{"02", "03", "04", "01"});
      CHECK(serials_of(must(t.certificates().list(2))) == std::vector<std::string>{"02", "03"});
      CHECK(must(t.certificates().list(0)).empty());
      CHECK(serials_of(must(t.certificates().of_member(alice))) == std::vector<std::string>{"03", "04", "01"});
      CHECK(serials_of(must(t.certificates().of_member(bob))) == std::vector<std::string>{"02"});
      CHECK(must(t.certificates().of_member(bob + 1000)).empty());
    });
  }
}

TEMPLATE_TEST_CASE("scan streams status rows by issuer, status and expiry", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  member_id alice = 0;
  write(db, [&](transaction& t) { alice = must(t.members().add(person("alice@example.org"))); });
  // a1 class3 valid, a2 class3 revoked, a3 class1 revoked (expired early), a4 class3 reserved
  write(db, [&](transaction& t) {
    auto a1 = certificate_for(alice, "a1", at(2024, 3, 1));
    auto a2 = certificate_for(alice, "a2", at(2024, 3, 2));
    auto a3 = certificate_for(alice, "a3", at(2024, 3, 3));
    a3.issuer = issuer_class::class1;
    a3.not_after = at(2024, 3, 10);
    auto a4 = certificate_for(alice, "a4", at(2024, 3, 4));
    for (auto* r : {&a1, &a2, &a3, &a4}) must(t.certificates().reserve(*r));
    for (auto s : {"a1", "a2", "a3"}) must(t.certificates().complete(s, {0x30, 0x00}));
    must(t.certificates().revoke("a2", at(2024, 4, 1), revocation_reason::key_compromise));
    must(t.certificates().revoke("a3", at(2024, 3, 5), revocation_reason::superseded));
  });
  auto scan = [&](const certificate_scan& f) {
    std::vector<certificate_status_row> rows;
    read(db, [&](transaction& t) {
      auto n = must(t.certificates().scan(f, [&](const certificate_status_row& r) -> result<void> {
        rows.push_back(r);
        return {};
      }));
      CHECK(n == rows.size());
    });
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.serial < b.serial; });
    return rows;
  };
  auto serials = [](const std::vector<certificate_status_row>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) out.push_back(r.serial);
    return out;
  };

  CHECK(serials(scan({})) == std::vector<std::string>{"a1", "a2", "a3"});
  certificate_scan everything;
  everything.skip_reserved = false;
  CHECK(serials(scan(everything)) == std::vector<std::string>{"a1", "a2", "a3", "a4"});
  certificate_scan revoked3;
  revoked3.issuer = issuer_class::class3;
  revoked3.revoked_only = true;
  auto rows = scan(revoked3);
  REQUIRE(serials(rows) == std::vector<std::string>{"a2"});
  CHECK(rows[0].status == cert_status::revoked);
  CHECK(rows[0].revoked_at == at(2024, 4, 1));
  CHECK(rows[0].reason == revocation_reason::key_compromise);
  CHECK(rows[0].not_after == at(2024, 3, 2) + std::chrono::days{90});
  certificate_scan unexpired;
  unexpired.revoked_only = true;
  unexpired.not_after_from = at(2024, 3, 11);
  CHECK(serials(scan(unexpired)) == std::vector<std::string>{"a2"});
  unexpired.not_after_from = at(2024, 3, 10);
  CHECK(serials(scan(unexpired)) == std::vector<std::string>{"a2", "a3"});
  auto valid = scan({});
  CHECK(valid[0].status == cert_status::valid);
  CHECK_FALSE(valid[0].revoked_at);
  CHECK_FALSE(valid[0].reason);

  SECTION("an error from the callback stops the scan and comes back") {
    std::size_t calls = 0;
    read(db, [&](transaction& t) {
      auto r = t.certificates().scan({}, [&](const certificate_status_row&) -> result<void> {
        ++calls;
        return fail(errc::internal, "test", "stop here");
      });
      REQUIRE_FALSE(r);
      CHECK(r.error().message == "stop here");
    });
    CHECK(calls == 1);
  }
}

TEMPLATE_TEST_CASE("the audit log reads oldest first from a time", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  const std::vector<audit_entry> entries = {
      {0, at(2024, 3, 1, 9), "operator", "member.add", "member:1", R"({"name":"Alice"})"},
      {0, at(2024, 3, 1, 10), "member:1", "email.add", "email:alice@example.org", "probe sent"},
      {0, at(2024, 3, 1, 10), "acme:account:3", "cert.issue", "cert:5f3a", ""},
      {0, at(2024, 3, 2), "operator", "cert.revoke", "cert:5f3a", "keyCompromise"},
  };
  std::vector<std::int64_t> ids;
  write(db, [&](transaction& t) {
    for (const auto& e : entries) ids.push_back(must(t.audit().append(e)));
  });
  CHECK(ids[0] < ids[1]);
  CHECK(ids[1] < ids[2]);
  CHECK(ids[2] < ids[3]);

  read(db, [&](transaction& t) {
    auto all = must(t.audit().since(at(2024, 1, 1)));
    REQUIRE(all.size() == 4);
    for (std::size_t i = 0; i < all.size(); ++i) {
      CHECK(all[i].id == ids[i]);
      CHECK(all[i].at == entries[i].at);
      CHECK(all[i].actor == entries[i].actor);
      CHECK(all[i].action == entries[i].action);
      CHECK(all[i].object == entries[i].object);
      CHECK(all[i].detail == entries[i].detail);
    }
    auto later = must(t.audit().since(at(2024, 3, 1, 10)));  // "at or after"
    REQUIRE(later.size() == 3);
    CHECK(later[0].id == ids[1]);
    CHECK(later[2].id == ids[3]);
    CHECK(must(t.audit().since(at(2024, 3, 2) + std::chrono::seconds(1))).empty());
  });
}

TEMPLATE_TEST_CASE("the change feed only grows and pages with after()", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  read(db, [&](transaction& t) {
    CHECK(must(t.changes().head()) == 0);
    CHECK(must(t.changes().after(0, 10)).empty());
  });

  std::vector<std::int64_t> seqs;
  write(db, [&](transaction& t) {
    seqs.push_back(must(t.changes().bump({0, "issue", "5f3a", issuer_class::class3, at(2024, 3, 1)})));
    seqs.push_back(must(t.changes().bump({0, "issue", "6b01", issuer_class::class1, at(2024, 3, 1)})));
  });
  write(db, [&](transaction& t) {
    seqs.push_back(must(t.changes().bump({0, "revoke", "5f3a", issuer_class::class3, at(2024, 3, 2)})));
  });
  CHECK(seqs[0] > 0);
  CHECK(seqs[0] < seqs[1]);
  CHECK(seqs[1] < seqs[2]);

  read(db, [&](transaction& t) {
    CHECK(must(t.changes().head()) == seqs[2]);
    auto all = must(t.changes().after(0, 10));
    REQUIRE(all.size() == 3);
    CHECK(all[0].seq == seqs[0]);
    CHECK(all[0].kind == "issue");
    CHECK(all[0].serial == "5f3a");
    CHECK(all[0].issuer == issuer_class::class3);
    CHECK(all[0].at == at(2024, 3, 1));
    CHECK(all[1].issuer == issuer_class::class1);
    CHECK(all[2].kind == "revoke");
    CHECK(all[2].at == at(2024, 3, 2));
    auto page = must(t.changes().after(0, 2));
    REQUIRE(page.size() == 2);
    CHECK(page[1].seq == seqs[1]);
    auto rest = must(t.changes().after(page.back().seq, 2));
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].seq == seqs[2]);
    CHECK(must(t.changes().after(seqs[2], 10)).empty());
  });
}

TEMPLATE_TEST_CASE("EAB keys and SCEP challenges are good for one use", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  member_id alice = 0;
  write(db, [&](transaction& t) { alice = must(t.members().add(person("alice@example.org"))); });

  const eab_key key{"kid-1", std::vector<std::uint8_t>(32, 0x5a), alice, at(2024, 3, 1), at(2024, 3, 8), {}};
  const scep_challenge challenge{"ch-1", std::vector<std::uint8_t>(32, 0xc3), alice, cert_profile::device,
                                 at(2024, 3, 1), at(2024, 3, 2), {}};
  write(db, [&](transaction& t) {
    must(t.eab_keys().add(key));
    must(t.scep_challenges().add(challenge));
    CHECK(must_fail(t.eab_keys().add(key), errc::conflict).where == "eab_key.kid");
    CHECK(must_fail(t.scep_challenges().add(challenge), errc::conflict).where == "scep_challenge.id");
    eab_key orphan = key;
    orphan.kid = "kid-2";
    orphan.member = alice + 1000;
    must_fail(t.eab_keys().add(orphan), errc::not_found);
  });

  read(db, [&](transaction& t) {
    auto k = must(t.eab_keys().find("kid-1"));
    REQUIRE(k);
    CHECK(k->kid == key.kid);
    CHECK(k->mac_key_hash == key.mac_key_hash);
    CHECK(k->member == alice);
    CHECK(k->created_at == key.created_at);
    CHECK(k->expires_at == key.expires_at);
    CHECK_FALSE(k->used_at);
    auto c = must(t.scep_challenges().find("ch-1"));
    REQUIRE(c);
    CHECK(c->secret_hash == challenge.secret_hash);
    CHECK(c->member == alice);
    CHECK(c->profile == cert_profile::device);
    CHECK(c->created_at == challenge.created_at);
    CHECK(c->expires_at == challenge.expires_at);
    CHECK_FALSE(c->used_at);
    CHECK_FALSE(must(t.eab_keys().find("kid-9")));
    CHECK_FALSE(must(t.scep_challenges().find("ch-9")));
  });

  write(db, [&](transaction& t) {
    must(t.eab_keys().mark_used("kid-1", at(2024, 3, 2, 11)));
    must(t.scep_challenges().mark_used("ch-1", at(2024, 3, 1, 18)));
  });
  write(db, [&](transaction& t) {
    CHECK(must(t.eab_keys().find("kid-1"))->used_at == at(2024, 3, 2, 11));
    CHECK(must(t.scep_challenges().find("ch-1"))->used_at == at(2024, 3, 1, 18));
    auto e = must_fail(t.eab_keys().mark_used("kid-1", at(2024, 3, 3)), errc::conflict);
    CHECK_THAT(e.message, Catch::Contains("2024-03-02T11:00:00Z"));
    must_fail(t.scep_challenges().mark_used("ch-1", at(2024, 3, 3)), errc::conflict);
    must_fail(t.eab_keys().mark_used("kid-9", at(2024, 3, 3)), errc::not_found);
    must_fail(t.scep_challenges().mark_used("ch-9", at(2024, 3, 3)), errc::not_found);
  });
  read(db, [&](transaction& t) { CHECK(must(t.eab_keys().find("kid-1"))->used_at == at(2024, 3, 2, 11)); });
}

// --- transactions -------------------------------------------------------------

struct counts {
  std::size_t members = 0;
  std::size_t audit = 0;
  std::int64_t head = 0;
  std::size_t certificates = 0;
};

counts count(store& db) {
  counts c;
  read(db, [&](transaction& t) {
    c.members = must(t.members().list()).size();
    c.audit = must(t.audit().since(sys_seconds{})).size();
    c.head = must(t.changes().head());
    c.certificates = must(t.certificates().list(1000)).size();
  });
  return c;
}

bool operator==(const counts& a, const counts& b) {
  return a.members == b.members && a.audit == b.audit && a.head == b.head && a.certificates == b.certificates;
}

TEMPLATE_TEST_CASE("write() commits all or nothing", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  write(db, [&](transaction& t) {
    auto id = must(t.members().add(person("first@example.org")));
    must(t.audit().append({0, at(2024, 3, 1), "operator", "member.add", "member:" + std::to_string(id), ""}));
    must(t.changes().bump({0, "issue", "01", issuer_class::class1, at(2024, 3, 1)}));
  });
  const counts before = count(db);
  CHECK(before.members == 1);

  // Several inserts in every table the feed readers watch, then a refusal.
  auto several_then = [&](transaction& t) {
    for (int i = 0; i < 3; ++i) {
      auto id = must(t.members().add(person("m" + std::to_string(i) + "@example.org")));
      must(t.certificates().reserve(certificate_for(id, "c" + std::to_string(i), at(2024, 3, 2))));
      must(t.audit().append({0, at(2024, 3, 2), "operator", "member.add", "member", ""}));
      must(t.changes().bump({0, "issue", "c" + std::to_string(i), issuer_class::class1, at(2024, 3, 2)}));
    }
  };

  SECTION("an error from the function rolls back and is passed through") {
    auto r = db.write([&](transaction& t) -> result<void> {
      several_then(t);
      return fail(errc::denied, "R-SERVER-50", "member 2 holds 10 AP; server certificates need 50");
    });
    auto e = must_fail(r, errc::denied);
    CHECK(e.where == "R-SERVER-50");
    CHECK(e.message == "member 2 holds 10 AP; server certificates need 50");
    CHECK(count(db) == before);
  }

  SECTION("an exception from the function rolls back, passes, and leaves the store usable") {
    CHECK_THROWS_AS(db.write([&](transaction& t) -> result<void> {
                      several_then(t);
                      throw std::runtime_error("caller bug");
                    }),
                    std::runtime_error);
    CHECK(count(db) == before);
    write(db, [&](transaction& t) { must(t.members().add(person("after@example.org"))); });
    CHECK(count(db).members == before.members + 1);
  }

  SECTION("a failed repository call inside a committed write leaves the rest") {
    write(db, [&](transaction& t) {
      must(t.members().add(person("second@example.org")));
      must_fail(t.members().add(person("first@example.org")), errc::conflict);
    });
    CHECK(count(db).members == 2);
  }
}

TEMPLATE_TEST_CASE("transactions do not nest and read() does not write", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();

  SECTION("write inside write") {
    auto r = db.write([&](transaction& t) -> result<void> {
      must(t.members().add(person("outer@example.org")));
      auto inner = db.write([&](transaction&) -> result<void> { return {}; });
      must_fail(inner, errc::internal);
      return inner;
    });
    must_fail(r, errc::internal);
    CHECK(count(db).members == 0);
  }

  SECTION("read inside write, write inside read") {
    auto r = db.write([&](transaction&) -> result<void> {
      return db.read([&](transaction&) -> result<void> { return {}; });
    });
    must_fail(r, errc::internal);
    r = db.read([&](transaction&) -> result<void> {
      return db.write([&](transaction&) -> result<void> { return {}; });
    });
    must_fail(r, errc::internal);
  }

  SECTION("a repository write inside read() is refused") {
    auto r = db.read([&](transaction& t) -> result<void> {
      auto added = t.members().add(person("sneaky@example.org"));
      if (!added) return unexpected(added.error());
      return {};
    });
    auto e = must_fail(r, errc::internal);
    CHECK_THAT(e.message, Catch::Contains("store::read()"));
    CHECK(count(db).members == 0);
    // and the store works afterwards
    write(db, [&](transaction& t) { must(t.members().add(person("honest@example.org"))); });
    CHECK(count(db).members == 1);
  }

  SECTION("read() passes the function's error through") {
    auto r = db.read([&](transaction&) -> result<void> { return fail(errc::not_found, "member", "no member 7"); });
    CHECK(must_fail(r, errc::not_found).message == "no member 7");
  }
}

TEMPLATE_TEST_CASE("other connections see commits, and reads are snapshots", "[store]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  auto other = backend.another();
  if (!other) {
    // Only an in-memory database has no second connection to the same data.
    CHECK(std::string(TestType::name).find("memory") != std::string::npos);
    return;
  }

  write(db, [&](transaction& t) {
    auto id = must(t.members().add(person("alice@example.org")));
    must(t.certificates().reserve(certificate_for(id, "5f3a", at(2024, 3, 1))));
    must(t.changes().bump({0, "issue", "5f3a", issuer_class::class3, at(2024, 3, 1)}));
  });
  read(*other, [&](transaction& t) {
    CHECK(must(t.members().find_by_email("alice@example.org")));
    CHECK(must(t.certificates().find("5f3a")));
    CHECK(must(t.changes().head()) == 1);
  });

  // A read keeps the snapshot it started with while another connection commits.
  read(*other, [&](transaction& t) {
    const auto head = must(t.changes().head());
    write(db, [&](transaction& w) {
      must(w.changes().bump({0, "revoke", "5f3a", issuer_class::class3, at(2024, 3, 2)}));
    });
    CHECK(must(t.changes().head()) == head);
  });
  read(*other, [&](transaction& t) { CHECK(must(t.changes().head()) == 2); });
}

}  // namespace
}  // namespace wotca
