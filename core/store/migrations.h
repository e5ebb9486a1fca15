// The database schema as an ordered list of migrations. Migration i takes a
// database from schema version i to i + 1; version 0 is an empty file. A
// migration, once released, is never edited: a change is a new migration.
#pragma once

#include <span>
#include <string_view>

#include "core/store/sqlite.h"
#include "core/util/error.h"

namespace wotca::sqlite {

[[nodiscard]] std::span<const std::string_view> schema_migrations();

// The number of migrations this build knows (the version it migrates to).
[[nodiscard]] int latest_schema_version();

// The version recorded in `db` (0 for a database without a schema_version table).
[[nodiscard]] result<int> schema_version(connection& db);

// Brings `db` to latest_schema_version(), each migration in its own
// IMMEDIATE transaction, so two processes opening one new database at once
// apply each migration exactly once. Refuses (errc::storage) a database
// whose version is newer than this build knows, and, when `may_write` is
// false, one that would need migrating. On failure the database stays at
// the last version that was fully applied.
[[nodiscard]] result<void> migrate(connection& db, bool may_write);

}  // namespace wotca::sqlite
