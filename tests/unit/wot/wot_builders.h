// Small builders of Web-of-Trust facts for the wot unit tests.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/wot/model.h"
#include "core/wot/points.h"

namespace wotca::test {

inline date ymd(int y, unsigned m, unsigned d) {
  return date{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
}

inline date add_days(date d, int n) { return date{std::chrono::sys_days{d} + std::chrono::days{n}}; }

// Every test runs on this day.
inline const date today = ymd(2025, 6, 1);

// Born on `today` minus `years` years (so exactly that age today).
inline date born_aged(int years) { return ymd(2025 - years, 6, 1); }

inline member_record person(member_id id, date dob = ymd(1980, 1, 15)) {
  member_record r;
  r.who.id = id;
  r.who.name = "Member " + std::to_string(id);
  r.who.date_of_birth = dob;
  r.who.cca_accepted_at = start_of(ymd(2024, 1, 1));
  return r;
}

inline assurance assured_by(member_id assurer, member_id assuree, int points,
                            assurance_method method = assurance_method::face_to_face) {
  static std::int64_t next_id = 1000;
  assurance a;
  a.id = ++next_id;
  if (method != assurance_method::founding) a.assurer = assurer;
  a.assuree = assuree;
  a.points = points;
  a.met_on = ymd(2025, 1, 10);
  a.place = "Berlin";
  a.documents = {"passport", "id-card"};
  a.method = method;
  a.appeared_in_person = method != assurance_method::ttp;
  return a;
}

inline void give_cats(member_record& r, date passed_on = ymd(2024, 3, 1)) {
  r.cats.push_back(cats_pass{r.who.id, passed_on, "v3"});
}

// 100 AP from three face-to-face assurances by members 901-903.
inline void give_100_ap(member_record& r) {
  r.received.push_back(assured_by(901, r.who.id, 35));
  r.received.push_back(assured_by(902, r.who.id, 35));
  r.received.push_back(assured_by(903, r.who.id, 30));
}

// Records `n` standing assurances given by `r` (to members 5000+).
inline void give_assurances(member_record& r, int n, bool mass_event = false) {
  for (int i = 0; i < n; ++i) {
    assurance a = assured_by(r.who.id, 5000 + static_cast<member_id>(r.given.size()), 10);
    a.mass_event = mass_event;
    r.given.push_back(a);
  }
}

// An adult Assurer: 100 AP, a CATS pass, and `given` face-to-face
// assurances (2 EP each).
inline member_record assurer_with(member_id id, int given, date dob = ymd(1980, 1, 15)) {
  member_record r = person(id, dob);
  give_100_ap(r);
  give_cats(r);
  give_assurances(r, given);
  return r;
}

inline bool has_note(const points_summary& s, const std::string& rule, const std::string& text) {
  for (const auto& n : s.notes) {
    if (n.rule == rule && n.message.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace wotca::test
