// The one RAII layer over the SQLite C API (STYLE.md 9): a connection closes
// through a sqlite3_close_v2 deleter, a statement owns its sqlite3_stmt, and
// every value reaches SQL as a bound parameter, never as text formatted into
// the statement. Every SQLite failure becomes an `error` value (STYLE.md 5);
// SQLITE_BUSY is errc::busy, never a crash.
//
// Threads: a connection and its statements are used by one thread at a time.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/util/error.h"
#include "core/util/time.h"

namespace wotca::sqlite {

// Maps a (possibly extended) SQLite result code to our error; `db` may be
// null (then only the code's generic text is used). `path` is the database
// file, named in every storage message so an operator knows which disk or
// folder to look at.
//   SQLITE_BUSY, SQLITE_LOCKED             -> errc::busy
//   SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY -> errc::conflict, `where` = "table.column"
//   SQLITE_CONSTRAINT_FOREIGNKEY           -> errc::not_found (a referenced row is missing)
//   SQLITE_FULL                            -> errc::storage "the disk holding <path> is full"
//   anything else                          -> errc::storage naming the path and SQLite's message
[[nodiscard]] error to_error(sqlite3* db, int rc, std::string_view path);

struct connection_closer {
  // close_v2 rather than close: if a statement were still alive the handle
  // becomes a zombie that closes when the statement is finalized, instead
  // of failing with SQLITE_BUSY and leaking.
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using connection_handle = std::unique_ptr<sqlite3, connection_closer>;

class connection;

// One prepared statement. Bind with 1-based indexes, then step(); columns
// are 0-based and readable after step() returned true (a row). A statement
// borrows its connection, which must outlive it and must not move while it
// lives.
class statement {
 public:
  statement(statement&& other) noexcept;
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  // Binds return *this so calls chain; the first failure is kept and
  // returned by the next step(), so callers check once.
  statement& bind(int index, std::int64_t value);
  statement& bind(int index, std::string_view value);
  statement& bind(int index, std::span<const std::uint8_t> blob);  // an empty span binds an empty blob, not NULL
  statement& bind(int index, sys_seconds t);                       // INTEGER unix seconds (UTC)
  statement& bind_null(int index);
  template <class T>
  statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind_null(index);
  }

  // true: a row is ready; false: the statement has finished.
  [[nodiscard]] result<bool> step();
  // Steps to the end; for statements that return no rows.
  [[nodiscard]] result<void> run();

  [[nodiscard]] bool is_null(int column) const;
  [[nodiscard]] std::int64_t int64(int column) const;
  [[nodiscard]] std::string text(int column) const;
  [[nodiscard]] std::vector<std::uint8_t> blob(int column) const;
  [[nodiscard]] sys_seconds time(int column) const;
  [[nodiscard]] std::optional<sys_seconds> optional_time(int column) const;

 private:
  friend class connection;
  statement(sqlite3_stmt* stmt, const connection* conn, std::string sql)
      : stmt_(stmt), conn_(conn), sql_(std::move(sql)) {}
  void note(int rc);
  // Hands the statement back to its connection's cache (or finalizes it).
  void release() noexcept;

  sqlite3_stmt* stmt_ = nullptr;
  const connection* conn_ = nullptr;
  std::string sql_;  // the cache key
  std::optional<error> bind_error_;
};

class connection {
 public:
  // Opens `path` with sqlite3_open_v2 `flags` (SQLITE_OPEN_READWRITE, _CREATE,
  // ...) and turns on extended result codes so constraint failures can be
  // told apart. ":memory:" opens a private in-memory database.
  [[nodiscard]] static result<connection> open(const std::filesystem::path& path, int flags);

  // Runs SQL that binds nothing and whose rows are not wanted: transaction
  // control, PRAGMAs with constant values, the schema migrations.
  [[nodiscard]] result<void> exec(const char* sql);
  // Exactly one statement; more is a programming error (errc::internal).
  // Prepared statements are cached by their text and reused (reset, with
  // their bindings cleared) once the statement object is destroyed: parsing
  // SQL cost more than the work of most statements here.
  [[nodiscard]] result<statement> prepare(std::string_view sql) const;

  void set_busy_timeout(std::chrono::milliseconds timeout);

  [[nodiscard]] std::int64_t last_insert_rowid() const;
  [[nodiscard]] std::int64_t changes() const;  // rows changed by the last INSERT/UPDATE/DELETE
  [[nodiscard]] bool in_transaction() const;   // false when SQLite is in autocommit mode
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] sqlite3* handle() const { return db_.get(); }
  [[nodiscard]] error failure(int rc) const { return to_error(db_.get(), rc, path_); }

  // While set, step() refuses any statement that would write (errc::internal):
  // store::read() promises a read-only transaction, and a write inside it
  // would silently upgrade the lock instead.
  void refuse_writes(bool refuse) { refuse_writes_ = refuse; }
  [[nodiscard]] bool refusing_writes() const { return refuse_writes_; }

 private:
  connection(std::string path, connection_handle db) : path_(std::move(path)), db_(std::move(db)) {}

  friend class statement;
  void give_back(std::string sql, sqlite3_stmt* stmt) const noexcept;

  // Idle prepared statements by SQL text, owned. Declared after db_ so that
  // they are finalized before the connection closes.
  struct statement_cache {
    std::unordered_map<std::string, sqlite3_stmt*> idle;
    statement_cache() = default;
    statement_cache(statement_cache&& other) noexcept : idle(std::move(other.idle)) { other.idle.clear(); }
    statement_cache& operator=(statement_cache&&) = delete;
    statement_cache(const statement_cache&) = delete;
    statement_cache& operator=(const statement_cache&) = delete;
    ~statement_cache();
  };

  std::string path_;
  connection_handle db_;
  mutable statement_cache cache_;
  bool refuse_writes_ = false;
};

}  // namespace wotca::sqlite
