// What only the SQLite store has: a file, its mode, WAL, schema migrations,
// locks between processes, and the mapping of SQLite's result codes.
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/store/migrations.h"
#include "core/store/sqlite.h"
#include "core/store/sqlite_store.h"
#include "tests/unit/store/backends.h"

namespace wotca {
namespace {

using test::must;
using test::must_fail;
using test::temp_dir;

member someone(std::string email) {
  member m;
  m.name = "Alice Example";
  m.date_of_birth = std::chrono::year{1990} / 5 / 17;
  m.primary_email = std::move(email);
  return m;
}

result<void> add_member(store& s, const std::string& email) {
  return s.write([&](transaction& t) -> result<void> {
    auto id = t.members().add(someone(email));
    if (!id) return unexpected(id.error());
    return {};
  });
}

std::size_t member_count(store& s) {
  std::size_t n = 0;
  must(s.read([&](transaction& t) -> result<void> {
    n = must(t.members().list()).size();
    return {};
  }));
  return n;
}

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Changes a database behind the store's back, as a damaged or newer file would.
void tamper(const std::filesystem::path& db, const char* sql) {
  auto c = must(sqlite::connection::open(db, SQLITE_OPEN_READWRITE));
  must(c.exec(sql));
}

TEST_CASE("revocation reasons and statuses have RFC 5280 and command-line names", "[store]") {
  const std::pair<revocation_reason, std::string_view> rfc[] = {
      {revocation_reason::unspecified, "unspecified"},
      {revocation_reason::key_compromise, "keyCompromise"},
      {revocation_reason::ca_compromise, "cACompromise"},
      {revocation_reason::affiliation_changed, "affiliationChanged"},
      {revocation_reason::superseded, "superseded"},
      {revocation_reason::cessation_of_operation, "cessationOfOperation"},
      {revocation_reason::privilege_withdrawn, "privilegeWithdrawn"},
  };
  for (const auto& [reason, name] : rfc) {
    CHECK(to_string(reason) == name);
    CHECK(revocation_reason_from(name) == reason);
  }
  CHECK(revocation_reason_from("key-compromise") == revocation_reason::key_compromise);
  CHECK(revocation_reason_from("ca-compromise") == revocation_reason::ca_compromise);
  CHECK(revocation_reason_from("affiliation-changed") == revocation_reason::affiliation_changed);
  CHECK(revocation_reason_from("cessation-of-operation") == revocation_reason::cessation_of_operation);
  CHECK(revocation_reason_from("privilege-withdrawn") == revocation_reason::privilege_withdrawn);
  // certificateHold is never used (R-REVOKE-PUBLISH); removeFromCRL belongs to it.
  CHECK_FALSE(revocation_reason_from("certificateHold"));
  CHECK_FALSE(revocation_reason_from("removeFromCRL"));
  CHECK_FALSE(revocation_reason_from("KeyCompromise"));
  CHECK_FALSE(revocation_reason_from(""));

  for (auto s : {cert_status::reserved, cert_status::valid, cert_status::revoked}) {
    CHECK(cert_status_from(to_string(s)) == s);
  }
  CHECK(to_string(cert_status::valid) == "valid");
  CHECK_FALSE(cert_status_from("good"));
}

TEST_CASE("SQLite result codes become errors naming the database", "[store]") {
  const std::string path = "/srv/wotca/wotca.db";
  auto full = sqlite::to_error(nullptr, SQLITE_FULL, path);
  CHECK(full.code == errc::storage);
  CHECK(full.message == "the disk holding /srv/wotca/wotca.db is full");
  for (int rc : {SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT}) {
    CHECK(sqlite::to_error(nullptr, rc, path).code == errc::busy);
  }
  for (int rc : {SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_IOERR_WRITE, SQLITE_CORRUPT, SQLITE_NOTADB}) {
    auto e = sqlite::to_error(nullptr, rc, path);
    CHECK(e.code == errc::storage);
    CHECK_THAT(e.message, Catch::Contains(path));
  }
  CHECK(sqlite::to_error(nullptr, SQLITE_CONSTRAINT_UNIQUE, path).code == errc::conflict);
  CHECK(sqlite::to_error(nullptr, SQLITE_CONSTRAINT_PRIMARYKEY, path).code == errc::conflict);
  CHECK(sqlite::to_error(nullptr, SQLITE_CONSTRAINT_FOREIGNKEY, path).code == errc::not_found);
  CHECK(sqlite::to_error(nullptr, SQLITE_CONSTRAINT_CHECK, path).code == errc::storage);
}

TEST_CASE("a UNIQUE conflict names the table and column", "[store]") {
  auto c = must(sqlite::connection::open(":memory:", SQLITE_OPEN_READWRITE));
  must(c.exec("CREATE TABLE t (a TEXT UNIQUE, b TEXT, UNIQUE (b, a))"));
  auto insert = [&](std::string_view a, std::string_view b) {
    auto st = must(c.prepare("INSERT INTO t (a, b) VALUES (?, ?)"));
    return st.bind(1, a).bind(2, b).run();
  };
  must(insert("x", "y"));
  CHECK(must_fail(insert("x", "z"), errc::conflict).where == "t.a");
  CHECK(must_fail(c.prepare("SELECT 1; SELECT 2"), errc::internal).message.find("exactly one") != std::string::npos);
}

TEST_CASE("a new database file is private, in WAL mode, and at the latest schema", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  // Whatever the umask, the file must not be readable by others: it holds
  // names, dates of birth and email addresses.
  const mode_t saved = ::umask(0);
  auto s = sqlite_store::open(file, open_mode::create);
  ::umask(saved);
  REQUIRE(s);
  must(add_member(**s, "alice@example.org"));
  CHECK(mode_of(file) == 0600);
  REQUIRE(std::filesystem::exists(dir.path() / "wotca.db-wal"));  // WAL: the -wal file lives while the store is open
  CHECK(mode_of(dir.path() / "wotca.db-wal") == 0600);
  CHECK(must((*s)->schema_version()) == sqlite_store::latest_schema_version());
  CHECK(sqlite_store::latest_schema_version() == static_cast<int>(sqlite::schema_migrations().size()));
  CHECK(sqlite_store::latest_schema_version() >= 1);
}

TEST_CASE("reopening an existing database keeps its data and schema version", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  {
    auto s = must(sqlite_store::open(file, open_mode::create));
    must(add_member(*s, "alice@example.org"));
  }
  for (auto mode : {open_mode::existing, open_mode::create}) {
    auto s = must(sqlite_store::open(file, mode));
    CHECK(member_count(*s) == 1);
    CHECK(must(s->schema_version()) == sqlite_store::latest_schema_version());
  }
  // Migrating is idempotent: a second run over a current database changes nothing.
  auto c = must(sqlite::connection::open(file, SQLITE_OPEN_READWRITE));
  must(sqlite::migrate(c, true));
  CHECK(must(sqlite::schema_version(c)) == sqlite::latest_schema_version());
}

TEST_CASE("a database from a newer wotca is refused", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  { must(sqlite_store::open(file, open_mode::create)); }
  tamper(file, "UPDATE schema_version SET version = 99");
  auto e = must_fail(sqlite_store::open(file, open_mode::existing), errc::storage);
  CHECK(e.message == "the database at " + file.string() + " has schema version 99; this wotca knows up to " +
                         std::to_string(sqlite_store::latest_schema_version()) + " (upgrade wotca)");
}

TEST_CASE("opening a database that is not there names the path", "[store]") {
  temp_dir dir;
  const auto missing = dir.path() / "nowhere.db";
  auto e = must_fail(sqlite_store::open(missing, open_mode::existing), errc::not_found);
  CHECK_THAT(e.message, Catch::Contains(missing.string()));
  CHECK_FALSE(std::filesystem::exists(missing));

  const auto no_folder = dir.path() / "no-such-folder" / "wotca.db";
  e = must_fail(sqlite_store::open(no_folder, open_mode::create), errc::storage);
  CHECK_THAT(e.message, Catch::Contains(no_folder.string()));
}

TEST_CASE("a file that is not a database is refused, naming it", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("this is a configuration file, not a database, and it is long enough to have a header\n", f);
    std::fclose(f);
  }
  auto e = must_fail(sqlite_store::open(file, open_mode::existing), errc::storage);
  CHECK_THAT(e.message, Catch::Contains(file.string()));
}

TEST_CASE("a stored value this wotca cannot read is a corrupt row, not a guess", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  {
    auto s = must(sqlite_store::open(file, open_mode::create));
    must(s->write([&](transaction& t) -> result<void> {
      auto id = must(t.members().add(someone("alice@example.org")));
      certificate_record r;
      r.serial = "5f3a";
      r.member = id;
      return t.certificates().reserve(r);
    }));
  }
  tamper(file, "UPDATE certificate SET profile = 'timestamping'");
  auto s = must(sqlite_store::open(file, open_mode::existing));
  auto r = s->read([&](transaction& t) -> result<void> {
    auto c = t.certificates().find("5f3a");
    if (!c) return unexpected(c.error());
    return {};
  });
  auto e = must_fail(r, errc::storage);
  CHECK(e.where == "certificate.profile");
  CHECK_THAT(e.message, Catch::Contains("corrupt row") && Catch::Contains("timestamping"));
}

TEST_CASE("a read-only data folder makes writes fail with a storage error naming the database", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  {
    auto s = must(sqlite_store::open(file, open_mode::create));
    must(add_member(*s, "alice@example.org"));
  }

  if (::geteuid() == 0) {
    // root ignores permission bits, so chmod cannot make the folder
    // read-only here; the store's read_only option (PRAGMA query_only)
    // produces the same SQLITE_READONLY a read-only folder would.
    WARN("running as root, which ignores file permissions: simulating a read-only data folder with "
         "sqlite_options::read_only (PRAGMA query_only)");
    sqlite_options options;
    options.read_only = true;
    auto s = must(sqlite_store::open(file, open_mode::existing, options));
    CHECK(member_count(*s) == 1);
    auto e = must_fail(add_member(*s, "bob@example.org"), errc::storage);
    CHECK_THAT(e.message, Catch::Contains(file.string()));
    CHECK(member_count(*s) == 1);
  } else {
    std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    std::filesystem::permissions(file, std::filesystem::perms::owner_read);
    auto s = sqlite_store::open(file, open_mode::existing);
    if (!s) {
      auto e = must_fail(s, errc::storage);
      CHECK_THAT(e.message, Catch::Contains(file.string()));
    } else {
      auto e = must_fail(add_member(**s, "bob@example.org"), errc::storage);
      CHECK_THAT(e.message, Catch::Contains(file.string()));
    }
    std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all);
  }
}

