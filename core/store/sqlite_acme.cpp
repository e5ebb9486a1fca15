#include "core/store/sqlite_acme.h"

#include <fmt/format.h>

#include <array>
#include <limits>
#include <utility>

#include "core/store/sqlite_rows.h"

namespace wotca {

namespace {

template <class E, std::size_t N>
std::optional<E> enum_from(std::string_view s, const std::array<E, N>& all) {
  for (E e : all) {
    if (to_string(e) == s) return e;
  }
  return std::nullopt;
}

constexpr std::array all_account_status = {acme_account_status::valid, acme_account_status::deactivated,
                                           acme_account_status::revoked};
constexpr std::array all_order_status = {acme_order_status::pending, acme_order_status::ready,
                                         acme_order_status::processing, acme_order_status::valid,
                                         acme_order_status::invalid};
constexpr std::array all_authz_status = {acme_authz_status::pending,     acme_authz_status::valid,
                                         acme_authz_status::invalid,     acme_authz_status::deactivated,
                                         acme_authz_status::expired,     acme_authz_status::revoked};
constexpr std::array all_challenge_status = {acme_challenge_status::pending, acme_challenge_status::processing,
                                             acme_challenge_status::valid, acme_challenge_status::invalid};

}  // namespace

std::string_view to_string(acme_account_status s) {
  switch (s) {
    case acme_account_status::valid: return "valid";
    case acme_account_status::deactivated: return "deactivated";
    case acme_account_status::revoked: return "revoked";
  }
  return "valid";
}

std::string_view to_string(acme_order_status s) {
  switch (s) {
    case acme_order_status::pending: return "pending";
    case acme_order_status::ready: return "ready";
    case acme_order_status::processing: return "processing";
    case acme_order_status::valid: return "valid";
    case acme_order_status::invalid: return "invalid";
  }
  return "invalid";
}

std::string_view to_string(acme_authz_status s) {
  switch (s) {
    case acme_authz_status::pending: return "pending";
    case acme_authz_status::valid: return "valid";
    case acme_authz_status::invalid: return "invalid";
    case acme_authz_status::deactivated: return "deactivated";
    case acme_authz_status::expired: return "expired";
    case acme_authz_status::revoked: return "revoked";
  }
  return "invalid";
}

std::string_view to_string(acme_challenge_status s) {
  switch (s) {
    case acme_challenge_status::pending: return "pending";
    case acme_challenge_status::processing: return "processing";
    case acme_challenge_status::valid: return "valid";
    case acme_challenge_status::invalid: return "invalid";
  }
  return "invalid";
}

std::optional<acme_account_status> acme_account_status_from(std::string_view s) {
  return enum_from(s, all_account_status);
}
std::optional<acme_order_status> acme_order_status_from(std::string_view s) { return enum_from(s, all_order_status); }
std::optional<acme_authz_status> acme_authz_status_from(std::string_view s) { return enum_from(s, all_authz_status); }
std::optional<acme_challenge_status> acme_challenge_status_from(std::string_view s) {
  return enum_from(s, all_challenge_status);
}

namespace sqlite {

namespace {

#define WOTCA_ACME_ACCOUNT_COLUMNS "id, member_id, thumbprint, jwk, contact, status, eab_kid, created_at"
#define WOTCA_ACME_ORDER_COLUMNS                                                                                  \
  "o.id, o.public_id, o.account_id, o.member_id, o.status, o.identifiers, o.not_before, o.not_after, o.expires_at, " \
  "o.created_at, o.error, o.certificate_serial, o.replaces"
#define WOTCA_ACME_AUTHZ_COLUMNS \
  "a.id, a.public_id, a.account_id, a.identifier, a.wildcard, a.status, a.expires_at, a.created_at"
#define WOTCA_ACME_CHALLENGE_COLUMNS \
  "id, public_id, authz_id, type, token, status, validated_at, error, validation_record, processing_since"

result<acme_account> read_account(const statement& st) {
  acme_account a;
  a.id = st.int64(0);
  a.member = st.int64(1);
  a.thumbprint = st.text(2);
  a.jwk = st.text(3);
  a.contact = split_lines(st.text(4));
  auto status = enum_column<acme_account_status>(st, 5, "acme_account.status", fmt::format("ACME account {}", a.id),
                                                 acme_account_status_from);
  if (!status) return unexpected(status.error());
  a.status = *status;
  a.eab_kid = st.text(6);
  a.created_at = st.time(7);
  return a;
}

result<acme_order> read_order(const statement& st) {
  acme_order o;
  o.id = st.int64(0);
  o.public_id = st.text(1);
  o.account = st.int64(2);
  o.member = st.int64(3);
  auto status = enum_column<acme_order_status>(st, 4, "acme_order.status", "ACME order " + o.public_id,
                                               acme_order_status_from);
  if (!status) return unexpected(status.error());
  o.status = *status;
  o.identifiers = split_lines(st.text(5));
  o.not_before = st.optional_time(6);
  o.not_after = st.optional_time(7);
  o.expires_at = st.time(8);
  o.created_at = st.time(9);
  o.error = optional_text(st, 10);
  o.certificate_serial = optional_text(st, 11);
  o.replaces = optional_text(st, 12);
  return o;
}

result<acme_authz> read_authz(const statement& st) {
  acme_authz a;
  a.id = st.int64(0);
  a.public_id = st.text(1);
  a.account = st.int64(2);
  a.identifier = st.text(3);
  a.wildcard = st.int64(4) != 0;
  auto status = enum_column<acme_authz_status>(st, 5, "acme_authz.status", "ACME authorization " + a.public_id,
                                               acme_authz_status_from);
  if (!status) return unexpected(status.error());
  a.status = *status;
  a.expires_at = st.time(6);
  a.created_at = st.time(7);
  return a;
}

result<acme_challenge> read_challenge(const statement& st) {
  acme_challenge c;
  c.id = st.int64(0);
  c.public_id = st.text(1);
  c.authz = st.int64(2);
  c.type = st.text(3);
  c.token = st.text(4);
  auto status = enum_column<acme_challenge_status>(st, 5, "acme_challenge.status", "ACME challenge " + c.public_id,
                                                   acme_challenge_status_from);
  if (!status) return unexpected(status.error());
  c.status = *status;
  c.validated_at = st.optional_time(6);
  c.error = optional_text(st, 7);
  c.validation_record = optional_text(st, 8);
  c.processing_since = st.optional_time(9);
  return c;
}

result<acme_order_count> count_of(statement& st) {
  auto row = st.step();
  if (!row) return unexpected(row.error());
  acme_order_count out;
  if (*row) {
    out.count = st.int64(0);
    if (!st.is_null(1)) out.oldest = st.time(1);
  }
  return out;
}

}  // namespace

// --- accounts -------------------------------------------------------------------

result<std::int64_t> sqlite_acme::add_account(const acme_account& a) {
  auto contact = join_lines(a.contact, "acme_account.contact");
  if (!contact) return unexpected(contact.error());
  auto st = db_.prepare(
      "INSERT INTO acme_account (member_id, thumbprint, jwk, contact, status, eab_kid, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!st) return unexpected(st.error());
  st->bind(1, a.member)
      .bind(2, a.thumbprint)
      .bind(3, a.jwk)
      .bind(4, *contact)
      .bind(5, to_string(a.status))
      .bind(6, a.eab_kid)
      .bind(7, a.created_at);
  auto r = st->run();
  if (!r && r.error().code == errc::conflict) {
    const bool kid = r.error().where.find("eab_kid") != std::string::npos;
    return fail(errc::conflict, kid ? "acme_account.eab_kid" : "acme_account.thumbprint",
                kid ? fmt::format("the EAB key {} has bound an account already; it is good for one use", a.eab_kid)
                    : std::string("this key has an account already"));
  }
  if (!r && r.error().code == errc::not_found) {
    return fail(errc::not_found, "acme_account.member",
                fmt::format("there is no member {} or no EAB key {}", a.member, a.eab_kid));
  }
  if (!r) return unexpected(r.error());
  return db_.last_insert_rowid();
}

result<std::optional<acme_account>> sqlite_acme::find_account(std::int64_t id) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_ACCOUNT_COLUMNS " FROM acme_account WHERE id = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, id);
  return query_one<acme_account>(*st, read_account);
}

result<std::optional<acme_account>> sqlite_acme::find_account_by_thumbprint(std::string_view tp) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_ACCOUNT_COLUMNS " FROM acme_account WHERE thumbprint = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, tp);
  return query_one<acme_account>(*st, read_account);
}

result<void> sqlite_acme::update_account(const acme_account& a) {
  auto contact = join_lines(a.contact, "acme_account.contact");
  if (!contact) return unexpected(contact.error());
  auto st = db_.prepare("UPDATE acme_account SET thumbprint = ?, jwk = ?, contact = ?, status = ? WHERE id = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, a.thumbprint).bind(2, a.jwk).bind(3, *contact).bind(4, to_string(a.status)).bind(5, a.id);
  return on_conflict(run_on_one(db_, *st, "acme_account.id", fmt::format("there is no ACME account {}", a.id)),
                     "acme_account.thumbprint", "this key has an account already");
}

// --- orders -----------------------------------------------------------------------

result<std::int64_t> sqlite_acme::add_order(const acme_order& o, std::span<const std::int64_t> authzs) {
  auto identifiers = join_lines(o.identifiers, "acme_order.identifiers");
  if (!identifiers) return unexpected(identifiers.error());
  auto st = db_.prepare(
      "INSERT INTO acme_order (public_id, account_id, member_id, status, identifiers, not_before, not_after, "
      "expires_at, created_at, error, certificate_serial, replaces) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!st) return unexpected(st.error());
  st->bind(1, o.public_id)
      .bind(2, o.account)
      .bind(3, o.member)
      .bind(4, to_string(o.status))
      .bind(5, *identifiers)
      .bind(6, o.not_before)
      .bind(7, o.not_after)
      .bind(8, o.expires_at)
      .bind(9, o.created_at)
      .bind(10, o.error)
      .bind(11, o.certificate_serial)
      .bind(12, o.replaces);
  auto r = on_conflict(st->run(), "acme_order.public_id", fmt::format("the order id {} is taken", o.public_id));
  if (!r) return unexpected(r.error());
  const std::int64_t id = db_.last_insert_rowid();
  std::int64_t position = 0;
  for (std::int64_t authz : authzs) {
    auto link = db_.prepare("INSERT INTO acme_order_authz (order_id, authz_id, position) VALUES (?, ?, ?)");
    if (!link) return unexpected(link.error());
    link->bind(1, id).bind(2, authz).bind(3, position++);
    if (auto l = on_conflict(link->run(), "acme_order_authz",
                             fmt::format("authorization {} is linked to order {} twice", authz, o.public_id));
        !l) {
      return unexpected(l.error());
    }
  }
  return id;
}

result<std::optional<acme_order>> sqlite_acme::find_order(std::string_view public_id) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_ORDER_COLUMNS " FROM acme_order o WHERE o.public_id = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, public_id);
  return query_one<acme_order>(*st, read_order);
}

result<void> sqlite_acme::update_order(const acme_order& o) {
  auto st = db_.prepare(
      "UPDATE acme_order SET status = ?, error = ?, certificate_serial = ?, expires_at = ? WHERE id = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, to_string(o.status)).bind(2, o.error).bind(3, o.certificate_serial).bind(4, o.expires_at).bind(5, o.id);
  return run_on_one(db_, *st, "acme_order.id", fmt::format("there is no ACME order {}", o.public_id));
}

result<std::vector<acme_order>> sqlite_acme::orders_of_account(std::int64_t account, std::size_t limit,
                                                               std::int64_t before_id) {
  // Row ids grow with time: the id orders the list and is the page cursor.
  auto st = db_.prepare("SELECT " WOTCA_ACME_ORDER_COLUMNS
                        " FROM acme_order o WHERE o.account_id = ? AND (? = 0 OR o.id < ?) ORDER BY o.id DESC LIMIT ?");
  if (!st) return unexpected(st.error());
  st->bind(1, account).bind(2, before_id).bind(3, before_id).bind(4, row_limit(limit));
  return query_all<acme_order>(*st, read_order);
}

result<std::vector<acme_order>> sqlite_acme::orders_of_authz(std::int64_t authz) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_ORDER_COLUMNS
                        " FROM acme_order o JOIN acme_order_authz l ON l.order_id = o.id WHERE l.authz_id = ? "
                        "ORDER BY o.id");
  if (!st) return unexpected(st.error());
  st->bind(1, authz);
  return query_all<acme_order>(*st, read_order);
}

result<std::optional<acme_order>> sqlite_acme::replacement_of(std::string_view ari_id) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_ORDER_COLUMNS
                        " FROM acme_order o WHERE o.replaces = ? AND o.status = 'valid' ORDER BY o.id LIMIT 1");
  if (!st) return unexpected(st.error());
  st->bind(1, ari_id);
  return query_one<acme_order>(*st, read_order);
}

