// acme/nonce.h: nonces minted by one codec are fresh at any codec with the
// same key until their lifetime ends; anything else is malformed, forged or
// stale, each for its own reason.
#include "acme/nonce.h"

#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/util/encoding.h"

namespace {

using namespace wotca;
using namespace wotca::acme;
using namespace std::chrono_literals;

// Deterministic bytes, so that a test can mint the same nonce twice.
class counting_random final : public random_source {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = next_++;
  }

 private:
  std::uint8_t next_ = 1;
};

std::array<std::uint8_t, 32> key_of(std::uint8_t v) {
  std::array<std::uint8_t, 32> k{};
  k.fill(v);
  return k;
}

const sys_seconds t0{std::chrono::seconds{1'700'000'000}};

}  // namespace

TEST_CASE("a minted nonce is fresh here and at every replica with the key", "[acme][nonce]") {
  nonce_codec codec(key_of(7), 3600s);
  nonce_codec replica(key_of(7), 3600s);
  system_random rng;
  auto n = codec.mint(t0, rng);
  CHECK(n.size() == 54);
  CHECK(base64url_decode(n).has_value());
  CHECK(codec.check(n, t0) == nonce_check::fresh);
  CHECK(replica.check(n, t0 + 10s) == nonce_check::fresh);
  // check() does not record use: refusing a replay is the store's job, so
  // the same value still checks fresh (service tests cover the replay).
  CHECK(codec.check(n, t0 + 1s) == nonce_check::fresh);
  CHECK(codec.lifetime() == 3600s);
}

TEST_CASE("nonces are distinct", "[acme][nonce]") {
  nonce_codec codec(key_of(7), 3600s);
  system_random rng;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(codec.mint(t0, rng));
  CHECK(seen.size() == 1000);
}

TEST_CASE("any flipped bit makes a nonce forged", "[acme][nonce]") {
  nonce_codec codec(key_of(7), 3600s);
  counting_random rng;
  auto n = codec.mint(t0, rng);
  auto raw = *base64url_decode(n);
  REQUIRE(raw.size() == 40);
  for (std::size_t byte = 0; byte < raw.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto damaged = raw;
      damaged[byte] ^= static_cast<std::uint8_t>(1 << bit);
      INFO("byte " << byte << " bit " << bit);
      REQUIRE(codec.check(base64url_encode(damaged), t0) == nonce_check::forged);
    }
  }
}

TEST_CASE("a nonce of another key is forged", "[acme][nonce]") {
  nonce_codec ours(key_of(7), 3600s);
  nonce_codec theirs(key_of(8), 3600s);
  counting_random a;
  counting_random b;
  auto mine = ours.mint(t0, a);
  auto other = theirs.mint(t0, b);
  CHECK(mine.substr(0, 32) == other.substr(0, 32));  // same time and random bytes: only the MAC differs
  CHECK(mine != other);
  CHECK(ours.check(other, t0) == nonce_check::forged);
  CHECK(theirs.check(mine, t0) == nonce_check::forged);
}

TEST_CASE("age: fresh within the lifetime, stale from its end; the future beyond the skew is stale",
          "[acme][nonce]") {
  nonce_codec codec(key_of(7), 300s);
  system_random rng;
  auto n = codec.mint(t0, rng);
  CHECK(codec.check(n, t0 + 299s) == nonce_check::fresh);
  CHECK(codec.check(n, t0 + 300s) == nonce_check::stale);
  CHECK(codec.check(n, t0 + 86400s) == nonce_check::stale);
  // Minted by a replica whose clock is ahead of ours.
  CHECK(codec.check(n, t0 - nonce_codec::max_future_skew) == nonce_check::fresh);
  CHECK(codec.check(n, t0 - nonce_codec::max_future_skew - 1s) == nonce_check::stale);
  // A MAC'd issued-at far in the future or the past (key reuse across a
  // clock jump) is stale, never fresh.
  auto ancient = codec.mint(sys_seconds{std::chrono::seconds{0}}, rng);
  CHECK(codec.check(ancient, t0) == nonce_check::stale);
  auto far = codec.mint(sys_seconds{std::chrono::seconds{std::int64_t{1} << 40}}, rng);
  CHECK(codec.check(far, t0) == nonce_check::stale);
}

TEST_CASE("garbage is malformed", "[acme][nonce]") {
  nonce_codec codec(key_of(7), 3600s);
  system_random rng;
  auto good = codec.mint(t0, rng);
  std::string bad = GENERATE(std::string(""), std::string("abc"), std::string(54, '!'), std::string(54, '='),
                             std::string(200000, 'A'));
  CHECK(codec.check(bad, t0) == nonce_check::malformed);
  CHECK(codec.check(good.substr(0, 53), t0) == nonce_check::malformed);
  CHECK(codec.check(good + "A", t0) == nonce_check::malformed);
  CHECK(codec.check(good.substr(0, 52) + "==", t0) == nonce_check::malformed);
  auto plus = good;
  plus[10] = '+';
  CHECK(codec.check(plus, t0) == nonce_check::malformed);
  auto slash = good;
  slash[10] = '/';
  CHECK(codec.check(slash, t0) == nonce_check::malformed);
  // 54 characters whose last one carries non-zero unused bits (a
  // second spelling of the same bytes).
  auto last = good;
  last.back() = static_cast<char>(good.back() + 1);  // A, Q, g or w (zero low bits) -> B, R, h, x
  CHECK(codec.check(last, t0) == nonce_check::malformed);
}

TEST_CASE("a nonce's tag is HMAC-SHA256 of its first 24 bytes under the key, cut to 16 bytes", "[acme][nonce]") {
  // The format replicas of other builds rely on, checked against OpenSSL's
  // one-shot HMAC rather than the codec's own context.
  nonce_codec codec(key_of(9), 3600s);
  counting_random rng;
  const auto raw = base64url_decode(codec.mint(t0, rng));
  REQUIRE(raw.has_value());
  REQUIRE(raw->size() == 40);
  const auto key = key_of(9);
  std::array<std::uint8_t, 32> full{};
  std::size_t len = 0;
  REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(), raw->data(), 24,
                    full.data(), full.size(), &len) != nullptr);
  CHECK(std::equal(full.begin(), full.begin() + 16, raw->begin() + 24));
  // issued-at, big-endian seconds
  std::uint64_t issued = 0;
  for (int i = 0; i < 8; ++i) issued = (issued << 8) | (*raw)[static_cast<std::size_t>(i)];
  CHECK(issued == 1'700'000'000u);
}

TEST_CASE("one codec mints and checks from many threads at once", "[acme][nonce]") {
  nonce_codec codec(key_of(7), 3600s);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      system_random rng;
      for (int i = 0; i < 500; ++i) {
        const auto n = codec.mint(t0, rng);
        if (codec.check(n, t0) != nonce_check::fresh) ++wrong;
        std::string forged = n;
        forged[40] = forged[40] == 'A' ? 'B' : 'A';
        if (codec.check(forged, t0) != nonce_check::forged) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}