TEST_CASE("read_only refuses a database that needs migrating", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  sqlite_options options;
  options.read_only = true;
  must_fail(sqlite_store::open(file, open_mode::create, options), errc::storage);
  { must(sqlite::connection::open(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)); }  // an empty database
  auto e = must_fail(sqlite_store::open(file, open_mode::existing, options), errc::storage);
  CHECK_THAT(e.message, Catch::Contains("schema version 0"));
}

// A connection of "another process": opened directly, so it shares none of
// this process's write_gate; it holds SQLite's write lock until it commits.
struct other_process {
  sqlite::connection db;
  explicit other_process(const std::filesystem::path& file)
      : db(must(sqlite::connection::open(file, SQLITE_OPEN_READWRITE))) {
    must(db.exec("BEGIN IMMEDIATE"));
    must(db.exec("INSERT INTO member (kind, name, date_of_birth, primary_email, cca_accepted_at, created_at, "
                 "locked, code_signing_enabled) VALUES ('person', 'Holder', '1990-05-17', 'holder@example.org', 0, 0, "
                 "0, 0)"));
  }
  void commit() { must(db.exec("COMMIT")); }
};

TEST_CASE("a write waits out the busy timeout, then fails with errc::busy", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  sqlite_options quick;
  quick.busy_timeout = std::chrono::milliseconds(100);
  auto mine = must(sqlite_store::open(file, open_mode::create, quick));
  other_process holder(file);

  const auto start = std::chrono::steady_clock::now();
  auto e = must_fail(add_member(*mine, "alice@example.org"), errc::busy);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= std::chrono::milliseconds(90));
  CHECK(waited < std::chrono::seconds(3));
  CHECK_THAT(e.message, Catch::Contains("locked by another process; try again"));
  // WAL: readers are not blocked by the writer, and see the last commit.
  CHECK(member_count(*mine) == 0);
  holder.commit();

  // The failed write left no transaction open behind it.
  must(add_member(*mine, "alice@example.org"));
  CHECK(member_count(*mine) == 2);
}

