#include "core/util/random.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

using namespace wotca;

namespace {

using block = std::array<std::uint8_t, 16>;

block draw(random_source& rng) {
  block b{};
  rng.fill(b);
  return b;
}

}  // namespace

TEST_CASE("system_random hands out no bytes twice, across refills of its per-thread block", "[random]") {
  system_random rng;
  std::set<block> seen;
  // 16-byte draws cross many 512-byte refills; sizes that do not divide the
  // block (7, 33) make draws straddle a refill.
  for (int i = 0; i < 2000; ++i) REQUIRE(seen.insert(draw(rng)).second);
  std::array<std::uint8_t, 7> odd{};
  std::array<std::uint8_t, 33> larger{};
  for (int i = 0; i < 200; ++i) {
    rng.fill(odd);
    rng.fill(larger);
    REQUIRE(seen.insert(draw(rng)).second);
  }
  // A request over the pooled size goes to OpenSSL whole, and is filled.
  std::vector<std::uint8_t> big(4096, 0);
  rng.fill(big);
  std::size_t zeros = 0;
  for (auto b : big) zeros += b == 0 ? 1 : 0;
  CHECK(zeros < 64);  // about 16 expected
}

TEST_CASE("system_random: the two threads draw different bytes", "[random]") {
  system_random rng;
  block mine = draw(rng);
  block theirs{};
  std::thread([&] { theirs = draw(rng); }).join();
  CHECK(mine != theirs);
}

TEST_CASE("system_random: a forked child does not repeat what its parent draws next", "[random]") {
  system_random rng;
  (void)draw(rng);  // the parent's block is filled and has bytes left
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    block b = draw(rng);
    const bool written = ::write(fds[1], b.data(), b.size()) == static_cast<ssize_t>(b.size());
    ::_exit(written ? 0 : 1);
  }
  ::close(fds[1]);
  block from_child{};
  const ssize_t n = ::read(fds[0], from_child.data(), from_child.size());
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(n == static_cast<ssize_t>(from_child.size()));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  // Without the fork hook the child would hand out the parent's next 16 bytes.
  CHECK(draw(rng) != from_child);
}
