// Persistence behind interfaces (STYLE.md 3): one repository per aggregate,
// reached through a transaction. SQLite implements it now (sqlite_store.h);
// a PostgreSQL store can implement the same interfaces later and run the
// same test suite (tests/unit/store/store_test.cpp).
//
// Contract of every repository call: it runs inside the transaction it was
// reached through; on error nothing it did is visible after the transaction
// is rolled back, which store::write() does whenever its function returns an
// error. Errors: errc::not_found, errc::conflict (a UNIQUE constraint, e.g.
// R-OWNERSHIP), errc::busy (locked past the busy timeout), errc::storage
// (disk full, read-only, corrupt), each naming the table or field.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/policy/policy.h"
#include "core/store/acme_repository.h"
#include "core/util/error.h"
#include "core/wot/model.h"

namespace wotca {

enum class cert_status { reserved, valid, revoked };
[[nodiscard]] std::string_view to_string(cert_status s);
[[nodiscard]] std::optional<cert_status> cert_status_from(std::string_view s);

// RFC 5280 CRLReason codes we use; certificateHold (6) never is (R-REVOKE-PUBLISH).
enum class revocation_reason : int {
  unspecified = 0, key_compromise = 1, ca_compromise = 2, affiliation_changed = 3,
  superseded = 4, cessation_of_operation = 5, privilege_withdrawn = 9,
};
[[nodiscard]] std::string_view to_string(revocation_reason r);
[[nodiscard]] std::optional<revocation_reason> revocation_reason_from(std::string_view s);

struct certificate_record {
  std::string serial;  // lower-case hex of the 20-byte positive serial
  issuer_class issuer = issuer_class::class1;
  member_id member = 0;
  cert_profile profile = cert_profile::client_email;
  std::string subject;              // one-line RFC 4514 form
  std::vector<std::string> sans;    // "DNS:a.example", "email:x@y"
  sys_seconds not_before{};
  sys_seconds not_after{};
  std::vector<std::uint8_t> der;    // empty while reserved
  cert_status status = cert_status::reserved;
  std::optional<sys_seconds> revoked_at;
  std::optional<revocation_reason> reason;
  request_path via = request_path::cli;
  sys_seconds created_at{};
};

// The revocation-status columns of one certificate, without its DER: what
// the OCSP and CRL daemons stream over a whole store.
struct certificate_status_row {
  std::string serial;
  issuer_class issuer = issuer_class::class1;
  cert_status status = cert_status::reserved;
  sys_seconds not_after{};
  std::optional<sys_seconds> revoked_at;
  std::optional<revocation_reason> reason;
};

struct certificate_scan {
  std::optional<issuer_class> issuer;   // every issuer when empty
  bool revoked_only = false;
  bool skip_reserved = true;            // reserved serials were never handed out
  std::optional<sys_seconds> not_after_from;  // only certificates with not_after >= this
};

struct audit_entry {
  std::int64_t id = 0;
  sys_seconds at{};
  std::string actor;    // "operator", "member:7", "acme:account:3"
  std::string action;   // "member.add", "assurance.add", "cert.issue", "cert.revoke", ...
  std::string object;   // "member:7", "cert:5f3a..."
  std::string detail;   // a JSON object or a sentence
};

// One event of the change feed: the sequence is strictly increasing and
// bumped in the same transaction as the change it describes.
struct change_event {
  std::int64_t seq = 0;
  std::string kind;     // "issue" | "revoke"
  std::string serial;
  issuer_class issuer = issuer_class::class1;
  sys_seconds at{};
};

struct eab_key {
  std::string kid;
  std::vector<std::uint8_t> mac_key_hash;  // SHA-256 of the HMAC key: names it in audits without revealing it
  member_id member = 0;
  sys_seconds created_at{};
  sys_seconds expires_at{};
  std::optional<sys_seconds> used_at;
  // The HMAC key itself: checking a binding (RFC 8555 7.3.4) recomputes the
  // MAC, so a hash cannot do. Erased by mark_used; empty once used.
  std::vector<std::uint8_t> mac_key{};
};

struct scep_challenge {
  std::string id;
  std::vector<std::uint8_t> secret_hash;   // SHA-256 of the one-time password
  member_id member = 0;
  cert_profile profile = cert_profile::device;
  sys_seconds created_at{};
  sys_seconds expires_at{};
  std::optional<sys_seconds> used_at;
};

class member_repository {
 public:
  virtual ~member_repository() = default;
  // Assigns and returns the id; `m.id` is ignored. conflict if the primary email is taken.
  [[nodiscard]] virtual result<member_id> add(const member& m) = 0;
  [[nodiscard]] virtual result<std::optional<member>> find(member_id id) = 0;
  [[nodiscard]] virtual result<std::optional<member>> find_by_email(std::string_view primary_email) = 0;
  [[nodiscard]] virtual result<std::vector<member>> list() = 0;
  [[nodiscard]] virtual result<void> update(const member& m) = 0;  // not_found if absent
};

class email_repository {
 public:
  virtual ~email_repository() = default;
  [[nodiscard]] virtual result<std::int64_t> add(const email_address& e) = 0;  // conflict: R-OWNERSHIP
  [[nodiscard]] virtual result<std::optional<email_address>> find(std::string_view address) = 0;
  [[nodiscard]] virtual result<std::vector<email_address>> of_member(member_id m) = 0;
  [[nodiscard]] virtual result<void> update(const email_address& e) = 0;
  [[nodiscard]] virtual result<void> remove(std::string_view address) = 0;
  // Probe tokens (R-EMAIL-PROBE): stored hashed, one per address, replaced on resend.
  [[nodiscard]] virtual result<void> set_probe(std::string_view address, const std::vector<std::uint8_t>& token_hash,
                                               sys_seconds expires_at) = 0;
  // The hash and expiry of the pending probe, if any.
  [[nodiscard]] virtual result<std::optional<std::pair<std::vector<std::uint8_t>, sys_seconds>>> probe(
      std::string_view address) = 0;
  [[nodiscard]] virtual result<void> clear_probe(std::string_view address) = 0;
};

// A pending proof-of-control challenge for a domain (R-DOMAIN-CONTROL).
struct domain_token {
  std::string method;  // "dns" | "http"
  std::string token;   // published by the member: not a secret
  sys_seconds expires_at{};
};

class domain_repository {
 public:
  virtual ~domain_repository() = default;
  [[nodiscard]] virtual result<std::int64_t> add(const domain_name& d) = 0;  // conflict: R-OWNERSHIP
  [[nodiscard]] virtual result<std::optional<domain_name>> find(std::string_view name) = 0;
  [[nodiscard]] virtual result<std::vector<domain_name>> of_member(member_id m) = 0;
  [[nodiscard]] virtual result<void> update(const domain_name& d) = 0;
  [[nodiscard]] virtual result<void> remove(std::string_view name) = 0;
  // One pending challenge per domain, replaced by the next; not_found if no such domain.
  [[nodiscard]] virtual result<void> set_challenge(std::string_view name, const domain_token& t) = 0;
  [[nodiscard]] virtual result<std::optional<domain_token>> challenge(std::string_view name) = 0;
  [[nodiscard]] virtual result<void> clear_challenge(std::string_view name) = 0;
};

class assurance_repository {
 public:
  virtual ~assurance_repository() = default;
  [[nodiscard]] virtual result<std::int64_t> add(const assurance& a) = 0;  // conflict: R-ASSURE-ONCE
  [[nodiscard]] virtual result<std::vector<assurance>> received_by(member_id m) = 0;
  [[nodiscard]] virtual result<std::vector<assurance>> given_by(member_id m) = 0;
  [[nodiscard]] virtual result<int> count_founding() = 0;  // standing or not: R-BOOTSTRAP counts appointments ever made
  [[nodiscard]] virtual result<void> withdraw(std::int64_t id, std::string_view case_number) = 0;
  [[nodiscard]] virtual result<void> add_cats_pass(const cats_pass& c) = 0;
  [[nodiscard]] virtual result<std::vector<cats_pass>> cats_of(member_id m) = 0;
};

class certificate_repository {
 public:
  virtual ~certificate_repository() = default;
  // Inserts `r` with status reserved and empty DER. conflict if the serial exists.
  [[nodiscard]] virtual result<void> reserve(const certificate_record& r) = 0;
  // reserved -> valid with the signed DER. not_found / conflict if not reserved.
  [[nodiscard]] virtual result<void> complete(std::string_view serial, const std::vector<std::uint8_t>& der) = 0;
  // valid -> revoked. conflict if already revoked or still reserved.
  [[nodiscard]] virtual result<void> revoke(std::string_view serial, sys_seconds at, revocation_reason reason) = 0;
  [[nodiscard]] virtual result<std::optional<certificate_record>> find(std::string_view serial) = 0;
  [[nodiscard]] virtual result<std::vector<certificate_record>> of_member(member_id m) = 0;
  // Newest first, at most `limit`.
  [[nodiscard]] virtual result<std::vector<certificate_record>> list(std::size_t limit) = 0;
  // Calls `fn` once per matching certificate, one row at a time, holding
  // none of them: a store of millions is read in constant memory. Stops at
  // the first error `fn` returns, and returns it. Order: by issuer, then
  // status, then insertion; callers must not depend on serial order.
  [[nodiscard]] virtual result<std::size_t> scan(
      const certificate_scan& filter, const std::function<result<void>(const certificate_status_row&)>& fn) = 0;
};

class audit_repository {
 public:
  virtual ~audit_repository() = default;
  [[nodiscard]] virtual result<std::int64_t> append(const audit_entry& e) = 0;
  // Oldest first, entries at or after `since`.
  [[nodiscard]] virtual result<std::vector<audit_entry>> since(sys_seconds since) = 0;
};

class change_feed {
 public:
  virtual ~change_feed() = default;
  [[nodiscard]] virtual result<std::int64_t> bump(const change_event& e) = 0;  // returns the new seq
  [[nodiscard]] virtual result<std::int64_t> head() = 0;                          // 0 when empty
  [[nodiscard]] virtual result<std::vector<change_event>> after(std::int64_t seq, std::size_t limit) = 0;
};

class eab_repository {
 public:
  virtual ~eab_repository() = default;
  [[nodiscard]] virtual result<void> add(const eab_key& k) = 0;
  [[nodiscard]] virtual result<std::optional<eab_key>> find(std::string_view kid) = 0;
  [[nodiscard]] virtual result<void> mark_used(std::string_view kid, sys_seconds at) = 0;  // conflict if used
};

class scep_challenge_repository {
 public:
  virtual ~scep_challenge_repository() = default;
  [[nodiscard]] virtual result<void> add(const scep_challenge& c) = 0;
  [[nodiscard]] virtual result<std::optional<scep_challenge>> find(std::string_view id) = 0;
  [[nodiscard]] virtual result<void> mark_used(std::string_view id, sys_seconds at) = 0;  // conflict if used
};

// The CRL number sequence of one CRL scope (RFC 5280 5.2.3): "class1",
// "class3", "root", or a name the CRL daemon derives from them. Numbers are
// strictly increasing per scope across restarts and crashes: a number is
// advanced, and committed, before the CRL carrying it is written, so a crash
// may leave a gap (which RFC 5280 allows) but never a repeat.
struct crl_state {
  std::string scope;
  std::int64_t crl_number = 0;
  sys_seconds generated_at{};
};

class crl_state_repository {
 public:
  virtual ~crl_state_repository() = default;
  // nullopt when no number was ever taken for `scope`.
  [[nodiscard]] virtual result<std::optional<crl_state>> get(std::string_view scope) = 0;
  // Takes the next number of `scope` (1 for the first) and records `at`
  // with it; returns the stored state.
  [[nodiscard]] virtual result<crl_state> advance(std::string_view scope, sys_seconds at) = 0;
  // Records `number` for `scope` as given (e.g. the number of the last
  // complete CRL, for delta CRLs). errc::conflict if it is not greater than
  // the number stored.
  [[nodiscard]] virtual result<void> record(std::string_view scope, std::int64_t number, sys_seconds at) = 0;
};

// The repositories as seen from inside one transaction.
class transaction {
 public:
  virtual ~transaction() = default;
  virtual member_repository& members() = 0;
  virtual email_repository& emails() = 0;
  virtual domain_repository& domains() = 0;
  virtual assurance_repository& assurances() = 0;
  virtual certificate_repository& certificates() = 0;
  virtual audit_repository& audit() = 0;
  virtual change_feed& changes() = 0;
  virtual eab_repository& eab_keys() = 0;
  virtual scep_challenge_repository& scep_challenges() = 0;
  virtual crl_state_repository& crl_states() = 0;
  virtual acme_repository& acme() = 0;
};

// How far a committed write transaction survives.
//   full:    the commit returns once the data is on disk: it survives a
//            crash of the program and a power loss (every state change
//            that matters: certificates, revocations, bindings, audit).
//   relaxed: the commit survives a crash of the program; a power loss may
//            undo it, unless a later full commit (of any connection to the
//            same database) came first, which makes it durable too. For
//            bookkeeping whose loss is harmless (e.g. a redeemed ACME nonce).
enum class durability { full, relaxed };

class store {
 public:
  virtual ~store() = default;
  // Runs `fn` in one write transaction (BEGIN IMMEDIATE on SQLite) and
  // commits if it returns a value, rolls back if it returns an error (which
  // is passed through) or if the commit fails.
  [[nodiscard]] virtual result<void> write(const std::function<result<void>(transaction&)>& fn) = 0;
  // The same with the given durability; a store without a cheaper commit
  // makes every write full (relaxed is a permission, not a promise).
  [[nodiscard]] virtual result<void> write(const std::function<result<void>(transaction&)>& fn, durability d) {
    (void)d;
    return write(fn);
  }
  // Runs `fn` in a read transaction (a consistent snapshot); never commits.
  [[nodiscard]] virtual result<void> read(const std::function<result<void>(transaction&)>& fn) = 0;
};

}  // namespace wotca