TEST_CASE("a relaxed write commits, rolls back and nests like a full one", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  auto mine = must(sqlite_store::open(file, open_mode::create));
  auto other = must(sqlite_store::open(file, open_mode::existing));
  auto add_relaxed = [&](store& s, const std::string& email) {
    return s.write(
        [&](transaction& t) -> result<void> {
          auto id = t.members().add(someone(email));
          if (!id) return unexpected(id.error());
          return {};
        },
        durability::relaxed);
  };

  must(add_relaxed(*mine, "alice@example.org"));
  CHECK(member_count(*other) == 1);  // committed, seen by another connection

  // An error rolls back, and a conflict is reported as one.
  auto e = must_fail(add_relaxed(*mine, "alice@example.org"), errc::conflict);
  CHECK_THAT(e.message, Catch::Contains("alice@example.org"));
  must_fail(mine->write(
                [&](transaction& t) -> result<void> {
                  must(t.members().add(someone("bob@example.org")));
                  return fail(errc::denied, "test", "changed my mind");
                },
                durability::relaxed),
            errc::denied);
  CHECK(member_count(*other) == 1);

  // Nested in a transaction of the same store it is refused, not waited on.
  must(mine->write([&](transaction&) -> result<void> {
    must_fail(add_relaxed(*mine, "carol@example.org"), errc::internal);
    return {};
  }));

  // Full and relaxed writes alternate on one connection and on two.
  for (int i = 0; i < 5; ++i) {
    must(add_relaxed(*mine, "r" + std::to_string(i) + "@example.org"));
    must(add_member(*other, "f" + std::to_string(i) + "@example.org"));
    must(add_member(*mine, "m" + std::to_string(i) + "@example.org"));
  }
  mine.reset();
  other.reset();
  // A crash of the program keeps relaxed commits: they are in the WAL.
  auto reopened = must(sqlite_store::open(file, open_mode::existing));
  CHECK(member_count(*reopened) == 16);
}

