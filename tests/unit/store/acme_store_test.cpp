// The ACME repository (acme_repository.h) against every backend: accounts,
// orders with their authorizations, reuse, rate-limit counts, expiry,
// challenges and single-use nonces.
#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "core/store/store.h"
#include "tests/unit/store/backends.h"

namespace wotca {
namespace {

using test::must;
using test::must_fail;

const sys_seconds t0{std::chrono::seconds{1795000000}};

template <class Body>
void write(store& s, Body body) {
  must(s.write([&](transaction& t) -> result<void> {
    body(t);
    return {};
  }));
}

// A member with an EAB key "kid-N", ready to bind an account.
member_id member_with_key(transaction& t, const std::string& email, const std::string& kid) {
  member m;
  m.name = "Acme Tester";
  m.date_of_birth = std::chrono::year{1980} / 1 / 1;
  m.primary_email = email;
  m.cca_accepted_at = t0;
  m.created_at = t0;
  const member_id id = must(t.members().add(m));
  must(t.eab_keys().add(eab_key{kid, std::vector<std::uint8_t>(32, 1), id, t0, t0 + std::chrono::hours(24), {}}));
  return id;
}

acme_account account_of(member_id m, const std::string& tp, const std::string& kid) {
  acme_account a;
  a.member = m;
  a.thumbprint = tp;
  a.jwk = R"({"crv":"P-256","kty":"EC","x":"x","y":"y"})";
  a.contact = {"mailto:ops@example.org"};
  a.eab_kid = kid;
  a.created_at = t0;
  return a;
}

acme_authz authz(std::int64_t account, const std::string& id, const std::string& name, bool wildcard,
                 acme_authz_status status, sys_seconds expires) {
  acme_authz a;
  a.public_id = id;
  a.account = account;
  a.identifier = name;
  a.wildcard = wildcard;
  a.status = status;
  a.expires_at = expires;
  a.created_at = t0;
  return a;
}

acme_order order(std::int64_t account, member_id m, const std::string& id, std::vector<std::string> names,
                 sys_seconds created) {
  acme_order o;
  o.public_id = id;
  o.account = account;
  o.member = m;
  o.identifiers = std::move(names);
  o.created_at = created;
  o.expires_at = created + std::chrono::hours(24);
  return o;
}

}  // namespace

TEMPLATE_TEST_CASE("ACME accounts: one per key, one per EAB key, updated in place", "[store][acme]",
                   WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  write(db, [&](transaction& t) {
    const member_id m = member_with_key(t, "a@example.org", "kid-1");
    const auto id = must(t.acme().add_account(account_of(m, "tp-1", "kid-1")));
    auto found = must(t.acme().find_account(id));
    REQUIRE(found);
    CHECK(found->member == m);
    CHECK(found->contact == std::vector<std::string>{"mailto:ops@example.org"});
    CHECK(found->status == acme_account_status::valid);
    CHECK(must(t.acme().find_account_by_thumbprint("tp-1"))->id == id);
    CHECK_FALSE(must(t.acme().find_account_by_thumbprint("tp-2")));

    // The same EAB kid cannot bind a second account; the same key neither.
    must(t.eab_keys().add(eab_key{"kid-2", std::vector<std::uint8_t>(32, 2), m, t0, t0 + std::chrono::hours(1), {}}));
    auto again = t.acme().add_account(account_of(m, "tp-2", "kid-1"));
    CHECK(must_fail(again, errc::conflict).where == "acme_account.eab_kid");
    auto same_key = t.acme().add_account(account_of(m, "tp-1", "kid-2"));
    CHECK(must_fail(same_key, errc::conflict).where == "acme_account.thumbprint");
    // An unknown EAB kid is refused by the foreign key.
    must_fail(t.acme().add_account(account_of(m, "tp-3", "kid-none")), errc::not_found);

    found->contact.clear();
    found->status = acme_account_status::deactivated;
    found->thumbprint = "tp-rolled";
    must(t.acme().update_account(*found));
    auto back = must(t.acme().find_account(id));
    CHECK(back->contact.empty());
    CHECK(back->status == acme_account_status::deactivated);
    CHECK(must(t.acme().find_account_by_thumbprint("tp-rolled"))->id == id);
  });
}

TEMPLATE_TEST_CASE("ACME orders link authorizations in order, count per account and member, and expire",
                   "[store][acme]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  write(db, [&](transaction& t) {
    const member_id m = member_with_key(t, "b@example.org", "kid-b");
    const auto acct = must(t.acme().add_account(account_of(m, "tp-b", "kid-b")));
    const auto z1 = must(t.acme().add_authz(authz(acct, "z1", "www.example.org", false, acme_authz_status::pending,
                                                  t0 + std::chrono::hours(24))));
    const auto z2 = must(t.acme().add_authz(authz(acct, "z2", "example.org", true, acme_authz_status::valid,
                                                  t0 + std::chrono::days(30))));
    const std::int64_t links[] = {z2, z1};
    const auto o1 = must(t.acme().add_order(order(acct, m, "o1", {"*.example.org", "www.example.org"}, t0), links));
    auto got = must(t.acme().authzs_of_order(o1));
    REQUIRE(got.size() == 2);
    CHECK(got[0].public_id == "z2");
    CHECK(got[0].wildcard);
    CHECK(got[1].public_id == "z1");
    CHECK(must(t.acme().orders_of_authz(z1)).at(0).public_id == "o1");

    // Reuse: the valid one is found for its (name, wildcard), not the other.
    CHECK(must(t.acme().reusable_authz(acct, "example.org", true, t0))->public_id == "z2");
    CHECK_FALSE(must(t.acme().reusable_authz(acct, "example.org", false, t0)));
    CHECK(must(t.acme().reusable_authz(acct, "WWW.example.org", false, t0))->public_id == "z1");
    CHECK_FALSE(must(t.acme().reusable_authz(acct, "www.example.org", false, t0 + std::chrono::hours(24))));

    const std::int64_t none[] = {z1};
    must(t.acme().add_order(order(acct, m, "o2", {"www.example.org"}, t0 + std::chrono::minutes(30)), none));
    auto by_account = must(t.acme().orders_since_by_account(acct, t0, 10));
    CHECK(by_account.count == 2);
    CHECK(by_account.oldest == t0);
    CHECK(must(t.acme().orders_since_by_account(acct, t0 + std::chrono::minutes(1), 10)).count == 1);
    CHECK(must(t.acme().orders_since_by_member(m, t0, 10)).count == 2);
    // The count stops at its limit, and then names the newest it counted.
    auto capped = must(t.acme().orders_since_by_member(m, t0, 1));
    CHECK(capped.count == 1);
    CHECK(capped.oldest == t0 + std::chrono::minutes(30));
    CHECK(must(t.acme().orders_since_by_account(acct, t0, 1)).oldest == t0 + std::chrono::minutes(30));
    CHECK(must(t.acme().orders_of_account(acct, 10, 0)).at(0).public_id == "o2");  // newest first
    // A page after the newest: only the older one.
    const auto newest = must(t.acme().orders_of_account(acct, 1, 0));
    REQUIRE(newest.size() == 1);
    const auto older = must(t.acme().orders_of_account(acct, 10, newest.at(0).id));
    REQUIRE(older.size() == 1);
    CHECK(older.at(0).public_id == "o1");

    // A valid order must name its certificate (CHECK constraint).
    auto o = *must(t.acme().find_order("o1"));
    o.status = acme_order_status::valid;
    CHECK_FALSE(t.acme().update_order(o));

    // Expiry: the pending orders and authorizations past their time end.
    CHECK(must(t.acme().expire(t0 + std::chrono::hours(25))) == 3);  // o1, o2, z1
    CHECK(must(t.acme().find_order("o1"))->status == acme_order_status::invalid);
    CHECK(must(t.acme().find_order("o1"))->error.has_value());
    CHECK(must(t.acme().find_authz("z1"))->status == acme_authz_status::expired);
    CHECK(must(t.acme().find_authz("z2"))->status == acme_authz_status::valid);
  });
}