result<acme_order_count> sqlite_acme::orders_since_by_account(std::int64_t account, sys_seconds since,
                                                              std::int64_t at_most) {
  auto st = db_.prepare(
      "SELECT count(*), min(created_at) FROM (SELECT created_at FROM acme_order INDEXED BY acme_order_by_account "
      "WHERE account_id = ? AND created_at >= ? ORDER BY created_at DESC LIMIT ?)");
  if (!st) return unexpected(st.error());
  st->bind(1, account).bind(2, since).bind(3, at_most);
  return count_of(*st);
}

result<acme_order_count> sqlite_acme::orders_since_by_member(member_id member, sys_seconds since,
                                                             std::int64_t at_most) {
  auto st = db_.prepare(
      "SELECT count(*), min(created_at) FROM (SELECT created_at FROM acme_order INDEXED BY acme_order_by_member "
      "WHERE member_id = ? AND created_at >= ? ORDER BY created_at DESC LIMIT ?)");
  if (!st) return unexpected(st.error());
  st->bind(1, member).bind(2, since).bind(3, at_most);
  return count_of(*st);
}

// --- authorizations -------------------------------------------------------------

result<std::int64_t> sqlite_acme::add_authz(const acme_authz& a) {
  auto st = db_.prepare(
      "INSERT INTO acme_authz (public_id, account_id, identifier, wildcard, status, expires_at, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!st) return unexpected(st.error());
  st->bind(1, a.public_id)
      .bind(2, a.account)
      .bind(3, a.identifier)
      .bind(4, std::int64_t{a.wildcard ? 1 : 0})
      .bind(5, to_string(a.status))
      .bind(6, a.expires_at)
      .bind(7, a.created_at);
  auto r = on_conflict(st->run(), "acme_authz.public_id", fmt::format("the authorization id {} is taken", a.public_id));
  if (!r) return unexpected(r.error());
  return db_.last_insert_rowid();
}

result<std::optional<acme_authz>> sqlite_acme::find_authz(std::string_view public_id) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_AUTHZ_COLUMNS " FROM acme_authz a WHERE a.public_id = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, public_id);
  return query_one<acme_authz>(*st, read_authz);
}

