#include "core/util/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace wotca {

namespace {

void from_openssl(std::span<std::uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fputs("wotca: the system random generator failed; refusing to go on\n", stderr);
    std::abort();
  }
}

// A fork's child must not hand out bytes its parent handed out too: every
// thread's pool is dropped in a child (OpenSSL reseeds its own DRBGs then).
std::atomic<unsigned> fork_generation{0};
const bool fork_hook_set = [] {
  return pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); }) == 0;
}();

// Each call to RAND_bytes runs a whole DRBG generate step (about 5 µs),
// whatever its size; a request handler asks for a few bytes a dozen times
// (nonces, object ids, tokens). Bytes are drawn in blocks per thread and
// handed out once each: the part handed out is wiped from the block.
constexpr std::size_t pool_bytes = 512;
constexpr std::size_t pooled_at_most = 64;  // larger requests go to OpenSSL directly

struct pool {
  std::array<std::uint8_t, pool_bytes> bytes{};
  std::size_t left = 0;  // the last `left` bytes are unused
  unsigned generation = 0;
  ~pool() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

}  // namespace

void system_random::fill(std::span<std::uint8_t> out) {
  if (out.empty()) return;
  if (out.size() > pooled_at_most || !fork_hook_set) {
    from_openssl(out);
    return;
  }
  thread_local pool p;
  const unsigned generation = fork_generation.load(std::memory_order_relaxed);
  if (p.generation != generation || p.left < out.size()) {
    from_openssl(p.bytes);
    p.left = p.bytes.size();
    p.generation = generation;
  }
  std::uint8_t* from = p.bytes.data() + (p.bytes.size() - p.left);
  std::copy_n(from, out.size(), out.data());
  OPENSSL_cleanse(from, out.size());
  p.left -= out.size();
}

}  // namespace wotca
