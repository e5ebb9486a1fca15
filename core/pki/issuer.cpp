#include "core/pki/issuer.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include <ctime>
#include <initializer_list>
#include <span>

#include "core/pki/csr.h"
#include "core/pki/key.h"

namespace wotca {

namespace {

// RFC 5280 4.2.1.3: KeyUsage ::= BIT STRING { digitalSignature (0),
//   nonRepudiation (1), keyEncipherment (2), dataEncipherment (3),
//   keyAgreement (4), keyCertSign (5), cRLSign (6), ... }
enum key_usage_bit : int {
  digital_signature = 0,
  key_encipherment = 2,
  key_agreement = 4,
  key_cert_sign = 5,
  crl_sign = 6,
};

unexpected<error> crypto_failure(std::string what) {
  auto detail = drain_openssl_errors();
  if (!detail.empty()) what += " (" + detail + ")";
  return fail(errc::crypto, "", std::move(what));
}

unexpected<error> bad_spec(std::string where, std::string message) {
  ERR_clear_error();
  return fail(errc::invalid_input, std::move(where), std::move(message));
}

std::time_t to_time_t(sys_seconds t) { return static_cast<std::time_t>(t.time_since_epoch().count()); }

bool valid_serial(const serial_number& s) { return s[0] >= 0x01 && s[0] <= 0x7f; }

bool printable_ascii(std::string_view s) {
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return !s.empty();
}

// The public half of `key` as a key of its own, so the certificate never
// references private material.
result<evp_pkey_ptr> public_copy(const EVP_PKEY& key) {
  unsigned char* raw = nullptr;
  int len = i2d_PUBKEY(&key, &raw);
  openssl_bytes_ptr der(raw);
  if (len <= 0) return crypto_failure("cannot encode the subject public key");
  const unsigned char* p = der.get();
  evp_pkey_ptr pub(d2i_PUBKEY(nullptr, &p, len));
  if (!pub) return crypto_failure("cannot decode the subject public key");
  // RFC 5480 2.2: "The uncompressed form MUST be supported"; the compressed
  // one need not be, so certificates always carry the uncompressed point.
  if (EVP_PKEY_is_a(pub.get(), "EC") &&
      EVP_PKEY_set_utf8_string_param(pub.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                     OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1) {
    return crypto_failure("cannot set the point format of the subject public key");
  }
  return pub;
}

// RFC 5280 4.1.2.2: CertificateSerialNumber ::= INTEGER; positive, at most
// 20 octets. The first octet is 0x01..0x7f, so DER keeps all 20 as they are.
result<void> set_serial(X509& x, const serial_number& serial) {
  bignum_ptr bn(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  if (!bn) return crypto_failure("cannot make the serial number");
  asn1_integer_ptr integer(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!integer || X509_set_serialNumber(&x, integer.get()) != 1) return crypto_failure("cannot set the serial number");
  return {};
}

// RFC 5280 4.1.2.5: "CAs conforming to this profile MUST always encode
// certificate validity dates through the year 2049 as UTCTime; certificate
// validity dates in 2050 or later MUST be encoded as GeneralizedTime."
// ASN1_TIME_set chooses exactly so.
result<void> set_validity(X509& x, sys_seconds not_before, sys_seconds not_after) {
  asn1_time_ptr nb(ASN1_TIME_set(nullptr, to_time_t(not_before)));
  asn1_time_ptr na(ASN1_TIME_set(nullptr, to_time_t(not_after)));
  if (!nb || !na || X509_set1_notBefore(&x, nb.get()) != 1 || X509_set1_notAfter(&x, na.get()) != 1) {
    return crypto_failure("cannot set the validity");
  }
  return {};
}

// RFC 5280 4.1.2.6 (with 4.1.2.4): the subject is a Name of
// DirectoryString attributes; "CAs MUST use UTF8String" for new
// certificates (since 2004, 4.1.2.4). ub-common-name and
// ub-organization-name are 64 characters (appendix A).
result<void> add_name_entry(X509_NAME& name, int nid, std::string_view value, const char* field) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return bad_spec(field, std::string(field) + " has a control character");
  }
  ASN1_STRING* raw = nullptr;
  if (ASN1_mbstring_ncopy(&raw, reinterpret_cast<const unsigned char*>(value.data()), static_cast<int>(value.size()),
                          MBSTRING_UTF8, B_ASN1_UTF8STRING, 1, 64) < 0) {
    return bad_spec(field, std::string(field) + " is not 1 to 64 characters of UTF-8");
  }
  asn1_string_ptr utf8(raw);
  if (X509_NAME_add_entry_by_NID(&name, nid, V_ASN1_UTF8STRING, ASN1_STRING_get0_data(utf8.get()),
                                 ASN1_STRING_length(utf8.get()), -1, 0) != 1) {
    return crypto_failure(std::string("cannot add ") + field + " to the subject");
  }
  return {};
}

// X.501 order: O, then CN (printed RFC 4514 style, last first: "CN=..,O=..").
result<x509_name_ptr> make_subject(std::string_view cn, const std::optional<std::string>& org) {
  x509_name_ptr name(X509_NAME_new());
  if (!name) return crypto_failure("cannot make a name");
  if (org && !org->empty()) {
    if (auto ok = add_name_entry(*name, NID_organizationName, *org, "subject_org"); !ok) return unexpected(ok.error());
  }
  if (!cn.empty()) {
    if (auto ok = add_name_entry(*name, NID_commonName, cn, "subject_cn"); !ok) return unexpected(ok.error());
  }
  return name;
}

result<void> add_ext(X509& x, int nid, void* value, bool critical, const char* what) {
  if (X509_add1_ext_i2d(&x, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1) {
    return crypto_failure(std::string("cannot add ") + what);
  }
  return {};
}

// RFC 5280 4.2.1.9:
//   BasicConstraints ::= SEQUENCE {
//     cA                      BOOLEAN DEFAULT FALSE,
//     pathLenConstraint       INTEGER (0..MAX) OPTIONAL }
// "Conforming CAs MUST include this extension in all CA certificates ...
// and MUST mark the extension as critical"; marked critical on end
// entities too, as the CA/B Forum profiles allow.
result<void> add_basic_constraints(X509& x, bool ca, std::optional<long> path_len) {
  basic_constraints_ptr bc(BASIC_CONSTRAINTS_new());
  if (!bc) return crypto_failure("cannot make basicConstraints");
  bc->ca = ca ? 0xff : 0;
  if (path_len) {
    bc->pathlen = ASN1_INTEGER_new();
    if (!bc->pathlen || ASN1_INTEGER_set(bc->pathlen, *path_len) != 1) return crypto_failure("cannot set pathlen");
  }
  return add_ext(x, NID_basic_constraints, bc.get(), true, "basicConstraints");
}

// RFC 5280 4.2.1.3: "When present, conforming CAs SHOULD mark this
// extension as critical."
result<void> add_key_usage(X509& x, std::initializer_list<int> bits) {
  asn1_bit_string_ptr ku(ASN1_BIT_STRING_new());
  if (!ku) return crypto_failure("cannot make keyUsage");
  for (int bit : bits) {
    if (ASN1_BIT_STRING_set_bit(ku.get(), bit, 1) != 1) return crypto_failure("cannot set a keyUsage bit");
  }
  return add_ext(x, NID_key_usage, ku.get(), true, "keyUsage");
}

// RFC 5280 4.2.1.12: ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId
result<void> add_extended_key_usage(X509& x, std::span<const int> nids) {
  extended_key_usage_ptr eku(sk_ASN1_OBJECT_new_null());
  if (!eku) return crypto_failure("cannot make extendedKeyUsage");
  for (int nid : nids) {
    // OBJ_nid2obj returns OpenSSL's static objects, which freeing leaves alone.
    if (sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(nid)) <= 0) return crypto_failure("cannot add a key purpose");
  }
  return add_ext(x, NID_ext_key_usage, eku.get(), false, "extendedKeyUsage");
}

result<void> add_extended_key_usage(X509& x, std::initializer_list<int> nids) {
  return add_extended_key_usage(x, std::span<const int>(nids.begin(), nids.size()));
}

// RFC 5280 4.2.1.2, method (1): "The keyIdentifier is composed of the
// 160-bit SHA-1 hash of the value of the BIT STRING subjectPublicKey
// (excluding the tag, length, and number of unused bits)."
result<asn1_octet_string_ptr> key_identifier(const X509& cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_pubkey_digest(&cert, EVP_sha1(), md, &len) != 1) return crypto_failure("cannot hash the public key");
  asn1_octet_string_ptr id(ASN1_OCTET_STRING_new());
  if (!id || ASN1_OCTET_STRING_set(id.get(), md, static_cast<int>(len)) != 1) {
    return crypto_failure("cannot make a key identifier");
  }
  return id;
}

// RFC 5280 4.2.1.2: SubjectKeyIdentifier ::= KeyIdentifier (non-critical).
result<asn1_octet_string_ptr> add_subject_key_id(X509& x) {
  auto id = key_identifier(x);
  if (!id) return id;
  if (auto ok = add_ext(x, NID_subject_key_identifier, id->get(), false, "subjectKeyIdentifier"); !ok) {
    return unexpected(ok.error());
  }
  return id;
}

// RFC 5280 4.2.1.1:
//   AuthorityKeyIdentifier ::= SEQUENCE {
//     keyIdentifier             [0] KeyIdentifier           OPTIONAL, ... }
// "The keyIdentifier field of the authorityKeyIdentifier extension MUST be
// included in all certificates generated by conforming CAs"; it is the
// issuer's subjectKeyIdentifier.
result<void> add_authority_key_id(X509& x, const ASN1_OCTET_STRING& issuer_key_id) {
  authority_keyid_ptr aki(AUTHORITY_KEYID_new());
  if (!aki) return crypto_failure("cannot make authorityKeyIdentifier");
  aki->keyid = ASN1_OCTET_STRING_dup(&issuer_key_id);
  if (!aki->keyid) return crypto_failure("cannot copy the issuer's key identifier");
  return add_ext(x, NID_authority_key_identifier, aki.get(), false, "authorityKeyIdentifier");
}

// A GeneralName holding an IA5String (dNSName, rfc822Name, URI).
result<general_name_ptr> ia5_name(int type, std::string_view text) {
  general_name_ptr gn(GENERAL_NAME_new());
  asn1_ia5string_ptr s(ASN1_IA5STRING_new());
  if (!gn || !s || ASN1_STRING_set(s.get(), text.data(), static_cast<int>(text.size())) != 1) {
    return crypto_failure("cannot make a name");
  }
  GENERAL_NAME_set0_value(gn.get(), type, s.release());
  return gn;
}

result<void> push_name(GENERAL_NAMES& names, result<general_name_ptr> gn) {
  if (!gn) return unexpected(gn.error());
  if (sk_GENERAL_NAME_push(&names, gn->get()) <= 0) return crypto_failure("cannot add a name");
  (void)gn->release();  // the stack owns it now
  return {};
}

// iPAddress: "four octets" (IPv4) or "sixteen octets" (IPv6) in network
// byte order (RFC 5280 4.2.1.6). nullopt if `text` is no IP literal.
std::optional<std::vector<unsigned char>> ip_octets(std::string_view text) {
  std::string s(text);
  unsigned char buf[16];
  if (::inet_pton(AF_INET, s.c_str(), buf) == 1) return std::vector<unsigned char>(buf, buf + 4);
  if (::inet_pton(AF_INET6, s.c_str(), buf) == 1) return std::vector<unsigned char>(buf, buf + 16);
  return std::nullopt;
}

// A dNSName the issuer will write: what normalize_dns_name accepts, and
// also a single LDH label ("localhost") for the CA's own service
// certificates. Members' names never reach here without parse_csr and the
// policy (R-NAME-COVERAGE), which require a registered domain.
result<std::string> issuable_dns_name(std::string_view name) {
  auto normal = normalize_dns_name(name);
  if (normal) return normal;
  std::string_view label = name;
  if (!label.empty() && label.back() == '.') label.remove_suffix(1);
  if (label.empty() || label.find('.') != std::string_view::npos || label == "*") return normal;
  // The label's syntax is the same as in a two-label name.
  auto as_part = normalize_dns_name(std::string(label) + ".invalid");
  if (!as_part) return normal;
  return as_part->substr(0, label.size());
}

// RFC 5280 4.2.1.6: SubjectAltName ::= GeneralNames. "If the subject field
// contains an empty sequence, then the issuing CA MUST include a
// subjectAltName extension that is marked as critical."
result<void> add_subject_alt_name(X509& x, const certificate_spec& spec, bool critical) {
  general_names_ptr names(sk_GENERAL_NAME_new_null());
  if (!names) return crypto_failure("cannot make subjectAltName");
  for (const auto& email : spec.emails) {
    auto normal = normalize_email(email);
    if (!normal) return bad_spec("emails", normal.error().message);
    if (auto ok = push_name(*names, ia5_name(GEN_EMAIL, *normal)); !ok) return ok;
  }
  for (const auto& dns : spec.dns_names) {
    if (auto octets = ip_octets(dns)) {
      general_name_ptr gn(GENERAL_NAME_new());
      asn1_octet_string_ptr os(ASN1_OCTET_STRING_new());
      if (!gn || !os || ASN1_OCTET_STRING_set(os.get(), octets->data(), static_cast<int>(octets->size())) != 1) {
        return crypto_failure("cannot make an iPAddress name");
      }
      GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, os.release());
      if (auto ok = push_name(*names, std::move(gn)); !ok) return ok;
      continue;
    }
    auto normal = issuable_dns_name(dns);
    if (!normal) return bad_spec("dns_names", normal.error().message);
    if (auto ok = push_name(*names, ia5_name(GEN_DNS, *normal)); !ok) return ok;
  }
  return add_ext(x, NID_subject_alt_name, names.get(), critical, "subjectAltName");
}