result<std::optional<acme_authz>> sqlite_acme::find_authz_by_id(std::int64_t id) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_AUTHZ_COLUMNS " FROM acme_authz a WHERE a.id = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, id);
  return query_one<acme_authz>(*st, read_authz);
}

result<void> sqlite_acme::update_authz(const acme_authz& a) {
  auto st = db_.prepare("UPDATE acme_authz SET status = ?, expires_at = ? WHERE id = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, to_string(a.status)).bind(2, a.expires_at).bind(3, a.id);
  return run_on_one(db_, *st, "acme_authz.id", fmt::format("there is no ACME authorization {}", a.public_id));
}

result<std::vector<acme_authz>> sqlite_acme::authzs_of_order(std::int64_t order) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_AUTHZ_COLUMNS
                        " FROM acme_authz a JOIN acme_order_authz l ON l.authz_id = a.id WHERE l.order_id = ? "
                        "ORDER BY l.position");
  if (!st) return unexpected(st.error());
  st->bind(1, order);
  return query_all<acme_authz>(*st, read_authz);
}

result<std::optional<acme_authz>> sqlite_acme::reusable_authz(std::int64_t account, std::string_view identifier,
                                                              bool wildcard, sys_seconds now) {
  // INDEXED BY: without statistics SQLite picks the (status, expires_at)
  // index here, which walks every live authorization of every account on
  // each new order.
  auto st = db_.prepare("SELECT " WOTCA_ACME_AUTHZ_COLUMNS
                        " FROM acme_authz a INDEXED BY acme_authz_for_reuse"
                        " WHERE a.account_id = ? AND a.identifier = ? AND a.wildcard = ? "
                        "AND a.status IN ('valid', 'pending') AND a.expires_at > ? "
                        "ORDER BY a.status = 'valid' DESC, a.expires_at DESC LIMIT 1");
  if (!st) return unexpected(st.error());
  st->bind(1, account).bind(2, identifier).bind(3, std::int64_t{wildcard ? 1 : 0}).bind(4, now);
  return query_one<acme_authz>(*st, read_authz);
}

