// Fuzzes the OCSP responder as a handler (STYLE.md 17): the input is sent
// as a POST body and as a GET path, against a responder with one issued
// certificate. Invariants: never a crash; every answer is 200 with an
// application/ocsp-response body that OpenSSL parses, or 405/304; an
// unsuccessful answer is one of the five static DER responses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <variant>

#include "core/pki/issuer.h"
#include "core/pki/key.h"
#include "ocsp/responder.h"

using namespace wotca;

namespace {

sys_seconds at(long s) { return sys_seconds{std::chrono::seconds{s}}; }

ocsp_responder& responder() {
  static std::unique_ptr<ocsp_responder> r = [] {
    system_random rng;
    auto root_key = generate_key(key_algorithm::ec_p256);
    auto root = make_root(**root_key, "Fuzz Root", "Fuzz", random_serial(rng), at(1700000000), at(2300000000));
    ca_signer root_signer{std::move(*root), std::move(*root_key)};
    auto ocsp_key = generate_key(key_algorithm::ec_p256);
    certificate_spec spec;
    spec.serial = random_serial(rng);
    spec.profile = cert_profile::ocsp_signer;
    spec.subject_cn = "Fuzz OCSP";
    spec.not_before = at(1700000000);
    spec.not_after = at(2200000000);
    spec.subject_key = ocsp_key->get();
    auto ocsp_cert = sign_certificate(spec, root_signer);
    if (!ocsp_cert) std::abort();
    // The issuer the seed requests (tests/data/ocsp, made by openssl) ask
    // about: its certificate is all the CertID hashes depend on, so the
    // seeds reach the lookup and signing paths instead of `unauthorized`.
    auto seed_ca = load_certificate(std::string(WOTCA_TESTDATA) + "/ocsp/ca.cert.pem");
    if (!seed_ca) std::abort();
    ocsp_issuer issuer{issuer_class::class1,
                       ocsp_signer{std::move(*seed_ca), std::move(*ocsp_cert), std::move(*ocsp_key)}};
    std::vector<ocsp_issuer> issuers;
    issuers.push_back(std::move(issuer));
    ocsp_settings settings;
    settings.nonces = true;
    // Sign every serial the table does not hold: with a fixed `now`, the
    // per-second limit would otherwise turn the signing path into tryLater.
    settings.unknown_signatures_per_second = 0;
    auto made = ocsp_responder::make(std::move(issuers), settings);
    if (!made) std::abort();
    // One good certificate with a known serial (the seed corpus asks for it).
    if (!(*made)->update(issuer_class::class1, "0102030405060708090a0b0c0d0e0f1011121314", {cert_state::good, {}, -1},
                         at(1800000000))) {
      std::abort();
    }
    return std::move(*made);
  }();
  return *r;
}

void check(const http_response& r) {
  if (r.status == 405 || r.status == 304) return;
  if (r.status != 200) std::abort();
  std::string body;
  if (auto* s = std::get_if<std::string>(&r.body)) body = *s;
  if (auto* p = std::get_if<std::shared_ptr<const std::string>>(&r.body)) body = **p;
  const unsigned char* q = reinterpret_cast<const unsigned char*>(body.data());
  ocsp_response_ptr resp(d2i_OCSP_RESPONSE(nullptr, &q, static_cast<long>(body.size())));
  if (!resp || q != reinterpret_cast<const unsigned char*>(body.data()) + body.size()) std::abort();
  if (OCSP_response_status(resp.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL && body.size() != 5) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16384) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ocsp_responder& r = responder();
  const sys_seconds now = at(1800000100);

  http_header type{"Content-Type", "application/ocsp-request"};
  http_request post{"POST", "/", "", bytes, std::span<const http_header>(&type, 1)};
  check(r.respond(post, now));

  std::string path = "/" + std::string(bytes);
  http_request get{"GET", path, "", "", {}};
  check(r.respond(get, now));
  return 0;
}
