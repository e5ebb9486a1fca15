// libFuzzer target for acme/jose.h and acme/nonce.h (STYLE.md 17): the
// input is a request body. It goes through parse_jws; an accepted body's
// "jwk" through parse_jwk, canonical_jwk, jwk_thumbprint, check_algorithm
// and verify_jws; its payload's "externalAccountBinding" through
// parse_eab; its nonce through nonce_codec::check. The same bytes are also
// read as an externalAccountBinding object by themselves.
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//  - nothing throws, and every refusal carries a detail;
//  - an accepted JWS has exactly one of kid/jwk, a non-empty nonce and url,
//    a payload within the limit whose base64url is payload_b64 (one
//    spelling only), and a non-empty signature;
//  - an accepted JWK has a canonical form that parses back to the same key
//    and is its own canonical form; its thumbprint is 43 characters;
//  - an accepted EAB has a kid and a 32-byte tag;
//  - no OpenSSL error is left on the thread's queue.
#include <openssl/err.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "acme/jose.h"
#include "acme/nonce.h"
#include "core/util/encoding.h"

namespace {

using namespace wotca;
using namespace wotca::acme;

constexpr std::string_view new_account_url = "https://acme.example/acme/new-account";
// RFC 8037 A.2's Ed25519 public key: the account the seed EAB objects bind.
constexpr std::string_view eab_account_jwk =
    R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "acme_jws_fuzzer: invariant broken: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) broken(what);
}

template <class R>
void check_refusal(const R& r) {
  if (!r) require(!r.error().detail.empty(), "a refusal without a detail");
}

void check_eab(std::string_view text, std::string_view url, const EVP_PKEY* account) {
  auto b = parse_eab(text, url, account);
  check_refusal(b);
  if (!b) return;
  require(!b->kid.empty(), "an EAB without a kid");
  require(b->mac.size() == 32, "an EAB tag that is not 32 bytes");
  require(b->signing_input.find('.') != std::string::npos, "an EAB signing input without a dot");
  static const std::uint8_t hmac_key[32] = {1, 2, 3};
  (void)verify_eab_mac(*b, hmac_key);
}

void check_key(const std::string& jwk, const jws& j) {
  auto key = parse_jwk(jwk);
  check_refusal(key);
  if (!key) return;
  auto canonical = canonical_jwk(key->get());
  require(canonical.has_value(), "an accepted JWK without a canonical form");
  auto again = parse_jwk(*canonical);
  require(again.has_value(), "a canonical JWK does not parse");
  require(EVP_PKEY_eq(again->get(), key->get()) == 1, "a canonical JWK is another key");
  auto twice = canonical_jwk(again->get());
  require(twice && *twice == *canonical, "canonical_jwk is not idempotent");
  auto print = jwk_thumbprint(key->get());
  require(print && print->size() == 43, "a thumbprint that is not 43 characters");
  if (check_algorithm(key->get(), j.alg)) {
    auto v = verify_jws(j, key->get());
    check_refusal(v);
  } else {
    auto v = verify_jws(j, key->get());
    require(!v && v.error().problem == jose_problem::bad_signature_algorithm, "verified with an unfit key");
  }
  // newAccount: the binding inside the payload, against the outer key.
  try {
    auto payload = nlohmann::json::parse(j.payload, nullptr, false);
    if (payload.is_object() && payload.contains("externalAccountBinding"))
      check_eab(payload["externalAccountBinding"].dump(), j.url, key->get());
  } catch (const nlohmann::json::exception&) {
    // the fuzzer's own use of nlohmann (dump of odd payloads), not the code under test
  }
}

void check_jws(std::string_view body) {
  jws_limits limits;
  auto j = parse_jws(body, limits);
  check_refusal(j);
  if (!j) return;
  require(j->kid.has_value() != j->jwk.has_value(), "not exactly one of kid and jwk");
  require(!j->nonce.empty() && !j->url.empty(), "an empty nonce or url");
  require(j->payload.size() <= limits.max_payload_bytes, "a payload over the limit");
  require(base64url_encode(std::span(reinterpret_cast<const std::uint8_t*>(j->payload.data()), j->payload.size())) ==
              j->payload_b64,
          "a payload with two spellings");
  require(!j->signature.empty(), "an empty signature");
  if (j->kid) require(!j->kid->empty(), "an empty kid");
  if (j->jwk) check_key(*j->jwk, *j);
  static const nonce_codec codec(std::array<std::uint8_t, 32>{7}, std::chrono::seconds(3600));
  (void)codec.check(j->nonce, sys_seconds{std::chrono::seconds{1'700'000'000}});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_jws(text);
  static const evp_pkey_ptr eab_account = [] {
    auto k = parse_jwk(eab_account_jwk);
    require(k.has_value(), "the fixed EAB account key does not parse");
    return std::move(*k);
  }();
  check_eab(text, new_account_url, eab_account.get());
  require(ERR_peek_error() == 0, "an OpenSSL error was left on the queue");
  return 0;
}
