#include "core/store/sqlite.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <utility>

namespace wotca::sqlite {

namespace {

constexpr std::string_view where_database = "database";

// "UNIQUE constraint failed: email.address" -> "email.address"; for a
// composite key SQLite lists every column, comma-separated.
std::string constrained_columns(std::string_view message) {
  constexpr std::string_view marker = "failed: ";
  auto at = message.find(marker);
  if (at == std::string_view::npos) return std::string(where_database);
  return std::string(message.substr(at + marker.size()));
}

bool only_blanks(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

error to_error(sqlite3* db, int rc, std::string_view path) {
  const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {errc::busy, std::string(where_database),
              fmt::format("the database {} is locked by another process; try again", path)};
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        auto columns = constrained_columns(message);
        return {errc::conflict, columns, fmt::format("a row with this {} exists already", columns)};
      }
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return {errc::not_found, std::string(where_database),
                "a row this one refers to does not exist (" + message + ")"};
      }
      // CHECK and NOT NULL guard values our own code produces: failing one
      // means a bug or a schema we do not expect.
      return {errc::storage, std::string(where_database),
              fmt::format("the database {} refused a row: {}", path, message)};
    case SQLITE_FULL:
      return {errc::storage, std::string(where_database), fmt::format("the disk holding {} is full", path)};
    case SQLITE_READONLY:
      return {errc::storage, std::string(where_database),
              fmt::format("the database {} cannot be written (check the permissions of the file and its folder): {}",
                          path, message)};
    case SQLITE_CANTOPEN:
      return {errc::storage, std::string(where_database),
              fmt::format("the database {} cannot be opened (check that the folder exists and is writable): {}",
                          path, message)};
    case SQLITE_IOERR:
      return {errc::storage, std::string(where_database),
              fmt::format("reading or writing the database {} failed: {}", path, message)};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return {errc::storage, std::string(where_database),
              fmt::format("the database {} is damaged or not a wotca database: {}", path, message)};
    default:
      return {errc::storage, std::string(where_database),
              fmt::format("the database {} failed: {} (SQLite code {})", path, message, rc)};
  }
}

// --- statement ---------------------------------------------------------------

statement::statement(statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      conn_(other.conn_),
      sql_(std::move(other.sql_)),
      bind_error_(std::move(other.bind_error_)) {}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    release();
    stmt_ = std::exchange(other.stmt_, nullptr);
    conn_ = other.conn_;
    sql_ = std::move(other.sql_);
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

statement::~statement() { release(); }

void statement::release() noexcept {
  sqlite3_stmt* s = std::exchange(stmt_, nullptr);
  if (s == nullptr) return;
  if (conn_ != nullptr && !sql_.empty()) {
    conn_->give_back(std::move(sql_), s);
  } else {
    sqlite3_finalize(s);
  }
}

connection::statement_cache::~statement_cache() {
  for (auto& entry : idle) sqlite3_finalize(entry.second);
}

void connection::give_back(std::string sql, sqlite3_stmt* stmt) const noexcept {
  // reset() reports the last step's error again; that was handled by step().
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  try {
    if (cache_.idle.emplace(std::move(sql), stmt).second) return;
  } catch (...) {
    // Out of memory: not caching is always correct.
  }
  sqlite3_finalize(stmt);  // another one with the same text is cached already
}

void statement::note(int rc) {
  if (rc != SQLITE_OK && !bind_error_) bind_error_ = conn_->failure(rc);
}

statement& statement::bind(int index, std::int64_t value) {
  note(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

statement& statement::bind(int index, std::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies, so the caller's buffer need not outlive step().
  note(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

statement& statement::bind(int index, std::span<const std::uint8_t> blob) {
  // A null pointer would bind SQL NULL; an empty vector's data() may be null.
  static const std::uint8_t empty = 0;
  const void* data = blob.empty() ? &empty : blob.data();
  note(sqlite3_bind_blob64(stmt_, index, data, blob.size(), SQLITE_TRANSIENT));
  return *this;
}

statement& statement::bind(int index, sys_seconds t) {
  return bind(index, static_cast<std::int64_t>(t.time_since_epoch().count()));
}

statement& statement::bind_null(int index) {
  note(sqlite3_bind_null(stmt_, index));
  return *this;
}

result<bool> statement::step() {
  if (bind_error_) return unexpected(*bind_error_);
  if (conn_->refusing_writes() && sqlite3_stmt_readonly(stmt_) == 0) {
    return fail(errc::internal, "store",
                "a write was attempted inside store::read(); writes belong in store::write()");
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return unexpected(conn_->failure(rc));
}

result<void> statement::run() {
  for (;;) {
    auto r = step();
    if (!r) return unexpected(r.error());
    if (!*r) return {};
  }
}

bool statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::int64_t statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string statement::text(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  // column_bytes after column_text: the documented order that gives the UTF-8 length.
  const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
  return p == nullptr ? std::string() : std::string(p, n);
}

std::vector<std::uint8_t> statement::blob(int column) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
  const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
  return p == nullptr ? std::vector<std::uint8_t>() : std::vector<std::uint8_t>(p, p + n);
}

sys_seconds statement::time(int column) const { return sys_seconds{std::chrono::seconds{int64(column)}}; }

std::optional<sys_seconds> statement::optional_time(int column) const {
  if (is_null(column)) return std::nullopt;
  return time(column);
}

// --- connection --------------------------------------------------------------

result<connection> connection::open(const std::filesystem::path& path, int flags) {
  // SQLite counts every allocation under one process-wide mutex unless told
  // not to, which the request threads of a daemon then queue on. Only
  // possible before the library initialises, i.e. before the first open;
  // if something else initialised it first, the statistics stay on.
  static std::once_flag configured;
  std::call_once(configured, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* raw = nullptr;
  const std::string name = path.string();
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  // sqlite3_open_v2 hands out a handle even on failure; own it at once so it
  // is closed on every path.
  connection_handle db(raw);
  if (rc != SQLITE_OK) return unexpected(to_error(db.get(), rc, name));
  sqlite3_extended_result_codes(db.get(), 1);
  return connection(name, std::move(db));
}

result<void> connection::exec(const char* sql) {
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return unexpected(failure(rc));
  return {};
}

result<statement> connection::prepare(std::string_view sql) const {
  if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return fail(errc::internal, "store", "an SQL statement is too long");
  }
  if (auto idle = cache_.idle.find(std::string(sql)); idle != cache_.idle.end()) {
    auto node = cache_.idle.extract(idle);  // checked out until the statement is destroyed
    return statement(node.mapped(), this, std::move(node.key()));
  }
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                    &raw, &tail);
  statement st(raw, this, std::string(sql));
  if (rc != SQLITE_OK) return unexpected(failure(rc));
  if (raw == nullptr || !only_blanks(std::string_view(tail, sql.data() + sql.size() - tail))) {
    return fail(errc::internal, "store", "prepare() takes exactly one SQL statement: " + std::string(sql));
  }
  return st;
}

void connection::set_busy_timeout(std::chrono::milliseconds timeout) {
  const auto ms = std::min<std::chrono::milliseconds::rep>(timeout.count(), std::numeric_limits<int>::max());
  sqlite3_busy_timeout(db_.get(), static_cast<int>(ms));
}

std::int64_t connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_.get()); }

std::int64_t connection::changes() const { return sqlite3_changes64(db_.get()); }

bool connection::in_transaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }

}  // namespace wotca::sqlite
