#include "core/wot/assurance_check.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>

#include "tests/unit/wot/wot_builders.h"

using namespace wotca;
using namespace wotca::test;

namespace {

// One proposed assurance with everything around it; the defaults pass.
struct scenario {
  member_record assurer = assurer_with(1, 0);  // 0 EP: may award 10
  member_record assuree = person(2, ymd(1990, 4, 2));
  assurance proposed = [] {
    assurance a = assured_by(1, 2, 10);
    a.met_on = today;
    return a;
  }();
  bool verified = true;
  date entered_dob = ymd(1990, 4, 2);
  wot_rules rules;

  [[nodiscard]] result<void> check() const {
    const points_summary assurer_points = summarize(assurer, today, rules);
    const points_summary assuree_points = summarize(assuree, today, rules);
    const assurance_context ctx{assurer, assurer_points, assuree, assuree_points,
                                verified, entered_dob, today, rules};
    return check_assurance(ctx, proposed);
  }
};

void with_ttp(scenario& s, int n) {
  for (int i = 0; i < n; ++i) s.assuree.received.push_back(assured_by(300 + i, 2, 35, assurance_method::ttp));
}

void with_ep(scenario& s, int given) { give_assurances(s.assurer, given); }

}  // namespace

TEST_CASE("check_assurance: the rules in order", "[assurance][R-ASSURE]") {
  using edit = std::function<void(scenario&)>;
  // where: "" for success, else the rule (or field) the error names.
  auto [rule, change, code, where] = GENERATE(table<std::string, edit, errc, std::string>({
      {"baseline is allowed", [](scenario&) {}, errc::internal, ""},
      {"R-LOCKED assurer", [](scenario& s) { s.assurer.who.locked = true; }, errc::denied, "R-LOCKED"},
      {"R-LOCKED assuree", [](scenario& s) { s.assuree.who.locked = true; }, errc::denied, "R-LOCKED"},
      {"R-ASSURE-SELF",
       [](scenario& s) {
         s.assuree = s.assurer;
         s.entered_dob = s.assurer.who.date_of_birth;
       },
       errc::denied, "R-ASSURE-SELF"},
      {"R-ASSURE-ASSURER no CATS", [](scenario& s) { s.assurer.cats.clear(); }, errc::denied,
       "R-ASSURE-ASSURER"},
      {"R-ASSURE-ASSURER 99 AP", [](scenario& s) { s.assurer.received.back().points = 29; }, errc::denied,
       "R-ASSURE-ASSURER"},
      {"R-ASSURE-ONCE in assurer.given",
       [](scenario& s) { s.assurer.given.push_back(assured_by(1, 2, 10)); }, errc::denied,
       "R-ASSURE-ONCE"},
      {"R-ASSURE-ONCE in assuree.received",
       [](scenario& s) { s.assuree.received.push_back(assured_by(1, 2, 10)); }, errc::denied,
       "R-ASSURE-ONCE"},
      {"R-ASSURE-ONCE a withdrawn assurance may be redone",
       [](scenario& s) {
         assurance old = assured_by(1, 2, 10);
         old.revoked_case = "a20250101.1";
         s.assurer.given.push_back(old);
         s.assuree.received.push_back(old);
       },
       errc::internal, ""},
      {"R-ASSURE-ONCE another assurer's assurance does not count",
       [](scenario& s) { s.assuree.received.push_back(assured_by(77, 2, 10)); }, errc::internal, ""},
      {"R-ASSURE-FACTS met tomorrow is allowed", [](scenario& s) { s.proposed.met_on = add_days(today, 1); },
       errc::internal, ""},
      {"R-ASSURE-FACTS met in two days", [](scenario& s) { s.proposed.met_on = add_days(today, 2); },
       errc::denied, "R-ASSURE-FACTS"},
      {"R-ASSURE-FACTS met last year", [](scenario& s) { s.proposed.met_on = ymd(2024, 6, 1); },
       errc::internal, ""},
      {"R-ASSURE-FACTS place of 2 chars", [](scenario& s) { s.proposed.place = "Ul"; }, errc::denied,
       "R-ASSURE-FACTS"},
      {"R-ASSURE-FACTS place of 2 chars padded", [](scenario& s) { s.proposed.place = "  Ul   "; },
       errc::denied, "R-ASSURE-FACTS"},
      {"R-ASSURE-FACTS place of 3 chars", [](scenario& s) { s.proposed.place = "Ulm"; }, errc::internal, ""},
      {"R-ASSURE-FACTS place of 3 characters in 4 bytes", [](scenario& s) { s.proposed.place = "Åre"; },
       errc::internal, ""},
      {"R-ASSURE-FACTS not in person", [](scenario& s) { s.proposed.appeared_in_person = false; },
       errc::denied, "R-ASSURE-FACTS"},
      {"R-ASSURE-FACTS TTP needs no in-person statement",
       [](scenario& s) {
         s.proposed.method = assurance_method::ttp;
         s.proposed.appeared_in_person = false;
       },
       errc::internal, ""},
      {"R-ASSURE-FACTS date of birth mismatch", [](scenario& s) { s.entered_dob = ymd(1990, 2, 4); },
       errc::denied, "R-ASSURE-FACTS"},
      {"R-ASSURE-DOCS one document", [](scenario& s) { s.proposed.documents = {"passport"}; }, errc::denied,
       "R-ASSURE-DOCS"},
      {"R-ASSURE-DOCS blank documents do not count", [](scenario& s) { s.proposed.documents = {"passport", " "}; },
       errc::denied, "R-ASSURE-DOCS"},
      {"R-ASSURE-DOCS one photo ID when two are needed",
       [](scenario& s) { s.proposed.documents = {"passport", "birth-certificate"}; }, errc::denied,
       "R-ASSURE-DOCS"},
      {"R-ASSURE-DOCS one photo ID when the operator asks for one",
       [](scenario& s) {
         s.proposed.documents = {"passport", "birth-certificate"};
         s.rules.min_government_photo_ids = 1;
       },
       errc::internal, ""},
      {"R-ASSURE-DOCS two photo IDs of any spelling",
       [](scenario& s) { s.proposed.documents = {"Driving Licence", "Residence-Permit"}; }, errc::internal, ""},
      {"R-ASSURE-VERIFIED", [](scenario& s) { s.verified = false; }, errc::denied, "R-ASSURE-VERIFIED"},
      {"R-MEMBER-KIND 17 without consent",
       [](scenario& s) { s.assuree.who.date_of_birth = s.entered_dob = born_aged(17); }, errc::denied,
       "R-MEMBER-KIND"},
      {"R-MEMBER-KIND 17 with consent",
       [](scenario& s) {
         s.assuree.who.date_of_birth = s.entered_dob = born_aged(17);
         s.assuree.who.parental_consent_at = start_of(ymd(2025, 5, 1));
       },
       errc::internal, ""},
      {"R-MEMBER-KIND 18 needs no consent",
       [](scenario& s) { s.assuree.who.date_of_birth = s.entered_dob = born_aged(18); }, errc::internal, ""},
      {"R-MEMBER-KIND organisation", [](scenario& s) { s.assuree.who.kind = member_kind::organisation; },
       errc::denied, "R-MEMBER-KIND"},
      {"R-ASSURE-MAX 0 points", [](scenario& s) { s.proposed.points = 0; }, errc::invalid_input,
       "R-ASSURE-MAX"},
      {"R-ASSURE-MAX 11 at 0 EP", [](scenario& s) { s.proposed.points = 11; }, errc::denied, "R-ASSURE-MAX"},
      {"R-ASSURE-MAX 15 at 10 EP",
       [](scenario& s) {
         with_ep(s, 5);
         s.proposed.points = 15;
       },
       errc::internal, ""},
      {"R-ASSURE-MAX 35 at 50 EP",
       [](scenario& s) {
         with_ep(s, 25);
         s.proposed.points = 35;
       },
       errc::internal, ""},
      {"R-ASSURE-MAX 36 at 50 EP",
       [](scenario& s) {
         with_ep(s, 25);
         s.proposed.points = 36;
       },
       errc::denied, "R-ASSURE-MAX"},
      {"R-ASSURE-MAX junior may award 10",
       [](scenario& s) {
         s.assurer = assurer_with(1, 10, born_aged(16));
         s.proposed.points = 10;
       },
       errc::internal, ""},
      {"R-ASSURE-MAX junior may not award 11",
       [](scenario& s) {
         s.assurer = assurer_with(1, 10, born_aged(16));
         s.proposed.points = 11;
       },
       errc::denied, "R-ASSURE-MAX"},
      {"R-ASSURE-MAX founding is by appointment only",
       [](scenario& s) { s.proposed.method = assurance_method::founding; }, errc::denied, "R-ASSURE-MAX"},
      {"R-TTP first TTP",
       [](scenario& s) {
         with_ep(s, 25);
         s.proposed.method = assurance_method::ttp;
         s.proposed.points = 35;
       },
       errc::internal, ""},
      {"R-TTP second TTP",
       [](scenario& s) {
         with_ep(s, 25);
         with_ttp(s, 1);
         s.proposed.method = assurance_method::ttp;
         s.proposed.points = 35;
       },
       errc::internal, ""},
      {"R-TTP third TTP",
       [](scenario& s) {
         with_ep(s, 25);
         with_ttp(s, 2);
         s.proposed.method = assurance_method::ttp;
         s.proposed.points = 10;
       },
       errc::denied, "R-TTP"},
      {"R-TTP over 35 is refused by R-ASSURE-MAX first",
       [](scenario& s) {
         with_ep(s, 25);
         s.proposed.method = assurance_method::ttp;
         s.proposed.points = 36;
       },
       errc::denied, "R-ASSURE-MAX"},
      {"R-TTP TOPUP after two TTP with CATS",
       [](scenario& s) {
         with_ep(s, 25);
         with_ttp(s, 2);
         give_cats(s.assuree);
         s.proposed.method = assurance_method::topup;
         s.proposed.points = 30;
       },
       errc::internal, ""},
      {"R-TTP TOPUP of 31",
       [](scenario& s) {
         with_ep(s, 25);
         with_ttp(s, 2);
         give_cats(s.assuree);
         s.proposed.method = assurance_method::topup;
         s.proposed.points = 31;
       },
       errc::denied, "R-TTP"},
      {"R-TTP TOPUP after one TTP",
       [](scenario& s) {
         with_ep(s, 25);
         with_ttp(s, 1);
         give_cats(s.assuree);
         s.proposed.method = assurance_method::topup;
         s.proposed.points = 30;
       },
       errc::denied, "R-TTP"},
      {"R-TTP TOPUP after a withdrawn TTP",
       [](scenario& s) {
         with_ep(s, 25);
         with_ttp(s, 2);
         s.assuree.received.back().revoked_case = "a20250202.2";
         give_cats(s.assuree);
         s.proposed.method = assurance_method::topup;
         s.proposed.points = 30;
       },
       errc::denied, "R-TTP"},
      {"R-TTP TOPUP without CATS",
       [](scenario& s) {
         with_ep(s, 25);
         with_ttp(s, 2);
         s.proposed.method = assurance_method::topup;
         s.proposed.points = 30;
       },
       errc::denied, "R-TTP"},
  }));
  CAPTURE(rule);
  scenario s;
  change(s);
  const result<void> r = s.check();
  if (where.empty()) {
    INFO((r ? std::string() : describe(r.error())));
    CHECK(r.has_value());
  } else {
    REQUIRE_FALSE(r.has_value());
    INFO(describe(r.error()));
    CHECK(r.error().where == where);
    CHECK(r.error().code == code);
    CHECK_FALSE(r.error().message.empty());
  }
}

