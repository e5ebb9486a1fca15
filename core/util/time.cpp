#include "core/util/time.h"

#include <cstdio>

namespace wotca {

using namespace std::chrono;

date day_of(sys_seconds t) { return date{floor<days>(t)}; }

sys_seconds start_of(date d) { return sys_seconds{sys_days{d}.time_since_epoch()}; }

namespace {

bool digits(std::string_view s, size_t from, size_t n, int& out) {
  out = 0;
  for (size_t i = from; i < from + n; ++i) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

result<date> parse_date(std::string_view text, std::string_view field) {
  int y = 0, m = 0, d = 0;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !digits(text, 0, 4, y) ||
      !digits(text, 5, 2, m) || !digits(text, 8, 2, d)) {
    return fail(errc::invalid_input, std::string(field),
                "'" + std::string(text) + "' is not a date of the form YYYY-MM-DD");
  }
  date out{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  if (!out.ok() || y < 1900) {
    return fail(errc::invalid_input, std::string(field),
                "'" + std::string(text) + "' is not a real calendar date");
  }
  return out;
}

result<sys_seconds> parse_time(std::string_view text, std::string_view field) {
  if (text.size() == 10) {
    auto d = parse_date(text, field);
    if (!d) return unexpected(d.error());
    return start_of(*d);
  }
  int hh = 0, mm = 0, ss = 0;
  if (text.size() != 20 || text[10] != 'T' || text[13] != ':' || text[16] != ':' ||
      text[19] != 'Z' || !digits(text, 11, 2, hh) || !digits(text, 14, 2, mm) ||
      !digits(text, 17, 2, ss) || hh > 23 || mm > 59 || ss > 59) {
    return fail(errc::invalid_input, std::string(field),
                "'" + std::string(text) + "' is not a time of the form YYYY-MM-DDTHH:MM:SSZ");
  }
  auto d = parse_date(text.substr(0, 10), field);
  if (!d) return unexpected(d.error());
  return start_of(*d) + hours{hh} + minutes{mm} + seconds{ss};
}

std::string format_date(date d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()),
                static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
  return buf;
}

std::string format_time(sys_seconds t) {
  auto dp = floor<days>(t);
  hh_mm_ss hms{t - dp};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02dZ", format_date(date{dp}).c_str(),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

int age_on(date born, date on) {
  int age = static_cast<int>(on.year()) - static_cast<int>(born.year());
  if (on.month() < born.month() || (on.month() == born.month() && on.day() < born.day())) --age;
  return age;
}

}  // namespace wotca
