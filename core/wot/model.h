// The Web of Trust's facts: plain values, no I/O (ARCHITECTURE.md "Data").
// core/store persists them; core/wot and core/policy compute over them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/time.h"

namespace wotca {

using member_id = std::int64_t;

enum class member_kind { person, organisation };

struct member {
  member_id id = 0;
  member_kind kind = member_kind::person;
  std::string name;           // as on the photo ID (R-MEMBER-KIND)
  date date_of_birth{};       // 1900-01-01 for organisations and deleted members
  std::string primary_email;  // lower-case
  sys_seconds cca_accepted_at{};  // R-MEMBER-CCA
  sys_seconds created_at{};
  bool locked = false;                           // R-LOCKED
  std::optional<sys_seconds> parental_consent_at;  // R-MEMBER-KIND, under 18
  bool code_signing_enabled = false;             // R-CODESIGN, set by an operator
};

// How control of an email or domain was shown (R-EMAIL-PROBE, R-DOMAIN-CONTROL).
enum class verification_method { none, email_probe, acme_http01, acme_dns01, acme_tls_alpn01, dns_txt, http_token, operator_override };

struct email_address {
  std::int64_t id = 0;
  member_id member = 0;
  std::string address;  // lower-case
  verification_method method = verification_method::none;
  std::optional<sys_seconds> verified_at;
  std::optional<sys_seconds> valid_until;  // absent: counts until removed
};

struct domain_name {
  std::int64_t id = 0;
  member_id member = 0;
  std::string name;  // lower-case, no trailing dot, A-labels
  verification_method method = verification_method::none;
  std::optional<sys_seconds> verified_at;
  std::optional<sys_seconds> valid_until;  // R-DOMAIN-REUSE
};

enum class assurance_method { face_to_face, ttp, topup, founding };

struct assurance {
  std::int64_t id = 0;
  std::optional<member_id> assurer;  // absent only for `founding` (the operator appoints)
  member_id assuree = 0;
  int points = 0;                    // as awarded; R-AP-SUM counts what the cap leaves
  date met_on{};                     // R-ASSURE-FACTS
  std::string place;
  std::vector<std::string> documents;  // e.g. "passport", "id-card", "driving-licence"
  assurance_method method = assurance_method::face_to_face;
  bool appeared_in_person = true;
  bool mass_event = false;           // R-EP: earns 1 EP instead of 2
  std::string reason;                // founding: the operator's written reason
  sys_seconds recorded_at{};
  std::optional<std::string> revoked_case;  // R-ARBITRATION: set when withdrawn
};

struct cats_pass {
  member_id member = 0;
  date passed_on{};
  std::string test_version;
};

[[nodiscard]] std::string_view to_string(member_kind k);
[[nodiscard]] std::string_view to_string(verification_method m);
[[nodiscard]] std::string_view to_string(assurance_method m);
[[nodiscard]] std::optional<member_kind> member_kind_from(std::string_view s);
[[nodiscard]] std::optional<verification_method> verification_method_from(std::string_view s);
[[nodiscard]] std::optional<assurance_method> assurance_method_from(std::string_view s);

}  // namespace wotca