TEST_CASE("check_assurance: messages name the value and the limit", "[assurance]") {
  scenario s;
  with_ep(s, 6);  // 12 EP: at most 15
  s.assurer.who.id = 3;
  s.proposed.points = 20;
  auto r = s.check();
  REQUIRE_FALSE(r);
  CHECK(r.error().where == "R-ASSURE-MAX");
  CHECK(r.error().message == "assurer 3 (12 EP) may award at most 15 AP; 20 were entered");

  scenario junior;
  junior.assurer = assurer_with(1, 10, born_aged(16));
  junior.proposed.points = 11;
  r = junior.check();
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "assurer 1 (10 EP, Junior Assurer aged 16) may award at most 10 AP; 11 were entered");

  scenario future;
  future.proposed.met_on = add_days(today, 2);
  r = future.check();
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("2025-06-03") != std::string::npos);
  CHECK(r.error().message.find("2025-06-02") != std::string::npos);

  scenario dob;
  dob.entered_dob = ymd(1990, 2, 4);
  r = dob.check();
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("1990-02-04") != std::string::npos);
  // The record is not revealed to whoever typed the wrong date.
  CHECK(r.error().message.find("1990-04-02") == std::string::npos);

  scenario docs;
  docs.proposed.documents = {"passport", "birth-certificate"};
  r = docs.check();
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("1 government-issued photo ID(s) were entered; at least 2") != std::string::npos);
}

