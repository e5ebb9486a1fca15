// Assurance Points, Experience Points, status and the Assurer test
// (POLICY.md R-AP-SUM, R-TTP, R-EP, R-ASSURE-MAX, R-ASSURER, R-BOOTSTRAP).
// Pure functions over facts; `today` is always passed in.
#pragma once

#include <string>
#include <vector>

#include "core/wot/model.h"
#include "core/wot/rules.h"

namespace wotca {

enum class member_status { member, assured_member, assurer };
[[nodiscard]] std::string_view to_string(member_status s);

// One line of explanation: which rule produced which effect.
struct rule_note {
  std::string rule;     // "R-AP-SUM"
  std::string message;  // "3 assurances stand; 105 AP awarded, 100 counted"
};

// Everything the rules say about one member's points on one day.
struct points_summary {
  int ap_awarded = 0;   // sum of the points of the assurances that stand, as entered
  int ap = 0;           // counted: after R-TTP limits and the 100 AP cap
  int ep = 0;           // counted experience points (R-EP caps applied)
  int total = 0;        // ap + ep, at most 150
  bool cats_valid = false;   // a CATS pass that has not lapsed (R-ASSURER)
  bool founding = false;     // holds a standing `founding` assurance (R-BOOTSTRAP)
  bool is_assurer = false;   // R-ASSURER: 100 AP, CATS, 14 or older, not locked
  member_status status = member_status::member;
  std::vector<rule_note> notes;
};

// The facts about one member that points depend on.
struct member_record {
  member who;
  std::vector<assurance> received;  // assurances where who is the assuree (any state)
  std::vector<assurance> given;     // assurances where who is the assurer (any state)
  std::vector<cats_pass> cats;
};

// R-AP-SUM, R-TTP, R-EP, R-ASSURER, R-BOOTSTRAP applied to `r` on `today`.
// Withdrawn assurances (revoked_case set) count for nothing.
[[nodiscard]] points_summary summarize(const member_record& r, date today, const wot_rules& rules);

// R-ASSURE-MAX: the most `assurer` may award in one assurance on `today`
// (0 if they are not an Assurer). Junior Assurers (14-17) at most 10.
[[nodiscard]] int max_award(const member_record& assurer, const points_summary& s, date today);

// The experience table of R-ASSURE-MAX: 0-9 EP -> 10, ..., 50 -> 35.
[[nodiscard]] int max_award_for_ep(int ep);

// Whether `doc` names a government-issued photo ID (R-ASSURE-DOCS):
// passport, id-card, driving-licence, residence-permit (case-insensitive).
[[nodiscard]] bool is_government_photo_id(std::string_view doc);

}  // namespace wotca
