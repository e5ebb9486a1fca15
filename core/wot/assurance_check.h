// Whether a proposed assurance may be recorded (R-ASSURE-*, R-LOCKED,
// R-MEMBER-KIND parental consent, R-TTP, R-BOOTSTRAP).
#pragma once

#include "core/util/error.h"
#include "core/wot/points.h"

namespace wotca {

struct assurance_context {
  const member_record& assurer;
  const points_summary& assurer_points;
  const member_record& assuree;
  const points_summary& assuree_points;
  bool assuree_has_verified_email = false;  // R-ASSURE-VERIFIED
  date entered_date_of_birth{};             // R-ASSURE-FACTS: typed by the Assurer
  date today{};
  const wot_rules& rules;  // R-ASSURE-DOCS minimums
};

// On success the assurance may be stored as proposed. On failure the error
// has code errc::denied (a rule refused: `where` is the R-... name) or
// errc::invalid_input (a fact is malformed: `where` names the field), and a
// message naming the value and the limit.
// Checks, in order: R-LOCKED, R-ASSURE-SELF, R-ASSURE-ASSURER,
// R-ASSURE-ONCE, R-ASSURE-FACTS (date not more than one day ahead, place of
// 3+ chars, in-person statement unless TTP, date of birth matches),
// R-ASSURE-DOCS, R-ASSURE-VERIFIED, R-MEMBER-KIND (under 18 needs parental
// consent), R-ASSURE-MAX, R-TTP (TTP at most 35 each and two counting; TOPUP
// at most 30, needs two TTP assurances and a CATS pass of the assuree).
[[nodiscard]] result<void> check_assurance(const assurance_context& ctx, const assurance& proposed);

// R-BOOTSTRAP: whether `candidate` may be appointed a founding Assurer when
// `founding_so_far` appointments exist. Refuses locked members, members who
// already hold a founding assurance, an empty reason, and more than
// rules.founding_max appointments.
[[nodiscard]] result<void> check_founding(const member_record& candidate, int founding_so_far,
                                          std::string_view reason, const wot_rules& rules);

// R-MEMBER-NAME-FROZEN: name and date of birth change only at 0 AP.
[[nodiscard]] result<void> check_name_change(const points_summary& s);

}  // namespace wotca
