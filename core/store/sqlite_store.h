// The embedded store: one SQLite database file in WAL mode (ARCHITECTURE.md
// "Data"), implementing every repository of store.h over one connection.
//
// Threads: one sqlite_store is used by one thread at a time; a daemon opens
// one per thread. Each reads on a connection of its own; the writes of all
// stores of one file in a process take turns on one shared connection,
// whose page cache then stays warm (see shared_writer in sqlite_store.cpp). Several processes may open the same
// file: SQLite's locks serialise their writes, and a write that waits longer
// than the busy timeout fails with errc::busy.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include "core/store/group_commit.h"
#include "core/store/sqlite.h"
#include "core/store/store.h"

namespace wotca {

enum class open_mode {
  create,    // create the file (mode 0600) and its schema if missing
  existing,  // the file must exist (errc::not_found naming the path otherwise)
};

struct sqlite_options {
  // How long a statement waits for another connection's lock before the
  // call fails with errc::busy.
  std::chrono::milliseconds busy_timeout{5000};
  // Refuse every write on this connection (PRAGMA query_only): writes fail
  // with errc::storage. The database must already be at the current schema
  // version, since migrating it would write.
  bool read_only = false;
};

class sqlite_store final : public store {
 public:
  // Opens (or, with open_mode::create, creates) the database at `db_path`
  // and brings its schema to the current version. ":memory:" opens a
  // private in-memory database, for tests. Errors name the path:
  // errc::not_found (existing, but missing), errc::storage (cannot open,
  // not a database, schema newer than this build), errc::busy.
  [[nodiscard]] static result<std::unique_ptr<sqlite_store>> open(const std::filesystem::path& db_path,
                                                                  open_mode mode,
                                                                  const sqlite_options& options = {});

  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;
  ~sqlite_store() override = default;

  // Not re-entrant: calling write() or read() from inside `fn` on the same
  // store, or write() on another store of the same file, returns
  // errc::internal (waiting on our own lock would deadlock).
  // If `fn` throws, the transaction is rolled back and the exception passes.
  // The writes of this process to one file take turns on a mutex before
  // SQLite's lock, and a full write returns once its commit is on disk
  // through a log flush shared with the writes beside it (group_commit.h).
  [[nodiscard]] result<void> write(const std::function<result<void>(transaction&)>& fn) override;
  // relaxed: the commit is appended to the log without waiting for the disk
  // (the next full write's flush, of any writer, or a checkpoint makes it
  // durable).
  [[nodiscard]] result<void> write(const std::function<result<void>(transaction&)>& fn, durability d) override;
  // BEGIN (deferred) ... ROLLBACK: a repository call that would write
  // returns errc::internal.
  [[nodiscard]] result<void> read(const std::function<result<void>(transaction&)>& fn) override;

  // The schema version of the open database (== latest_schema_version()
  // once open() succeeded, unless another process migrated it since).
  [[nodiscard]] result<int> schema_version();
  [[nodiscard]] static int latest_schema_version();

 private:
  struct shared_writer;
  [[nodiscard]] static result<std::shared_ptr<shared_writer>> shared_writer_of(const std::filesystem::path& db_path,
                                                                               const sqlite_options& options);
  sqlite_store(sqlite::connection db, std::shared_ptr<shared_writer> writer, std::chrono::milliseconds busy_timeout)
      : db_(std::move(db)), writer_(std::move(writer)), busy_timeout_(busy_timeout) {}

  // Repositories and statements borrow db_; a sqlite_store lives behind a
  // unique_ptr and never moves, so the address they hold stays valid.
  sqlite::connection db_;
  // The connection and gate every write of this process to the file goes
  // through (in sqlite_store.cpp); null for ":memory:" and read-only
  // stores, whose writes (if any) use db_.
  std::shared_ptr<shared_writer> writer_;
  // This store's busy timeout, set on the shared connection for its writes.
  std::chrono::milliseconds busy_timeout_;
  bool in_transaction_ = false;
};

}  // namespace wotca