// RFC 5280 4.2.2.1:
//   AuthorityInfoAccessSyntax ::= SEQUENCE SIZE (1..MAX) OF AccessDescription
//   AccessDescription ::= SEQUENCE {
//     accessMethod          OBJECT IDENTIFIER,   -- id-ad-ocsp | id-ad-caIssuers
//     accessLocation        GeneralName  }       -- a URI
// "Conforming CAs MUST mark this extension as non-critical."
result<void> add_authority_info_access(X509& x, std::string_view ocsp, std::string_view ca_issuers) {
  authority_info_access_ptr aia(sk_ACCESS_DESCRIPTION_new_null());
  if (!aia) return crypto_failure("cannot make authorityInfoAccess");
  for (auto [nid, url] : {std::pair{NID_ad_OCSP, ocsp}, std::pair{NID_ad_ca_issuers, ca_issuers}}) {
    if (url.empty()) continue;
    access_description_ptr ad(ACCESS_DESCRIPTION_new());
    if (!ad) return crypto_failure("cannot make an access description");
    auto location = ia5_name(GEN_URI, url);
    if (!location) return unexpected(location.error());
    ad->method = OBJ_nid2obj(nid);
    general_name_ptr replaced(ad->location);  // frees the empty name ACCESS_DESCRIPTION_new made
    ad->location = location->release();
    if (sk_ACCESS_DESCRIPTION_push(aia.get(), ad.get()) <= 0) return crypto_failure("cannot add an access description");
    (void)ad.release();
  }
  if (sk_ACCESS_DESCRIPTION_num(aia.get()) == 0) return {};
  return add_ext(x, NID_info_access, aia.get(), false, "authorityInfoAccess");
}

