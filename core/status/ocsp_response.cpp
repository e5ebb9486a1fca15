#include "core/status/ocsp_response.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>

namespace wotca {

namespace {

unexpected<error> crypto_failure(std::string what) {
  std::string detail = drain_openssl_errors();
  return fail(errc::crypto, "ocsp response", detail.empty() ? what : what + ": " + detail);
}

const EVP_MD* md_for(hash_algorithm a) {
  switch (a) {
    case hash_algorithm::sha1: return EVP_sha1();
    case hash_algorithm::sha256: return EVP_sha256();
    case hash_algorithm::sha384: return EVP_sha384();
    case hash_algorithm::sha512: return EVP_sha512();
    case hash_algorithm::unknown: return nullptr;
  }
  return nullptr;
}

asn1_time_ptr to_asn1(sys_seconds t) {
  return asn1_time_ptr(ASN1_TIME_set(nullptr, static_cast<time_t>(t.time_since_epoch().count())));
}

// The serial's INTEGER contents (as a CertID carries them) as an ASN1_INTEGER.
result<asn1_integer_ptr> serial_integer(std::span<const std::uint8_t> contents) {
  if (contents.empty() || contents.size() > 21) {
    return fail(errc::invalid_input, "serial", "a serial number of " + std::to_string(contents.size()) + " bytes");
  }
  std::vector<std::uint8_t> der;
  der.reserve(contents.size() + 2);
  der.push_back(0x02);
  der.push_back(static_cast<std::uint8_t>(contents.size()));
  der.insert(der.end(), contents.begin(), contents.end());
  const unsigned char* p = der.data();
  asn1_integer_ptr n(d2i_ASN1_INTEGER(nullptr, &p, static_cast<long>(der.size())));
  if (!n || p != der.data() + der.size()) return crypto_failure("cannot read the serial number");
  return n;
}

}  // namespace

std::span<const std::uint8_t> unsuccessful_response(ocsp_response_status s) {
  // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT OPTIONAL }
  static constexpr std::array<std::array<std::uint8_t, 5>, 7> bytes = {{
      {0x30, 0x03, 0x0a, 0x01, 0x00}, {0x30, 0x03, 0x0a, 0x01, 0x01}, {0x30, 0x03, 0x0a, 0x01, 0x02},
      {0x30, 0x03, 0x0a, 0x01, 0x03}, {0x30, 0x03, 0x0a, 0x01, 0x04}, {0x30, 0x03, 0x0a, 0x01, 0x05},
      {0x30, 0x03, 0x0a, 0x01, 0x06},
  }};
  return bytes[static_cast<std::size_t>(s)];
}

result<issuer_hashes> hashes_of(const X509& issuer, hash_algorithm alg) {
  const EVP_MD* md = md_for(alg);
  if (md == nullptr) return issuer_hashes{};
  issuer_hashes out;
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // issuerNameHash: the hash of the issuer's DN as DER.
  unsigned char* name_der = nullptr;
  int name_len = i2d_X509_NAME(X509_get_subject_name(&issuer), &name_der);
  openssl_bytes_ptr name_owned(name_der);
  if (name_len <= 0 || EVP_Digest(name_der, static_cast<std::size_t>(name_len), buf, &len, md, nullptr) != 1) {
    return crypto_failure("cannot hash the issuer name");
  }
  out.name_hash.assign(buf, buf + len);
  // issuerKeyHash: over the value of subjectPublicKey, without tag, length
  // and unused-bits octet.
  if (X509_pubkey_digest(&issuer, md, buf, &len) != 1) return crypto_failure("cannot hash the issuer key");
  out.key_hash.assign(buf, buf + len);
  return out;
}

result<std::vector<std::uint8_t>> sign_ocsp_response(const ocsp_signer& signer,
                                                     std::span<const single_response> responses,
                                                     std::optional<std::span<const std::uint8_t>> nonce,
                                                     bool nonce_unwrapped) {
  if (!signer.issuer || !signer.cert || !signer.key) {
    return fail(errc::internal, "ocsp signer", "the responder has no signer for this issuer");
  }
  ocsp_basicresp_ptr basic(OCSP_BASICRESP_new());
  if (!basic) return crypto_failure("cannot make a BasicOCSPResponse");
  // RFC 6960 4.2.1: SingleResponse ::= SEQUENCE { certID CertID, certStatus
  //   CertStatus, thisUpdate GeneralizedTime, nextUpdate [0] EXPLICIT
  //   GeneralizedTime OPTIONAL, singleExtensions [1] EXPLICIT Extensions OPTIONAL }
  X509_NAME* issuer_name = X509_get_subject_name(signer.issuer.get());
  const ASN1_BIT_STRING* issuer_key = X509_get0_pubkey_bitstr(signer.issuer.get());
  for (const auto& r : responses) {
    const EVP_MD* md = md_for(r.alg);
    if (md == nullptr) return fail(errc::invalid_input, "ocsp request", "a CertID with an unknown hash algorithm");
    auto serial = serial_integer(r.serial);
    if (!serial) return unexpected(serial.error());
    ocsp_certid_ptr id(OCSP_cert_id_new(md, issuer_name, issuer_key, serial->get()));
    if (!id) return crypto_failure("cannot make a CertID");
    auto this_update = to_asn1(r.this_update);
    auto next_update = to_asn1(r.next_update);
    asn1_time_ptr revoked_at;
    int status = V_OCSP_CERTSTATUS_UNKNOWN;
    int reason = -1;
    if (r.state.state == cert_state::good) status = V_OCSP_CERTSTATUS_GOOD;
    if (r.state.state == cert_state::revoked) {
      status = V_OCSP_CERTSTATUS_REVOKED;
      revoked_at = to_asn1(r.state.revoked_at);
      reason = r.state.reason;
      if (!revoked_at) return crypto_failure("cannot encode the revocation time");
    }
    if (!this_update || !next_update) return crypto_failure("cannot encode the validity");
    if (OCSP_basic_add1_status(basic.get(), id.get(), status, reason, revoked_at.get(), this_update.get(),
                               next_update.get()) == nullptr) {
      return crypto_failure("cannot add a SingleResponse");
    }
  }
  if (nonce) {
    if (!nonce_unwrapped) {
      // RFC 8954 2.1: Nonce ::= OCTET STRING (SIZE(1..32)), inside extnValue.
      if (OCSP_basic_add1_nonce(basic.get(), const_cast<unsigned char*>(nonce->data()),
                                static_cast<int>(nonce->size())) != 1) {
        return crypto_failure("cannot add the nonce");
      }
    } else {
      asn1_octet_string_ptr value(ASN1_OCTET_STRING_new());
      if (!value || ASN1_OCTET_STRING_set(value.get(), nonce->data(), static_cast<int>(nonce->size())) != 1) {
        return crypto_failure("cannot add the nonce");
      }
      x509_extension_ptr ext(X509_EXTENSION_create_by_NID(nullptr, NID_id_pkix_OCSP_Nonce, 0, value.get()));
      if (!ext || OCSP_BASICRESP_add_ext(basic.get(), ext.get(), -1) != 1) return crypto_failure("cannot add the nonce");
    }
  }
  const EVP_MD* digest = EVP_PKEY_is_a(signer.key.get(), "EC") && EVP_PKEY_get_bits(signer.key.get()) == 384
                             ? EVP_sha384()
                             : EVP_sha256();
  // RFC 6960 4.2.2.3 ResponderID byKey; certs holds the responder's
  // certificate so clients can check the delegation (4.2.2.2).
  if (OCSP_basic_sign(basic.get(), signer.cert.get(), signer.key.get(), digest, nullptr, OCSP_RESPID_KEY) != 1) {
    return crypto_failure("the responder key failed to sign");
  }
  ocsp_response_ptr response(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get()));
  if (!response) return crypto_failure("cannot make the OCSPResponse");
  int len = i2d_OCSP_RESPONSE(response.get(), nullptr);
  if (len <= 0) return crypto_failure("cannot encode the OCSPResponse");
  std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_OCSP_RESPONSE(response.get(), &p);
  return der;
}

}  // namespace wotca
