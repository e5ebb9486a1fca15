// The issuing service: the one path by which any certificate is issued or
// revoked (CLI now; ACME and SCEP use the same). It gathers the member's
// facts, asks core/policy, reserves the serial, signs and records, each
// state change in one transaction with its audit row and change-feed event.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <vector>
#include <string>
#include <variant>

#include "core/ca/material.h"
#include "core/pki/csr.h"
#include "core/policy/policy.h"
#include "core/store/store.h"

namespace wotca {

// Reads everything the policy needs about member `id` inside `tx`.
// errc::not_found if there is no such member.
[[nodiscard]] result<member_facts> gather_facts(transaction& tx, member_id id, sys_seconds now,
                                                const wot_rules& rules);
// The same for a request naming `dns_names`: facts.domains holds only the
// member's domains that could cover one of them (each name and its parents),
// which is all R-NAME-COVERAGE looks at. A hosting member may hold thousands
// of domains; a request names a few, so this reads a few rows, not all.
[[nodiscard]] result<member_facts> gather_facts(transaction& tx, member_id id, sys_seconds now,
                                                const wot_rules& rules, std::span<const std::string> dns_names);
// The member's domains that could cover one of `dns_names`: for each name
// (without "*." and a trailing dot, lower case) the domain of that name and
// of each of its parents, where `id` holds it; in the order of their ids.
[[nodiscard]] result<std::vector<domain_name>> domains_covering(transaction& tx, member_id id,
                                                                std::span<const std::string> dns_names);
// The member's assurance record (for points and assurance checks).
[[nodiscard]] result<member_record> gather_record(transaction& tx, member_id id);

struct issued_certificate {
  certificate_record record;  // as stored, status valid, with DER
  std::string pem;            // the leaf
  std::string chain_pem;      // the leaf, its issuing CA (not the root)
  grant granted;
};

using issue_outcome = std::variant<issued_certificate, denial>;

class certificate_authority {
 public:
  // Borrows everything; all must outlive this object.
  certificate_authority(const config& cfg, store& db, const ca_material& ca, const clock& clk,
                        random_source& rng);

  // Issues `profile` for member `who` from `csr`. The policy is decided on
  // fresh facts inside the transaction that reserves the serial (R-RECHECK):
  // a denial there is returned as a `denial` and nothing is written. On
  // success the certificate row is valid, an audit row "cert.issue" and a
  // change-feed "issue" event exist. If signing fails after the
  // reservation, the reserved row stays (it never becomes valid) and the
  // error is returned.
  //
  // `also`, if given, runs inside the transaction that records the signed
  // certificate (with the record as it is stored, DER included), for the
  // caller's own state change that goes with it (an ACME order becoming
  // valid): both commit together or neither does, with one disk flush.
  // Its error rolls the recording back; the certificate is then dropped,
  // its row stays reserved, and the error is returned.
  using recording_step = std::function<result<void>(transaction&, const certificate_record&)>;
  [[nodiscard]] result<issue_outcome> issue(member_id who, const parsed_csr& csr, cert_profile profile,
                                            std::optional<int> days, request_path via, std::string_view actor,
                                            const recording_step& also = {});

  // One request of a batch: `csr` is borrowed for the call.
  struct request {
    member_id who = 0;
    const parsed_csr* csr = nullptr;
    cert_profile profile = cert_profile::client_email;
    std::optional<int> days;
    request_path via = request_path::cli;
    std::string actor;
  };

  // Group commit: issues each request as issue() does, with the policy of
  // each decided on fresh facts inside ONE transaction that reserves every
  // granted serial, then signs them, then records them in ONE transaction
  // (one disk flush per batch instead of one per certificate). Results are in
  // request order. A storage failure of a batch transaction is every
  // request's error; a signing failure is only that request's (its row stays
  // reserved, never valid).
  // The reservation commits without waiting for the disk: no certificate
  // leaves this call before the recording's flush, which covers the
  // reservation too, so a power loss in between loses a row whose
  // certificate nobody has. `also` as for issue(), once per recorded one.
  [[nodiscard]] std::vector<result<issue_outcome>> issue_many(std::span<const request> requests,
                                                              const recording_step& also = {});

  // Decides without writing anything (for ACME new-order and dry runs).
  [[nodiscard]] result<decision> preview(member_id who, const certificate_request& req);

  // R-REVOKE-WHO is the caller's to check. Marks `serial` revoked now with
  // `reason`, with audit row "cert.revoke" (actor, reason, note) and a
  // change-feed "revoke" event.
  [[nodiscard]] result<certificate_record> revoke(std::string_view serial, revocation_reason reason,
                                                  std::string_view actor, std::string_view note);

 private:
  const config& cfg_;
  store& db_;
  const ca_material& ca_;
  const clock& clock_;
  random_source& rng_;
};

// R-REVOKE-CASCADE: inside `tx`, revokes every valid certificate of `who`
// that names `name` (an email or DNS name in its SANs), or all of them if
// `name` is empty, each with its audit row and change-feed event. Returns
// how many were revoked.
[[nodiscard]] result<int> revoke_certificates_of(transaction& tx, member_id who, std::string_view name,
                                                 revocation_reason reason, std::string_view actor,
                                                 sys_seconds now);

// The certificate request a CSR and profile amount to.
[[nodiscard]] certificate_request request_from(const parsed_csr& csr, cert_profile profile,
                                               std::optional<int> days, request_path via);

}  // namespace wotca
