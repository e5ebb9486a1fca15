// CRL numbers (RFC 5280 5.2.3): strictly increasing per scope, in the store
// transaction, on every backend.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>

#include "core/store/store.h"
#include "tests/unit/store/backends.h"

namespace wotca {
namespace {

using test::must;
using test::must_fail;

const sys_seconds t0{std::chrono::seconds(1'800'000'000)};

TEMPLATE_TEST_CASE("CRL numbers start at 1 and increase by scope", "[store][crl]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  must(db.read([&](transaction& tx) -> result<void> {
    auto none = must(tx.crl_states().get("class1"));
    CHECK_FALSE(none.has_value());
    return {};
  }));
  for (int i = 1; i <= 3; ++i) {
    must(db.write([&](transaction& tx) -> result<void> {
      auto s = must(tx.crl_states().advance("class1", t0 + std::chrono::seconds(i)));
      CHECK(s.crl_number == i);
      CHECK(s.scope == "class1");
      CHECK(s.generated_at == t0 + std::chrono::seconds(i));
      return {};
    }));
  }
  must(db.write([&](transaction& tx) -> result<void> {
    CHECK(must(tx.crl_states().advance("class3", t0)).crl_number == 1);
    return {};
  }));
  must(db.read([&](transaction& tx) -> result<void> {
    auto s = must(tx.crl_states().get("class1"));
    REQUIRE(s.has_value());
    CHECK(s->crl_number == 3);
    CHECK(s->generated_at == t0 + std::chrono::seconds(3));
    return {};
  }));
}

TEMPLATE_TEST_CASE("a rolled-back advance leaves the number as it was", "[store][crl]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  must(db.write([&](transaction& tx) -> result<void> {
    must(tx.crl_states().advance("root", t0));
    return {};
  }));
  auto r = db.write([&](transaction& tx) -> result<void> {
    CHECK(must(tx.crl_states().advance("root", t0)).crl_number == 2);
    return fail(errc::io, "crl", "writing the CRL failed");
  });
  must_fail(r, errc::io);
  must(db.read([&](transaction& tx) -> result<void> {
    CHECK(must(tx.crl_states().get("root"))->crl_number == 1);
    return {};
  }));
  must(db.write([&](transaction& tx) -> result<void> {
    CHECK(must(tx.crl_states().advance("root", t0)).crl_number == 2);
    return {};
  }));
}

TEMPLATE_TEST_CASE("record refuses a number that does not increase", "[store][crl]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  must(db.write([&](transaction& tx) -> result<void> { return tx.crl_states().record("class3.full", 7, t0); }));
  auto same = db.write([&](transaction& tx) -> result<void> { return tx.crl_states().record("class3.full", 7, t0); });
  auto error = must_fail(same, errc::conflict);
  CHECK(error.where == "crl_state.crl_number");
  must_fail(db.write([&](transaction& tx) -> result<void> { return tx.crl_states().record("class3.full", 3, t0); }),
            errc::conflict);
  must(db.write([&](transaction& tx) -> result<void> {
    return tx.crl_states().record("class3.full", 9, t0 + std::chrono::hours(1));
  }));
  must(db.read([&](transaction& tx) -> result<void> {
    auto s = must(tx.crl_states().get("class3.full"));
    REQUIRE(s.has_value());
    CHECK(s->crl_number == 9);
    CHECK(s->generated_at == t0 + std::chrono::hours(1));
    return {};
  }));
}

TEMPLATE_TEST_CASE("a read transaction cannot advance a CRL number", "[store][crl]", WOTCA_STORE_BACKENDS) {
  TestType backend;
  store& db = backend.db();
  auto r = db.read([&](transaction& tx) -> result<void> {
    auto a = tx.crl_states().advance("class1", t0);
    if (!a) return unexpected(a.error());
    return {};
  });
  CHECK_FALSE(r.has_value());
  must_fail(db.write([&](transaction& tx) -> result<void> {
              auto a = tx.crl_states().advance("", t0);
              if (!a) return unexpected(a.error());
              return {};
            }),
            errc::invalid_input);
}

}  // namespace
}  // namespace wotca
