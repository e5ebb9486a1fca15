#include "core/store/sqlite_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

#include "core/store/migrations.h"
#include "core/store/sqlite_acme.h"
#include "core/store/sqlite_rows.h"

namespace wotca {

namespace {

using sqlite::connection;
using sqlite::corrupt;
using sqlite::enum_column;
using sqlite::join_lines;
using sqlite::on_conflict;
using sqlite::query_all;
using sqlite::query_one;
using sqlite::row_limit;
using sqlite::run_on_one;
using sqlite::split_lines;
using sqlite::statement;

// --- reading and writing column values ---------------------------------------

std::int64_t flag(bool b) { return b ? 1 : 0; }

result<date> date_column(const statement& st, int col, std::string_view column, std::string_view row) {
  auto text = st.text(col);
  auto d = parse_date(text, column);
  if (!d) return unexpected(corrupt(column, row, text));
  return *d;
}

result<revocation_reason> reason_column(const statement& st, int col, std::string_view row) {
  const auto code = st.int64(col);
  for (auto r : {revocation_reason::unspecified, revocation_reason::key_compromise, revocation_reason::ca_compromise,
                 revocation_reason::affiliation_changed, revocation_reason::superseded,
                 revocation_reason::cessation_of_operation, revocation_reason::privilege_withdrawn}) {
    if (static_cast<std::int64_t>(r) == code) return r;
  }
  return unexpected(corrupt("certificate.reason", row, std::to_string(code)));
}

// A date is stored only if it reads back: the same check parse_date makes
// on the way in, so no row is written that a later read calls corrupt.
result<std::string> date_text(date d, std::string_view field) {
  if (!d.ok()) return fail(errc::invalid_input, std::string(field), "the date is not a real calendar date");
  auto text = format_date(d);
  if (auto back = parse_date(text, field); !back) return unexpected(back.error());
  return text;
}

// --- turning generic SQLite errors into ones naming the rule -----------------

template <class T>
result<T> on_missing_member(result<T> r, std::string_view field, member_id id) {
  if (!r && r.error().code == errc::not_found) {
    return fail(errc::not_found, std::string(field), fmt::format("there is no member {}", id));
  }
  return r;
}

// All SQL is string literals: the column lists below are spliced in at
// compile time, and every value is a bound parameter.
#define WOTCA_MEMBER_COLUMNS                                                                              \
  "id, kind, name, date_of_birth, primary_email, cca_accepted_at, created_at, locked, parental_consent_at, " \
  "code_signing_enabled"
#define WOTCA_EMAIL_COLUMNS "id, member_id, address, method, verified_at, valid_until"
#define WOTCA_DOMAIN_COLUMNS "id, member_id, name, method, verified_at, valid_until"
#define WOTCA_ASSURANCE_COLUMNS                                                                              \
  "id, assurer_id, assuree_id, points, met_on, place, documents, method, appeared_in_person, mass_event, " \
  "reason, recorded_at, revoked_case"
#define WOTCA_CERTIFICATE_COLUMNS                                                                           \
  "serial, issuer, member_id, profile, subject, sans, not_before, not_after, der, status, revoked_at, " \
  "reason, via, created_at"
#define WOTCA_AUDIT_COLUMNS "id, at, actor, action, object, detail"
#define WOTCA_CHANGE_COLUMNS "seq, kind, serial, issuer, at"
#define WOTCA_EAB_COLUMNS "kid, mac_key_hash, member_id, created_at, expires_at, used_at, mac_key"
#define WOTCA_SCEP_COLUMNS "id, secret_hash, member_id, profile, created_at, expires_at, used_at"

// --- members ----------------------------------------------------------------

result<member> read_member(const statement& st) {
  member m;
  m.id = st.int64(0);
  const auto row = fmt::format("member {}", m.id);
  auto kind = enum_column<member_kind>(st, 1, "member.kind", row, member_kind_from);
  if (!kind) return unexpected(kind.error());
  m.kind = *kind;
  m.name = st.text(2);
  auto born = date_column(st, 3, "member.date_of_birth", row);
  if (!born) return unexpected(born.error());
  m.date_of_birth = *born;
  m.primary_email = st.text(4);
  m.cca_accepted_at = st.time(5);
  m.created_at = st.time(6);
  m.locked = st.int64(7) != 0;
  m.parental_consent_at = st.optional_time(8);
  m.code_signing_enabled = st.int64(9) != 0;
  return m;
}

class sqlite_members final : public member_repository {
 public:
  explicit sqlite_members(connection& db) : db_(db) {}