// --- challenges -------------------------------------------------------------------

result<std::int64_t> sqlite_acme::add_challenge(const acme_challenge& c) {
  auto st = db_.prepare(
      "INSERT INTO acme_challenge (public_id, authz_id, type, token, status, validated_at, error, "
      "validation_record, processing_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!st) return unexpected(st.error());
  st->bind(1, c.public_id)
      .bind(2, c.authz)
      .bind(3, c.type)
      .bind(4, c.token)
      .bind(5, to_string(c.status))
      .bind(6, c.validated_at)
      .bind(7, c.error)
      .bind(8, c.validation_record)
      .bind(9, c.processing_since);
  auto r = on_conflict(st->run(), "acme_challenge",
                       fmt::format("authorization {} has a {} challenge already, or the id {} is taken", c.authz,
                                   c.type, c.public_id));
  if (!r) return unexpected(r.error());
  return db_.last_insert_rowid();
}

result<std::optional<acme_challenge>> sqlite_acme::find_challenge(std::string_view public_id) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_CHALLENGE_COLUMNS " FROM acme_challenge WHERE public_id = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, public_id);
  return query_one<acme_challenge>(*st, read_challenge);
}

result<std::optional<acme_challenge>> sqlite_acme::find_challenge_by_id(std::int64_t id) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_CHALLENGE_COLUMNS " FROM acme_challenge WHERE id = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, id);
  return query_one<acme_challenge>(*st, read_challenge);
}

