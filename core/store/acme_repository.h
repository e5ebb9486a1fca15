// The ACME aggregates (RFC 8555 7.1): accounts bound to members by External
// Account Binding, orders, authorizations, challenges, and the nonces
// already redeemed. Reached through transaction::acme() (store.h); the same
// contract as every repository there: errors are errc::not_found,
// errc::conflict (a UNIQUE constraint: a key or a nonce used twice),
// errc::busy, errc::storage, each naming the table or field.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/error.h"
#include "core/util/time.h"
#include "core/wot/model.h"

namespace wotca {

enum class acme_account_status { valid, deactivated, revoked };
enum class acme_order_status { pending, ready, processing, valid, invalid };
enum class acme_authz_status { pending, valid, invalid, deactivated, expired, revoked };
enum class acme_challenge_status { pending, processing, valid, invalid };

// The RFC 8555 status names ("valid", "processing", ...).
[[nodiscard]] std::string_view to_string(acme_account_status s);
[[nodiscard]] std::string_view to_string(acme_order_status s);
[[nodiscard]] std::string_view to_string(acme_authz_status s);
[[nodiscard]] std::string_view to_string(acme_challenge_status s);
[[nodiscard]] std::optional<acme_account_status> acme_account_status_from(std::string_view s);
[[nodiscard]] std::optional<acme_order_status> acme_order_status_from(std::string_view s);
[[nodiscard]] std::optional<acme_authz_status> acme_authz_status_from(std::string_view s);
[[nodiscard]] std::optional<acme_challenge_status> acme_challenge_status_from(std::string_view s);

struct acme_account {
  std::int64_t id = 0;
  member_id member = 0;
  std::string thumbprint;            // RFC 7638, base64url; one account per key
  std::string jwk;                   // the account key as canonical JWK JSON
  std::vector<std::string> contact;  // "mailto:..." URLs
  acme_account_status status = acme_account_status::valid;
  std::string eab_kid;               // the single-use EAB key that bound it to `member`
  sys_seconds created_at{};
};

// Ids: `id` is the row, `public_id` the opaque random name in URLs.
struct acme_order {
  std::int64_t id = 0;
  std::string public_id;
  std::int64_t account = 0;
  member_id member = 0;
  acme_order_status status = acme_order_status::pending;
  std::vector<std::string> identifiers;  // DNS names, lower-case, "*.x" for wildcards, as ordered
  std::optional<sys_seconds> not_before;
  std::optional<sys_seconds> not_after;
  sys_seconds expires_at{};
  sys_seconds created_at{};
  std::optional<std::string> error;              // the problem document (JSON) of an invalid order
  std::optional<std::string> certificate_serial;  // set exactly when valid
  std::optional<std::string> replaces;            // ARI (RFC 9773) certID of the certificate renewed
};

struct acme_authz {
  std::int64_t id = 0;
  std::string public_id;
  std::int64_t account = 0;
  std::string identifier;  // DNS name without "*."
  bool wildcard = false;
  acme_authz_status status = acme_authz_status::pending;
  sys_seconds expires_at{};
  sys_seconds created_at{};
};

struct acme_challenge {
  std::int64_t id = 0;
  std::string public_id;
  std::int64_t authz = 0;
  std::string type;  // "http-01" | "dns-01" | "tls-alpn-01"
  std::string token;
  acme_challenge_status status = acme_challenge_status::pending;
  std::optional<sys_seconds> validated_at;
  std::optional<std::string> error;              // problem document (JSON) when invalid
  std::optional<std::string> validation_record;  // JSON array
  // When it became processing (set while processing, else empty): a
  // validation lost with its daemon is found by its age (reset_stale_validations).
  std::optional<sys_seconds> processing_since;
};

struct acme_order_count {
  std::int64_t count = 0;
  std::optional<sys_seconds> oldest;  // created_at of the oldest counted order
};

class acme_repository {
 public:
  virtual ~acme_repository() = default;

  // Returns the new id. conflict if the key (thumbprint) has an account or
  // the EAB kid bound one already; not_found if the member or kid is unknown.
  [[nodiscard]] virtual result<std::int64_t> add_account(const acme_account& a) = 0;
  [[nodiscard]] virtual result<std::optional<acme_account>> find_account(std::int64_t id) = 0;
  [[nodiscard]] virtual result<std::optional<acme_account>> find_account_by_thumbprint(std::string_view tp) = 0;
  // Writes thumbprint, jwk, contact and status of account `a.id`.
  [[nodiscard]] virtual result<void> update_account(const acme_account& a) = 0;

