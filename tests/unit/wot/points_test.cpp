#include "core/wot/points.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "tests/unit/wot/wot_builders.h"

using namespace wotca;
using namespace wotca::test;

namespace {

struct spec {
  int points;
  assurance_method method = assurance_method::face_to_face;
  bool withdrawn = false;
};

member_record received(const std::vector<spec>& specs, bool cats) {
  member_record r = person(2);
  member_id assurer = 100;
  int day = 1;
  for (const auto& s : specs) {
    assurance a = assured_by(++assurer, r.who.id, s.points, s.method);
    a.met_on = ymd(2025, 1, static_cast<unsigned>(day++));
    if (s.withdrawn) a.revoked_case = "a20250101.1";
    r.received.push_back(a);
  }
  if (cats) give_cats(r);
  return r;
}

constexpr auto f2f = assurance_method::face_to_face;
constexpr auto ttp = assurance_method::ttp;
constexpr auto topup = assurance_method::topup;
constexpr auto founding = assurance_method::founding;

}  // namespace

TEST_CASE("AP: sums, caps and status", "[points][R-AP-SUM]") {
  auto [rule, specs, cats, awarded, ap, status] =
      GENERATE(table<std::string, std::vector<spec>, bool, int, int, member_status>({
          {"R-AP-SUM no assurances", {}, false, 0, 0, member_status::member},
          {"R-AP-SUM 49 AP is a member", {{25}, {24}}, false, 49, 49, member_status::member},
          {"R-AP-SUM 50 AP is assured", {{25}, {25}}, false, 50, 50, member_status::assured_member},
          {"R-AP-SUM 99 AP", {{35}, {35}, {29}}, true, 99, 99, member_status::assured_member},
          {"R-ASSURER 100 AP without CATS", {{35}, {35}, {30}}, false, 100, 100,
           member_status::assured_member},
          {"R-ASSURER 100 AP with CATS", {{35}, {35}, {30}}, true, 100, 100, member_status::assurer},
          {"R-AP-SUM 100 AP cap", {{35}, {35}, {35}}, true, 105, 100, member_status::assurer},
          {"R-AP-SUM cap with many", {{35}, {35}, {35}, {35}, {35}}, false, 175, 100,
           member_status::assured_member},
          {"R-ASSURE-MAX single assurance counts 35", {{50}}, false, 50, 35, member_status::member},
          {"R-ARBITRATION withdrawn counts nothing", {{35}, {35, f2f, true}}, false, 35, 35,
           member_status::member},
          {"R-ARBITRATION withdrawn drops an Assurer", {{35}, {35}, {30, f2f, true}}, true, 70, 70,
           member_status::assured_member},
          {"R-TTP two count", {{35, ttp}, {35, ttp}}, false, 70, 70, member_status::assured_member},
          {"R-TTP third does not count", {{35, ttp}, {35, ttp}, {35, ttp}}, false, 105, 70,
           member_status::assured_member},
          {"R-TTP withdrawn TTP frees a place", {{35, ttp, true}, {35, ttp}, {35, ttp}}, false, 70, 70,
           member_status::assured_member},
          {"R-TTP over 35 counts 35", {{40, ttp}}, false, 40, 35, member_status::member},
          {"R-TTP TOPUP completes 100", {{35, ttp}, {35, ttp}, {30, topup}}, true, 100, 100,
           member_status::assurer},
          {"R-TTP TOPUP counts 30", {{35, ttp}, {35, ttp}, {40, topup}}, false, 110, 100,
           member_status::assured_member},
          {"R-TTP TOPUP alone counts 30", {{35, topup}}, false, 35, 30, member_status::member},
          {"R-BOOTSTRAP founding counts 100", {{100, founding}}, false, 100, 100,
           member_status::assured_member},
          {"R-BOOTSTRAP founding withdrawn", {{100, founding, true}}, true, 0, 0, member_status::member},
      }));
  CAPTURE(rule);
  const points_summary s = summarize(received(specs, cats), today, wot_rules{});
  CHECK(s.ap_awarded == awarded);
  CHECK(s.ap == ap);
  CHECK(s.status == status);
  CHECK(s.is_assurer == (status == member_status::assurer));
  CHECK(has_note(s, "R-AP-SUM", std::to_string(awarded) + " AP awarded, " + std::to_string(ap) + " counted"));
}