// RFC 5280 4.2.1.13:
//   CRLDistributionPoints ::= SEQUENCE SIZE (1..MAX) OF DistributionPoint
//   DistributionPoint ::= SEQUENCE {
//     distributionPoint       [0]     DistributionPointName OPTIONAL, ... }
//   DistributionPointName ::= CHOICE {
//     fullName                [0]     GeneralNames, ... }
// "The extension SHOULD be non-critical."
result<void> add_crl_distribution_point(X509& x, std::string_view url) {
  general_names_ptr names(sk_GENERAL_NAME_new_null());
  if (!names) return crypto_failure("cannot make a distribution point");
  if (auto ok = push_name(*names, ia5_name(GEN_URI, url)); !ok) return ok;
  dist_point_name_ptr dpn(DIST_POINT_NAME_new());
  dist_point_ptr dp(DIST_POINT_new());
  crl_dist_points_ptr cdp(sk_DIST_POINT_new_null());
  if (!dpn || !dp || !cdp) return crypto_failure("cannot make a distribution point");
  dpn->type = 0;  // fullName
  dpn->name.fullname = names.release();
  dp->distpoint = dpn.release();
  if (sk_DIST_POINT_push(cdp.get(), dp.get()) <= 0) return crypto_failure("cannot add a distribution point");
  (void)dp.release();
  return add_ext(x, NID_crl_distribution_points, cdp.get(), false, "cRLDistributionPoints");
}

