// Signed responses checked by OpenSSL's own OCSP verifier (STYLE.md 16:
// round trip through OpenSSL's parser), and the unsuccessful responses as
// exact bytes.
#include <catch2/catch.hpp>

#include <openssl/err.h>

#include <vector>

#include "core/pki/issuer.h"
#include "core/pki/key.h"
#include "core/status/ocsp_response.h"

using namespace wotca;

namespace {

sys_seconds at(long s) { return sys_seconds{std::chrono::seconds{s}}; }

struct responder {
  ca_signer root;
  ca_signer issuing;
  ocsp_signer signer;
};

const responder& fixture() {
  static const responder r = [] {
    system_random rng;
    responder out;
    auto root_key = generate_key(key_algorithm::ec_p384);
    REQUIRE(root_key);
    auto root = make_root(**root_key, "Test Root", "Test", random_serial(rng), at(1700000000), at(2300000000));
    REQUIRE(root);
    out.root = ca_signer{std::move(*root), std::move(*root_key)};
    auto issuing_key = generate_key(key_algorithm::ec_p256);
    REQUIRE(issuing_key);
    certificate_spec spec;
    spec.serial = random_serial(rng);
    spec.profile = cert_profile::sub_ca;
    spec.subject_cn = "Test Class 3";
    spec.not_before = at(1700000000);
    spec.not_after = at(2200000000);
    spec.subject_key = issuing_key->get();
    auto issuing = sign_certificate(spec, out.root);
    REQUIRE(issuing);
    out.issuing = ca_signer{std::move(*issuing), std::move(*issuing_key)};
    auto ocsp_key = generate_key(key_algorithm::ec_p256);
    REQUIRE(ocsp_key);
    spec.serial = random_serial(rng);
    spec.profile = cert_profile::ocsp_signer;
    spec.subject_cn = "Test Class 3 OCSP";
    spec.not_after = at(2100000000);
    spec.subject_key = ocsp_key->get();
    auto ocsp_cert = sign_certificate(spec, out.issuing);
    REQUIRE(ocsp_cert);
    out.signer.issuer.reset(X509_dup(out.issuing.cert.get()));
    out.signer.cert = std::move(*ocsp_cert);
    out.signer.key = std::move(*ocsp_key);
    return out;
  }();
  return r;
}

ocsp_basicresp_ptr parse(const std::vector<std::uint8_t>& der) {
  const unsigned char* p = der.data();
  ocsp_response_ptr resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(resp);
  REQUIRE(p == der.data() + der.size());
  REQUIRE(OCSP_response_status(resp.get()) == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  ocsp_basicresp_ptr basic(OCSP_response_get1_basic(resp.get()));
  REQUIRE(basic);
  return basic;
}

// OCSP_basic_verify with the root as the only trust anchor and the issuing
// CA as an untrusted intermediate, as a relying party would.
bool verifies(OCSP_BASICRESP* basic, const responder& r) {
  x509_store_ptr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), r.root.cert.get());
  x509_stack_ptr chain(sk_X509_new_null());
  X509_up_ref(r.issuing.cert.get());
  sk_X509_push(chain.get(), r.issuing.cert.get());
  int ok = OCSP_basic_verify(basic, chain.get(), store.get(), 0);
  ERR_clear_error();
  return ok == 1;
}

}  // namespace

TEST_CASE("unsuccessful responses are the DER RFC 6960 4.2.1 gives", "[status][ocsp]") {
  auto malformed = unsuccessful_response(ocsp_response_status::malformed_request);
  CHECK(std::vector<std::uint8_t>(malformed.begin(), malformed.end()) ==
        std::vector<std::uint8_t>{0x30, 0x03, 0x0a, 0x01, 0x01});
  auto unauthorized = unsuccessful_response(ocsp_response_status::unauthorized);
  const unsigned char* p = unauthorized.data();
  ocsp_response_ptr resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(unauthorized.size())));
  REQUIRE(resp);
  CHECK(OCSP_response_status(resp.get()) == OCSP_RESPONSE_STATUS_UNAUTHORIZED);
  CHECK(unsuccessful_response(ocsp_response_status::internal_error)[4] == 2);
}

