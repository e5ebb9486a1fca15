#include "core/store/migrations.h"

#include <fmt/format.h>

#include <array>

namespace wotca::sqlite {

namespace {

// Conventions of every table:
//  - times are INTEGER unix seconds (UTC); calendar dates are TEXT YYYY-MM-DD;
//  - enums are the text of their to_string() (revocation reasons: the
//    RFC 5280 CRLReason code), read back through the *_from functions;
//  - STRICT tables, so a value of the wrong type is refused at the write
//    instead of being read back as something else.
// Members are never deleted (R-DELETE locks and anonymises them), so the
// foreign keys need no ON DELETE clause: deleting a referenced member fails.
// Addresses and domain names are stored lower-case (model.h), and compared
// without case as well (ASCII; domains are A-labels), so a caller that forgot
// to fold cannot register Alice@Example.org beside alice@example.org and
// break R-OWNERSHIP.
constexpr std::string_view v1 = R"sql(
CREATE TABLE member (
  id                   INTEGER PRIMARY KEY,
  kind                 TEXT    NOT NULL CHECK (kind IN ('person', 'organisation')),
  name                 TEXT    NOT NULL,
  date_of_birth        TEXT    NOT NULL CHECK (date_of_birth GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
  primary_email        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
  cca_accepted_at      INTEGER NOT NULL,
  created_at           INTEGER NOT NULL,
  locked               INTEGER NOT NULL CHECK (locked IN (0, 1)),
  parental_consent_at  INTEGER,
  code_signing_enabled INTEGER NOT NULL CHECK (code_signing_enabled IN (0, 1))
) STRICT;

-- UNIQUE(address) is R-OWNERSHIP: an address belongs to at most one member.
CREATE TABLE email (
  id               INTEGER PRIMARY KEY,
  member_id        INTEGER NOT NULL REFERENCES member (id),
  address          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
  method           TEXT    NOT NULL,
  verified_at      INTEGER,
  valid_until      INTEGER,
  probe_hash       BLOB,     -- SHA-256 of the pending R-EMAIL-PROBE token, never the token
  probe_expires_at INTEGER
) STRICT;
CREATE INDEX email_by_member ON email (member_id);

CREATE TABLE domain (
  id          INTEGER PRIMARY KEY,
  member_id   INTEGER NOT NULL REFERENCES member (id),
  name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
  method      TEXT    NOT NULL,
  verified_at INTEGER,
  valid_until INTEGER
) STRICT;
CREATE INDEX domain_by_member ON domain (member_id);

-- UNIQUE(assurer_id, assuree_id) is R-ASSURE-ONCE. SQL treats NULLs as
-- distinct, so founding appointments (no assurer, R-BOOTSTRAP) never collide.
-- documents: newline-separated.
CREATE TABLE assurance (
  id                 INTEGER PRIMARY KEY,
  assurer_id         INTEGER REFERENCES member (id),
  assuree_id         INTEGER NOT NULL REFERENCES member (id),
  points             INTEGER NOT NULL,
  met_on             TEXT    NOT NULL,
  place              TEXT    NOT NULL,
  documents          TEXT    NOT NULL,
  method             TEXT    NOT NULL,
  appeared_in_person INTEGER NOT NULL CHECK (appeared_in_person IN (0, 1)),
  mass_event         INTEGER NOT NULL CHECK (mass_event IN (0, 1)),
  reason             TEXT    NOT NULL,
  recorded_at        INTEGER NOT NULL,
  revoked_case       TEXT,
  UNIQUE (assurer_id, assuree_id)
) STRICT;
CREATE INDEX assurance_by_assuree ON assurance (assuree_id);

CREATE TABLE cats_pass (
  member_id    INTEGER NOT NULL REFERENCES member (id),
  passed_on    TEXT    NOT NULL,
  test_version TEXT    NOT NULL
) STRICT;
CREATE INDEX cats_pass_by_member ON cats_pass (member_id);

-- A serial is reserved here before the CA signs (status 'reserved', empty
-- der), so no signed certificate exists that this table does not know.
-- sans: newline-separated "DNS:..." / "email:...".
CREATE TABLE certificate (
  serial     TEXT    NOT NULL PRIMARY KEY,
  issuer     TEXT    NOT NULL CHECK (issuer IN ('root', 'class1', 'class3')),
  -- NULL for the CA's own certificates (issuing CAs, OCSP signers, SCEP RA,
  -- the ACME server's TLS certificate): recorded like any other, owned by no member.
  member_id  INTEGER REFERENCES member (id),
  profile    TEXT    NOT NULL,
  subject    TEXT    NOT NULL,
  sans       TEXT    NOT NULL,
  not_before INTEGER NOT NULL,
  not_after  INTEGER NOT NULL,
  der        BLOB    NOT NULL,
  status     TEXT    NOT NULL CHECK (status IN ('reserved', 'valid', 'revoked')),
  revoked_at INTEGER,
  reason     INTEGER CHECK (reason IN (0, 1, 2, 3, 4, 5, 9)),
  via        TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL AND reason IS NOT NULL))
) STRICT;
CREATE INDEX certificate_by_member ON certificate (member_id);
CREATE INDEX certificate_by_issuer_status ON certificate (issuer, status);
CREATE INDEX certificate_by_created ON certificate (created_at);

-- AUTOINCREMENT: ids are never reused, so the log reads in order of writing.
CREATE TABLE audit (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  at     INTEGER NOT NULL,
  actor  TEXT    NOT NULL,
  action TEXT    NOT NULL,
  object TEXT    NOT NULL,
  detail TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_by_time ON audit (at);

-- AUTOINCREMENT: a sequence number is never handed out twice, even after
-- the newest row is deleted; ocsp/ and crl/ rely on it only growing.
CREATE TABLE change_feed (
  seq    INTEGER PRIMARY KEY AUTOINCREMENT,
  kind   TEXT    NOT NULL,
  serial TEXT    NOT NULL,
  issuer TEXT    NOT NULL,
  at     INTEGER NOT NULL
) STRICT;

CREATE TABLE eab_key (
  kid          TEXT    NOT NULL PRIMARY KEY,
  mac_key_hash BLOB    NOT NULL,
  member_id    INTEGER NOT NULL REFERENCES member (id),
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  used_at      INTEGER
) STRICT;

CREATE TABLE scep_challenge (
  id          TEXT    NOT NULL PRIMARY KEY,
  secret_hash BLOB    NOT NULL,
  member_id   INTEGER NOT NULL REFERENCES member (id),
  profile     TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  used_at     INTEGER
) STRICT;

-- For crl/: the last CRL number per issuer (RFC 5280 5.2.3: monotonically increasing).
CREATE TABLE crl_state (
  issuer       TEXT    NOT NULL PRIMARY KEY,
  crl_number   INTEGER NOT NULL,
  generated_at INTEGER NOT NULL
) STRICT;
)sql";

// Migrations are appended, never edited once released: acme_account,
// acme_order, acme_authz, acme_challenge and scep_transaction
// (ARCHITECTURE.md "Data") come with acme/ and scep/.
// v2: a pending proof-of-control challenge per domain (R-DOMAIN-CONTROL by
// DNS TXT or HTTP token). Tokens are published by the member, so they are
// stored as they are.
constexpr std::string_view v2 = R"sql(
ALTER TABLE domain ADD COLUMN challenge_method TEXT CHECK (challenge_method IN ('dns', 'http'));
ALTER TABLE domain ADD COLUMN challenge_token TEXT;
ALTER TABLE domain ADD COLUMN challenge_expires_at INTEGER;
)sql";

