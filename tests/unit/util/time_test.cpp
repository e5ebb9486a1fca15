#include "core/util/time.h"

#include <catch2/catch.hpp>
#include <string>

using namespace wotca;
using namespace std::chrono_literals;

namespace {

date ymd(int y, unsigned m, unsigned d) {
  return date{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
}

}  // namespace

TEST_CASE("parse_date accepts exactly YYYY-MM-DD of a real date", "[time]") {
  auto [text, ok] = GENERATE(table<std::string, bool>({
      {"2025-06-01", true},
      {"2024-02-29", true},
      {"1900-01-01", true},
      {"2025-02-29", false},
      {"2025-13-01", false},
      {"2025-00-10", false},
      {"1899-12-31", false},
      {"2025-6-01", false},
      {"2025-06-01 ", false},
      {"2025/06/01", false},
      {"", false},
  }));
  CAPTURE(text);
  const auto d = parse_date(text, "--dob");
  CHECK(d.has_value() == ok);
  if (d) {
    CHECK(format_date(*d) == text);
  } else {
    CHECK(d.error().where == "--dob");
    CHECK(d.error().code == errc::invalid_input);
    CHECK(d.error().message.find("'" + text + "'") != std::string::npos);
  }
}

TEST_CASE("parse_time and format_time round-trip", "[time]") {
  auto [text, ok, formatted] = GENERATE(table<std::string, bool, std::string>({
      {"2025-06-01T12:34:56Z", true, "2025-06-01T12:34:56Z"},
      {"2025-06-01", true, "2025-06-01T00:00:00Z"},
      {"2025-06-01T24:00:00Z", false, ""},
      {"2025-06-01T12:60:00Z", false, ""},
      {"2025-06-01T12:00:00", false, ""},
      {"2025-02-30T12:00:00Z", false, ""},
  }));
  CAPTURE(text);
  const auto t = parse_time(text, "--at");
  CHECK(t.has_value() == ok);
  if (t) CHECK(format_time(*t) == formatted);
}

TEST_CASE("day_of, start_of and age_on", "[time]") {
  const sys_seconds noon = start_of(ymd(2025, 6, 1)) + 12h;
  CHECK(day_of(noon) == ymd(2025, 6, 1));
  CHECK(day_of(start_of(ymd(2025, 6, 2)) - 1s) == ymd(2025, 6, 1));
  CHECK(start_of(ymd(1970, 1, 2)).time_since_epoch() == 86400s);

  auto [born, on, age] = GENERATE(table<date, date, int>({
      {ymd(2007, 6, 1), ymd(2025, 6, 1), 18},
      {ymd(2007, 6, 2), ymd(2025, 6, 1), 17},
      {ymd(2007, 7, 1), ymd(2025, 6, 30), 17},
      {ymd(2008, 2, 29), ymd(2026, 2, 28), 17},
      {ymd(2008, 2, 29), ymd(2026, 3, 1), 18},
  }));
  CHECK(age_on(born, on) == age);
}
