// Text forms of the store's enums: what the database holds and what the
// command line and logs show.
#include <array>
#include <utility>

#include "core/store/store.h"

namespace wotca {

namespace {

struct reason_name {
  revocation_reason reason;
  std::string_view rfc5280;   // the CRLReason name of RFC 5280 5.3.1
  std::string_view hyphened;  // the same in command-line style
};

constexpr std::array<reason_name, 7> reason_names = {{
    {revocation_reason::unspecified, "unspecified", "unspecified"},
    {revocation_reason::key_compromise, "keyCompromise", "key-compromise"},
    {revocation_reason::ca_compromise, "cACompromise", "ca-compromise"},
    {revocation_reason::affiliation_changed, "affiliationChanged", "affiliation-changed"},
    {revocation_reason::superseded, "superseded", "superseded"},
    {revocation_reason::cessation_of_operation, "cessationOfOperation", "cessation-of-operation"},
    {revocation_reason::privilege_withdrawn, "privilegeWithdrawn", "privilege-withdrawn"},
}};

}  // namespace

std::string_view to_string(cert_status s) {
  switch (s) {
    case cert_status::reserved: return "reserved";
    case cert_status::valid: return "valid";
    case cert_status::revoked: return "revoked";
  }
  return "reserved";
}

std::optional<cert_status> cert_status_from(std::string_view s) {
  for (auto v : {cert_status::reserved, cert_status::valid, cert_status::revoked}) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

std::string_view to_string(revocation_reason r) {
  for (const auto& n : reason_names) {
    if (n.reason == r) return n.rfc5280;
  }
  return "unspecified";
}

std::optional<revocation_reason> revocation_reason_from(std::string_view s) {
  for (const auto& n : reason_names) {
    if (s == n.rfc5280 || s == n.hyphened) return n.reason;
  }
  return std::nullopt;
}

}  // namespace wotca
