// RFC 7807 problem documents with the ACME error types of RFC 8555 6.7,
// and the subproblems of 6.7.1 that name one identifier each.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "acme/exchange.h"

namespace wotca::acme {

enum class problem_type {
  account_does_not_exist, already_replaced, already_revoked, bad_csr, bad_nonce, bad_public_key, bad_revocation_reason,
  bad_signature_algorithm, caa, compound, connection, dns, external_account_required, incorrect_response,
  invalid_contact, malformed, order_not_ready, rate_limited, rejected_identifier, server_internal, tls,
  unauthorized, unsupported_contact, unsupported_identifier, user_action_required,
};

// "urn:ietf:params:acme:error:badCSR", ...
[[nodiscard]] std::string urn(problem_type t);
// The HTTP status a problem of type `t` is sent with unless said otherwise.
[[nodiscard]] unsigned default_status(problem_type t);

struct subproblem {
  std::string type;        // a full URN
  std::string detail;
  std::string identifier;  // the DNS name concerned
};

struct problem {
  problem_type type = problem_type::malformed;
  std::string detail;
  unsigned status = 0;  // 0: default_status(type)
  std::vector<subproblem> subproblems;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Retry-After, Location
  nlohmann::json extra = nlohmann::json::object();           // e.g. "algorithms" for badSignatureAlgorithm

  problem() = default;
  problem(problem_type t, std::string d, unsigned s = 0) : type(t), detail(std::move(d)), status(s) {}
  [[nodiscard]] unsigned http_status() const { return status != 0 ? status : default_status(type); }
  [[nodiscard]] nlohmann::json to_json() const;
};

// Status, Content-Type application/problem+json, the body, and the extra
// headers; the caller adds Replay-Nonce and Link.
[[nodiscard]] http_exchange_response to_response(const problem& p);

}  // namespace wotca::acme
