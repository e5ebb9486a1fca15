// The error value every module returns at its boundary (STYLE.md 5).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "core/util/expected.h"

namespace wotca {

enum class errc {
  invalid_input,   // a field, file or peer message is malformed or out of range
  denied,          // a rule of POLICY.md refused the request; `where` names the rule
  not_found,       // the object named does not exist
  conflict,        // the object exists already, or a uniqueness rule was hit
  storage,         // the database failed (full, read-only, corrupt)
  busy,            // the database stayed locked past the busy timeout; retry
  crypto,          // OpenSSL refused an operation on our own material
  io,              // a file could not be read or written
  config,          // the configuration is invalid
  internal,        // a state that should be impossible; report it
};

[[nodiscard]] constexpr std::string_view to_string(errc c) noexcept {
  switch (c) {
    case errc::invalid_input: return "invalid input";
    case errc::denied: return "denied";
    case errc::not_found: return "not found";
    case errc::conflict: return "conflict";
    case errc::storage: return "storage";
    case errc::busy: return "busy";
    case errc::crypto: return "crypto";
    case errc::io: return "io";
    case errc::config: return "config";
    case errc::internal: return "internal";
  }
  return "unknown";
}

struct error {
  errc code = errc::internal;
  // The rule (`R-SERVER-50`) or field (`member.email`, `csr`,
  // `ca.class1.key`) at fault; empty when neither applies.
  std::string where;
  // One sentence a person can act on, naming the value that was wrong.
  std::string message;
};

template <class T>
using result = expected<T, error>;

[[nodiscard]] inline unexpected<error> fail(errc code, std::string where, std::string message) {
  return unexpected<error>(error{code, std::move(where), std::move(message)});
}

// "where: message" for logs and the command line.
[[nodiscard]] inline std::string describe(const error& e) {
  if (e.where.empty()) return e.message;
  return e.where + ": " + e.message;
}

}  // namespace wotca