// RFC 6960 4.2.2.2.1: "The value of the extension SHALL be NULL. This
// extension SHOULD be a non-critical extension."
//   id-pkix-ocsp-nocheck OBJECT IDENTIFIER ::= { id-pkix-ocsp 5 }
result<void> add_ocsp_nocheck(X509& x) {
  static constexpr unsigned char der_null[] = {0x05, 0x00};
  asn1_octet_string_ptr value(ASN1_OCTET_STRING_new());
  if (!value || ASN1_OCTET_STRING_set(value.get(), der_null, sizeof der_null) != 1) {
    return crypto_failure("cannot make id-pkix-ocsp-nocheck");
  }
  x509_extension_ptr ext(X509_EXTENSION_create_by_NID(nullptr, NID_id_pkix_OCSP_noCheck, 0, value.get()));
  if (!ext || X509_add_ext(&x, ext.get(), -1) != 1) return crypto_failure("cannot add id-pkix-ocsp-nocheck");
  return {};
}

// SHA-384 for a P-384 signer (RFC 5480 4 pairs the curve with the hash of
// its strength), SHA-256 otherwise.
const EVP_MD* digest_for(const EVP_PKEY& signer) {
  return EVP_PKEY_is_a(&signer, "EC") && EVP_PKEY_get_bits(&signer) == 384 ? EVP_sha384() : EVP_sha256();
}

