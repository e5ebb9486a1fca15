// How the command line speaks: human text by default, one JSON document with
// --json. Errors go to stderr as "wotca: WHERE: MESSAGE" (human) or to
// stdout as {"error": {...}} (--json), with the exit codes of exit_code().
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace wotca::cli {

// 0 done; 1 refused by policy or bad input (denied, invalid_input,
// not_found, conflict); 2 usage (from CLI11); 3 the environment failed
// (storage, io, busy, crypto, config, internal).
[[nodiscard]] int exit_code(const error& e);

struct output {
  bool json = false;
  // Prints `doc` as JSON, or `text` for people.
  void done(const nlohmann::json& doc, const std::string& text) const;
  // Prints the error and returns its exit code.
  [[nodiscard]] int failed(const error& e) const;
};

}  // namespace wotca::cli