  result<member_id> add(const member& m) override {
    auto born = date_text(m.date_of_birth, "member.date_of_birth");
    if (!born) return unexpected(born.error());
    auto st = db_.prepare(
        "INSERT INTO member (kind, name, date_of_birth, primary_email, cca_accepted_at, created_at, locked, "
        "parental_consent_at, code_signing_enabled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st) return unexpected(st.error());
    st->bind(1, to_string(m.kind))
        .bind(2, m.name)
        .bind(3, *born)
        .bind(4, m.primary_email)
        .bind(5, m.cca_accepted_at)
        .bind(6, m.created_at)
        .bind(7, flag(m.locked))
        .bind(8, m.parental_consent_at)
        .bind(9, flag(m.code_signing_enabled));
    auto r = on_conflict(st->run(), "R-OWNERSHIP",
                         fmt::format("{} is the primary email of another member already", m.primary_email));
    if (!r) return unexpected(r.error());
    return db_.last_insert_rowid();
  }

  result<std::optional<member>> find(member_id id) override {
    auto st = db_.prepare("SELECT " WOTCA_MEMBER_COLUMNS " FROM member WHERE id = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, id);
    return query_one<member>(*st, read_member);
  }

  result<std::optional<member>> find_by_email(std::string_view primary_email) override {
    auto st = db_.prepare("SELECT " WOTCA_MEMBER_COLUMNS " FROM member WHERE primary_email = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, primary_email);
    return query_one<member>(*st, read_member);
  }

  result<std::vector<member>> list() override {
    auto st = db_.prepare("SELECT " WOTCA_MEMBER_COLUMNS " FROM member ORDER BY id");
    if (!st) return unexpected(st.error());
    return query_all<member>(*st, read_member);
  }

  result<void> update(const member& m) override {
    auto born = date_text(m.date_of_birth, "member.date_of_birth");
    if (!born) return unexpected(born.error());
    auto st = db_.prepare(
        "UPDATE member SET kind = ?, name = ?, date_of_birth = ?, primary_email = ?, cca_accepted_at = ?, "
        "created_at = ?, locked = ?, parental_consent_at = ?, code_signing_enabled = ? WHERE id = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, to_string(m.kind))
        .bind(2, m.name)
        .bind(3, *born)
        .bind(4, m.primary_email)
        .bind(5, m.cca_accepted_at)
        .bind(6, m.created_at)
        .bind(7, flag(m.locked))
        .bind(8, m.parental_consent_at)
        .bind(9, flag(m.code_signing_enabled))
        .bind(10, m.id);
    return on_conflict(run_on_one(db_, *st, "member.id", fmt::format("there is no member {}", m.id)),
                       "R-OWNERSHIP", fmt::format("{} is the primary email of another member already", m.primary_email));
  }

 private:
  connection& db_;
};

// --- emails -----------------------------------------------------------------

result<email_address> read_email(const statement& st) {
  email_address e;
  e.id = st.int64(0);
  e.member = st.int64(1);
  e.address = st.text(2);
  auto method = enum_column<verification_method>(st, 3, "email.method", "email " + e.address,
                                                 verification_method_from);
  if (!method) return unexpected(method.error());
  e.method = *method;
  e.verified_at = st.optional_time(4);
  e.valid_until = st.optional_time(5);
  return e;
}

std::string email_taken(std::string_view address) {
  return fmt::format("the email address {} is registered already; an address belongs to at most one member",
                     address);
}

std::string no_email(std::string_view address) { return fmt::format("there is no email address {}", address); }

class sqlite_emails final : public email_repository {
 public:
  explicit sqlite_emails(connection& db) : db_(db) {}

  result<std::int64_t> add(const email_address& e) override {
    auto st = db_.prepare(
        "INSERT INTO email (member_id, address, method, verified_at, valid_until) VALUES (?, ?, ?, ?, ?)");
    if (!st) return unexpected(st.error());
    st->bind(1, e.member).bind(2, e.address).bind(3, to_string(e.method)).bind(4, e.verified_at).bind(5, e.valid_until);
    auto r = on_missing_member(on_conflict(st->run(), "R-OWNERSHIP", email_taken(e.address)), "email.member", e.member);
    if (!r) return unexpected(r.error());
    return db_.last_insert_rowid();
  }

  result<std::optional<email_address>> find(std::string_view address) override {
    auto st = db_.prepare("SELECT " WOTCA_EMAIL_COLUMNS " FROM email WHERE address = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, address);
    return query_one<email_address>(*st, read_email);
  }

  result<std::vector<email_address>> of_member(member_id m) override {
    auto st = db_.prepare("SELECT " WOTCA_EMAIL_COLUMNS " FROM email WHERE member_id = ? ORDER BY id");
    if (!st) return unexpected(st.error());
    st->bind(1, m);
    return query_all<email_address>(*st, read_email);
  }

  // Keyed by address, like find() and remove(); `e.id` is not used.
  result<void> update(const email_address& e) override {
    auto st = db_.prepare(
        "UPDATE email SET member_id = ?, method = ?, verified_at = ?, valid_until = ? WHERE address = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, e.member).bind(2, to_string(e.method)).bind(3, e.verified_at).bind(4, e.valid_until).bind(5, e.address);
    return on_missing_member(run_on_one(db_, *st, "email.address", no_email(e.address)), "email.member", e.member);
  }

  result<void> remove(std::string_view address) override {
    auto st = db_.prepare("DELETE FROM email WHERE address = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, address);
    return run_on_one(db_, *st, "email.address", no_email(address));
  }

  result<void> set_probe(std::string_view address, const std::vector<std::uint8_t>& token_hash,
                         sys_seconds expires_at) override {
    auto st = db_.prepare("UPDATE email SET probe_hash = ?, probe_expires_at = ? WHERE address = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, std::span<const std::uint8_t>(token_hash)).bind(2, expires_at).bind(3, address);
    return run_on_one(db_, *st, "email.address", no_email(address));
  }

  result<std::optional<std::pair<std::vector<std::uint8_t>, sys_seconds>>> probe(std::string_view address) override {
    using pending = std::pair<std::vector<std::uint8_t>, sys_seconds>;
    auto st = db_.prepare("SELECT probe_hash, probe_expires_at FROM email WHERE address = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, address);
    auto row = st->step();
    if (!row) return unexpected(row.error());
    if (!*row) return fail(errc::not_found, "email.address", no_email(address));
    if (st->is_null(0) || st->is_null(1)) return std::optional<pending>();
    return std::optional<pending>(pending{st->blob(0), st->time(1)});
  }

  result<void> clear_probe(std::string_view address) override {
    auto st = db_.prepare("UPDATE email SET probe_hash = NULL, probe_expires_at = NULL WHERE address = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, address);
    return run_on_one(db_, *st, "email.address", no_email(address));
  }

 private:
  connection& db_;
};

// --- domains ----------------------------------------------------------------

result<domain_name> read_domain(const statement& st) {
  domain_name d;
  d.id = st.int64(0);
  d.member = st.int64(1);
  d.name = st.text(2);
  auto method =
      enum_column<verification_method>(st, 3, "domain.method", "domain " + d.name, verification_method_from);
  if (!method) return unexpected(method.error());
  d.method = *method;
  d.verified_at = st.optional_time(4);
  d.valid_until = st.optional_time(5);
  return d;
}

std::string no_domain(std::string_view name) { return fmt::format("there is no domain {}", name); }

class sqlite_domains final : public domain_repository {
 public:
  explicit sqlite_domains(connection& db) : db_(db) {}

  result<std::int64_t> add(const domain_name& d) override {
    auto st = db_.prepare(
        "INSERT INTO domain (member_id, name, method, verified_at, valid_until) VALUES (?, ?, ?, ?, ?)");
    if (!st) return unexpected(st.error());
    st->bind(1, d.member).bind(2, d.name).bind(3, to_string(d.method)).bind(4, d.verified_at).bind(5, d.valid_until);
    auto r = on_missing_member(
        on_conflict(st->run(), "R-OWNERSHIP",
                    fmt::format("the domain {} is registered already; a domain belongs to at most one member", d.name)),
        "domain.member", d.member);
    if (!r) return unexpected(r.error());
    return db_.last_insert_rowid();
  }

  result<std::optional<domain_name>> find(std::string_view name) override {
    auto st = db_.prepare("SELECT " WOTCA_DOMAIN_COLUMNS " FROM domain WHERE name = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, name);
    return query_one<domain_name>(*st, read_domain);
  }

  result<std::vector<domain_name>> of_member(member_id m) override {
    auto st = db_.prepare("SELECT " WOTCA_DOMAIN_COLUMNS " FROM domain WHERE member_id = ? ORDER BY id");
    if (!st) return unexpected(st.error());
    st->bind(1, m);
    return query_all<domain_name>(*st, read_domain);
  }

  // Keyed by name, like find() and remove(); `d.id` is not used.
  result<void> update(const domain_name& d) override {
    auto st = db_.prepare(
        "UPDATE domain SET member_id = ?, method = ?, verified_at = ?, valid_until = ? WHERE name = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, d.member).bind(2, to_string(d.method)).bind(3, d.verified_at).bind(4, d.valid_until).bind(5, d.name);
    return on_missing_member(run_on_one(db_, *st, "domain.name", no_domain(d.name)), "domain.member", d.member);
  }

  result<void> remove(std::string_view name) override {
    auto st = db_.prepare("DELETE FROM domain WHERE name = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, name);
    return run_on_one(db_, *st, "domain.name", no_domain(name));
  }

  result<void> set_challenge(std::string_view name, const domain_token& t) override {
    auto st = db_.prepare(
        "UPDATE domain SET challenge_method = ?, challenge_token = ?, challenge_expires_at = ? WHERE name = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, t.method).bind(2, t.token).bind(3, t.expires_at).bind(4, name);
    return run_on_one(db_, *st, "domain.name", no_domain(name));
  }

  result<std::optional<domain_token>> challenge(std::string_view name) override {
    auto st = db_.prepare(
        "SELECT challenge_method, challenge_token, challenge_expires_at FROM domain WHERE name = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, name);
    auto row = st->step();
    if (!row) return unexpected(row.error());
    if (!*row) return fail(errc::not_found, "domain.name", no_domain(name));
    if (st->is_null(0) || st->is_null(1) || st->is_null(2)) return std::optional<domain_token>();
    return std::optional<domain_token>(domain_token{st->text(0), st->text(1), st->time(2)});
  }

  result<void> clear_challenge(std::string_view name) override {
    auto st = db_.prepare(
        "UPDATE domain SET challenge_method = NULL, challenge_token = NULL, challenge_expires_at = NULL "
        "WHERE name = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, name);
    return run_on_one(db_, *st, "domain.name", no_domain(name));
  }

 private:
  connection& db_;
};

// --- assurances and CATS ----------------------------------------------------

result<assurance> read_assurance(const statement& st) {
  assurance a;
  a.id = st.int64(0);
  const auto row = fmt::format("assurance {}", a.id);
  if (!st.is_null(1)) a.assurer = st.int64(1);
  a.assuree = st.int64(2);
  a.points = static_cast<int>(st.int64(3));
  auto met = date_column(st, 4, "assurance.met_on", row);
  if (!met) return unexpected(met.error());
  a.met_on = *met;
  a.place = st.text(5);
  a.documents = split_lines(st.text(6));
  auto method = enum_column<assurance_method>(st, 7, "assurance.method", row, assurance_method_from);
  if (!method) return unexpected(method.error());
  a.method = *method;
  a.appeared_in_person = st.int64(8) != 0;
  a.mass_event = st.int64(9) != 0;
  a.reason = st.text(10);
  a.recorded_at = st.time(11);
  if (!st.is_null(12)) a.revoked_case = st.text(12);
  return a;
}

result<cats_pass> read_cats_pass(const statement& st) {
  cats_pass c;
  c.member = st.int64(0);
  auto passed = date_column(st, 1, "cats_pass.passed_on", fmt::format("the CATS pass of member {}", c.member));
  if (!passed) return unexpected(passed.error());
  c.passed_on = *passed;
  c.test_version = st.text(2);
  return c;
}

class sqlite_assurances final : public assurance_repository {
 public:
  explicit sqlite_assurances(connection& db) : db_(db) {}

  result<std::int64_t> add(const assurance& a) override {
    auto met = date_text(a.met_on, "assurance.met_on");
    if (!met) return unexpected(met.error());
    auto documents = join_lines(a.documents, "assurance.documents");
    if (!documents) return unexpected(documents.error());
    auto st = db_.prepare(
        "INSERT INTO assurance (assurer_id, assuree_id, points, met_on, place, documents, method, "
        "appeared_in_person, mass_event, reason, recorded_at, revoked_case) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st) return unexpected(st.error());
    st->bind(1, a.assurer)
        .bind(2, a.assuree)
        .bind(3, std::int64_t{a.points})
        .bind(4, *met)
        .bind(5, a.place)
        .bind(6, *documents)
        .bind(7, to_string(a.method))
        .bind(8, flag(a.appeared_in_person))
        .bind(9, flag(a.mass_event))
        .bind(10, a.reason)
        .bind(11, a.recorded_at)
        .bind(12, a.revoked_case);
    auto r = on_conflict(st->run(), "R-ASSURE-ONCE",
                         fmt::format("member {} has assured member {} already; an Assurer assures a member once",
                                     a.assurer.value_or(0), a.assuree));
    if (!r && r.error().code == errc::not_found) {
      return fail(errc::not_found, "assurance.member",
                  fmt::format("member {} or member {} does not exist", a.assurer.value_or(0), a.assuree));
    }
    if (!r) return unexpected(r.error());
    return db_.last_insert_rowid();
  }

  result<std::vector<assurance>> received_by(member_id m) override {
    auto st = db_.prepare("SELECT " WOTCA_ASSURANCE_COLUMNS " FROM assurance WHERE assuree_id = ? ORDER BY id");
    if (!st) return unexpected(st.error());
    st->bind(1, m);
    return query_all<assurance>(*st, read_assurance);
  }

  result<std::vector<assurance>> given_by(member_id m) override {
    auto st = db_.prepare("SELECT " WOTCA_ASSURANCE_COLUMNS " FROM assurance WHERE assurer_id = ? ORDER BY id");
    if (!st) return unexpected(st.error());
    st->bind(1, m);
    return query_all<assurance>(*st, read_assurance);
  }

  result<int> count_founding() override {
    auto st = db_.prepare("SELECT count(*) FROM assurance WHERE method = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, to_string(assurance_method::founding));
    auto row = st->step();
    if (!row) return unexpected(row.error());
    return *row ? static_cast<int>(st->int64(0)) : 0;
  }

  result<void> withdraw(std::int64_t id, std::string_view case_number) override {
    if (case_number.empty()) {
      return fail(errc::invalid_input, "R-ARBITRATION", "withdrawing an assurance needs an arbitration case number");
    }
    auto st = db_.prepare("SELECT revoked_case FROM assurance WHERE id = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, id);
    auto row = st->step();
    if (!row) return unexpected(row.error());
    if (!*row) return fail(errc::not_found, "assurance.id", fmt::format("there is no assurance {}", id));
    if (!st->is_null(0)) {
      return fail(errc::conflict, "assurance.revoked_case",
                  fmt::format("assurance {} was withdrawn already by case {}", id, st->text(0)));
    }
    auto update = db_.prepare("UPDATE assurance SET revoked_case = ? WHERE id = ?");
    if (!update) return unexpected(update.error());
    update->bind(1, case_number).bind(2, id);
    return update->run();
  }

  result<void> add_cats_pass(const cats_pass& c) override {
    auto passed = date_text(c.passed_on, "cats_pass.passed_on");
    if (!passed) return unexpected(passed.error());
    auto st = db_.prepare("INSERT INTO cats_pass (member_id, passed_on, test_version) VALUES (?, ?, ?)");
    if (!st) return unexpected(st.error());
    st->bind(1, c.member).bind(2, *passed).bind(3, c.test_version);
    return on_missing_member(st->run(), "cats_pass.member", c.member);
  }

  result<std::vector<cats_pass>> cats_of(member_id m) override {
    auto st = db_.prepare(
        "SELECT member_id, passed_on, test_version FROM cats_pass WHERE member_id = ? ORDER BY passed_on, rowid");
    if (!st) return unexpected(st.error());
    st->bind(1, m);
    return query_all<cats_pass>(*st, read_cats_pass);
  }

 private:
  connection& db_;
};

// --- certificates -----------------------------------------------------------

result<certificate_record> read_certificate(const statement& st) {
  certificate_record c;
  c.serial = st.text(0);
  const auto row = "certificate " + c.serial;
  auto issuer = enum_column<issuer_class>(st, 1, "certificate.issuer", row, issuer_class_from);
  if (!issuer) return unexpected(issuer.error());
  c.issuer = *issuer;
  c.member = st.is_null(2) ? 0 : st.int64(2);  // 0: the CA's own certificate
  auto profile = enum_column<cert_profile>(st, 3, "certificate.profile", row, cert_profile_from);
  if (!profile) return unexpected(profile.error());
  c.profile = *profile;
  c.subject = st.text(4);
  c.sans = split_lines(st.text(5));
  c.not_before = st.time(6);
  c.not_after = st.time(7);
  c.der = st.blob(8);
  auto status = enum_column<cert_status>(st, 9, "certificate.status", row, cert_status_from);
  if (!status) return unexpected(status.error());
  c.status = *status;
  c.revoked_at = st.optional_time(10);
  if (!st.is_null(11)) {
    auto reason = reason_column(st, 11, row);
    if (!reason) return unexpected(reason.error());
    c.reason = *reason;
  }
  auto via = enum_column<request_path>(st, 12, "certificate.via", row, request_path_from);
  if (!via) return unexpected(via.error());
  c.via = *via;
  c.created_at = st.time(13);
  return c;
}

std::string no_certificate(std::string_view serial) { return fmt::format("there is no certificate {}", serial); }

class sqlite_certificates final : public certificate_repository {
 public:
  explicit sqlite_certificates(connection& db) : db_(db) {}

  result<void> reserve(const certificate_record& r) override {
    if (r.serial.empty()) return fail(errc::invalid_input, "certificate.serial", "a certificate needs a serial");
    auto sans = join_lines(r.sans, "certificate.sans");
    if (!sans) return unexpected(sans.error());
    auto st = db_.prepare(
        "INSERT INTO certificate (serial, issuer, member_id, profile, subject, sans, not_before, not_after, der, "
        "status, revoked_at, reason, via, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)");
    if (!st) return unexpected(st.error());
    st->bind(1, r.serial)
        .bind(2, to_string(r.issuer))
        .bind(3, r.member == 0 ? std::optional<std::int64_t>() : std::optional<std::int64_t>(r.member))
        .bind(4, to_string(r.profile))
        .bind(5, r.subject)
        .bind(6, *sans)
        .bind(7, r.not_before)
        .bind(8, r.not_after)
        .bind(9, std::span<const std::uint8_t>())
        .bind(10, to_string(cert_status::reserved))
        .bind(11, to_string(r.via))
        .bind(12, r.created_at);
    return on_missing_member(
        on_conflict(st->run(), "certificate.serial", fmt::format("the serial {} is taken already", r.serial)),
        "certificate.member", r.member);
  }

  result<void> complete(std::string_view serial, const std::vector<std::uint8_t>& der) override {
    if (der.empty()) {
      return fail(errc::invalid_input, "certificate.der", fmt::format("no DER given to complete {}", serial));
    }
    auto state = state_of(serial);
    if (!state) return unexpected(state.error());
    if (state->status != cert_status::reserved) {
      return fail(errc::conflict, "certificate.status",
                  fmt::format("certificate {} is not reserved (status {})", serial, to_string(state->status)));
    }
    auto st = db_.prepare("UPDATE certificate SET der = ?, status = ? WHERE serial = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, std::span<const std::uint8_t>(der)).bind(2, to_string(cert_status::valid)).bind(3, serial);
    return st->run();
  }

  result<void> revoke(std::string_view serial, sys_seconds at, revocation_reason reason) override {
    auto state = state_of(serial);
    if (!state) return unexpected(state.error());
    if (state->status == cert_status::revoked) {
      return fail(errc::conflict, "certificate.status",
                  fmt::format("certificate {} is already revoked since {}", serial,
                              state->revoked_at ? format_time(*state->revoked_at) : std::string("an unknown time")));
    }
    if (state->status == cert_status::reserved) {
      return fail(errc::conflict, "certificate.status",
                  fmt::format("certificate {} is only reserved, not issued; there is nothing to revoke", serial));
    }
    auto st = db_.prepare("UPDATE certificate SET status = ?, revoked_at = ?, reason = ? WHERE serial = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, to_string(cert_status::revoked))
        .bind(2, at)
        .bind(3, static_cast<std::int64_t>(reason))
        .bind(4, serial);
    return st->run();
  }

  result<std::optional<certificate_record>> find(std::string_view serial) override {
    auto st = db_.prepare("SELECT " WOTCA_CERTIFICATE_COLUMNS " FROM certificate WHERE serial = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, serial);
    return query_one<certificate_record>(*st, read_certificate);
  }

  // Newest first, like list().
  result<std::vector<certificate_record>> of_member(member_id m) override {
    auto st = db_.prepare("SELECT " WOTCA_CERTIFICATE_COLUMNS
                          " FROM certificate WHERE member_id = ? ORDER BY created_at DESC, serial");
    if (!st) return unexpected(st.error());
    st->bind(1, m);
    return query_all<certificate_record>(*st, read_certificate);
  }

  result<std::vector<certificate_record>> list(std::size_t limit) override {
    auto st = db_.prepare("SELECT " WOTCA_CERTIFICATE_COLUMNS
                          " FROM certificate ORDER BY created_at DESC, serial LIMIT ?");
    if (!st) return unexpected(st.error());
    st->bind(1, row_limit(limit));
    return query_all<certificate_record>(*st, read_certificate);
  }

  result<std::size_t> scan(const certificate_scan& f,
                           const std::function<result<void>(const certificate_status_row&)>& fn) override {
    std::string sql = "SELECT serial, issuer, status, not_after, revoked_at, reason FROM certificate WHERE 1";
    if (f.issuer) sql += " AND issuer = ?1";
    if (f.revoked_only) sql += " AND status = 'revoked'";
    else if (f.skip_reserved) sql += " AND status <> 'reserved'";
    if (f.not_after_from) sql += " AND not_after >= ?2";
    auto st = db_.prepare(sql);
    if (!st) return unexpected(st.error());
    if (f.issuer) st->bind(1, to_string(*f.issuer));
    if (f.not_after_from) st->bind(2, *f.not_after_from);
    std::size_t n = 0;
    certificate_status_row row;
    for (;;) {
      auto more = st->step();
      if (!more) return unexpected(more.error());
      if (!*more) break;
      row.serial = st->text(0);
      // The column names say "certificate"; the serial names the row. No
      // string is built per row: a scan reads millions of them.
      const std::string_view where = row.serial;
      auto issuer = enum_column<issuer_class>(*st, 1, "certificate.issuer", where, issuer_class_from);
      if (!issuer) return unexpected(issuer.error());
      row.issuer = *issuer;
      auto status = enum_column<cert_status>(*st, 2, "certificate.status", where, cert_status_from);
      if (!status) return unexpected(status.error());
      row.status = *status;
      row.not_after = st->time(3);
      row.revoked_at = st->optional_time(4);
      row.reason.reset();
      if (!st->is_null(5)) {
        auto reason = reason_column(*st, 5, where);
        if (!reason) return unexpected(reason.error());
        row.reason = *reason;
      }
      if (auto r = fn(row); !r) return unexpected(r.error());
      ++n;
    }
    return n;
  }

 private:
  struct state {
    cert_status status = cert_status::reserved;
    std::optional<sys_seconds> revoked_at;
  };

  // not_found if the serial is unknown. Reading before updating is safe:
  // writes run in an IMMEDIATE transaction, which no one else can enter.
  result<state> state_of(std::string_view serial) {
    auto st = db_.prepare("SELECT status, revoked_at FROM certificate WHERE serial = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, serial);
    auto row = st->step();
    if (!row) return unexpected(row.error());
    if (!*row) return fail(errc::not_found, "certificate.serial", no_certificate(serial));
    auto status = enum_column<cert_status>(*st, 0, "certificate.status", "certificate " + std::string(serial),
                                           cert_status_from);
    if (!status) return unexpected(status.error());
    return state{*status, st->optional_time(1)};
  }

  connection& db_;
};

// --- audit and change feed --------------------------------------------------

result<audit_entry> read_audit(const statement& st) {
  audit_entry e;
  e.id = st.int64(0);
  e.at = st.time(1);
  e.actor = st.text(2);
  e.action = st.text(3);
  e.object = st.text(4);
  e.detail = st.text(5);
  return e;
}

class sqlite_audit final : public audit_repository {
 public:
  explicit sqlite_audit(connection& db) : db_(db) {}

  result<std::int64_t> append(const audit_entry& e) override {
    auto st = db_.prepare("INSERT INTO audit (at, actor, action, object, detail) VALUES (?, ?, ?, ?, ?)");
    if (!st) return unexpected(st.error());
    st->bind(1, e.at).bind(2, e.actor).bind(3, e.action).bind(4, e.object).bind(5, e.detail);
    if (auto r = st->run(); !r) return unexpected(r.error());
    return db_.last_insert_rowid();
  }

  result<std::vector<audit_entry>> since(sys_seconds since) override {
    auto st = db_.prepare("SELECT " WOTCA_AUDIT_COLUMNS " FROM audit WHERE at >= ? ORDER BY at, id");
    if (!st) return unexpected(st.error());
    st->bind(1, since);
    return query_all<audit_entry>(*st, read_audit);
  }

 private:
  connection& db_;
};

result<change_event> read_change(const statement& st) {
  change_event e;
  e.seq = st.int64(0);
  e.kind = st.text(1);
  e.serial = st.text(2);
  auto issuer = enum_column<issuer_class>(st, 3, "change_feed.issuer", fmt::format("change {}", e.seq),
                                          issuer_class_from);
  if (!issuer) return unexpected(issuer.error());
  e.issuer = *issuer;
  e.at = st.time(4);
  return e;
}

class sqlite_change_feed final : public change_feed {
 public:
  explicit sqlite_change_feed(connection& db) : db_(db) {}

  result<std::int64_t> bump(const change_event& e) override {
    auto st = db_.prepare("INSERT INTO change_feed (kind, serial, issuer, at) VALUES (?, ?, ?, ?)");
    if (!st) return unexpected(st.error());
    st->bind(1, e.kind).bind(2, e.serial).bind(3, to_string(e.issuer)).bind(4, e.at);
    if (auto r = st->run(); !r) return unexpected(r.error());
    return db_.last_insert_rowid();
  }

  result<std::int64_t> head() override {
    auto st = db_.prepare("SELECT coalesce(max(seq), 0) FROM change_feed");
    if (!st) return unexpected(st.error());
    auto row = st->step();
    if (!row) return unexpected(row.error());
    return *row ? st->int64(0) : std::int64_t{0};
  }

  result<std::vector<change_event>> after(std::int64_t seq, std::size_t limit) override {
    auto st = db_.prepare("SELECT " WOTCA_CHANGE_COLUMNS " FROM change_feed WHERE seq > ? ORDER BY seq LIMIT ?");
    if (!st) return unexpected(st.error());
    st->bind(1, seq).bind(2, row_limit(limit));
    return query_all<change_event>(*st, read_change);
  }

 private:
  connection& db_;
};

// --- one-time credentials: EAB keys and SCEP challenges -----------------------

result<eab_key> read_eab(const statement& st) {
  eab_key k;
  k.kid = st.text(0);
  k.mac_key_hash = st.blob(1);
  k.member = st.int64(2);
  k.created_at = st.time(3);
  k.expires_at = st.time(4);
  k.used_at = st.optional_time(5);
  if (!st.is_null(6)) k.mac_key = st.blob(6);
  return k;
}

result<scep_challenge> read_scep(const statement& st) {
  scep_challenge c;
  c.id = st.text(0);
  c.secret_hash = st.blob(1);
  c.member = st.is_null(2) ? 0 : st.int64(2);  // 0: the CA's own certificate
  auto profile = enum_column<cert_profile>(st, 3, "scep_challenge.profile", "SCEP challenge " + c.id,
                                           cert_profile_from);
  if (!profile) return unexpected(profile.error());
  c.profile = *profile;
  c.created_at = st.time(4);
  c.expires_at = st.time(5);
  c.used_at = st.optional_time(6);
  return c;
}

// Marks a one-time credential used: not_found if absent, conflict if used
// already. `select_used` and `update` are literals naming the same table.
result<void> mark_once(connection& db, const char* select_used, const char* update, std::string_view key,
                       sys_seconds at, std::string_view what) {
  auto st = db.prepare(select_used);
  if (!st) return unexpected(st.error());
  st->bind(1, key);
  auto row = st->step();
  if (!row) return unexpected(row.error());
  if (!*row) return fail(errc::not_found, std::string(what), fmt::format("there is no {} {}", what, key));
  if (!st->is_null(0)) {
    return fail(errc::conflict, std::string(what),
                fmt::format("{} {} was used already at {}; it is good for one use", what, key,
                            format_time(st->time(0))));
  }
  auto up = db.prepare(update);
  if (!up) return unexpected(up.error());
  up->bind(1, at).bind(2, key);
  return up->run();
}

class sqlite_eab_keys final : public eab_repository {
 public:
  explicit sqlite_eab_keys(connection& db) : db_(db) {}

  result<void> add(const eab_key& k) override {
    auto st = db_.prepare(
        "INSERT INTO eab_key (kid, mac_key_hash, member_id, created_at, expires_at, used_at, mac_key) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!st) return unexpected(st.error());
    st->bind(1, k.kid)
        .bind(2, std::span<const std::uint8_t>(k.mac_key_hash))
        .bind(3, k.member)
        .bind(4, k.created_at)
        .bind(5, k.expires_at)
        .bind(6, k.used_at)
        .bind(7, std::span<const std::uint8_t>(k.mac_key));
    return on_missing_member(
        on_conflict(st->run(), "eab_key.kid", fmt::format("the EAB key id {} is taken already", k.kid)),
        "eab_key.member", k.member);
  }

  result<std::optional<eab_key>> find(std::string_view kid) override {
    auto st = db_.prepare("SELECT " WOTCA_EAB_COLUMNS " FROM eab_key WHERE kid = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, kid);
    return query_one<eab_key>(*st, read_eab);
  }

  result<void> mark_used(std::string_view kid, sys_seconds at) override {
    return mark_once(db_, "SELECT used_at FROM eab_key WHERE kid = ?",
                     "UPDATE eab_key SET used_at = ?, mac_key = NULL WHERE kid = ?", kid, at, "EAB key");
  }

 private:
  connection& db_;
};

class sqlite_scep_challenges final : public scep_challenge_repository {
 public:
  explicit sqlite_scep_challenges(connection& db) : db_(db) {}

  result<void> add(const scep_challenge& c) override {
    auto st = db_.prepare(
        "INSERT INTO scep_challenge (id, secret_hash, member_id, profile, created_at, expires_at, used_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!st) return unexpected(st.error());
    st->bind(1, c.id)
        .bind(2, std::span<const std::uint8_t>(c.secret_hash))
        .bind(3, c.member)
        .bind(4, to_string(c.profile))
        .bind(5, c.created_at)
        .bind(6, c.expires_at)
        .bind(7, c.used_at);
    return on_missing_member(
        on_conflict(st->run(), "scep_challenge.id", fmt::format("the SCEP challenge id {} is taken already", c.id)),
        "scep_challenge.member", c.member);
  }

  result<std::optional<scep_challenge>> find(std::string_view id) override {
    auto st = db_.prepare("SELECT " WOTCA_SCEP_COLUMNS " FROM scep_challenge WHERE id = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, id);
    return query_one<scep_challenge>(*st, read_scep);
  }

  result<void> mark_used(std::string_view id, sys_seconds at) override {
    return mark_once(db_, "SELECT used_at FROM scep_challenge WHERE id = ?",
                     "UPDATE scep_challenge SET used_at = ? WHERE id = ?", id, at, "SCEP challenge");
  }

 private:
  connection& db_;
};

// --- CRL numbers ---------------------------------------------------------------

class sqlite_crl_states final : public crl_state_repository {
 public:
  explicit sqlite_crl_states(connection& db) : db_(db) {}

  result<std::optional<crl_state>> get(std::string_view scope) override {
    auto st = db_.prepare("SELECT issuer, crl_number, generated_at FROM crl_state WHERE issuer = ?");
    if (!st) return unexpected(st.error());
    st->bind(1, scope);
    return query_one<crl_state>(*st, [](const statement& s) -> result<crl_state> {
      return crl_state{s.text(0), s.int64(1), s.time(2)};
    });
  }

  result<crl_state> advance(std::string_view scope, sys_seconds at) override {
    if (scope.empty()) return fail(errc::invalid_input, "crl_state.issuer", "a CRL scope needs a name");
    // One statement, so the read and the increment cannot be split.
    auto st = db_.prepare(
        "INSERT INTO crl_state (issuer, crl_number, generated_at) VALUES (?1, 1, ?2) "
        "ON CONFLICT (issuer) DO UPDATE SET crl_number = crl_number + 1, generated_at = ?2");
    if (!st) return unexpected(st.error());
    st->bind(1, scope).bind(2, at);
    if (auto r = st->run(); !r) return unexpected(r.error());
    auto now = get(scope);
    if (!now) return unexpected(now.error());
    if (!*now) return fail(errc::internal, "crl_state", fmt::format("the CRL number of {} vanished", scope));
    return **now;
  }

  result<void> record(std::string_view scope, std::int64_t number, sys_seconds at) override {
    if (scope.empty()) return fail(errc::invalid_input, "crl_state.issuer", "a CRL scope needs a name");
    auto last = get(scope);
    if (!last) return unexpected(last.error());
    if (*last && (*last)->crl_number >= number) {
      return fail(errc::conflict, "crl_state.crl_number",
                  fmt::format("CRL number {} of {} is not above the last one, {}", number, scope,
                              (*last)->crl_number));
    }
    auto st = db_.prepare(
        "INSERT INTO crl_state (issuer, crl_number, generated_at) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (issuer) DO UPDATE SET crl_number = ?2, generated_at = ?3");
    if (!st) return unexpected(st.error());
    st->bind(1, scope).bind(2, number).bind(3, at);
    return st->run();
  }

 private:
  connection& db_;
};

#undef WOTCA_MEMBER_COLUMNS
#undef WOTCA_EMAIL_COLUMNS
#undef WOTCA_DOMAIN_COLUMNS
#undef WOTCA_ASSURANCE_COLUMNS
#undef WOTCA_CERTIFICATE_COLUMNS
#undef WOTCA_AUDIT_COLUMNS
#undef WOTCA_CHANGE_COLUMNS
#undef WOTCA_EAB_COLUMNS
#undef WOTCA_SCEP_COLUMNS

// --- the transaction --------------------------------------------------------

class sqlite_transaction final : public transaction {
 public:
  explicit sqlite_transaction(connection& db)
      : members_(db), emails_(db), domains_(db), assurances_(db), certificates_(db), audit_(db), changes_(db),
        eab_keys_(db), scep_challenges_(db), crl_states_(db), acme_(db) {}

  member_repository& members() override { return members_; }
  email_repository& emails() override { return emails_; }
  domain_repository& domains() override { return domains_; }
  assurance_repository& assurances() override { return assurances_; }
  certificate_repository& certificates() override { return certificates_; }
  audit_repository& audit() override { return audit_; }
  change_feed& changes() override { return changes_; }
  eab_repository& eab_keys() override { return eab_keys_; }
  scep_challenge_repository& scep_challenges() override { return scep_challenges_; }
  crl_state_repository& crl_states() override { return crl_states_; }
  acme_repository& acme() override { return acme_; }

 private:
  sqlite_members members_;
  sqlite_emails emails_;
  sqlite_domains domains_;
  sqlite_assurances assurances_;
  sqlite_certificates certificates_;
  sqlite_audit audit_;
  sqlite_change_feed changes_;
  sqlite_eab_keys eab_keys_;
  sqlite_scep_challenges scep_challenges_;
  sqlite_crl_states crl_states_;
  sqlite::sqlite_acme acme_;
};

// Transaction control through the connection's statement cache: every
// transaction begins and ends with one, and sqlite3_exec would parse it anew
// each time.
result<void> control(connection& db, const char* sql) {
  auto st = db.prepare(sql);
  if (!st) return unexpected(st.error());
  return st->run();
}

// Ends a transaction on every way out of write()/read() that did not
// commit, including an exception thrown by the caller's function: a
// transaction left open would make every later call on this store fail.
class transaction_scope {
 public:
  transaction_scope(connection& db, bool& in_transaction) : db_(db), in_transaction_(in_transaction) {
    in_transaction_ = true;
  }
  transaction_scope(const transaction_scope&) = delete;
  transaction_scope& operator=(const transaction_scope&) = delete;
  ~transaction_scope() {
    // SQLite may have rolled back by itself (e.g. on SQLITE_FULL); then
    // there is nothing left to end.
    if (db_.in_transaction()) (void)control(db_, "ROLLBACK");
    db_.refuse_writes(false);
    in_transaction_ = false;
  }

 private:
  connection& db_;
  bool& in_transaction_;
};

error nested(std::string_view call) {
  return {errc::internal, "store",
          fmt::format("store::{}() was called inside another transaction of the same store; it would wait on "
                      "its own lock",
                      call)};
}

// Creates the database file with mode 0600 before SQLite opens it, so it is
// never readable by others, whatever the umask (an empty file is a valid
// empty database). SQLite gives the -wal and -shm files the same mode.
result<void> create_private_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return {};  // another process created it meanwhile
    return fail(errc::storage, "database", fmt::format("cannot create the database {}: {}", path, std::strerror(errno)));
  }
  ::close(fd);
  return {};
}

}  // namespace

// The connection through which every write of this process to one database
// file goes, with the gate that orders those writes and shares their log
// flushes. SQLite empties a connection's page cache whenever another
// connection has written since its last transaction, so writers on a
// connection each would read back from the log the pages the writer before
// them just wrote; on one connection the pages written last stay cached.
struct sqlite_store::shared_writer {
  std::shared_ptr<write_gate> gate;
  sqlite::connection db;                   // used only while gate->writers() is held
  std::chrono::milliseconds busy_timeout;  // set on db now: each store's own applies to its writes
};

result<std::shared_ptr<sqlite_store::shared_writer>> sqlite_store::shared_writer_of(
    const std::filesystem::path& db_path, const sqlite_options& options) {
  return per_database<shared_writer>::get(db_path, [&](const std::string&) -> result<std::shared_ptr<shared_writer>> {
    // NOMUTEX: the gate's writers() mutex is held around every use.
    auto db = sqlite::connection::open(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
    if (!db) return unexpected(db.error());
    db->set_busy_timeout(options.busy_timeout);
    if (auto r = db->exec("PRAGMA foreign_keys = ON"); !r) return unexpected(r.error());
    if (auto r = db->exec("PRAGMA synchronous = NORMAL"); !r) return unexpected(r.error());
    return std::make_shared<shared_writer>(
        shared_writer{write_gate::of(db_path), std::move(*db), options.busy_timeout});
  });
}

result<std::unique_ptr<sqlite_store>> sqlite_store::open(const std::filesystem::path& db_path, open_mode mode,
                                                         const sqlite_options& options) {
  const std::string name = db_path.string();
  const bool in_memory = name == ":memory:";
  if (!in_memory) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(db_path, ec);
    if (ec) {
      return fail(errc::storage, "database", fmt::format("cannot look for the database {}: {}", name, ec.message()));
    }
    if (!exists) {
      if (mode == open_mode::existing) {
        return fail(errc::not_found, "database", fmt::format("there is no database at {}", name));
      }
      if (options.read_only) {
        return fail(errc::storage, "database", fmt::format("there is no database at {} to open read-only", name));
      }
      if (auto r = create_private_file(name); !r) return unexpected(r.error());
    }
  }

  // NOMUTEX: a store is used by one thread at a time (see sqlite_store.h).
  auto db = sqlite::connection::open(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  if (!db) return unexpected(db.error());
  db->set_busy_timeout(options.busy_timeout);
  if (auto r = db->exec("PRAGMA foreign_keys = ON"); !r) return unexpected(r.error());
  if (!in_memory && !options.read_only) {
    // WAL lets the OCSP and CRL daemons read while the CA writes. The mode
    // is stored in the file; SQLite answers with the mode it now uses,
    // which is not WAL where the file system cannot share memory.
    auto st = db->prepare("PRAGMA journal_mode = WAL");
    if (!st) return unexpected(st.error());
    auto row = st->step();
    if (!row) return unexpected(row.error());
    const auto journal = *row ? st->text(0) : std::string();
    if (journal != "wal") {
      return fail(errc::storage, "database",
                  fmt::format("the database {} cannot use WAL journaling (SQLite reports journal mode '{}'); "
                              "put it on a local file system",
                              name, journal));
    }
  }
  // A CA must never forget a certificate it signed or a revocation it
  // confirmed, so a full write returns only once its commit is on disk. On
  // a file, commits append to the log without waiting (synchronous =
  // NORMAL, which in WAL mode survives a crash of the program) and a full
  // write then waits for a flush of the log shared with the writers beside
  // it (group_commit.h). The migration's writes are flushed the same way.
  const bool shared = !in_memory && !options.read_only;
  if (auto r = db->exec(shared ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL"); !r) {
    return unexpected(r.error());
  }
  if (auto r = sqlite::migrate(*db, !options.read_only); !r) return unexpected(r.error());
  std::shared_ptr<shared_writer> writer;
  if (shared) {
    auto w = shared_writer_of(db_path, options);
    if (!w) return unexpected(w.error());
    writer = std::move(*w);
    if (auto r = writer->gate->make_durable(); !r) return unexpected(r.error());
  }
  if (options.read_only) {
    if (auto r = db->exec("PRAGMA query_only = ON"); !r) return unexpected(r.error());
  }
  // The constructor is private (only open() makes a usable store), so no make_unique.
  return std::unique_ptr<sqlite_store>(new sqlite_store(std::move(*db), std::move(writer), options.busy_timeout));
}

result<void> sqlite_store::write(const std::function<result<void>(transaction&)>& fn) {
  return write(fn, durability::full);
}

namespace {
// The gate whose writers() this thread holds: a second write to the same
// database from inside a write would wait on itself.
thread_local const write_gate* held_gate = nullptr;
}  // namespace

result<void> sqlite_store::write(const std::function<result<void>(transaction&)>& fn, durability d) {
  if (in_transaction_) return unexpected(nested("write"));
  write_gate* const gate = writer_ ? writer_->gate.get() : nullptr;
  if (gate != nullptr && held_gate == gate) {
    return fail(errc::internal, "store",
                "store::write() was called inside a write to the same database on another connection of this "
                "thread; it would wait on its own lock");
  }
  auto committed = [&]() -> result<void> {
    std::unique_lock<std::mutex> turn;
    if (gate != nullptr) turn = std::unique_lock<std::mutex>(gate->writers());
    connection& db = writer_ ? writer_->db : db_;
    if (writer_ && writer_->busy_timeout != busy_timeout_) {
      db.set_busy_timeout(busy_timeout_);
      writer_->busy_timeout = busy_timeout_;
    }
    // A write to another file inside this one (another gate) must give the
    // outer one back when it ends, or a nested write to this file would
    // no longer be caught.
    struct hold {
      const write_gate* outer = std::exchange(held_gate, nullptr);
      ~hold() { held_gate = outer; }
    } on_exit;
    held_gate = gate;
    if (auto r = control(db, "BEGIN IMMEDIATE"); !r) return r;
    transaction_scope scope(db, in_transaction_);
    sqlite_transaction t(db);
    if (auto r = fn(t); !r) return r;  // the scope rolls back
    return control(db, "COMMIT");      // on failure the scope rolls back
  }();
  if (!committed) return committed;
  // After the lock is released: the writers behind this one go on while
  // the log is flushed, and share the flush if they are quick.
  if (d == durability::full && gate != nullptr) return gate->make_durable();
  return {};
}

result<void> sqlite_store::read(const std::function<result<void>(transaction&)>& fn) {
  if (in_transaction_) return unexpected(nested("read"));
  if (auto r = control(db_, "BEGIN"); !r) return r;
  transaction_scope scope(db_, in_transaction_);
  db_.refuse_writes(true);
  sqlite_transaction t(db_);
  auto r = fn(t);
  db_.refuse_writes(false);
  // Nothing was written; ROLLBACK ends the snapshot.
  auto end = control(db_, "ROLLBACK");
  if (!r) return r;
  return end;
}

result<int> sqlite_store::schema_version() {
  if (in_transaction_) return unexpected(nested("schema_version"));
  return sqlite::schema_version(db_);
}

int sqlite_store::latest_schema_version() { return sqlite::latest_schema_version(); }

}  // namespace wotca