TEMPLATE_TEST_CASE("ACME challenges: one per type per authorization, state written back", "[store][acme]",
                   WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  write(db, [&](transaction& t) {
    const member_id m = member_with_key(t, "c@example.org", "kid-c");
    const auto acct = must(t.acme().add_account(account_of(m, "tp-c", "kid-c")));
    const auto z = must(t.acme().add_authz(
        authz(acct, "zc", "c.example.org", false, acme_authz_status::pending, t0 + std::chrono::hours(1))));
    acme_challenge c;
    c.public_id = "ch1";
    c.authz = z;
    c.type = "http-01";
    c.token = "tok";
    const auto id = must(t.acme().add_challenge(c));
    c.public_id = "ch2";
    must_fail(t.acme().add_challenge(c), errc::conflict);  // a second http-01
    c.type = "dns-01";
    must(t.acme().add_challenge(c));
    CHECK(must(t.acme().challenges_of_authz(z)).size() == 2);

    auto got = *must(t.acme().find_challenge("ch1"));
    CHECK(got.id == id);
    got.status = acme_challenge_status::valid;
    CHECK_FALSE(t.acme().update_challenge(got));  // valid needs validated_at
    got.validated_at = t0;
    got.validation_record = R"([{"hostname":"c.example.org"}])";
    must(t.acme().update_challenge(got));
    auto back = *must(t.acme().find_challenge_by_id(id));
    CHECK(back.status == acme_challenge_status::valid);
    CHECK(back.validated_at == t0);
    CHECK(back.validation_record == got.validation_record);
  });
}

