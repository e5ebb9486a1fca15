#include "acme/problem.h"

namespace wotca::acme {

std::string urn(problem_type t) {
  std::string_view name = "serverInternal";
  switch (t) {
    case problem_type::account_does_not_exist: name = "accountDoesNotExist"; break;
    case problem_type::already_replaced: name = "alreadyReplaced"; break;
    case problem_type::already_revoked: name = "alreadyRevoked"; break;
    case problem_type::bad_csr: name = "badCSR"; break;
    case problem_type::bad_nonce: name = "badNonce"; break;
    case problem_type::bad_public_key: name = "badPublicKey"; break;
    case problem_type::bad_revocation_reason: name = "badRevocationReason"; break;
    case problem_type::bad_signature_algorithm: name = "badSignatureAlgorithm"; break;
    case problem_type::caa: name = "caa"; break;
    case problem_type::compound: name = "compound"; break;
    case problem_type::connection: name = "connection"; break;
    case problem_type::dns: name = "dns"; break;
    case problem_type::external_account_required: name = "externalAccountRequired"; break;
    case problem_type::incorrect_response: name = "incorrectResponse"; break;
    case problem_type::invalid_contact: name = "invalidContact"; break;
    case problem_type::malformed: name = "malformed"; break;
    case problem_type::order_not_ready: name = "orderNotReady"; break;
    case problem_type::rate_limited: name = "rateLimited"; break;
    case problem_type::rejected_identifier: name = "rejectedIdentifier"; break;
    case problem_type::server_internal: name = "serverInternal"; break;
    case problem_type::tls: name = "tls"; break;
    case problem_type::unauthorized: name = "unauthorized"; break;
    case problem_type::unsupported_contact: name = "unsupportedContact"; break;
    case problem_type::unsupported_identifier: name = "unsupportedIdentifier"; break;
    case problem_type::user_action_required: name = "userActionRequired"; break;
  }
  return "urn:ietf:params:acme:error:" + std::string(name);
}

unsigned default_status(problem_type t) {
  switch (t) {
    case problem_type::unauthorized:
    case problem_type::external_account_required:
    case problem_type::order_not_ready:
    case problem_type::user_action_required:
    case problem_type::caa:
      return 403;
    case problem_type::rate_limited: return 429;
    case problem_type::already_replaced: return 409;  // RFC 9773 5
    case problem_type::server_internal: return 500;
    default: return 400;
  }
}

nlohmann::json problem::to_json() const {
  nlohmann::json j = extra;
  j["type"] = urn(type);
  j["detail"] = detail;
  j["status"] = http_status();
  if (!subproblems.empty()) {
    auto& subs = j["subproblems"] = nlohmann::json::array();
    for (const auto& s : subproblems) {
      subs.push_back({{"type", s.type}, {"detail", s.detail}, {"identifier", {{"type", "dns"}, {"value", s.identifier}}}});
    }
  }
  return j;
}

http_exchange_response to_response(const problem& p) {
  http_exchange_response r;
  r.status = p.http_status();
  r.set("Content-Type", "application/problem+json");
  for (const auto& [name, value] : p.headers) r.set(name, value);
  r.body = p.to_json().dump();
  return r;
}

}  // namespace wotca::acme
