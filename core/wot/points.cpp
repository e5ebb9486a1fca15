#include "core/wot/points.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace wotca {

namespace {

using std::chrono::sys_days;

// Fixed numbers of POLICY.md (not configuration, see rules.h).
constexpr int ap_cap = 100;                // R-AP-SUM
constexpr int total_cap = 150;             // R-AP-SUM
constexpr int single_assurance_cap = 35;   // R-ASSURE-MAX
constexpr int founding_points_cap = 100;   // R-BOOTSTRAP
constexpr int ttp_points_cap = 35;         // R-TTP
constexpr int ttp_counting_max = 2;        // R-TTP
constexpr int topup_points_cap = 30;       // R-TTP
constexpr int ep_cap = 50;                 // R-EP
constexpr int ep_cap_under_18 = 10;        // R-EP
constexpr int founding_ep = 50;            // R-BOOTSTRAP
constexpr int assurer_ap = 100;            // R-ASSURER
constexpr int assured_member_ap = 50;      // privilege table
constexpr int assurer_min_age = 14;        // R-ASSURER
constexpr int adult_age = 18;              // R-EP, R-ASSURE-MAX juniors
constexpr int junior_max_award = 10;       // R-ASSURE-MAX

bool stands(const assurance& a) { return !a.revoked_case.has_value(); }

std::string plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The day `years` before `d`; 29 February falls back to 28 February.
date years_before(date d, int years) {
  date out = d - std::chrono::years{years};
  if (!out.ok()) out = date{out.year() / out.month() / std::chrono::last};
  return out;
}

// R-ASSURER: a pass counts from the day it was taken; with a validity of N
// years it lapses once it is more than N years old (a pass of 2023-06-01 with
// N = 2 still counts on 2025-06-01 and not on 2025-06-02).
const cats_pass* newest_pass(const std::vector<cats_pass>& cats, date today) {
  const cats_pass* best = nullptr;
  for (const auto& c : cats) {
    if (sys_days{c.passed_on} > sys_days{today}) continue;
    if (best == nullptr || sys_days{c.passed_on} > sys_days{best->passed_on}) best = &c;
  }
  return best;
}

}  // namespace

std::string_view to_string(member_status s) {
  switch (s) {
    case member_status::member: return "member";
    case member_status::assured_member: return "assured-member";
    case member_status::assurer: return "assurer";
  }
  return "member";
}

int max_award_for_ep(int ep) {
  // R-ASSURE-MAX: 0-9 EP: 10 AP; 10-19: 15; 20-29: 20; 30-39: 25; 40-49: 30; 50: 35.
  if (ep < 10) return 10;
  if (ep >= 50) return 35;
  return 10 + 5 * (ep / 10);
}

int max_award(const member_record& assurer, const points_summary& s, date today) {
  if (!s.is_assurer) return 0;
  int award = max_award_for_ep(s.ep);
  // R-ASSURE-MAX: a Junior Assurer (14 to 17 years old) may award at most 10.
  if (age_on(assurer.who.date_of_birth, today) < adult_age) award = std::min(award, junior_max_award);
  return award;
}

bool is_government_photo_id(std::string_view doc) {
  size_t b = 0, e = doc.size();
  while (b < e && std::isspace(static_cast<unsigned char>(doc[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(doc[e - 1]))) --e;
  std::string norm;
  for (size_t i = b; i < e; ++i) {
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(doc[i])));
    norm += (c == ' ' || c == '_') ? '-' : c;
  }
  for (std::string_view known : {"passport", "id-card", "driving-licence", "driving-license",
                                 "drivers-license", "residence-permit"}) {
    if (norm == known) return true;
  }
  return false;
}

