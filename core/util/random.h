// Randomness as an injected value (STYLE.md 2).
#pragma once

#include <cstdint>
#include <span>

namespace wotca {

class random_source {
 public:
  virtual ~random_source() = default;
  // Fills `out` completely; aborts the process if the system CSPRNG fails
  // (there is no safe way to go on issuing without it).
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

// OpenSSL's RAND_bytes (the system CSPRNG behind OpenSSL's DRBG). Small
// requests are served from a per-thread block of its output, each byte
// once; a forked child draws a new block.
class system_random final : public random_source {
 public:
  void fill(std::span<std::uint8_t> out) override;
};

}  // namespace wotca