// RFC 5280 4.1.1.2/4.1.1.3: signatureAlgorithm and signatureValue over the
// DER of tbsCertificate; then the result is checked under `verify_key`, so
// a faulty signature (a broken RSA-CRT, a bad key pair) never leaves here.
result<void> sign_only(X509& x, const EVP_PKEY& signer) {
  auto* signing_key = const_cast<EVP_PKEY*>(&signer);
  if (X509_sign(&x, signing_key, digest_for(signer)) <= 0) return crypto_failure("the issuer key failed to sign");
  return {};
}

result<void> sign_and_check(X509& x, const EVP_PKEY& signer, const EVP_PKEY& verify_key) {
  // OpenSSL 3.0 takes a non-const EVP_PKEY for signing and verifying; it
  // changes neither key (only reference counts and caches).
  auto* signing_key = const_cast<EVP_PKEY*>(&signer);
  if (X509_sign(&x, signing_key, digest_for(signer)) <= 0) return crypto_failure("the issuer key failed to sign");
  if (X509_verify(&x, const_cast<EVP_PKEY*>(&verify_key)) != 1) {
    return crypto_failure("the new certificate does not verify under the issuer's public key");
  }
  return {};
}

// RFC 5280 4.1.2.7: SubjectPublicKeyInfo ::= SEQUENCE { algorithm
// AlgorithmIdentifier, subjectPublicKey BIT STRING }. Copies both from the
// CSR's encoding into the certificate's. Returns false (and copies
// nothing) where the slow path must re-encode: a compressed EC point
// (RFC 5480 2.2) or parameters of a type not seen in R-KEYS keys.
result<bool> copy_spki(X509& x, const X509_PUBKEY& from) {
  ASN1_OBJECT* key_alg = nullptr;
  const unsigned char* key_bits = nullptr;
  int key_len = 0;
  X509_ALGOR* algor = nullptr;
  if (X509_PUBKEY_get0_param(&key_alg, &key_bits, &key_len, &algor, &from) != 1 || key_len <= 0 ||
      algor == nullptr) {
    return crypto_failure("cannot read the subject public key");
  }
  if (OBJ_obj2nid(key_alg) == NID_X9_62_id_ecPublicKey && (key_bits[0] == 0x02 || key_bits[0] == 0x03)) {
    return false;
  }
  const ASN1_OBJECT* alg_oid = nullptr;
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  X509_ALGOR_get0(&alg_oid, &param_type, &param, algor);
  asn1_object_ptr oid(OBJ_dup(alg_oid));
  asn1_object_ptr param_oid;
  asn1_octet_string_ptr param_seq;  // ASN1_STRING, whatever its tag
  void* param_copy = nullptr;
  if (param_type == V_ASN1_OBJECT) {
    param_oid.reset(OBJ_dup(static_cast<const ASN1_OBJECT*>(param)));
    param_copy = param_oid.get();
  } else if (param_type == V_ASN1_SEQUENCE) {
    param_seq.reset(ASN1_STRING_dup(static_cast<const ASN1_STRING*>(param)));
    param_copy = param_seq.get();
  } else if (param_type != V_ASN1_NULL && param_type != V_ASN1_UNDEF) {
    return false;
  }
  openssl_bytes_ptr bits(static_cast<unsigned char*>(OPENSSL_memdup(key_bits, static_cast<std::size_t>(key_len))));
  if (!oid || !bits || (param_copy == nullptr && (param_type == V_ASN1_OBJECT || param_type == V_ASN1_SEQUENCE))) {
    return crypto_failure("cannot copy the subject public key");
  }
  if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(&x), oid.get(), param_type, param_copy, bits.get(), key_len) != 1) {
    return crypto_failure("cannot set the subject public key");
  }
  // Owned by the certificate now.
  (void)oid.release();
  (void)param_oid.release();
  (void)param_seq.release();
  (void)bits.release();
  return true;
}

