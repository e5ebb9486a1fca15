// Group commit for the writers of one SQLite database file within a process.
//
// A commit that waits for the disk (synchronous = FULL) holds SQLite's write
// lock through its fdatasync, so a daemon's writers queue behind one disk
// flush each: at a few hundred flushes a second that is the whole write
// rate, however many cores there are. Instead every connection commits with
// synchronous = NORMAL (in WAL mode: append to the log, no flush) and a
// commit that must survive a power loss then calls make_durable(), which
// flushes the log after the write lock is released. A flush covers every
// commit appended before it started, so the writers that wait together
// share one flush, and none of them holds the lock meanwhile. The guarantee
// per commit is unchanged: the write call returns only once the commit is
// on disk.
//
// The same object serialises this process's writers (writers()) before
// SQLite's own lock: a waiting thread wakes as soon as the writer before it
// commits, where SQLite's busy handler would poll with sleeps of 1 to 100
// ms. Writers in other processes (the CLI, replicas) still meet at SQLite's
// lock with its busy timeout.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/util/error.h"

namespace wotca {

// The key under which a process shares what belongs to one database file
// (its gate, its writer connection): the absolute, normalised path.
[[nodiscard]] std::string database_key(const std::filesystem::path& db_path);

// One T per database file in this process, shared while anyone holds it:
// the one alive for `db_path` (however the path is spelled), else what
// make(key) returns, which is then remembered. Entries of files whose T
// has gone are forgotten as new ones are made (tests open many files).
template <class T>
class per_database {
 public:
  template <class Make>  // result<std::shared_ptr<T>>(const std::string& key)
  [[nodiscard]] static result<std::shared_ptr<T>> get(const std::filesystem::path& db_path, Make&& make) {
    const std::string key = database_key(db_path);
    static std::mutex registry_mutex;
    static std::map<std::string, std::weak_ptr<T>> registry;
    std::lock_guard lock(registry_mutex);
    if (auto existing = registry[key].lock()) return existing;
    std::erase_if(registry, [](const auto& entry) { return entry.second.expired(); });
    result<std::shared_ptr<T>> made = make(key);
    if (made) registry[key] = *made;
    return made;
  }
};

class write_gate {
 public:
  using flush_fn = std::function<result<void>()>;

  // The gate of the database file at `db_path`, shared by every store of
  // this process opened on it (by absolute path); its flush is an
  // fdatasync of the file's write-ahead log ("<db_path>-wal").
  [[nodiscard]] static std::shared_ptr<write_gate> of(const std::filesystem::path& db_path);

  // A gate with its own flush, for tests.
  explicit write_gate(flush_fn flush) : flush_(std::move(flush)) {}
  write_gate(const write_gate&) = delete;
  write_gate& operator=(const write_gate&) = delete;

  // Held by a writer of this process from BEGIN IMMEDIATE to COMMIT.
  [[nodiscard]] std::mutex& writers() { return writers_; }

  // Returns once every transaction this process committed to the database
  // before the call is on disk: it joins a flush that starts after the call,
  // starting one if none is running. After a flush has failed every call
  // fails (errc::storage): once the kernel has reported a lost write back,
  // nothing written since can be trusted to be on disk, and the daemon must
  // be restarted after the disk has been looked at.
  [[nodiscard]] result<void> make_durable();

  // Flushes made so far (each covering one or more commits).
  [[nodiscard]] std::uint64_t flushes() const;

 private:
  flush_fn flush_;
  std::mutex writers_;
  mutable std::mutex mutex_;
  std::condition_variable flushed_;
  std::uint64_t requested_ = 0;  // calls of make_durable so far
  std::uint64_t durable_ = 0;    // every call up to this one is on disk
  bool flushing_ = false;
  std::uint64_t flushes_ = 0;
  std::optional<error> failure_;
};

}  // namespace wotca