TEST_CASE("R-TTP: a note says when the TTP limits cut something", "[points][R-TTP]") {
  const auto cut = summarize(received({{35, ttp}, {35, ttp}, {35, ttp}}, false), today, wot_rules{});
  CHECK(has_note(cut, "R-TTP", "3 TTP assurances stand; only the first 2 count"));
  const auto capped = summarize(received({{40, ttp}}, false), today, wot_rules{});
  CHECK(has_note(capped, "R-TTP", "1 TTP assurance counted at most 35 AP each"));
  const auto fine = summarize(received({{35, ttp}, {35, ttp}}, false), today, wot_rules{});
  for (const auto& n : fine.notes) CHECK(n.rule != "R-TTP");
}

TEST_CASE("R-EP: experience and what it lets an Assurer award", "[points][R-EP][R-ASSURE-MAX]") {
  // given: face-to-face assurances (2 EP each), mass: at mass events (1 EP each).
  auto [rule, age, given, mass, ep, most] = GENERATE(table<std::string, int, int, int, int, int>({
      {"R-ASSURE-MAX 0 EP", 40, 0, 0, 0, 10},
      {"R-ASSURE-MAX 9 EP", 40, 4, 1, 9, 10},
      {"R-ASSURE-MAX 10 EP", 40, 5, 0, 10, 15},
      {"R-ASSURE-MAX 19 EP", 40, 9, 1, 19, 15},
      {"R-ASSURE-MAX 20 EP", 40, 10, 0, 20, 20},
      {"R-ASSURE-MAX 29 EP", 40, 14, 1, 29, 20},
      {"R-ASSURE-MAX 30 EP", 40, 15, 0, 30, 25},
      {"R-ASSURE-MAX 39 EP", 40, 19, 1, 39, 25},
      {"R-ASSURE-MAX 40 EP", 40, 20, 0, 40, 30},
      {"R-ASSURE-MAX 49 EP", 40, 24, 1, 49, 30},
      {"R-ASSURE-MAX 50 EP", 40, 25, 0, 50, 35},
      {"R-EP capped at 50", 40, 60, 0, 50, 35},
      {"R-EP mass events earn 1", 40, 0, 7, 7, 10},
      {"R-EP junior capped at 10", 16, 10, 0, 10, 10},
      {"R-ASSURE-MAX junior at most 10", 17, 3, 0, 6, 10},
      {"R-EP 18 is an adult", 18, 10, 0, 20, 20},
      {"R-ASSURER 14 is old enough", 14, 2, 0, 4, 10},
      {"R-ASSURER 13 is too young", 13, 10, 0, 0, 0},
  }));
  CAPTURE(rule);
  member_record r = assurer_with(1, given, born_aged(age));
  give_assurances(r, mass, true);
  const points_summary s = summarize(r, today, wot_rules{});
  CHECK(s.ep == ep);
  CHECK(max_award(r, s, today) == most);
  CHECK(s.total == s.ap + s.ep);
  CHECK(s.total == 100 + ep);
}

TEST_CASE("R-EP: only face-to-face assurances that stand earn experience", "[points][R-EP]") {
  member_record r = assurer_with(1, 5);  // 10 EP
  r.given.push_back(assured_by(1, 70, 35, ttp));
  r.given.push_back(assured_by(1, 71, 30, topup));
  assurance withdrawn = assured_by(1, 72, 10);
  withdrawn.revoked_case = "a20250301.4";
  r.given.push_back(withdrawn);
  CHECK(summarize(r, today, wot_rules{}).ep == 10);

  wot_rules generous;
  generous.ep_per_assurance = 3;
  CHECK(summarize(r, today, generous).ep == 15);
}