result<x509_ptr> new_certificate(const serial_number& serial, const X509_NAME& subject, const X509_NAME& issuer,
                                 sys_seconds not_before, sys_seconds not_after, const EVP_PKEY& subject_key,
                                 const X509_PUBKEY* subject_spki) {
  // RFC 5280 4.1: TBSCertificate ::= SEQUENCE { version [0] EXPLICIT
  //   Version DEFAULT v1, serialNumber, signature, issuer, validity,
  //   subject, subjectPublicKeyInfo, ... extensions [3] EXPLICIT ... }
  // "When extensions are used, as expected in this profile, version MUST be 3".
  x509_ptr x(X509_new());
  if (!x || X509_set_version(x.get(), X509_VERSION_3) != 1) return crypto_failure("cannot make a certificate");
  if (auto ok = set_serial(*x, serial); !ok) return unexpected(ok.error());
  if (X509_set_subject_name(x.get(), &subject) != 1 || X509_set_issuer_name(x.get(), &issuer) != 1) {
    return crypto_failure("cannot set the names");
  }
  if (auto ok = set_validity(*x, not_before, not_after); !ok) return unexpected(ok.error());
  if (subject_spki != nullptr) {
    auto copied = copy_spki(*x, *subject_spki);
    if (!copied) return unexpected(copied.error());
    if (*copied) return x;
  }
  auto pub = public_copy(subject_key);
  if (!pub) return unexpected(pub.error());
  if (X509_set_pubkey(x.get(), pub->get()) != 1) return crypto_failure("cannot set the public key");
  return x;
}

}  // namespace

serial_number random_serial(random_source& rng) {
  serial_number s{};
  rng.fill(s);
  s[0] &= 0x7f;             // positive
  if (s[0] == 0) s[0] = 0x01;  // and no leading zero octet to drop in DER
  return s;
}

std::string to_hex(const serial_number& s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (auto b : s) {
    out += digits[b >> 4];
    out += digits[b & 0x0f];
  }
  return out;
}

