// write_gate as a value: a flush that counts and takes its time stands for
// the disk, so the grouping and the guarantee can be seen.
#include "core/store/group_commit.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace wotca {
namespace {

TEST_CASE("make_durable returns only after a flush that started after the call, and flushes are shared",
          "[store][group_commit]") {
  std::atomic<int> started{0};
  std::atomic<int> completed{0};
  write_gate gate([&]() -> result<void> {
    ++started;
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    ++completed;
    return {};
  });
  constexpr int threads = 8;
  constexpr int calls = 20;
  std::atomic<int> broken{0};
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&] {
      for (int i = 0; i < calls; ++i) {
        // A flush that was already running when the call came may not cover
        // it: at least one more must have completed by the time it returns.
        const int started_before = started.load();
        if (!gate.make_durable()) ++broken;
        if (completed.load() < started_before + 1) ++broken;
      }
    });
  }
  for (auto& r : running) r.join();
  CHECK(broken == 0);
  CHECK(gate.flushes() == static_cast<std::uint64_t>(started.load()));
  // Eight writers that each wait 3 ms for the disk share flushes: far fewer
  // flushes than calls (one per call would be 160).
  CHECK(gate.flushes() < static_cast<std::uint64_t>(threads * calls) / 2);
}

TEST_CASE("a lone caller gets a flush of its own", "[store][group_commit]") {
  int flushed = 0;
  write_gate gate([&]() -> result<void> {
    ++flushed;
    return {};
  });
  CHECK(gate.make_durable().has_value());
  CHECK(gate.make_durable().has_value());
  CHECK(flushed == 2);
  CHECK(gate.flushes() == 2);
}

TEST_CASE("after a failed flush every call fails, naming the cause", "[store][group_commit]") {
  bool fail_next = false;
  int flushed = 0;
  write_gate gate([&]() -> result<void> {
    ++flushed;
    if (fail_next) return fail(errc::storage, "database", "the disk did not confirm the write-ahead log");
    return {};
  });
  CHECK(gate.make_durable().has_value());
  fail_next = true;
  auto e = gate.make_durable();
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().code == errc::storage);
  fail_next = false;
  // The kernel may have dropped the pages it could not write: nothing since
  // can be promised either, so no further flush is even tried.
  auto later = gate.make_durable();
  REQUIRE_FALSE(later.has_value());
  CHECK(later.error().message == e.error().message);
  CHECK(flushed == 2);
}

}  // namespace
}  // namespace wotca