result<std::vector<acme_challenge>> sqlite_acme::challenges_of_authz(std::int64_t authz) {
  auto st = db_.prepare("SELECT " WOTCA_ACME_CHALLENGE_COLUMNS " FROM acme_challenge WHERE authz_id = ? ORDER BY id");
  if (!st) return unexpected(st.error());
  st->bind(1, authz);
  return query_all<acme_challenge>(*st, read_challenge);
}

result<void> sqlite_acme::update_challenge(const acme_challenge& c) {
  auto st = db_.prepare(
      "UPDATE acme_challenge SET status = ?, validated_at = ?, error = ?, validation_record = ?, processing_since = ? "
      "WHERE id = ?");
  if (!st) return unexpected(st.error());
  st->bind(1, to_string(c.status))
      .bind(2, c.validated_at)
      .bind(3, c.error)
      .bind(4, c.validation_record)
      .bind(5, c.processing_since)
      .bind(6, c.id);
  return run_on_one(db_, *st, "acme_challenge.id", fmt::format("there is no ACME challenge {}", c.public_id));
}

// --- expiry and nonces --------------------------------------------------------------

result<std::int64_t> sqlite_acme::expire(sys_seconds now) {
  std::int64_t changed = 0;
  auto orders = db_.prepare(
      "UPDATE acme_order SET status = 'invalid', error = ? WHERE status IN ('pending', 'ready', 'processing') AND "
      "expires_at <= ?");
  if (!orders) return unexpected(orders.error());
  orders->bind(1, std::string_view(R"({"type":"urn:ietf:params:acme:error:malformed","detail":"the order expired before it was finalized","status":400})"))
      .bind(2, now);
  if (auto r = orders->run(); !r) return unexpected(r.error());
  changed += db_.changes();
  auto authzs = db_.prepare(
      "UPDATE acme_authz SET status = 'expired' WHERE status IN ('pending', 'valid') AND expires_at <= ?");
  if (!authzs) return unexpected(authzs.error());
  authzs->bind(1, now);
  if (auto r = authzs->run(); !r) return unexpected(r.error());
  changed += db_.changes();
  return changed;
}

result<std::vector<acme_challenge>> sqlite_acme::claim_stale_validations(sys_seconds before, sys_seconds now) {
  // Through the partial index of processing challenges (v5): a few rows.
  auto st = db_.prepare("UPDATE acme_challenge SET processing_since = ? WHERE status = 'processing' AND "
                        "(processing_since IS NULL OR processing_since <= ?) RETURNING " WOTCA_ACME_CHALLENGE_COLUMNS);
  if (!st) return unexpected(st.error());
  st->bind(1, now).bind(2, before);
  return query_all<acme_challenge>(*st, read_challenge);
}

result<void> sqlite_acme::redeem_nonce(std::string_view nonce, sys_seconds expires_at) {
  auto st = db_.prepare("INSERT INTO acme_nonce_used (nonce, expires_at) VALUES (?, ?)");
  if (!st) return unexpected(st.error());
  st->bind(1, nonce).bind(2, expires_at);
  return on_conflict(st->run(), "acme_nonce_used.nonce", "the nonce was redeemed already; a nonce is good for one use");
}

result<std::int64_t> sqlite_acme::prune_nonces(sys_seconds now) {
  auto st = db_.prepare("DELETE FROM acme_nonce_used WHERE expires_at <= ?");
  if (!st) return unexpected(st.error());
  st->bind(1, now);
  if (auto r = st->run(); !r) return unexpected(r.error());
  return db_.changes();
}

#undef WOTCA_ACME_ACCOUNT_COLUMNS
#undef WOTCA_ACME_ORDER_COLUMNS
#undef WOTCA_ACME_AUTHZ_COLUMNS
#undef WOTCA_ACME_CHALLENGE_COLUMNS

}  // namespace sqlite
}  // namespace wotca