TEST_CASE("R-EP: experience counts only while the member is an Assurer", "[points][R-EP]") {
  member_record r = person(1);
  give_100_ap(r);
  give_assurances(r, 20);  // 40 EP earned, but no CATS pass
  const points_summary s = summarize(r, today, wot_rules{});
  CHECK_FALSE(s.is_assurer);
  CHECK(s.ep == 0);
  CHECK(s.total == 100);
  CHECK(has_note(s, "R-EP", "earn 40 EP; experience is not counted"));
  CHECK(has_note(s, "R-ASSURER", "needs a CATS pass"));
  CHECK(max_award(r, s, today) == 0);
}

TEST_CASE("R-AP-SUM: total points are capped at 150", "[points][R-AP-SUM]") {
  member_record r = assurer_with(1, 40);  // 80 EP earned
  r.received.push_back(assured_by(904, 1, 35));
  const points_summary s = summarize(r, today, wot_rules{});
  CHECK(s.ap_awarded == 135);
  CHECK(s.ap == 100);
  CHECK(s.ep == 50);
  CHECK(s.total == 150);
  CHECK(has_note(s, "R-EP", "earn 80 EP, capped at 50"));
}

TEST_CASE("R-BOOTSTRAP: founding Assurers", "[points][R-BOOTSTRAP]") {
  member_record r = person(1);
  r.received.push_back(assured_by(0, 1, 100, founding));

  SECTION("without CATS: 100 AP, no Assurer, experience not counted") {
    const points_summary s = summarize(r, today, wot_rules{});
    CHECK(s.founding);
    CHECK(s.ap == 100);
    CHECK_FALSE(s.is_assurer);
    CHECK(s.ep == 0);
    CHECK(s.status == member_status::assured_member);
    CHECK(max_award(r, s, today) == 0);
    CHECK(has_note(s, "R-ASSURER", "needs a CATS pass"));
  }
  SECTION("with CATS: an Assurer with 50 EP who may award 35") {
    give_cats(r);
    const points_summary s = summarize(r, today, wot_rules{});
    CHECK(s.is_assurer);
    CHECK(s.ep == 50);
    CHECK(s.total == 150);
    CHECK(s.status == member_status::assurer);
    CHECK(max_award(r, s, today) == 35);
    CHECK(has_note(s, "R-EP", "50 founding EP"));
  }
  SECTION("a founding Assurer under 18 is held to 10 EP") {
    r.who.date_of_birth = born_aged(16);
    give_cats(r);
    const points_summary s = summarize(r, today, wot_rules{});
    CHECK(s.is_assurer);
    CHECK(s.ep == 10);
    CHECK(max_award(r, s, today) == 10);
  }
}

TEST_CASE("R-ASSURER: CATS validity", "[points][R-ASSURER]") {
  auto [rule, validity, passed, valid] = GENERATE(table<std::string, std::optional<int>, date, bool>({
      {"R-ASSURER no expiry by default", std::nullopt, ymd(2001, 1, 1), true},
      {"R-ASSURER 2 years: passed exactly 2 years ago", 2, ymd(2023, 6, 1), true},
      {"R-ASSURER 2 years: lapsed a day ago", 2, ymd(2023, 5, 31), false},
      {"R-ASSURER 2 years: recent pass", 2, ymd(2025, 5, 1), true},
      {"R-ASSURER a pass dated in the future does not count", std::nullopt, ymd(2025, 6, 2), false},
  }));
  CAPTURE(rule);
  member_record r = person(1);
  give_100_ap(r);
  give_cats(r, passed);
  wot_rules rules;
  rules.cats_validity_years = validity;
  const points_summary s = summarize(r, today, rules);
  CHECK(s.cats_valid == valid);
  CHECK(s.is_assurer == valid);
  if (!valid) CHECK(has_note(s, "R-ASSURER", "needs a CATS pass"));
}