  // Adds the order and links it to `authzs` (row ids), in that order.
  [[nodiscard]] virtual result<std::int64_t> add_order(const acme_order& o, std::span<const std::int64_t> authzs) = 0;
  [[nodiscard]] virtual result<std::optional<acme_order>> find_order(std::string_view public_id) = 0;
  // Writes status, error, certificate_serial and expires_at of order `o.id`.
  [[nodiscard]] virtual result<void> update_order(const acme_order& o) = 0;
  // Newest first, at most `limit`, only those made before the order whose
  // row id is `before_id` (0: from the newest): a page of the orders list.
  [[nodiscard]] virtual result<std::vector<acme_order>> orders_of_account(std::int64_t account, std::size_t limit,
                                                                          std::int64_t before_id) = 0;
  // The orders linked to authorization `authz` (row id).
  [[nodiscard]] virtual result<std::vector<acme_order>> orders_of_authz(std::int64_t authz) = 0;
  // The valid (finalized) order whose "replaces" is `ari_id` (RFC 9773 5), if any.
  [[nodiscard]] virtual result<std::optional<acme_order>> replacement_of(std::string_view ari_id) = 0;
  // The newest orders created at or after `since`, at most `at_most` of
  // them (RFC 8555 6.6 rate limits): the count stops at the limit, so a
  // check costs the limit at most, however many orders there are; with
  // count == at_most, `oldest` is the at_most-th newest order, whose
  // leaving the window is when the next order is allowed.
  [[nodiscard]] virtual result<acme_order_count> orders_since_by_account(std::int64_t account, sys_seconds since,
                                                                         std::int64_t at_most) = 0;
  [[nodiscard]] virtual result<acme_order_count> orders_since_by_member(member_id member, sys_seconds since,
                                                                        std::int64_t at_most) = 0;

  [[nodiscard]] virtual result<std::int64_t> add_authz(const acme_authz& a) = 0;
  [[nodiscard]] virtual result<std::optional<acme_authz>> find_authz(std::string_view public_id) = 0;
  [[nodiscard]] virtual result<std::optional<acme_authz>> find_authz_by_id(std::int64_t id) = 0;
  // Writes status and expires_at of authorization `a.id`.
  [[nodiscard]] virtual result<void> update_authz(const acme_authz& a) = 0;
  // In the order's identifier order.
  [[nodiscard]] virtual result<std::vector<acme_authz>> authzs_of_order(std::int64_t order) = 0;
  // An authorization of `account` for (`identifier`, `wildcard`) that is
  // valid, or else pending, and expires after `now` (R-DOMAIN-REUSE; pending
  // ones are shared instead of piling up). The valid one is preferred.
  [[nodiscard]] virtual result<std::optional<acme_authz>> reusable_authz(std::int64_t account,
                                                                          std::string_view identifier, bool wildcard,
                                                                          sys_seconds now) = 0;

  // conflict if the authorization has a challenge of that type already.
  [[nodiscard]] virtual result<std::int64_t> add_challenge(const acme_challenge& c) = 0;
  [[nodiscard]] virtual result<std::optional<acme_challenge>> find_challenge(std::string_view public_id) = 0;
  [[nodiscard]] virtual result<std::optional<acme_challenge>> find_challenge_by_id(std::int64_t id) = 0;
  [[nodiscard]] virtual result<std::vector<acme_challenge>> challenges_of_authz(std::int64_t authz) = 0;
  // Writes status, validated_at, error, validation_record and
  // processing_since of `c.id`.
  [[nodiscard]] virtual result<void> update_challenge(const acme_challenge& c) = 0;

  // Ends what expired at `now`: pending, ready or processing orders become
  // invalid (an order still processing at its expiry lost its finalize to a
  // crash: its certificate is recorded together with the move to valid),
  // pending and valid authorizations expired. Returns the rows changed.
  [[nodiscard]] virtual result<std::int64_t> expire(sys_seconds now) = 0;

  // Challenges processing since `before` or earlier, or since no time
  // (released by a daemon that stopped, or a row from before v5): their
  // validation was lost. Each is claimed for a new one (processing_since
  // set to `now`, so no other replica claims it too) and returned, for the
  // caller to validate again once the transaction commits.
  [[nodiscard]] virtual result<std::vector<acme_challenge>> claim_stale_validations(sys_seconds before,
                                                                                     sys_seconds now) = 0;

  // Records `nonce` as redeemed until `expires_at`. conflict if it was
  // redeemed already, by this process or any other sharing the database.
  [[nodiscard]] virtual result<void> redeem_nonce(std::string_view nonce, sys_seconds expires_at) = 0;
  // Forgets redeemed nonces whose expires_at is at or before `now` (they
  // are stale and refused anyway). Returns how many.
  [[nodiscard]] virtual result<std::int64_t> prune_nonces(sys_seconds now) = 0;
};

}  // namespace wotca