TEST_CASE("each store's writes wait out its own busy timeout, on the connection the process shares", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  sqlite_options patient;
  patient.busy_timeout = std::chrono::milliseconds(2000);
  sqlite_options quick;
  quick.busy_timeout = std::chrono::milliseconds(100);
  auto first = must(sqlite_store::open(file, open_mode::create, patient));  // opens the shared writer
  auto second = must(sqlite_store::open(file, open_mode::existing, quick));
  other_process holder(file);
  auto waited_for = [](sqlite_store& s) {
    const auto start = std::chrono::steady_clock::now();
    must_fail(add_member(s, "alice@example.org"), errc::busy);
    return std::chrono::steady_clock::now() - start;
  };
  const auto short_wait = waited_for(*second);
  CHECK(short_wait >= std::chrono::milliseconds(90));
  CHECK(short_wait < std::chrono::milliseconds(1500));
  CHECK(waited_for(*first) >= std::chrono::milliseconds(1900));
  CHECK(waited_for(*second) < std::chrono::milliseconds(1500));
  holder.commit();
  must(add_member(*second, "alice@example.org"));
  CHECK(member_count(*first) == 2);
}

TEST_CASE("a relaxed write waits out the busy timeout like a full one, and the store goes on", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  sqlite_options quick;
  quick.busy_timeout = std::chrono::milliseconds(100);
  auto mine = must(sqlite_store::open(file, open_mode::create, quick));
  {
    other_process holder(file);
    must_fail(mine->write([](transaction&) -> result<void> { return {}; }, durability::relaxed), errc::busy);
    holder.commit();
  }
  must(add_member(*mine, "alice@example.org"));
  CHECK(member_count(*mine) == 2);
}