TEST_CASE("good, revoked and unknown verify under the root and say what they should", "[status][ocsp]") {
  const responder& r = fixture();
  const std::vector<std::uint8_t> serial = {0x5f, 0x3a, 0x9c, 0x01};
  auto [state, reason, want_status] = GENERATE(table<cert_state, int, int>({
      {cert_state::good, -1, V_OCSP_CERTSTATUS_GOOD},
      {cert_state::revoked, 1, V_OCSP_CERTSTATUS_REVOKED},
      {cert_state::unknown, -1, V_OCSP_CERTSTATUS_UNKNOWN},
  }));
  auto alg = GENERATE(hash_algorithm::sha1, hash_algorithm::sha256);
  single_response one{alg, serial, {state, at(1800000000), reason}, at(1800000100), at(1800345700)};
  auto der = sign_ocsp_response(r.signer, std::span<const single_response>(&one, 1), std::nullopt);
  REQUIRE(der);
  auto basic = parse(*der);
  CHECK(verifies(basic.get(), r));

  // Find it by the CertID a client computes from the issuer certificate.
  asn1_integer_ptr sn(ASN1_INTEGER_new());
  ASN1_INTEGER_set_uint64(sn.get(), 0x5f3a9c01);
  const EVP_MD* md = alg == hash_algorithm::sha1 ? EVP_sha1() : EVP_sha256();
  ocsp_certid_ptr id(OCSP_cert_id_new(md, X509_get_subject_name(r.issuing.cert.get()),
                                      X509_get0_pubkey_bitstr(r.issuing.cert.get()), sn.get()));
  int status = -2, got_reason = -2;
  ASN1_GENERALIZEDTIME *rev = nullptr, *thisupd = nullptr, *nextupd = nullptr;
  REQUIRE(OCSP_resp_find_status(basic.get(), id.get(), &status, &got_reason, &rev, &thisupd, &nextupd) == 1);
  CHECK(status == want_status);
  if (state == cert_state::revoked) {
    CHECK(got_reason == 1);
    CHECK(ASN1_TIME_cmp_time_t(rev, 1800000000) == 0);
  }
  CHECK(ASN1_TIME_cmp_time_t(thisupd, 1800000100) == 0);
  CHECK(ASN1_TIME_cmp_time_t(nextupd, 1800345700) == 0);

  // byKey responder id, and the signer's certificate travels with it.
  const ASN1_OCTET_STRING* key_id = nullptr;
  const X509_NAME* by_name = nullptr;
  REQUIRE(OCSP_resp_get0_id(basic.get(), &key_id, &by_name) == 1);
  CHECK(key_id != nullptr);
  CHECK(by_name == nullptr);
  CHECK(sk_X509_num(OCSP_resp_get0_certs(basic.get())) == 1);
}

TEST_CASE("a nonce is echoed, and a response for another issuer does not verify", "[status][ocsp]") {
  const responder& r = fixture();
  const std::vector<std::uint8_t> serial = {0x01};
  const std::vector<std::uint8_t> nonce = {1, 2, 3, 4, 5, 6, 7, 8};
  single_response one{hash_algorithm::sha1, serial, {cert_state::good, {}, -1}, at(1800000000), at(1800086400)};
  auto der = sign_ocsp_response(r.signer, std::span<const single_response>(&one, 1), std::span<const std::uint8_t>(nonce));
  REQUIRE(der);
  auto basic = parse(*der);
  ocsp_request_ptr req(OCSP_REQUEST_new());
  REQUIRE(OCSP_request_add1_nonce(req.get(), const_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) == 1);
  CHECK(OCSP_check_nonce(req.get(), basic.get()) == 1);

  // Signed by a responder its issuer never delegated to: refused.
  responder other;
  auto key = generate_key(key_algorithm::ec_p256);
  REQUIRE(key);
  other.root = ca_signer{x509_ptr(X509_dup(r.root.cert.get())), evp_pkey_ptr(EVP_PKEY_dup(r.root.key.get()))};
  other.issuing = ca_signer{x509_ptr(X509_dup(r.issuing.cert.get())), evp_pkey_ptr(EVP_PKEY_dup(r.issuing.key.get()))};
  ocsp_signer stranger;
  stranger.issuer.reset(X509_dup(r.issuing.cert.get()));
  stranger.cert.reset(X509_dup(r.root.cert.get()));  // a certificate without OCSPSigning
  stranger.key = evp_pkey_ptr(EVP_PKEY_dup(r.root.key.get()));
  auto forged = sign_ocsp_response(stranger, std::span<const single_response>(&one, 1), std::nullopt);
  REQUIRE(forged);
  auto forged_basic = parse(*forged);
  CHECK_FALSE(verifies(forged_basic.get(), other));
}

TEST_CASE("bad input to the signer is an error, not a response", "[status][ocsp]") {
  const responder& r = fixture();
  const std::vector<std::uint8_t> too_long(22, 0x11);
  single_response bad{hash_algorithm::sha1, too_long, {cert_state::good, {}, -1}, at(1800000000), at(1800086400)};
  auto der = sign_ocsp_response(r.signer, std::span<const single_response>(&bad, 1), std::nullopt);
  REQUIRE_FALSE(der);
  CHECK(der.error().code == errc::invalid_input);
  single_response unknown_alg{hash_algorithm::unknown, std::span<const std::uint8_t>(too_long).first(2),
                              {cert_state::good, {}, -1}, at(1800000000), at(1800086400)};
  CHECK_FALSE(sign_ocsp_response(r.signer, std::span<const single_response>(&unknown_alg, 1), std::nullopt));
  ocsp_signer empty;
  CHECK(sign_ocsp_response(empty, std::span<const single_response>(&unknown_alg, 1), std::nullopt).error().code ==
        errc::internal);
  auto hashes = hashes_of(*r.issuing.cert, hash_algorithm::sha256);
  REQUIRE(hashes);
  CHECK(hashes->name_hash.size() == 32);
  CHECK(hashes->key_hash.size() == 32);
}
