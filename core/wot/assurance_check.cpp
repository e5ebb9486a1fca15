#include "core/wot/assurance_check.h"

#include <cctype>
#include <chrono>
#include <string>

namespace wotca {

namespace {

using std::chrono::sys_days;

constexpr int min_place_chars = 3;   // R-ASSURE-FACTS
constexpr int ttp_points_cap = 35;   // R-TTP
constexpr int ttp_needed_for_topup = 2;  // R-TTP
constexpr int topup_points_cap = 30;  // R-TTP
constexpr int adult_age = 18;        // R-MEMBER-KIND

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Characters, not bytes: "Köln" is a place of four characters.
int utf8_length(std::string_view s) {
  int n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string member_label(const member_record& r) { return "member " + std::to_string(r.who.id); }

int standing_ttp(const member_record& assuree) {
  int n = 0;
  for (const auto& a : assuree.received) {
    if (!a.revoked_case && a.method == assurance_method::ttp) ++n;
  }
  return n;
}

}  // namespace

result<void> check_assurance(const assurance_context& ctx, const assurance& proposed) {
  const member_record& assurer = ctx.assurer;
  const member_record& assuree = ctx.assuree;
  const std::string assurer_name = "assurer " + std::to_string(assurer.who.id);
  const std::string assuree_name = member_label(assuree);

  // R-LOCKED: a locked member assures no one and is assured by no one.
  if (assurer.who.locked) {
    return fail(errc::denied, "R-LOCKED", assurer_name + " is locked and may assure no one");
  }
  if (assuree.who.locked) {
    return fail(errc::denied, "R-LOCKED", assuree_name + " is locked and may be assured by no one");
  }

  // R-ASSURE-SELF
  if (assurer.who.id == assuree.who.id) {
    return fail(errc::denied, "R-ASSURE-SELF",
                assurer_name + " may not assure themselves; ask another Assurer");
  }

  // R-ASSURE-ASSURER
  if (!ctx.assurer_points.is_assurer) {
    return fail(errc::denied, "R-ASSURE-ASSURER",
                assurer_name + " is not an Assurer (" + std::to_string(ctx.assurer_points.ap) +
                    " AP" + (ctx.assurer_points.cats_valid ? "" : ", no valid CATS pass") +
                    "); only an Assurer with 100 AP and a CATS pass may award AP");
  }

  // R-ASSURE-ONCE: either side's record may show the earlier assurance.
  for (const auto& g : assurer.given) {
    if (!g.revoked_case && g.assuree == assuree.who.id) {
      return fail(errc::denied, "R-ASSURE-ONCE",
                  assurer_name + " already assured " + assuree_name + " on " +
                      format_date(g.met_on) + "; an Assurer assures a member at most once");
    }
  }
  for (const auto& r : assuree.received) {
    if (!r.revoked_case && r.assurer == assurer.who.id) {
      return fail(errc::denied, "R-ASSURE-ONCE",
                  assurer_name + " already assured " + assuree_name + " on " +
                      format_date(r.met_on) + "; an Assurer assures a member at most once");
    }
  }

  // R-ASSURE-FACTS: the meeting date at most one day ahead (time zones).
  if (!proposed.met_on.ok()) {
    return fail(errc::invalid_input, "R-ASSURE-FACTS", "the meeting date is not a real calendar date");
  }
  const sys_days latest = sys_days{ctx.today} + std::chrono::days{1};
  if (sys_days{proposed.met_on} > latest) {
    return fail(errc::denied, "R-ASSURE-FACTS",
                "the meeting date " + format_date(proposed.met_on) +
                    " is in the future; it may be at most one day ahead, " + format_date(date{latest}));
  }
  const std::string_view place = trim(proposed.place);
  if (utf8_length(place) < min_place_chars) {
    return fail(errc::denied, "R-ASSURE-FACTS",
                "the place '" + std::string(place) + "' is too short; name it in at least " +
                    std::to_string(min_place_chars) + " characters");
  }
  if (proposed.method != assurance_method::ttp && !proposed.appeared_in_person) {
    return fail(errc::denied, "R-ASSURE-FACTS",
                "the Assurer must state that " + assuree_name +
                    " appeared in person (only a TTP-assisted assurance is exempt)");
  }
  // The recorded date of birth is not echoed back: the Assurer must read it
  // from the document, not from us.
  if (ctx.entered_date_of_birth != assuree.who.date_of_birth) {
    return fail(errc::denied, "R-ASSURE-FACTS",
                "the date of birth entered, " + format_date(ctx.entered_date_of_birth) +
                    ", does not match the record of " + assuree_name +
                    "; check the document again");
  }

  // R-ASSURE-DOCS
  int documents = 0, photo_ids = 0;
  for (const auto& d : proposed.documents) {
    if (trim(d).empty()) continue;
    ++documents;
    if (is_government_photo_id(d)) ++photo_ids;
  }
  if (documents < ctx.rules.min_documents) {
    return fail(errc::denied, "R-ASSURE-DOCS",
                std::to_string(documents) + " document(s) were entered; at least " +
                    std::to_string(ctx.rules.min_documents) + " must be checked");
  }
  if (photo_ids < ctx.rules.min_government_photo_ids) {
    return fail(errc::denied, "R-ASSURE-DOCS",
                std::to_string(photo_ids) + " government-issued photo ID(s) were entered; at least " +
                    std::to_string(ctx.rules.min_government_photo_ids) +
                    " are needed (passport, id-card, driving-licence, residence-permit)");
  }

  // R-ASSURE-VERIFIED
  if (!ctx.assuree_has_verified_email) {
    return fail(errc::denied, "R-ASSURE-VERIFIED",
                assuree_name + " has no verified email; they must confirm one before being assured");
  }

  // R-MEMBER-KIND: persons only (R-ORG is later), parental consent under 18.
  if (assuree.who.kind != member_kind::person) {
    return fail(errc::denied, "R-MEMBER-KIND",
                assuree_name + " is an organisation; organisations are assured by Organisation "
                               "Assurers, which this version does not support");
  }
  const int assuree_age = age_on(assuree.who.date_of_birth, ctx.today);
  if (assuree_age < adult_age && !assuree.who.parental_consent_at) {
    return fail(errc::denied, "R-MEMBER-KIND",
                assuree_name + " is " + std::to_string(assuree_age) +
                    " years old; a member under 18 needs recorded parental consent before being assured");
  }

  // R-ASSURE-MAX; founding assurances are made only by appointment (R-BOOTSTRAP).
  if (proposed.method == assurance_method::founding) {
    return fail(errc::denied, "R-ASSURE-MAX",
                "an Assurer cannot award a founding assurance; the operator appoints founding "
                "Assurers (R-BOOTSTRAP)");
  }
  const int most = max_award(assurer, ctx.assurer_points, ctx.today);
  if (proposed.points < 1) {
    return fail(errc::invalid_input, "R-ASSURE-MAX",
                std::to_string(proposed.points) + " AP were entered; an assurance awards 1 to " +
                    std::to_string(most) + " AP");
  }
  if (proposed.points > most) {
    const int age = age_on(assurer.who.date_of_birth, ctx.today);
    std::string who = assurer_name + " (" + std::to_string(ctx.assurer_points.ep) + " EP";
    if (age < adult_age) who += ", Junior Assurer aged " + std::to_string(age);
    who += ")";
    return fail(errc::denied, "R-ASSURE-MAX",
                who + " may award at most " + std::to_string(most) + " AP; " +
                    std::to_string(proposed.points) + " were entered");
  }

  // R-TTP
  const int ttp_so_far = standing_ttp(assuree);
  if (proposed.method == assurance_method::ttp) {
    if (proposed.points > ttp_points_cap) {
      return fail(errc::denied, "R-TTP",
                  "a TTP-assisted assurance awards at most " + std::to_string(ttp_points_cap) +
                      " AP; " + std::to_string(proposed.points) + " were entered");
    }
    if (ttp_so_far >= ttp_needed_for_topup) {
      return fail(errc::denied, "R-TTP",
                  assuree_name + " already holds " + std::to_string(ttp_so_far) +
                      " TTP assurances; at most 2 count, so a further one needs a face-to-face "
                      "assurance or a TOPUP");
    }
  }
  if (proposed.method == assurance_method::topup) {
    if (proposed.points > topup_points_cap) {
      return fail(errc::denied, "R-TTP",
                  "a TOPUP awards at most " + std::to_string(topup_points_cap) + " AP; " +
                      std::to_string(proposed.points) + " were entered");
    }
    if (ttp_so_far < ttp_needed_for_topup) {
      return fail(errc::denied, "R-TTP",
                  assuree_name + " holds " + std::to_string(ttp_so_far) +
                      " TTP assurance(s); a TOPUP needs " + std::to_string(ttp_needed_for_topup));
    }
    if (!ctx.assuree_points.cats_valid) {
      return fail(errc::denied, "R-TTP",
                  assuree_name + " has no valid CATS pass; a TOPUP needs a passed Assurer Challenge");
    }
  }
  return {};
}

result<void> check_founding(const member_record& candidate, int founding_so_far,
                            std::string_view reason, const wot_rules& rules) {
  const std::string name = member_label(candidate);
  // R-BOOTSTRAP: recorded with the operator's written reason.
  if (trim(reason).empty()) {
    return fail(errc::invalid_input, "--reason",
                "appointing " + name + " a founding Assurer needs the operator's written reason; none was given");
  }
  // R-LOCKED
  if (candidate.who.locked) {
    return fail(errc::denied, "R-LOCKED", name + " is locked and cannot be appointed a founding Assurer");
  }
  if (candidate.who.kind != member_kind::person) {
    return fail(errc::denied, "R-BOOTSTRAP",
                name + " is an organisation; only a person can be a founding Assurer");
  }
  // R-BOOTSTRAP: one founding assurance per member, at most founding_max ever.
  for (const auto& a : candidate.received) {
    if (!a.revoked_case && a.method == assurance_method::founding) {
      return fail(errc::conflict, "R-BOOTSTRAP",
                  name + " is already a founding Assurer (appointed " + format_date(a.met_on) + ")");
    }
  }
  if (founding_so_far >= rules.founding_max) {
    return fail(errc::denied, "R-BOOTSTRAP",
                std::to_string(founding_so_far) + " founding appointments have been made; at most " +
                    std::to_string(rules.founding_max) + " can ever be made");
  }
  return {};
}

result<void> check_name_change(const points_summary& s) {
  // R-MEMBER-NAME-FROZEN
  if (s.ap > 0) {
    return fail(errc::denied, "R-MEMBER-NAME-FROZEN",
                "the member holds " + std::to_string(s.ap) +
                    " AP; name and date of birth can be changed only at 0 AP, afterwards only by "
                    "an arbitration ruling");
  }
  return {};
}

}  // namespace wotca
