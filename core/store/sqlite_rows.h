// Reading and writing rows, for the SQLite repositories (sqlite_store.cpp,
// sqlite_acme.cpp): column values the program cannot read become a
// "corrupt row" error naming the column, lists of short tokens share one
// TEXT column, and statements are stepped into values. Internal to
// core/store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/store/sqlite.h"
#include "core/util/error.h"

namespace wotca::sqlite {

// A LIMIT bound: std::size_t values beyond int64 mean "all".
inline std::int64_t row_limit(std::size_t limit) {
  constexpr auto most = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(limit < most ? limit : most);
}

inline error corrupt(std::string_view column, std::string_view row, std::string_view value) {
  return {errc::storage, std::string(column),
          fmt::format("corrupt row: {} of {} is '{}', which this wotca cannot read", column, row, value)};
}

template <class E, class Parse>
result<E> enum_column(const statement& st, int col, std::string_view column, std::string_view row, Parse parse) {
  auto text = st.text(col);
  if (auto v = parse(text)) return *v;
  return unexpected(corrupt(column, row, text));
}

inline std::optional<std::string> optional_text(const statement& st, int col) {
  if (st.is_null(col)) return std::nullopt;
  return st.text(col);
}

// Lists of short tokens (SANs, document names, contact URLs) share one TEXT
// column, newline-separated; an item that is empty or holds a newline could
// not be told apart on reading, so it is refused.
inline result<std::string> join_lines(const std::vector<std::string>& items, std::string_view field) {
  std::string out;
  for (const auto& item : items) {
    if (item.empty() || item.find('\n') != std::string::npos) {
      return fail(errc::invalid_input, std::string(field),
                  fmt::format("'{}' cannot be stored: items must be non-empty and hold no line break", item));
    }
    if (!out.empty()) out += '\n';
    out += item;
  }
  return out;
}

inline std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto end = text.find('\n');
    out.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

// A generic UNIQUE conflict, reported as the rule or field it breaks.
template <class T>
result<T> on_conflict(result<T> r, std::string_view where, const std::string& message) {
  if (!r && r.error().code == errc::conflict) return fail(errc::conflict, std::string(where), message);
  return r;
}

template <class T, class Read>
result<std::optional<T>> query_one(statement& st, Read read) {
  auto row = st.step();
  if (!row) return unexpected(row.error());
  if (!*row) return std::optional<T>();
  auto value = read(st);
  if (!value) return unexpected(value.error());
  return std::optional<T>(std::move(*value));
}

template <class T, class Read>
result<std::vector<T>> query_all(statement& st, Read read) {
  std::vector<T> out;
  for (;;) {
    auto row = st.step();
    if (!row) return unexpected(row.error());
    if (!*row) return out;
    auto value = read(st);
    if (!value) return unexpected(value.error());
    out.push_back(std::move(*value));
  }
}

// An UPDATE or DELETE that matched no row means the object is absent.
inline result<void> run_on_one(connection& db, statement& st, std::string_view where, const std::string& missing) {
  if (auto r = st.run(); !r) return r;
  if (db.changes() == 0) return fail(errc::not_found, std::string(where), missing);
  return {};
}

}  // namespace wotca::sqlite
