// Certificate profiles and the issuer: the only code that signs end-entity
// certificates. It does not decide anything: core/policy decides, core/ca
// reserves the serial, and this signs exactly what it is given.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/pki/ossl.h"
#include "core/policy/policy.h"
#include "core/util/error.h"
#include "core/util/random.h"
#include "core/util/time.h"

namespace wotca {

using serial_number = std::array<std::uint8_t, 20>;

// RFC 5280 4.1.2.2: positive, at most 20 octets. 159 random bits: the top
// bit is cleared (positive) and the first octet is never 0 (so the DER
// INTEGER is always exactly 20 octets).
[[nodiscard]] serial_number random_serial(random_source& rng);
[[nodiscard]] std::string to_hex(const serial_number& s);  // lower-case, 40 characters
[[nodiscard]] result<serial_number> serial_from_hex(std::string_view hex);

// A CA's signing material: certificate and key, owned.
struct ca_signer {
  x509_ptr cert;
  evp_pkey_ptr key;
};

// The URLs issued certificates point at (RFC 5280 4.2.2.1 AIA, 4.2.1.13 CDP).
struct issuer_urls {
  std::string ocsp;         // "http://127.0.0.1:14081/"
  std::string ca_issuers;   // "http://127.0.0.1:14082/class3.crt"
  std::string crl;          // "http://127.0.0.1:14082/class3.crl"
};

// Everything that goes into one certificate.
//
// Profiles (key usage / extended key usage / basic constraints):
//   client_email, client_named: digitalSignature, keyEncipherment (RSA) |
//       keyAgreement (EC); clientAuth, emailProtection; CA:FALSE
//   server:       digitalSignature, keyEncipherment (RSA); serverAuth; CA:FALSE
//   code_signing: digitalSignature; codeSigning; CA:FALSE
//   device:       digitalSignature, keyEncipherment (RSA); clientAuth; CA:FALSE
//   ocsp_signer:  digitalSignature; OCSPSigning; id-pkix-ocsp-nocheck; CA:FALSE; no AIA OCSP
//   sub_ca:       keyCertSign, cRLSign; CA:TRUE, pathlen:0; critical;
//                 extendedKeyUsage from ca_extended_key_usage when given
// Every certificate: SKI (SHA-1 of the key, RFC 5280 4.2.1.2 method 1), AKI
// keyid of the issuer, SAN (critical when the subject is empty), AIA (OCSP
// except for ocsp_signer, caIssuers), CRL distribution point.
struct certificate_spec {
  serial_number serial{};
  cert_profile profile = cert_profile::client_email;
  std::string subject_cn;                    // may be empty for server certificates
  std::optional<std::string> subject_org;    // sub-CA and the root: "O="
  std::vector<std::string> emails;
  std::vector<std::string> dns_names;        // may hold IP literals only for ACME's own TLS cert
  sys_seconds not_before{};
  sys_seconds not_after{};
  const EVP_PKEY* subject_key = nullptr;     // borrowed; the public half is used
  // Optional, borrowed: the same key as the CSR encoded it. When given, its
  // algorithm and key bits are copied into the certificate as they are,
  // which spares OpenSSL 3.0's provider encoder and decoder (together about
  // 350 us of a ~100 us issuance). A compressed EC point still goes the slow
  // way, so certificates always carry the uncompressed form.
  const X509_PUBKEY* subject_spki = nullptr;
  issuer_urls urls;
  // sub_ca only: the key purposes (NIDs) the CA may certify, written as its
  // extendedKeyUsage. Empty: no limit. The Class 1 CA leaves out serverAuth,
  // so that no verifier accepts a TLS server certificate below it whatever
  // was signed (R-SERVER-50 held by the chain as well as by the policy).
  std::vector<int> ca_extended_key_usage;
};

// Signs `spec` with `issuer` (SHA-256 for EC P-256 and RSA, SHA-384 for
// P-384). Fails with errc::invalid_input naming the field if the spec is
// inconsistent (no key, not_after <= not_before, beyond the issuer's own
// notAfter), errc::crypto if OpenSSL refuses.
// Also refused: a serial whose first octet is not 01..7f ("serial"); no CN
// and no SAN, or no CN for sub_ca / ocsp_signer, or a CN / O that is not 1
// to 64 characters of UTF-8 without controls ("subject_cn", "subject_org");
// a malformed email or DNS name ("emails", "dns_names"; unlike
// normalize_dns_name a single label such as "localhost" is allowed, for the
// CA's own service certificates); a URL that is not
// printable ASCII ("urls.*"); an issuer that is not a CA ("issuer"), or
// with pathlen 0 for a sub_ca ("profile"); an issuer key that does not
// match its certificate (errc::crypto, "issuer"); a subject key R-KEYS
// refuses (errc::denied, "R-KEYS"). The signature is verified under the
// issuer's public key before the certificate is returned.
[[nodiscard]] result<x509_ptr> sign_certificate(const certificate_spec& spec, const ca_signer& issuer);

// A self-signed root: CA:TRUE (no pathlen), keyCertSign, cRLSign, SKI.
[[nodiscard]] result<x509_ptr> make_root(const EVP_PKEY& key, std::string_view cn, std::string_view org,
                                         const serial_number& serial, sys_seconds not_before,
                                         sys_seconds not_after);

// The subject as one RFC 4514 line ("CN=WoTCA Member"), the SANs as
// "DNS:x" / "email:y" strings, for the store.
[[nodiscard]] std::string subject_line(const X509& cert);
[[nodiscard]] std::vector<std::string> san_strings(const X509& cert);

}  // namespace wotca