TEST_CASE("a write inside a write to the same file on another connection is refused, not waited on",
          "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  auto mine = must(sqlite_store::open(file, open_mode::create));
  auto other = must(sqlite_store::open(file, open_mode::existing));
  must(mine->write([&](transaction& t) -> result<void> {
    must(t.members().add(someone("alice@example.org")));
    auto e = must_fail(add_member(*other, "bob@example.org"), errc::internal);
    CHECK_THAT(e.message, Catch::Contains("wait on its own lock"));
    must_fail(other->write([](transaction&) -> result<void> { return {}; }, durability::relaxed), errc::internal);
    return {};
  }));
  // Reads are fine, and writes once the first one is over.
  must(add_member(*other, "bob@example.org"));
  CHECK(member_count(*mine) == 2);
}

TEST_CASE("a write to another file inside a write leaves the nested-write check of the first in place",
          "[store]") {
  temp_dir dir;
  auto mine = must(sqlite_store::open(dir.path() / "a.db", open_mode::create));
  auto other = must(sqlite_store::open(dir.path() / "a.db", open_mode::existing));
  auto elsewhere = must(sqlite_store::open(dir.path() / "b.db", open_mode::create));
  must(mine->write([&](transaction&) -> result<void> {
    must(add_member(*elsewhere, "carol@example.org"));  // another file: its own gate, no wait
    must_fail(add_member(*other, "bob@example.org"), errc::internal);
    return {};
  }));
  CHECK(member_count(*elsewhere) == 1);
}

TEST_CASE("the writers of one process share the log flushes of their commits", "[store]") {
  temp_dir dir;
  const auto file = dir.path() / "wotca.db";
  auto first = must(sqlite_store::open(file, open_mode::create));
  const auto gate = write_gate::of(file);
  // Every store on the file, however its path is spelled, has the same gate.
  CHECK(write_gate::of(dir.path() / "." / "wotca.db") == gate);
  const auto flushes_before = gate->flushes();

  constexpr int threads = 6;
  constexpr int writes = 25;
  std::vector<std::thread> running;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&, t] {
      auto s = sqlite_store::open(file, open_mode::existing);
      if (!s) {
        ++failures;
        return;
      }
      for (int i = 0; i < writes; ++i) {
        const auto email = "t" + std::to_string(t) + "-" + std::to_string(i) + "@example.org";
        if (!add_member(**s, email)) ++failures;
      }
    });
  }
  for (auto& r : running) r.join();
  CHECK(failures == 0);
  CHECK(member_count(*first) == threads * writes);
  // Each full write waited for a flush; one flush may have served several.
  const auto flushes = gate->flushes() - flushes_before;
  CHECK(flushes >= 1);
  CHECK(flushes <= static_cast<std::uint64_t>(threads * writes));
  // A relaxed write does not flush.
  const auto before_relaxed = gate->flushes();
  must(first->write(
      [&](transaction& t) -> result<void> {
        must(t.members().add(someone("relaxed@example.org")));
        return {};
      },
      durability::relaxed));
  CHECK(gate->flushes() == before_relaxed);
  first.reset();
  auto reopened = must(sqlite_store::open(file, open_mode::existing));
  CHECK(member_count(*reopened) == threads * writes + 1);
}

}  // namespace
}  // namespace wotca
