#include "core/store/group_commit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>

#include <fmt/format.h>

namespace wotca {

namespace {

// fdatasync of the write-ahead log. fsync and fdatasync act on the file, not
// on the descriptor: this flushes what SQLite's connections wrote through
// theirs. The log is opened anew for each flush, so a log that SQLite
// removed and made again is still the one flushed. No log means nothing to
// flush: SQLite checkpoints it into the database, and flushes that, before
// it removes the log.
result<void> flush_log(const std::string& wal) {
  const int fd = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    return fail(errc::storage, "database",
                fmt::format("cannot open the write-ahead log {} to flush it: {}", wal, std::strerror(errno)));
  }
  int rc = 0;
  do {
    rc = ::fdatasync(fd);
  } while (rc != 0 && errno == EINTR);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) {
    return fail(errc::storage, "database",
                fmt::format("the disk did not confirm the write-ahead log {} (fdatasync: {}); the last changes may "
                            "not be on disk: check the disk and restart the daemon",
                            wal, std::strerror(saved)));
  }
  return {};
}

}  // namespace

std::string database_key(const std::filesystem::path& db_path) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(db_path, ec);
  return (ec ? db_path : absolute.lexically_normal()).string();
}

std::shared_ptr<write_gate> write_gate::of(const std::filesystem::path& db_path) {
  // Making a gate cannot fail.
  return *per_database<write_gate>::get(db_path, [](const std::string& key) -> result<std::shared_ptr<write_gate>> {
    return std::make_shared<write_gate>([wal = key + "-wal"] { return flush_log(wal); });
  });
}

result<void> write_gate::make_durable() {
  std::unique_lock lock(mutex_);
  const std::uint64_t ticket = ++requested_;
  for (;;) {
    if (failure_) return unexpected(*failure_);
    if (durable_ >= ticket) return {};
    if (!flushing_) {
      // Every call up to `covered` returned from its COMMIT before this
      // flush starts, so the flush covers it.
      flushing_ = true;
      const std::uint64_t covered = requested_;
      lock.unlock();
      auto r = flush_();
      lock.lock();
      flushing_ = false;
      ++flushes_;
      if (r) {
        durable_ = std::max(durable_, covered);
      } else {
        failure_ = r.error();
      }
      flushed_.notify_all();
      continue;
    }
    flushed_.wait(lock);
  }
}

std::uint64_t write_gate::flushes() const {
  std::lock_guard lock(mutex_);
  return flushes_;
}

}  // namespace wotca