result<serial_number> serial_from_hex(std::string_view hex) {
  auto refuse = [&](std::string_view why) {
    std::string shown(hex.substr(0, 48));
    for (auto& c : shown) {
      if (c < 0x20 || c >= 0x7f) c = '?';
    }
    return fail(errc::invalid_input, "serial", "'" + shown + "' is not a serial number: " + std::string(why));
  };
  if (hex.size() != 40) return refuse("it must be exactly 40 hexadecimal digits");
  serial_number out{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return refuse("it must be exactly 40 hexadecimal digits");
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  if (!valid_serial(out)) return refuse("its first octet must be 01 to 7f (positive, 20 octets)");
  return out;
}

result<x509_ptr> sign_certificate(const certificate_spec& spec, const ca_signer& issuer) {
  if (!issuer.cert || !issuer.key) return bad_spec("issuer", "the issuer has no certificate or no key");
  if (spec.subject_key == nullptr) return bad_spec("subject_key", "the certificate has no subject key");
  if (!valid_serial(spec.serial)) {
    return bad_spec("serial", "serial " + to_hex(spec.serial) + " is not positive with a non-zero first octet");
  }
  if (spec.not_after <= spec.not_before) {
    return bad_spec("not_after", "not_after " + format_time(spec.not_after) + " is not after not_before " +
                                     format_time(spec.not_before));
  }
  X509* ca = issuer.cert.get();
  const int ca_cmp = ASN1_TIME_cmp_time_t(X509_get0_notAfter(ca), to_time_t(spec.not_after));
  if (ca_cmp == -2) return crypto_failure("cannot read the issuer's notAfter");
  if (ca_cmp < 0) {
    return bad_spec("not_after", "not_after " + format_time(spec.not_after) +
                                     " is beyond the issuer's own notAfter; shorten the validity");
  }
  const bool is_ca = spec.profile == cert_profile::sub_ca;
  const bool has_san = !spec.emails.empty() || !spec.dns_names.empty();
  if (spec.subject_cn.empty() && (is_ca || spec.profile == cert_profile::ocsp_signer)) {
    return bad_spec("subject_cn", "a " + std::string(to_string(spec.profile)) + " certificate needs a common name");
  }
  if (spec.subject_cn.empty() && !has_san) {
    return bad_spec("subject_cn", "the certificate would name no one: no common name and no subjectAltName");
  }
  // RFC 5280 4.2.1.9: the issuer asserts cA TRUE in basicConstraints (and
  // keyCertSign when it has keyUsage), and its pathLenConstraint leaves
  // room when the new certificate is itself a CA.
  if (X509_check_ca(ca) != 1) {
    return bad_spec("issuer", "the issuer certificate is not a CA certificate (basicConstraints cA TRUE)");
  }
  if (is_ca && X509_get_pathlen(ca) == 0) {
    return bad_spec("profile", "the issuer's pathLenConstraint is 0; it cannot certify another CA");
  }
  if (X509_check_private_key(ca, issuer.key.get()) != 1) {
    ERR_clear_error();
    return fail(errc::crypto, "issuer", "the issuer's key does not belong to its certificate");
  }
  // R-KEYS holds for every certificate, whichever path asked for it.
  if (auto ok = check_key(*spec.subject_key); !ok) return unexpected(ok.error());
  const EVP_PKEY* ca_public = X509_get0_pubkey(ca);
  if (ca_public == nullptr) return crypto_failure("cannot read the issuer's public key");

  auto subject = make_subject(spec.subject_cn, spec.subject_org);
  if (!subject) return unexpected(subject.error());
  auto made = new_certificate(spec.serial, **subject, *X509_get_subject_name(ca), spec.not_before, spec.not_after,
                              *spec.subject_key, spec.subject_spki);
  if (!made) return made;
  X509& x = **made;

  const bool rsa = EVP_PKEY_is_a(spec.subject_key, "RSA");
  const bool ec = EVP_PKEY_is_a(spec.subject_key, "EC");
  result<void> ok;
  // The profile table of issuer.h.
  switch (spec.profile) {
    case cert_profile::client_email:
    case cert_profile::client_named:
      ok = add_basic_constraints(x, false, std::nullopt);
      if (ok) {
        ok = rsa ? add_key_usage(x, {digital_signature, key_encipherment})
             : ec ? add_key_usage(x, {digital_signature, key_agreement})
                  : add_key_usage(x, {digital_signature});
      }
      if (ok) ok = add_extended_key_usage(x, {NID_client_auth, NID_email_protect});
      break;
    case cert_profile::server:
      ok = add_basic_constraints(x, false, std::nullopt);
      if (ok)
        ok = rsa ? add_key_usage(x, {digital_signature, key_encipherment}) : add_key_usage(x, {digital_signature});
      if (ok) ok = add_extended_key_usage(x, {NID_server_auth});
      break;
    case cert_profile::code_signing:
      ok = add_basic_constraints(x, false, std::nullopt);
      if (ok) ok = add_key_usage(x, {digital_signature});
      if (ok) ok = add_extended_key_usage(x, {NID_code_sign});
      break;
    case cert_profile::device:
      ok = add_basic_constraints(x, false, std::nullopt);
      if (ok)
        ok = rsa ? add_key_usage(x, {digital_signature, key_encipherment}) : add_key_usage(x, {digital_signature});
      if (ok) ok = add_extended_key_usage(x, {NID_client_auth});
      break;
    case cert_profile::ocsp_signer:
      ok = add_basic_constraints(x, false, std::nullopt);
      if (ok) ok = add_key_usage(x, {digital_signature});
      if (ok) ok = add_extended_key_usage(x, {NID_OCSP_sign});
      if (ok) ok = add_ocsp_nocheck(x);
      break;
    case cert_profile::sub_ca:
      ok = add_basic_constraints(x, true, 0L);
      if (ok) ok = add_key_usage(x, {key_cert_sign, crl_sign});
      // An issuing CA's EKU limits what verifiers accept below it (the
      // CA/Browser Forum's reading of RFC 5280 4.2.1.12, which OpenSSL,
      // NSS and Chrome enforce).
      if (ok && !spec.ca_extended_key_usage.empty()) ok = add_extended_key_usage(x, spec.ca_extended_key_usage);
      break;
  }
  if (!ok) return unexpected(ok.error());

  auto ski = add_subject_key_id(x);
  if (!ski) return unexpected(ski.error());
  const ASN1_OCTET_STRING* issuer_ski = X509_get0_subject_key_id(ca);
  asn1_octet_string_ptr computed;
  if (issuer_ski == nullptr) {  // an issuer without SKI: its key identifier by the same method
    auto id = key_identifier(*ca);
    if (!id) return unexpected(id.error());
    computed = std::move(*id);
    issuer_ski = computed.get();
  }
  if (auto r = add_authority_key_id(x, *issuer_ski); !r) return unexpected(r.error());
  if (has_san) {
    const bool empty_subject = X509_NAME_entry_count(X509_get_subject_name(&x)) == 0;
    if (auto r = add_subject_alt_name(x, spec, empty_subject); !r) return unexpected(r.error());
  }

  for (auto [url, field] :
       {std::pair{&spec.urls.ocsp, "urls.ocsp"}, std::pair{&spec.urls.ca_issuers, "urls.ca_issuers"},
        std::pair{&spec.urls.crl, "urls.crl"}}) {
    if (!url->empty() && !printable_ascii(*url)) {
      return bad_spec(field, std::string(field) + " must be a URL of printable ASCII without spaces");
    }
  }
  const std::string_view ocsp_url = spec.profile == cert_profile::ocsp_signer ? std::string_view() : spec.urls.ocsp;
  if (auto r = add_authority_info_access(x, ocsp_url, spec.urls.ca_issuers); !r) return unexpected(r.error());
  if (!spec.urls.crl.empty()) {
    if (auto r = add_crl_distribution_point(x, spec.urls.crl); !r) return unexpected(r.error());
  }

  // No verify-after-sign here: OpenSSL's RSA already checks its CRT result
  // against the public exponent (the fault that would leak a key), and an
  // ECDSA verify would cost more than twice the signature. The key pair's
  // match is checked above and when the CA is loaded.
  (void)ca_public;
  if (auto r = sign_only(x, *issuer.key); !r) return unexpected(r.error());
  return made;
}

result<x509_ptr> make_root(const EVP_PKEY& key, std::string_view cn, std::string_view org,
                           const serial_number& serial, sys_seconds not_before, sys_seconds not_after) {
  if (cn.empty()) return bad_spec("subject_cn", "a root certificate needs a common name");
  if (!valid_serial(serial)) {
    return bad_spec("serial", "serial " + to_hex(serial) + " is not positive with a non-zero first octet");
  }
  if (not_after <= not_before) {
    return bad_spec("not_after",
                    "not_after " + format_time(not_after) + " is not after not_before " + format_time(not_before));
  }
  if (auto ok = check_key(key); !ok) return unexpected(ok.error());
  std::optional<std::string> o;
  if (!org.empty()) o = std::string(org);
  auto subject = make_subject(cn, o);
  if (!subject) return unexpected(subject.error());
  // RFC 5280 6.1: a self-issued certificate; issuer and subject are the same name.
  auto made = new_certificate(serial, **subject, **subject, not_before, not_after, key, nullptr);
  if (!made) return made;
  X509& x = **made;
  if (auto ok = add_basic_constraints(x, true, std::nullopt); !ok) return unexpected(ok.error());
  if (auto ok = add_key_usage(x, {key_cert_sign, crl_sign}); !ok) return unexpected(ok.error());
  auto ski = add_subject_key_id(x);
  if (!ski) return unexpected(ski.error());
  // RFC 5280 4.2.1.1: the keyIdentifier MAY be omitted in a self-signed
  // certificate; it is given (equal to the SKI) so every certificate of
  // the hierarchy has one.
  if (auto ok = add_authority_key_id(x, **ski); !ok) return unexpected(ok.error());
  const EVP_PKEY* self = X509_get0_pubkey(&x);
  if (self == nullptr) return crypto_failure("cannot read the root's public key");
  if (auto ok = sign_and_check(x, key, *self); !ok) return unexpected(ok.error());
  return made;
}

std::string subject_line(const X509& cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  // RFC 4514 order and escaping, but UTF-8 left readable (no \XX for
  // non-ASCII), since the line is for people and the store.
  const unsigned long flags = (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | ASN1_STRFLGS_UTF8_CONVERT;
  if (X509_NAME_print_ex(bio.get(), X509_get_subject_name(&cert), 0, flags) < 0) {
    ERR_clear_error();
    return {};
  }
  return memory_bio_text(*bio);
}

std::vector<std::string> san_strings(const X509& cert) {
  std::vector<std::string> out;
  int critical = -1;
  general_names_ptr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(&cert, NID_subject_alt_name, &critical, nullptr)));
  ERR_clear_error();
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    int type = 0;
    void* value = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names.get(), i), &type);
    if (type != GEN_DNS && type != GEN_EMAIL && type != GEN_URI && type != GEN_IPADD) continue;
    // These four are IA5String or OCTET STRING, both ASN1_STRING.
    const auto* s = static_cast<const ASN1_STRING*>(value);
    std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
    switch (type) {
      case GEN_DNS: out.push_back("DNS:" + text); break;
      case GEN_EMAIL: out.push_back("email:" + text); break;
      case GEN_URI: out.push_back("URI:" + text); break;
      case GEN_IPADD: {
        char buf[INET6_ADDRSTRLEN] = "?";
        if (text.size() == 4) ::inet_ntop(AF_INET, text.data(), buf, sizeof buf);
        if (text.size() == 16) ::inet_ntop(AF_INET6, text.data(), buf, sizeof buf);
        out.push_back(std::string("IP:") + buf);
        break;
      }
      default: break;
    }
  }
  return out;
}

}  // namespace wotca