TEST_CASE("R-BOOTSTRAP: founding appointments", "[assurance][R-BOOTSTRAP]") {
  using edit = std::function<void(member_record&)>;
  auto [rule, change, so_far, reason, code, where] =
      GENERATE(table<std::string, edit, int, std::string, errc, std::string>({
          {"R-BOOTSTRAP first appointment", [](member_record&) {}, 0, "no Assurer exists yet", errc::internal, ""},
          {"R-BOOTSTRAP third appointment", [](member_record&) {}, 2, "third founder", errc::internal, ""},
          {"R-BOOTSTRAP fourth appointment", [](member_record&) {}, 3, "one more", errc::denied, "R-BOOTSTRAP"},
          {"R-BOOTSTRAP empty reason", [](member_record&) {}, 0, "", errc::invalid_input, "--reason"},
          {"R-BOOTSTRAP blank reason", [](member_record&) {}, 0, " \t ", errc::invalid_input, "--reason"},
          {"R-LOCKED", [](member_record& m) { m.who.locked = true; }, 0, "why", errc::denied, "R-LOCKED"},
          {"R-BOOTSTRAP already founding",
           [](member_record& m) { m.received.push_back(assured_by(0, m.who.id, 100, assurance_method::founding)); },
           1, "again", errc::conflict, "R-BOOTSTRAP"},
          {"R-BOOTSTRAP withdrawn founding may be redone",
           [](member_record& m) {
             m.received.push_back(assured_by(0, m.who.id, 100, assurance_method::founding));
             m.received.back().revoked_case = "a20250101.9";
           },
           1, "again", errc::internal, ""},
      }));
  CAPTURE(rule);
  member_record candidate = person(5);
  change(candidate);
  const result<void> r = check_founding(candidate, so_far, reason, wot_rules{});
  if (where.empty()) {
    CHECK(r.has_value());
  } else {
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().where == where);
    CHECK(r.error().code == code);
  }
}

