// The decision engine: (member facts, requested certificate) -> allow | deny.
// Every issuing path (CLI, ACME, SCEP) calls decide() when the request is
// made and again at the moment of signing (R-RECHECK). A denial is an
// outcome, not an error (STYLE.md 6): it names its rule and the facts that
// decided it.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/wot/points.h"

namespace wotca {

enum class cert_profile { client_email, client_named, server, code_signing, device, ocsp_signer, sub_ca };
// root issues only the issuing CAs; class1 and class3 issue to members.
enum class issuer_class { root, class1, class3 };
enum class request_path { cli, acme, scep };

[[nodiscard]] std::string_view to_string(cert_profile p);
[[nodiscard]] std::string_view to_string(issuer_class c);
[[nodiscard]] std::string_view to_string(request_path p);
[[nodiscard]] std::optional<cert_profile> cert_profile_from(std::string_view s);
[[nodiscard]] std::optional<issuer_class> issuer_class_from(std::string_view s);
[[nodiscard]] std::optional<request_path> request_path_from(std::string_view s);

// The operator-tunable limits of the privilege table (*config*).
struct policy_rules {
  std::string pseudonym_cn = "WoTCA Member";  // R-NAME-50: CN under 50 AP
  int client_days_unassured = 180;
  int client_days_assured = 730;
  int server_days = 398;
  int acme_server_days = 90;   // default validity for ACME orders
  int code_signing_days = 365;
  int device_days = 365;
};

// What the requester asked for, already extracted from the CSR (or order).
struct certificate_request {
  cert_profile profile = cert_profile::client_email;
  std::vector<std::string> dns_names;   // lower-case; may include "*.example.org"
  std::vector<std::string> emails;      // lower-case
  std::optional<std::string> common_name;  // the CSR's CN, if any (devices use it)
  std::optional<int> days;              // requested validity; absent: the profile's maximum
  request_path via = request_path::cli;
};

// What the policy needs to know about the member, gathered fresh each time.
struct member_facts {
  member who;
  points_summary points;
  std::vector<email_address> emails;
  std::vector<domain_name> domains;
  sys_seconds now{};
};

// An allowed certificate: exactly what the issuer must put in it.
struct grant {
  issuer_class issuer = issuer_class::class1;
  std::string subject_cn;               // pseudonym, real name, or device CN
  std::vector<std::string> emails;      // SAN rfc822Name, in request order
  std::vector<std::string> dns_names;   // SAN dNSName, in request order
  sys_seconds not_before{};
  sys_seconds not_after{};
  std::vector<std::string> rules;       // the rules that shaped it, for the audit row
};

struct denial {
  std::string rule;    // "R-SERVER-50"
  std::string reason;  // "member 7 holds 45 AP; server certificates need 50"
  std::vector<std::pair<std::string, std::string>> facts;  // ("ap", "45"), ("profile", "server")
};

using decision = std::variant<grant, denial>;

// Rules applied: R-LOCKED, R-MEMBER-CCA, R-SERVER-50, R-NAME-COVERAGE (every
// DNS name a verified, unexpired domain of the member or a subdomain of
// one; wildcards from 50 AP), verified emails (R-EMAIL-PROBE), R-NAME-50,
// R-CODESIGN, validity ceilings of the privilege table; ocsp_signer and
// sub_ca are never granted to members. not_before is facts.now.
[[nodiscard]] decision decide(const member_facts& facts, const certificate_request& req,
                              const policy_rules& rules);

// True if `name` equals `domain` or is a subdomain of it (labels, not
// suffixes: "badexample.org" is not under "example.org"). A leading "*."
// in `name` is treated as the label it stands for.
[[nodiscard]] bool name_within(std::string_view name, std::string_view domain);

}  // namespace wotca