TEMPLATE_TEST_CASE("ACME challenges processing too long are claimed for a new validation; processing orders expire",
                   "[store][acme]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  write(db, [&](transaction& t) {
    const member_id m = member_with_key(t, "p@example.org", "kid-p");
    const auto acct = must(t.acme().add_account(account_of(m, "tp-p", "kid-p")));
    const auto z = must(t.acme().add_authz(
        authz(acct, "zp", "p.example.org", false, acme_authz_status::pending, t0 + std::chrono::hours(24))));
    acme_challenge c;
    c.authz = z;
    c.token = "tok";
    c.public_id = "old";
    c.type = "http-01";
    c.status = acme_challenge_status::processing;
    c.processing_since = t0;
    must(t.acme().add_challenge(c));
    c.public_id = "new";
    c.type = "dns-01";
    c.processing_since = t0 + std::chrono::minutes(10);
    must(t.acme().add_challenge(c));
    c.public_id = "unknown";  // processing since a time nobody wrote (a row from before v5)
    c.type = "tls-alpn-01";
    c.processing_since.reset();
    must(t.acme().add_challenge(c));
    CHECK(must(t.acme().find_challenge("old"))->processing_since == t0);

    const auto t1 = t0 + std::chrono::minutes(20);
    auto claimed = must(t.acme().claim_stale_validations(t0 + std::chrono::minutes(5), t1));
    REQUIRE(claimed.size() == 2);  // old, unknown
    std::set<std::string> ids{claimed[0].public_id, claimed[1].public_id};
    CHECK(ids == std::set<std::string>{"old", "unknown"});
    for (const auto& k : claimed) {
      CHECK(k.status == acme_challenge_status::processing);
      CHECK(k.processing_since == t1);
      CHECK(k.token == "tok");
    }
    auto old = *must(t.acme().find_challenge("old"));
    CHECK(old.status == acme_challenge_status::processing);
    CHECK(old.processing_since == t1);  // claimed: no other replica takes it too
    CHECK(must(t.acme().find_challenge("new"))->processing_since == t0 + std::chrono::minutes(10));
    CHECK(must(t.acme().claim_stale_validations(t0 + std::chrono::minutes(5), t1)).empty());
    auto late = must(t.acme().claim_stale_validations(t0 + std::chrono::minutes(10), t1));
    REQUIRE(late.size() == 1);
    CHECK(late[0].public_id == "new");
    // Not processing: never claimed, however old.
    c = *must(t.acme().find_challenge("new"));
    c.status = acme_challenge_status::invalid;
    c.processing_since.reset();
    must(t.acme().update_challenge(c));
    CHECK(must(t.acme().claim_stale_validations(t1 + std::chrono::hours(1), t1)).size() == 2);  // old, unknown again

    // An order left processing (its finalize lost to a crash) ends at its expiry.
    const std::int64_t links[] = {z};
    must(t.acme().add_order(order(acct, m, "op", {"p.example.org"}, t0), links));
    auto o = *must(t.acme().find_order("op"));
    o.status = acme_order_status::processing;
    must(t.acme().update_order(o));
    CHECK(must(t.acme().expire(t0 + std::chrono::hours(23))) == 0);
    CHECK(must(t.acme().expire(t0 + std::chrono::hours(24))) == 2);  // op and zp
    CHECK(must(t.acme().find_order("op"))->status == acme_order_status::invalid);
  });
}

TEMPLATE_TEST_CASE("ACME nonces are redeemed once, across connections, and pruned when stale", "[store][acme]",
                   WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  write(db, [&](transaction& t) { must(t.acme().redeem_nonce("n1", t0 + std::chrono::hours(1))); });
  auto twice = db.write([&](transaction& t) { return t.acme().redeem_nonce("n1", t0 + std::chrono::hours(1)); });
  must_fail(twice, errc::conflict);
  if (auto other = backend.another()) {
    // A second replica sharing the database is refused as well.
    auto there = other->write([&](transaction& t) { return t.acme().redeem_nonce("n1", t0 + std::chrono::hours(1)); });
    must_fail(there, errc::conflict);
  }
  write(db, [&](transaction& t) {
    must(t.acme().redeem_nonce("n2", t0 + std::chrono::hours(2)));
    CHECK(must(t.acme().prune_nonces(t0 + std::chrono::hours(1))) == 1);
    // Once pruned, n1 is no longer remembered (it is stale by then).
    must(t.acme().redeem_nonce("n1", t0 + std::chrono::hours(3)));
    must_fail(t.acme().redeem_nonce("n2", t0), errc::conflict);
  });
}

}  // namespace wotca

namespace wotca {

TEMPLATE_TEST_CASE("an EAB key keeps its HMAC key until it is used", "[store][acme]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  must(db.write([&](transaction& t) -> result<void> {
    member m;
    m.name = "Eab Tester";
    m.date_of_birth = std::chrono::year{1980} / 1 / 1;
    m.primary_email = "eab@example.org";
    m.cca_accepted_at = t0;
    m.created_at = t0;
    const member_id id = test::must(t.members().add(m));
    eab_key k{"kid-m", std::vector<std::uint8_t>(32, 9), id, t0, t0 + std::chrono::hours(1), {}};
    k.mac_key = std::vector<std::uint8_t>(32, 0x42);
    test::must(t.eab_keys().add(k));
    CHECK(test::must(t.eab_keys().find("kid-m"))->mac_key == k.mac_key);
    test::must(t.eab_keys().mark_used("kid-m", t0));
    auto used = test::must(t.eab_keys().find("kid-m"));
    CHECK(used->used_at == t0);
    CHECK(used->mac_key.empty());
    return {};
  }));
}

}  // namespace wotca