TEST_CASE("R-BOOTSTRAP: three founders, then the fourth is refused", "[assurance][R-BOOTSTRAP]") {
  wot_rules rules;
  int appointed = 0;
  for (member_id id = 1; id <= 3; ++id) {
    REQUIRE(check_founding(person(id), appointed, "nucleus of the WoT", rules));
    ++appointed;
  }
  const auto fourth = check_founding(person(4), appointed, "nucleus of the WoT", rules);
  REQUIRE_FALSE(fourth);
  CHECK(fourth.error().message == "3 founding appointments have been made; at most 3 can ever be made");

  rules.founding_max = 4;
  CHECK(check_founding(person(4), appointed, "nucleus of the WoT", rules));
}

TEST_CASE("R-BOOTSTRAP: a founder assures once they pass CATS", "[assurance][R-BOOTSTRAP]") {
  scenario s;
  s.assurer = person(1);
  s.assurer.received.push_back(assured_by(0, 1, 100, assurance_method::founding));
  s.proposed.points = 35;
  auto r = s.check();
  REQUIRE_FALSE(r);
  CHECK(r.error().where == "R-ASSURE-ASSURER");

  give_cats(s.assurer);
  CHECK(s.check().has_value());
  s.proposed.points = 36;
  r = s.check();
  REQUIRE_FALSE(r);
  CHECK(r.error().where == "R-ASSURE-MAX");
}

TEST_CASE("R-MEMBER-NAME-FROZEN", "[assurance][R-MEMBER-NAME-FROZEN]") {
  auto [ap, allowed] = GENERATE(table<int, bool>({{0, true}, {1, false}, {50, false}, {100, false}}));
  points_summary s;
  s.ap = ap;
  const auto r = check_name_change(s);
  CHECK(r.has_value() == allowed);
  if (!allowed) {
    CHECK(r.error().where == "R-MEMBER-NAME-FROZEN");
    CHECK(r.error().message.find("holds " + std::to_string(ap) + " AP") != std::string::npos);
  }
}
