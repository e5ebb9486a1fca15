// Backend fixtures for the one store suite (STYLE.md 3). Each fixture makes a
// fresh, empty store; store_test.cpp runs every case against each of them.
// A PostgreSQL backend joins by adding one fixture type here and to the
// WOTCA_STORE_BACKENDS list.
#pragma once

#include <catch2/catch.hpp>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "core/store/sqlite_store.h"
#include "core/store/store.h"

namespace Catch {
template <>
struct StringMaker<wotca::errc> {
  static std::string convert(wotca::errc c) { return std::string(wotca::to_string(c)); }
};
}  // namespace Catch

namespace wotca::test {

// The value of `r`, failing the test with the error's sentence otherwise.
template <class T>
T must(result<T> r) {
  if (!r) FAIL(describe(r.error()));
  return std::move(*r);
}
inline void must(result<void> r) {
  if (!r) FAIL(describe(r.error()));
}

// The error of `r`, which must have failed with `code`.
template <class T>
error must_fail(const result<T>& r, errc code) {
  REQUIRE_FALSE(r.has_value());
  INFO(describe(r.error()));
  CHECK(r.error().code == code);
  return r.error();
}

// A fresh private folder, removed with its contents at the end.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "wotca-store-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) FAIL("mkdtemp failed for " << pattern);
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    // A test may have made the folder read-only.
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct sqlite_memory_backend {
  static constexpr const char* name = "sqlite :memory:";
  sqlite_memory_backend() : store_(must(sqlite_store::open(":memory:", open_mode::create))) {}
  store& db() { return *store_; }
  // Every ":memory:" connection is a database of its own: there is no second
  // connection to the same data.
  std::unique_ptr<store> another() { return nullptr; }

 private:
  std::unique_ptr<sqlite_store> store_;
};

struct sqlite_file_backend {
  static constexpr const char* name = "sqlite file (WAL)";
  sqlite_file_backend() : store_(must(sqlite_store::open(file(), open_mode::create))) {}
  store& db() { return *store_; }
  std::unique_ptr<store> another() { return must(sqlite_store::open(file(), open_mode::existing)); }

 private:
  std::filesystem::path file() const { return dir_.path() / "wotca.db"; }

  // dir_ first: the store's file lives in it and must go after the store closes.
  temp_dir dir_;
  std::unique_ptr<sqlite_store> store_;
};

#define WOTCA_STORE_BACKENDS wotca::test::sqlite_memory_backend, wotca::test::sqlite_file_backend

}  // namespace wotca::test
