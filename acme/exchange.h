// The boundary between wotca-acme's protocol logic (service.h, handlers as
// values: request in, response out, no socket) and its transport (the
// Beast/Asio TLS server in server.h and the challenge validators in
// validator.h). Nothing here depends on Boost or on the store.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace wotca::acme {

// One HTTP request as the server read it, already bounded by its limits.
struct http_exchange_request {
  std::string method;        // "GET", "HEAD", "POST"
  std::string target;        // the raw request target: "/acme/order/12"
  std::string content_type;  // as sent, may be empty
  std::string body;
  std::string remote;        // peer address, for logs and rate limits only
};

struct http_exchange_response {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // in order; Link may repeat
  std::string body;
  void set(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

// Sends the answer to one request. Called exactly once, from any thread;
// the transport writes the answer on the request's connection.
using exchange_responder = std::function<void(http_exchange_response)>;

// Calls `fn` once, from any thread, after `delay`: the transport's timer,
// for an answer that waits on something with a deadline. If the transport
// shuts down first, `fn` may never be called (its connections are gone).
using exchange_timer = std::function<void(std::chrono::milliseconds delay, std::function<void()> fn)>;

enum class challenge_type { http01, dns01, tls_alpn01 };

// What a validator must check for one challenge (RFC 8555 8.3, 8.4, RFC 8737).
struct validation_job {
  std::int64_t challenge_id = 0;
  challenge_type type = challenge_type::http01;
  std::string domain;             // A-label, lower case, without "*." (dns-01 of a wildcard checks the base)
  std::string token;              // base64url, as published in the challenge object
  std::string key_authorization;  // token "." base64url(JWK thumbprint)
};

// The result of the last attempt. On failure `problem_type` is an ACME
// error type ("urn:ietf:params:acme:error:connection", ":incorrectResponse",
// ":dns", ":unauthorized", ":tls", ":rejectedIdentifier") and `detail` a
// sentence a person can act on ("http://a.example/.well-known/... answered
// 404").
struct validation_outcome {
  bool valid = false;
  // Not decided: the validator stopped (the daemon is shutting down) before
  // the validation could end. The challenge stays processing, released for
  // the next sweep of any replica to validate again; not a failure.
  bool abandoned = false;
  std::string problem_type;
  std::string detail;
  std::vector<std::string> addresses_used;  // the IPs actually contacted, for the challenge's validationRecord
};

// Runs validations off the request path. validate() returns at once;
// `done` is called exactly once, on any thread, after every attempt and
// retry the validator's settings allow. Implementations must be safe to
// call from several threads.
class challenge_validator {
 public:
  virtual ~challenge_validator() = default;
  virtual void validate(validation_job job, std::function<void(validation_outcome)> done) = 0;
};

}  // namespace wotca::acme