points_summary summarize(const member_record& r, date today, const wot_rules& rules) {
  points_summary s;

  // Received assurances in the order they were made, so that R-TTP's "two
  // count" picks the first two TTP assurances deterministically.
  std::vector<const assurance*> standing;
  int withdrawn = 0;
  for (const auto& a : r.received) {
    if (stands(a)) {
      standing.push_back(&a);
    } else {
      ++withdrawn;
    }
  }
  std::stable_sort(standing.begin(), standing.end(), [](const assurance* x, const assurance* y) {
    if (x->met_on != y->met_on) return sys_days{x->met_on} < sys_days{y->met_on};
    return x->id < y->id;
  });

  // R-AP-SUM, R-TTP, R-ASSURE-MAX: each assurance counts what its cap leaves.
  int counted_sum = 0;
  int ttp_seen = 0, ttp_ignored = 0, ttp_capped = 0, topup_capped = 0, single_capped = 0;
  for (const assurance* a : standing) {
    const int entered = std::max(a->points, 0);
    s.ap_awarded += a->points;
    int counted = 0;
    switch (a->method) {
      case assurance_method::founding:
        s.founding = true;
        counted = std::min(entered, founding_points_cap);
        break;
      case assurance_method::ttp:
        ++ttp_seen;
        if (ttp_seen > ttp_counting_max) {
          ++ttp_ignored;
          counted = 0;
        } else {
          if (entered > ttp_points_cap) ++ttp_capped;
          counted = std::min(entered, ttp_points_cap);
        }
        break;
      case assurance_method::topup:
        if (entered > topup_points_cap) ++topup_capped;
        counted = std::min(entered, topup_points_cap);
        break;
      case assurance_method::face_to_face:
        if (entered > single_assurance_cap) ++single_capped;
        counted = std::min(entered, single_assurance_cap);
        break;
    }
    counted_sum += counted;
  }
  s.ap = std::min(counted_sum, ap_cap);

  {
    std::string m = plural(static_cast<int>(standing.size()), "assurance stands", "assurances stand");
    if (withdrawn > 0) m += " (" + std::to_string(withdrawn) + " withdrawn by arbitration)";
    m += "; " + std::to_string(s.ap_awarded) + " AP awarded, " + std::to_string(s.ap) + " counted";
    if (counted_sum > ap_cap) m += " (capped at " + std::to_string(ap_cap) + ")";
    s.notes.push_back({"R-AP-SUM", std::move(m)});
  }
  if (single_capped > 0) {
    s.notes.push_back({"R-ASSURE-MAX", plural(single_capped, "assurance", "assurances") +
                                           " counted at most " + std::to_string(single_assurance_cap) +
                                           " AP each"});
  }
  if (ttp_ignored > 0 || ttp_capped > 0 || topup_capped > 0) {
    std::string m;
    if (ttp_ignored > 0) {
      m = std::to_string(ttp_seen) + " TTP assurances stand; only the first " +
          std::to_string(ttp_counting_max) + " count";
    }
    if (ttp_capped > 0) {
      if (!m.empty()) m += "; ";
      m += plural(ttp_capped, "TTP assurance", "TTP assurances") + " counted at most " +
           std::to_string(ttp_points_cap) + " AP each";
    }
    if (topup_capped > 0) {
      if (!m.empty()) m += "; ";
      m += plural(topup_capped, "TOPUP", "TOPUPs") + " counted at most " +
           std::to_string(topup_points_cap) + " AP each";
    }
    s.notes.push_back({"R-TTP", std::move(m)});
  }

  // R-ASSURER: a passed Assurer Challenge, lapsing after cats_validity_years.
  const cats_pass* pass = newest_pass(r.cats, today);
  bool cats_lapsed = false;
  if (pass != nullptr) {
    if (rules.cats_validity_years.has_value() &&
        sys_days{pass->passed_on} < sys_days{years_before(today, *rules.cats_validity_years)}) {
      cats_lapsed = true;
    } else {
      s.cats_valid = true;
    }
  }

  // R-ASSURER: 100 AP, CATS, 14 or older; R-LOCKED; a person.
  const int age = age_on(r.who.date_of_birth, today);
  std::vector<std::string> missing;
  if (r.who.kind != member_kind::person) missing.push_back("is an organisation, not a person");
  if (s.ap < assurer_ap) {
    missing.push_back("needs " + std::to_string(assurer_ap) + " AP (holds " + std::to_string(s.ap) + ")");
  }
  if (cats_lapsed) {
    missing.push_back("needs a CATS pass (the pass of " + format_date(pass->passed_on) +
                      " lapsed after " + std::to_string(*rules.cats_validity_years) + " years)");
  } else if (!s.cats_valid) {
    missing.push_back("needs a CATS pass");
  }
  if (age < assurer_min_age) {
    missing.push_back("must be " + std::to_string(assurer_min_age) + " or older (is " +
                      std::to_string(age) + ")");
  }
  if (r.who.locked) missing.push_back("is locked (R-LOCKED)");
  s.is_assurer = missing.empty();
  if (s.is_assurer) {
    s.notes.push_back({"R-ASSURER", "is an Assurer: " + std::to_string(s.ap) +
                                        " AP, a valid CATS pass, aged " + std::to_string(age)});
  } else {
    std::string m = "not an Assurer: ";
    for (size_t i = 0; i < missing.size(); ++i) {
      if (i > 0) m += "; ";
      m += missing[i];
    }
    s.notes.push_back({"R-ASSURER", std::move(m)});
  }

  // R-EP: experience from face-to-face assurances given, plus R-BOOTSTRAP's
  // founding 50; counted only while the member is an Assurer.
  int earned = s.founding ? founding_ep : 0;
  int face_to_face_given = 0;
  for (const auto& g : r.given) {
    if (!stands(g) || g.method != assurance_method::face_to_face) continue;
    ++face_to_face_given;
    earned += g.mass_event ? rules.ep_per_mass_event_assurance : rules.ep_per_assurance;
  }
  const int cap = age < adult_age ? ep_cap_under_18 : ep_cap;
  {
    std::string m = plural(face_to_face_given, "face-to-face assurance", "face-to-face assurances") +
                    " given";
    if (s.founding) m += " and " + std::to_string(founding_ep) + " founding EP";
    m += " earn " + std::to_string(earned) + " EP";
    if (s.is_assurer) {
      s.ep = std::min(earned, cap);
      if (earned > cap) {
        m += ", capped at " + std::to_string(cap) + (age < adult_age ? " (under 18)" : "");
      }
    } else {
      s.ep = 0;
      m += "; experience is not counted while the member is not an Assurer";
    }
    s.notes.push_back({"R-EP", std::move(m)});
  }

  s.total = std::min(s.ap + s.ep, total_cap);
  if (s.is_assurer) {
    s.status = member_status::assurer;
  } else if (s.ap >= assured_member_ap) {
    s.status = member_status::assured_member;
  } else {
    s.status = member_status::member;
  }
  return s;
}

}  // namespace wotca
