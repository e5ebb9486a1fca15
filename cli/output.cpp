#include "cli/output.h"

#include <cstdio>

namespace wotca::cli {

int exit_code(const error& e) {
  switch (e.code) {
    case errc::denied:
    case errc::invalid_input:
    case errc::not_found:
    case errc::conflict:
      return 1;
    default:
      return 3;
  }
}

void output::done(const nlohmann::json& doc, const std::string& text) const {
  if (json) {
    std::string s = doc.dump(2);
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fputc('\n', stdout);
  } else if (!text.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (text.back() != '\n') std::fputc('\n', stdout);
  }
}

int output::failed(const error& e) const {
  if (json) {
    nlohmann::json doc = {{"error", {{"code", std::string(to_string(e.code))}, {"where", e.where}, {"message", e.message}}}};
    std::string s = doc.dump(2);
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fputc('\n', stdout);
  } else {
    std::string line = "wotca: " + describe(e) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  return exit_code(e);
}

}  // namespace wotca::cli
