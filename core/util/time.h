// Time as an injected value (STYLE.md 2): nothing below cli/ and the daemons'
// main.cpp reads the system clock; they pass a `clock` down.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/util/error.h"

namespace wotca {

using sys_seconds = std::chrono::sys_seconds;
using date = std::chrono::year_month_day;

class clock {
 public:
  virtual ~clock() = default;
  [[nodiscard]] virtual sys_seconds now() const = 0;
};

class system_clock final : public clock {
 public:
  [[nodiscard]] sys_seconds now() const override {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  }
};

// A clock that says what it is told; for tests and for replaying.
class fixed_clock final : public clock {
 public:
  explicit fixed_clock(sys_seconds t) : t_(t) {}
  [[nodiscard]] sys_seconds now() const override { return t_; }
  void set(sys_seconds t) { t_ = t; }
  void advance(std::chrono::seconds d) { t_ += d; }

 private:
  sys_seconds t_;
};

// The UTC calendar day containing `t`.
[[nodiscard]] date day_of(sys_seconds t);

// Parses exactly `YYYY-MM-DD` (a real calendar date). `field` names the input
// in the error, e.g. "--dob".
[[nodiscard]] result<date> parse_date(std::string_view text, std::string_view field);
// Parses `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DD` (midnight UTC).
[[nodiscard]] result<sys_seconds> parse_time(std::string_view text, std::string_view field);

[[nodiscard]] std::string format_date(date d);           // YYYY-MM-DD
[[nodiscard]] std::string format_time(sys_seconds t);    // YYYY-MM-DDTHH:MM:SSZ

// Whole years of age on `on` for someone born on `born`.
[[nodiscard]] int age_on(date born, date on);

// Midnight UTC of `d`.
[[nodiscard]] sys_seconds start_of(date d);

}  // namespace wotca