TEST_CASE("R-ASSURER: a lapsed pass is named, and a newer pass renews", "[points][R-ASSURER]") {
  member_record r = assurer_with(1, 10, ymd(1980, 1, 15));
  r.cats.clear();
  give_cats(r, ymd(2020, 2, 3));
  wot_rules rules;
  rules.cats_validity_years = 2;
  const points_summary lapsed = summarize(r, today, rules);
  CHECK_FALSE(lapsed.is_assurer);
  CHECK(lapsed.ep == 0);
  CHECK(max_award(r, lapsed, today) == 0);
  CHECK(has_note(lapsed, "R-ASSURER", "the pass of 2020-02-03 lapsed after 2 years"));

  give_cats(r, ymd(2024, 12, 1));
  const points_summary renewed = summarize(r, today, rules);
  CHECK(renewed.is_assurer);
  CHECK(renewed.ep == 20);
}

TEST_CASE("R-ASSURER: locked, too young and organisations are not Assurers", "[points][R-ASSURER]") {
  auto [rule, mutate, missing] = GENERATE(table<std::string, int, std::string>({
      {"R-LOCKED", 0, "is locked"},
      {"R-ASSURER age 13", 1, "must be 14 or older (is 13)"},
      {"R-MEMBER-KIND organisation", 2, "is an organisation"},
      {"R-ASSURER 99 AP", 3, "needs 100 AP (holds 99)"},
  }));
  CAPTURE(rule);
  member_record r = assurer_with(1, 10);
  switch (mutate) {
    case 0: r.who.locked = true; break;
    case 1: r.who.date_of_birth = born_aged(13); break;
    case 2: r.who.kind = member_kind::organisation; break;
    case 3: r.received.back().points = 29; break;
  }
  const points_summary s = summarize(r, today, wot_rules{});
  CHECK_FALSE(s.is_assurer);
  CHECK(s.ep == 0);
  CHECK(max_award(r, s, today) == 0);
  CHECK(has_note(s, "R-ASSURER", missing));
}

TEST_CASE("R-ARBITRATION: withdrawing an assurance recomputes at once", "[points][R-ARBITRATION]") {
  member_record r = assurer_with(1, 10);
  REQUIRE(summarize(r, today, wot_rules{}).is_assurer);
  r.received[0].revoked_case = "a20250520.2";
  const points_summary s = summarize(r, today, wot_rules{});
  CHECK(s.ap == 65);
  CHECK(s.ap_awarded == 65);
  CHECK_FALSE(s.is_assurer);
  CHECK(s.ep == 0);
  CHECK(s.status == member_status::assured_member);
  CHECK(has_note(s, "R-AP-SUM", "2 assurances stand (1 withdrawn by arbitration)"));
}

TEST_CASE("R-ASSURE-MAX: the experience table", "[points][R-ASSURE-MAX]") {
  auto [ep, most] = GENERATE(table<int, int>({{-1, 10}, {0, 10}, {9, 10}, {10, 15}, {19, 15}, {20, 20},
                                             {29, 20}, {30, 25}, {39, 25}, {40, 30}, {49, 30},
                                             {50, 35}, {80, 35}}));
  CAPTURE(ep);
  CHECK(max_award_for_ep(ep) == most);
}

TEST_CASE("R-ASSURE-DOCS: government photo IDs", "[points][R-ASSURE-DOCS]") {
  auto [doc, photo] = GENERATE(table<std::string, bool>({
      {"passport", true},
      {"Passport", true},
      {"ID-Card", true},
      {"id card", true},
      {"driving-licence", true},
      {"driving-license", true},
      {"drivers-license", true},
      {"residence-permit", true},
      {" passport ", true},
      {"birth-certificate", false},
      {"utility-bill", false},
      {"passports", false},
      {"", false},
  }));
  CAPTURE(doc);
  CHECK(is_government_photo_id(doc) == photo);
}

TEST_CASE("member_status names", "[points]") {
  CHECK(to_string(member_status::member) == "member");
  CHECK(to_string(member_status::assured_member) == "assured-member");
  CHECK(to_string(member_status::assurer) == "assurer");
}