// v3: ACME (RFC 8555 7.1). An account is bound to a member by a single-use
// EAB key (UNIQUE eab_kid) and named by its key's RFC 7638 thumbprint
// (UNIQUE: one account per key). Orders, authorizations and challenges are
// named in URLs by public_id, opaque random text, never by the row id. An
// authorization may serve several orders of its account (R-DOMAIN-REUSE),
// hence the link table; position keeps the order's identifier order.
// acme_nonce_used holds each redeemed Replay-Nonce until it would be stale
// anyway, so that replicas sharing the database redeem a nonce once.
constexpr std::string_view v3 = R"sql(
-- The EAB HMAC key itself (a binding is checked by recomputing its MAC);
-- set to NULL when the key is used.
ALTER TABLE eab_key ADD COLUMN mac_key BLOB;

CREATE TABLE acme_account (
  id         INTEGER PRIMARY KEY,
  member_id  INTEGER NOT NULL REFERENCES member (id),
  thumbprint TEXT    NOT NULL UNIQUE,
  jwk        TEXT    NOT NULL,
  contact    TEXT    NOT NULL,   -- newline-separated mailto: URLs
  status     TEXT    NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
  eab_kid    TEXT    NOT NULL UNIQUE REFERENCES eab_key (kid),
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX acme_account_by_member ON acme_account (member_id);

-- identifiers: newline-separated DNS names ("*.x" for wildcards), as ordered.
-- error: the RFC 7807 problem document of an invalid order, as JSON.
CREATE TABLE acme_order (
  id                 INTEGER PRIMARY KEY,
  public_id          TEXT    NOT NULL UNIQUE,
  account_id         INTEGER NOT NULL REFERENCES acme_account (id),
  member_id          INTEGER NOT NULL REFERENCES member (id),
  status             TEXT    NOT NULL CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
  identifiers        TEXT    NOT NULL,
  not_before         INTEGER,
  not_after          INTEGER,
  expires_at         INTEGER NOT NULL,
  created_at         INTEGER NOT NULL,
  error              TEXT,
  certificate_serial TEXT    REFERENCES certificate (serial),
  replaces           TEXT,
  CHECK ((status = 'valid') = (certificate_serial IS NOT NULL))
) STRICT;
CREATE INDEX acme_order_by_account ON acme_order (account_id, created_at);
CREATE INDEX acme_order_by_member ON acme_order (member_id, created_at);
CREATE INDEX acme_order_by_status_expiry ON acme_order (status, expires_at);

CREATE TABLE acme_authz (
  id         INTEGER PRIMARY KEY,
  public_id  TEXT    NOT NULL UNIQUE,
  account_id INTEGER NOT NULL REFERENCES acme_account (id),
  identifier TEXT    NOT NULL COLLATE NOCASE,   -- the DNS name without "*."
  wildcard   INTEGER NOT NULL CHECK (wildcard IN (0, 1)),
  status     TEXT    NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX acme_authz_for_reuse ON acme_authz (account_id, identifier, wildcard, status);
CREATE INDEX acme_authz_by_status_expiry ON acme_authz (status, expires_at);

CREATE TABLE acme_order_authz (
  order_id INTEGER NOT NULL REFERENCES acme_order (id),
  authz_id INTEGER NOT NULL REFERENCES acme_authz (id),
  position INTEGER NOT NULL,
  PRIMARY KEY (order_id, authz_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX acme_order_authz_by_authz ON acme_order_authz (authz_id);

-- error: the problem document of a failed validation; validation_record:
-- a JSON array of what was contacted (RFC 8555 8.2).
CREATE TABLE acme_challenge (
  id                INTEGER PRIMARY KEY,
  public_id         TEXT    NOT NULL UNIQUE,
  authz_id          INTEGER NOT NULL REFERENCES acme_authz (id),
  type              TEXT    NOT NULL CHECK (type IN ('http-01', 'dns-01', 'tls-alpn-01')),
  token             TEXT    NOT NULL,
  status            TEXT    NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
  validated_at      INTEGER,
  error             TEXT,
  validation_record TEXT,
  UNIQUE (authz_id, type),
  CHECK ((status = 'valid') = (validated_at IS NOT NULL))
) STRICT;

CREATE TABLE acme_nonce_used (
  nonce      TEXT    NOT NULL PRIMARY KEY,
  expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX acme_nonce_used_by_expiry ON acme_nonce_used (expires_at);
)sql";

// v4: ARI (RFC 9773 5): a new order that says "replaces" looks up whether
// another finalized order replaced that certificate already.
constexpr std::string_view v4 = R"sql(
CREATE INDEX acme_order_by_replaces ON acme_order (replaces) WHERE replaces IS NOT NULL;
)sql";

// v5: a challenge records since when it has been processing, so that one
// whose validation was lost with its daemon goes back to pending instead of
// holding its authorization (and every order reusing it) for a day. The
// index holds only processing challenges, so the sweep reads a few rows.
constexpr std::string_view v5 = R"sql(
ALTER TABLE acme_challenge ADD COLUMN processing_since INTEGER;
CREATE INDEX acme_challenge_processing ON acme_challenge (processing_since) WHERE status = 'processing';
)sql";

constexpr std::array<std::string_view, 5> migrations = {v1, v2, v3, v4, v5};

result<bool> has_version_table(connection& db) {
  auto st = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
  if (!st) return unexpected(st.error());
  return st->step();
}

// Ends the transaction opened by migrate() on every path that does not commit.
class rollback_unless_committed {
 public:
  explicit rollback_unless_committed(connection& db) : db_(db) {}
  rollback_unless_committed(const rollback_unless_committed&) = delete;
  rollback_unless_committed& operator=(const rollback_unless_committed&) = delete;
  ~rollback_unless_committed() {
    if (db_.in_transaction()) (void)db_.exec("ROLLBACK");
  }

 private:
  connection& db_;
};

result<void> apply(connection& db, int version) {
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return r;
  rollback_unless_committed guard(db);
  // Another process may have migrated while we waited for the lock.
  auto current = schema_version(db);
  if (!current) return unexpected(current.error());
  if (*current > version) return {};
  if (auto r = db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT"); !r) return r;
  const std::string sql(migrations[static_cast<std::size_t>(version)]);
  if (auto r = db.exec(sql.c_str()); !r) {
    auto e = r.error();
    e.message = fmt::format("schema migration {} -> {} failed: {}", version, version + 1, e.message);
    return unexpected(e);
  }
  if (auto r = db.exec("DELETE FROM schema_version"); !r) return r;
  auto insert = db.prepare("INSERT INTO schema_version (version) VALUES (?)");
  if (!insert) return unexpected(insert.error());
  if (auto r = insert->bind(1, std::int64_t{version + 1}).run(); !r) return r;
  return db.exec("COMMIT");
}

}  // namespace

std::span<const std::string_view> schema_migrations() { return migrations; }

int latest_schema_version() { return static_cast<int>(migrations.size()); }

result<int> schema_version(connection& db) {
  auto exists = has_version_table(db);
  if (!exists) return unexpected(exists.error());
  if (!*exists) return 0;
  auto st = db.prepare("SELECT max(version) FROM schema_version");
  if (!st) return unexpected(st.error());
  auto row = st->step();
  if (!row) return unexpected(row.error());
  if (!*row || st->is_null(0)) return 0;
  return static_cast<int>(st->int64(0));
}

result<void> migrate(connection& db, bool may_write) {
  auto current = schema_version(db);
  if (!current) return unexpected(current.error());
  const int latest = latest_schema_version();
  if (*current > latest) {
    return fail(errc::storage, "schema_version",
                fmt::format("the database at {} has schema version {}; this wotca knows up to {} (upgrade wotca)",
                            db.path(), *current, latest));
  }
  if (*current < latest && !may_write) {
    return fail(errc::storage, "schema_version",
                fmt::format("the database at {} has schema version {} and needs {}; open it once with write access "
                            "to upgrade it",
                            db.path(), *current, latest));
  }
  for (int v = *current; v < latest; ++v) {
    if (auto r = apply(db, v); !r) return r;
  }
  return {};
}

}  // namespace wotca::sqlite
