#include "core/util/random.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace wotca {

void system_random::fill(std::span<std::uint8_t> out) {
  if (out.empty()) return;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fputs("wotca: the system random generator failed; refusing to go on\n", stderr);
    std::abort();
  }
}

}  // namespace wotca
