// Serial numbers, the root, and every certificate profile, each checked by
// re-reading the certificate with OpenSSL: purposes, key usage, basic
// constraints, key identifiers, AIA/CDP, SANs, validity, signature, and
// chain verification root -> sub-CA -> leaf.
#include <catch2/catch.hpp>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "core/pki/csr.h"
#include "core/pki/issuer.h"
#include "core/pki/key.h"

using namespace wotca;

namespace {

// splitmix64: deterministic bytes, so a failure can be replayed.
class test_random final : public random_source {
 public:
  explicit test_random(std::uint64_t seed) : state_(seed) {}
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) {
      if (left_ == 0) {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        word_ = z ^ (z >> 31);
        left_ = 8;
      }
      b = static_cast<std::uint8_t>(word_);
      word_ >>= 8;
      --left_;
    }
  }

 private:
  std::uint64_t state_;
  std::uint64_t word_ = 0;
  int left_ = 0;
};

// Every byte the same: the edge cases of random_serial.
class constant_random final : public random_source {
 public:
  explicit constant_random(std::uint8_t b) : b_(b) {}
  void fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), b_); }

 private:
  std::uint8_t b_;
};

sys_seconds at(const char* text) {
  auto t = parse_time(text, "test");
  REQUIRE(t);
  return *t;
}

const issuer_urls class3_urls{"http://127.0.0.1:14081/", "http://127.0.0.1:14082/class3.crt",
                              "http://127.0.0.1:14082/class3.crl"};

evp_pkey_ptr new_key(key_algorithm a) {
  auto k = generate_key(a);
  REQUIRE(k);
  return std::move(*k);
}

// root (P-384) -> class 3 sub-CA (P-256), built once; keys are slow.
struct hierarchy {
  ca_signer root;
  ca_signer sub;
  evp_pkey_ptr leaf_ec;
  evp_pkey_ptr leaf_rsa;
};

const hierarchy& pki() {
  static const hierarchy h = [] {
    test_random rng(1);
    hierarchy out;
    out.root.key = new_key(key_algorithm::ec_p384);
    auto root = make_root(*out.root.key, "WoTCA Root", "WoTCA", random_serial(rng), at("2025-01-01"), at("2045-01-01"));
    REQUIRE(root);
    out.root.cert = std::move(*root);

    out.sub.key = new_key(key_algorithm::ec_p256);
    certificate_spec spec;
    spec.serial = random_serial(rng);
    spec.profile = cert_profile::sub_ca;
    spec.subject_cn = "WoTCA Class 3";
    spec.subject_org = "WoTCA";
    spec.not_before = at("2025-01-01");
    spec.not_after = at("2040-01-01");
    spec.subject_key = out.sub.key.get();
    spec.urls = {"http://127.0.0.1:14081/", "http://127.0.0.1:14082/root.crt", "http://127.0.0.1:14082/root.crl"};
    auto sub = sign_certificate(spec, out.root);
    if (!sub) FAIL(describe(sub.error()));
    out.sub.cert = std::move(*sub);

    out.leaf_ec = new_key(key_algorithm::ec_p256);
    out.leaf_rsa = new_key(key_algorithm::rsa2048);
    return out;
  }();
  return h;
}

certificate_spec leaf_spec(cert_profile profile, const EVP_PKEY& key) {
  static test_random rng(7);
  certificate_spec spec;
  spec.serial = random_serial(rng);
  spec.profile = profile;
  spec.not_before = at("2025-03-01T12:00:00Z");
  spec.not_after = at("2026-03-01T12:00:00Z");
  spec.subject_key = &key;
  spec.urls = class3_urls;
  switch (profile) {
    case cert_profile::client_email:
      spec.subject_cn = "WoTCA Member";
      spec.emails = {"alice@example.org"};
      break;
    case cert_profile::client_named:
      spec.subject_cn = "Alice Example";
      spec.emails = {"alice@example.org", "alice@example.net"};
      break;
    case cert_profile::server:
      spec.subject_cn = "www.example.org";
      spec.dns_names = {"www.example.org", "example.org", "*.api.example.org"};
      break;
    case cert_profile::code_signing: spec.subject_cn = "Alice Example"; break;
    case cert_profile::device: spec.subject_cn = "device-17"; break;
    case cert_profile::ocsp_signer: spec.subject_cn = "WoTCA Class 3 OCSP"; break;
    case cert_profile::sub_ca:
      spec.subject_cn = "WoTCA Sub";
      spec.subject_org = "WoTCA";
      break;
  }
  return spec;
}

x509_ptr sign(const certificate_spec& spec, const ca_signer& issuer) {
  auto cert = sign_certificate(spec, issuer);
  if (!cert) FAIL(describe(cert.error()));
  return std::move(*cert);
}

std::vector<int> eku_nids(const X509& cert, int* critical) {
  std::vector<int> out;
  extended_key_usage_ptr eku(
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(&cert, NID_ext_key_usage, critical, nullptr)));
  if (!eku) return out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i)
    out.push_back(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i)));
  return out;
}

std::string ia5(const GENERAL_NAME* gn) {
  REQUIRE(gn->type == GEN_URI);
  const ASN1_STRING* s = gn->d.uniformResourceIdentifier;
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s))};
}

// (method NID, URL) pairs of authorityInfoAccess, in order.
std::vector<std::pair<int, std::string>> aia_of(const X509& cert) {
  std::vector<std::pair<int, std::string>> out;
  int crit = -1;
  authority_info_access_ptr aia(
      static_cast<AUTHORITY_INFO_ACCESS*>(X509_get_ext_d2i(&cert, NID_info_access, &crit, nullptr)));
  if (!aia) return out;
  CHECK(crit == 0);
  for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia.get()); ++i) {
    const ACCESS_DESCRIPTION* ad = sk_ACCESS_DESCRIPTION_value(aia.get(), i);
    out.emplace_back(OBJ_obj2nid(ad->method), ia5(ad->location));
  }
  return out;
}

std::vector<std::string> crl_urls_of(const X509& cert) {
  std::vector<std::string> out;
  int crit = -1;
  crl_dist_points_ptr cdp(
      static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(&cert, NID_crl_distribution_points, &crit, nullptr)));
  if (!cdp) return out;
  CHECK(crit == 0);
  for (int i = 0; i < sk_DIST_POINT_num(cdp.get()); ++i) {
    const DIST_POINT* dp = sk_DIST_POINT_value(cdp.get(), i);
    REQUIRE(dp->distpoint);
    REQUIRE(dp->distpoint->type == 0);
    for (int k = 0; k < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); ++k) {
      out.push_back(ia5(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, k)));
    }
  }
  return out;
}

std::string octets(const ASN1_OCTET_STRING* s) {
  REQUIRE(s);
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s))};
}

// X509_verify_cert with the root as the only trust anchor, the sub-CA as
// the only intermediate, RFC 5280 strict checks, at `when`, for `purpose`
// (0: no purpose check). Returns the verify error (X509_V_OK on success).
int verify_chain(X509& leaf, const hierarchy& h, int purpose, sys_seconds when) {
  x509_store_ptr store(X509_STORE_new());
  REQUIRE(X509_STORE_add_cert(store.get(), h.root.cert.get()) == 1);
  x509_stack_ptr untrusted(sk_X509_new_null());
  REQUIRE(X509_up_ref(h.sub.cert.get()) == 1);
  REQUIRE(sk_X509_push(untrusted.get(), h.sub.cert.get()) > 0);
  x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), &leaf, untrusted.get()) == 1);
  X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(when.time_since_epoch().count()));
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_X509_STRICT);
  if (purpose != 0) REQUIRE(X509_STORE_CTX_set_purpose(ctx.get(), purpose) == 1);
  int ok = X509_verify_cert(ctx.get());
  int err = X509_STORE_CTX_get_error(ctx.get());
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

const cert_profile all_profiles[] = {cert_profile::client_email, cert_profile::client_named, cert_profile::server,
                                     cert_profile::code_signing, cert_profile::device,       cert_profile::ocsp_signer,
                                     cert_profile::sub_ca};

}  // namespace

TEST_CASE("random_serial: 20 octets, positive, first octet 01..7f, over 1000 draws", "[pki][issuer]") {
  test_random rng(2024);
  std::set<std::string> seen;
  bool high_first_bit_seen_cleared = false;
  for (int i = 0; i < 1000; ++i) {
    serial_number s = random_serial(rng);
    REQUIRE(s.size() == 20);
    REQUIRE(s[0] >= 0x01);
    REQUIRE(s[0] <= 0x7f);
    const std::string hex = to_hex(s);
    REQUIRE(hex.size() == 40);
    seen.insert(hex);
    // Through OpenSSL: a positive INTEGER whose DER content is 20 octets.
    bignum_ptr bn(BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr));
    asn1_integer_ptr integer(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    REQUIRE(integer);
    REQUIRE(ASN1_STRING_length(integer.get()) == 20);
    REQUIRE(ASN1_STRING_type(integer.get()) == V_ASN1_INTEGER);  // not V_ASN1_NEG_INTEGER
    REQUIRE(i2d_ASN1_INTEGER(integer.get(), nullptr) == 22);    // 02 14 + 20 octets
    auto back = serial_from_hex(hex);
    REQUIRE(back);
    REQUIRE(*back == s);
    high_first_bit_seen_cleared = high_first_bit_seen_cleared || s[0] >= 0x40;
  }
  CHECK(seen.size() == 1000);
  CHECK(high_first_bit_seen_cleared);

  constant_random zeros(0x00);
  CHECK(random_serial(zeros)[0] == 0x01);
  constant_random ones(0xff);
  auto s = random_serial(ones);
  CHECK(s[0] == 0x7f);
  CHECK(s[19] == 0xff);
  CHECK(to_hex(s) == "7fffffffffffffffffffffffffffffffffffffff");
}

TEST_CASE("serial_from_hex takes exactly 40 hex digits of a positive 20-octet serial", "[pki][issuer]") {
  auto [text, ok] = GENERATE(table<std::string, bool>({
      {"0123456789abcdef0123456789abcdef01234567", true},
      {"7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", true},
      {"0100000000000000000000000000000000000000", true},
      {"0023456789abcdef0123456789abcdef01234567", false},  // leading zero octet
      {"8023456789abcdef0123456789abcdef01234567", false},  // negative
      {"ff23456789abcdef0123456789abcdef01234567", false},
      {"0123456789abcdef0123456789abcdef0123456", false},   // 39
      {"0123456789abcdef0123456789abcdef012345678", false}, // 41
      {"0123456789abcdef0123456789abcdef0123456g", false},
      {" 123456789abcdef0123456789abcdef01234567", false},
      {"", false},
  }));
  CAPTURE(text);
  auto r = serial_from_hex(text);
  CHECK(r.has_value() == ok);
  if (!ok) {
    CHECK(r.error().code == errc::invalid_input);
    CHECK(r.error().where == "serial");
  } else {
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    CHECK(to_hex(*r) == lower);
  }
}

TEST_CASE("make_root: self-signed CA, keyCertSign|cRLSign, SKI = AKI, SHA-384 on P-384", "[pki][issuer]") {
  const auto& h = pki();
  X509* root = h.root.cert.get();
  CHECK(subject_line(*root) == "CN=WoTCA Root,O=WoTCA");
  CHECK(X509_NAME_cmp(X509_get_subject_name(root), X509_get_issuer_name(root)) == 0);
  CHECK(X509_get_version(root) == X509_VERSION_3);
  CHECK(X509_check_issued(root, root) == X509_V_OK);
  CHECK(X509_verify(root, X509_get0_pubkey(root)) == 1);
  CHECK(X509_get_signature_nid(root) == NID_ecdsa_with_SHA384);
  CHECK(X509_check_ca(root) == 1);
  CHECK(X509_get_pathlen(root) == -1);
  int crit = -1;
  basic_constraints_ptr bc(
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(root, NID_basic_constraints, &crit, nullptr)));
  REQUIRE(bc);
  CHECK(crit == 1);
  CHECK(bc->ca != 0);
  CHECK(bc->pathlen == nullptr);
  CHECK(X509_get_key_usage(root) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  asn1_bit_string_ptr ku(static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(root, NID_key_usage, &crit, nullptr)));
  REQUIRE(ku);
  CHECK(crit == 1);
  CHECK(X509_get_ext_by_NID(root, NID_ext_key_usage, -1) < 0);
  CHECK(X509_get_ext_by_NID(root, NID_info_access, -1) < 0);
  CHECK(X509_get_ext_by_NID(root, NID_crl_distribution_points, -1) < 0);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(X509_pubkey_digest(root, EVP_sha1(), md, &len) == 1);
  CHECK(octets(X509_get0_subject_key_id(root)) == std::string(reinterpret_cast<char*>(md), len));
  CHECK(octets(X509_get0_authority_key_id(root)) == octets(X509_get0_subject_key_id(root)));
  CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(root), 1735689600) == 0);  // 2025-01-01
  CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(root), 2366841600) == 0);   // 2045-01-01
  CHECK(ASN1_STRING_type(X509_get0_notAfter(root)) == V_ASN1_UTCTIME);
  CHECK(X509_check_private_key(root, h.root.key.get()) == 1);
}

TEST_CASE("make_root refuses inconsistent input", "[pki][issuer]") {
  const auto& h = pki();
  serial_number good{};
  good[0] = 0x11;
  CHECK(make_root(*h.root.key, "", "WoTCA", good, at("2025-01-01"), at("2030-01-01")).error().where == "subject_cn");
  CHECK(make_root(*h.root.key, "R", "WoTCA", good, at("2030-01-01"), at("2030-01-01")).error().where == "not_after");
  CHECK(make_root(*h.root.key, "R", "WoTCA", serial_number{}, at("2025-01-01"), at("2030-01-01")).error().where ==
        "serial");
  auto no_org = make_root(*h.root.key, "Just CN", "", good, at("2025-01-01"), at("2030-01-01"));
  REQUIRE(no_org);
  CHECK(subject_line(**no_org) == "CN=Just CN");
}

TEST_CASE("the sub-CA: CA:TRUE pathlen 0 critical, keyCertSign|cRLSign, signed SHA-384 by the root", "[pki][issuer]") {
  const auto& h = pki();
  X509* sub = h.sub.cert.get();
  CHECK(subject_line(*sub) == "CN=WoTCA Class 3,O=WoTCA");
  CHECK(X509_NAME_cmp(X509_get_issuer_name(sub), X509_get_subject_name(h.root.cert.get())) == 0);
  CHECK(X509_check_ca(sub) == 1);
  CHECK(X509_get_pathlen(sub) == 0);
  CHECK(X509_get_key_usage(sub) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(X509_get_signature_nid(sub) == NID_ecdsa_with_SHA384);
  CHECK(X509_verify(sub, X509_get0_pubkey(h.root.cert.get())) == 1);
  CHECK(octets(X509_get0_authority_key_id(sub)) == octets(X509_get0_subject_key_id(h.root.cert.get())));
  CHECK(X509_check_issued(h.root.cert.get(), sub) == X509_V_OK);
  CHECK(crl_urls_of(*sub) == std::vector<std::string>{"http://127.0.0.1:14082/root.crl"});
}

TEST_CASE("every profile, for EC and RSA keys, re-read with OpenSSL", "[pki][issuer]") {
  const auto& h = pki();
  const cert_profile profile = GENERATE(from_range(std::begin(all_profiles), std::end(all_profiles)));
  const bool rsa = GENERATE(false, true);
  CAPTURE(to_string(profile), rsa);
  const EVP_PKEY& key = rsa ? *h.leaf_rsa : *h.leaf_ec;
  const certificate_spec spec = leaf_spec(profile, key);
  // The sub-CA's pathlen 0 leaves no room for a CA below it: another
  // sub-CA comes from the root.
  const bool is_ca = profile == cert_profile::sub_ca;
  const ca_signer& issuer = is_ca ? h.root : h.sub;
  x509_ptr cert = sign(spec, issuer);
  X509* x = cert.get();

  // Version, serial, names, validity, the key, the signature.
  CHECK(X509_get_version(x) == X509_VERSION_3);
  {
    bignum_ptr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr));
    serial_number s{};
    REQUIRE(BN_bn2binpad(bn.get(), s.data(), static_cast<int>(s.size())) == 20);
    CHECK(s == spec.serial);
  }
  CHECK(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(issuer.cert.get())) == 0);
  CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), static_cast<time_t>(spec.not_before.time_since_epoch().count())) ==
        0);
  CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), static_cast<time_t>(spec.not_after.time_since_epoch().count())) ==
        0);
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(x), &key) == 1);
  CHECK(X509_verify(x, X509_get0_pubkey(issuer.cert.get())) == 1);
  CHECK(X509_verify(x, X509_get0_pubkey((is_ca ? h.sub : h.root).cert.get())) != 1);
  // SHA-384 under the P-384 root, SHA-256 under the P-256 sub-CA.
  CHECK(X509_get_signature_nid(x) == (is_ca ? NID_ecdsa_with_SHA384 : NID_ecdsa_with_SHA256));
  CHECK(X509_check_issued(issuer.cert.get(), x) == X509_V_OK);
  const std::string expected_subject =
      spec.subject_org ? "CN=" + spec.subject_cn + ",O=" + *spec.subject_org : "CN=" + spec.subject_cn;
  CHECK(subject_line(*x) == expected_subject);

  // basicConstraints: always critical; CA only for sub_ca, with pathlen 0.
  int crit = -1;
  basic_constraints_ptr bc(static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x, NID_basic_constraints, &crit, nullptr)));
  REQUIRE(bc);
  CHECK(crit == 1);
  CHECK((bc->ca != 0) == is_ca);
  CHECK(X509_check_ca(x) == (is_ca ? 1 : 0));
  CHECK(X509_get_pathlen(x) == (is_ca ? 0 : -1));

  // keyUsage: critical, exactly the profile's bits.
  asn1_bit_string_ptr ku(static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(x, NID_key_usage, &crit, nullptr)));
  REQUIRE(ku);
  CHECK(crit == 1);
  std::uint32_t expected_ku = 0;
  std::vector<int> expected_eku;
  switch (profile) {
    case cert_profile::client_email:
    case cert_profile::client_named:
      expected_ku = KU_DIGITAL_SIGNATURE | (rsa ? KU_KEY_ENCIPHERMENT : KU_KEY_AGREEMENT);
      expected_eku = {NID_client_auth, NID_email_protect};
      break;
    case cert_profile::server:
      expected_ku = KU_DIGITAL_SIGNATURE | (rsa ? KU_KEY_ENCIPHERMENT : 0);
      expected_eku = {NID_server_auth};
      break;
    case cert_profile::code_signing:
      expected_ku = KU_DIGITAL_SIGNATURE;
      expected_eku = {NID_code_sign};
      break;
    case cert_profile::device:
      expected_ku = KU_DIGITAL_SIGNATURE | (rsa ? KU_KEY_ENCIPHERMENT : 0);
      expected_eku = {NID_client_auth};
      break;
    case cert_profile::ocsp_signer:
      expected_ku = KU_DIGITAL_SIGNATURE;
      expected_eku = {NID_OCSP_sign};
      break;
    case cert_profile::sub_ca: expected_ku = KU_KEY_CERT_SIGN | KU_CRL_SIGN; break;
  }
  CHECK(X509_get_key_usage(x) == expected_ku);
  crit = -1;
  CHECK(eku_nids(*x, &crit) == expected_eku);
  if (!expected_eku.empty()) CHECK(crit == 0);

  // SKI: SHA-1 of the subjectPublicKey BIT STRING; AKI: the issuer's SKI.
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  REQUIRE(X509_pubkey_digest(x, EVP_sha1(), md, &md_len) == 1);
  CHECK(octets(X509_get0_subject_key_id(x)) == std::string(reinterpret_cast<char*>(md), md_len));
  CHECK(octets(X509_get0_authority_key_id(x)) == octets(X509_get0_subject_key_id(issuer.cert.get())));

  // AIA: OCSP (not for the OCSP signer), then caIssuers; the CRL DP.
  std::vector<std::pair<int, std::string>> expected_aia;
  if (profile != cert_profile::ocsp_signer) expected_aia.emplace_back(NID_ad_OCSP, class3_urls.ocsp);
  expected_aia.emplace_back(NID_ad_ca_issuers, class3_urls.ca_issuers);
  CHECK(aia_of(*x) == expected_aia);
  CHECK(crl_urls_of(*x) == std::vector<std::string>{class3_urls.crl});

  // id-pkix-ocsp-nocheck, NULL, non-critical: the OCSP signer only.
  const int nocheck = X509_get_ext_by_NID(x, NID_id_pkix_OCSP_noCheck, -1);
  CHECK((nocheck >= 0) == (profile == cert_profile::ocsp_signer));
  if (nocheck >= 0) {
    X509_EXTENSION* ext = X509_get_ext(x, nocheck);
    CHECK(X509_EXTENSION_get_critical(ext) == 0);
    CHECK(octets(X509_EXTENSION_get_data(ext)) == std::string("\x05\x00", 2));
  }

  // SANs as given; not critical, since the subject names someone.
  std::vector<std::string> expected_sans;
  for (const auto& e : spec.emails) expected_sans.push_back("email:" + e);
  for (const auto& d : spec.dns_names) expected_sans.push_back("DNS:" + d);
  CHECK(san_strings(*x) == expected_sans);
  if (!expected_sans.empty()) {
    general_names_ptr gns(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, &crit, nullptr)));
    REQUIRE(gns);
    CHECK(crit == 0);
  }

  // OpenSSL's own purpose checks, as a leaf (ca = 0).
  CHECK(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0) == (profile == cert_profile::server ? 1 : 0));
  const bool tls_client = profile == cert_profile::client_email || profile == cert_profile::client_named ||
                          profile == cert_profile::device;
  CHECK((X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0) == 1) == tls_client);
  const bool smime = profile == cert_profile::client_email || profile == cert_profile::client_named;
  CHECK((X509_check_purpose(x, X509_PURPOSE_SMIME_SIGN, 0) == 1) == smime);
  CHECK(((X509_get_extended_key_usage(x) & XKU_CODE_SIGN) != 0 && !is_ca) == (profile == cert_profile::code_signing));
  CHECK(((X509_get_extended_key_usage(x) & XKU_OCSP_SIGN) != 0 && !is_ca) == (profile == cert_profile::ocsp_signer));

  // The chain root -> sub-CA -> this certificate (root -> this for a
  // sub-CA), strict RFC 5280 checks.
  const sys_seconds when = at("2025-06-01");
  CHECK(verify_chain(*x, h, 0, when) == X509_V_OK);
  CHECK(verify_chain(*x, h, X509_PURPOSE_SSL_SERVER, when) ==
        (profile == cert_profile::server ? X509_V_OK : X509_V_ERR_INVALID_PURPOSE));
  if (tls_client) CHECK(verify_chain(*x, h, X509_PURPOSE_SSL_CLIENT, when) == X509_V_OK);
  CHECK(verify_chain(*x, h, 0, at("2026-06-01")) == X509_V_ERR_CERT_HAS_EXPIRED);

  // DER and PEM round trips.
  auto der = to_der(*x);
  auto back = certificate_from_der(der);
  REQUIRE(back);
  CHECK(X509_cmp(back->get(), x) == 0);
  CHECK(to_pem(*x).starts_with("-----BEGIN CERTIFICATE-----\n"));
}

TEST_CASE("R-SERVER-50 at the profile level: only the server profile carries serverAuth", "[pki][issuer]") {
  const auto& h = pki();
  for (cert_profile profile : all_profiles) {
    CAPTURE(to_string(profile));
    x509_ptr cert = sign(leaf_spec(profile, *h.leaf_ec), profile == cert_profile::sub_ca ? h.root : h.sub);
    int crit = -1;
    const auto ekus = eku_nids(*cert, &crit);
    const bool server_auth = std::find(ekus.begin(), ekus.end(), NID_server_auth) != ekus.end();
    CHECK(server_auth == (profile == cert_profile::server));
    // A certificate without any EKU would be good for every purpose; only
    // the CA certificate may lack one.
    CHECK(ekus.empty() == (profile == cert_profile::sub_ca));
    CHECK(std::find(ekus.begin(), ekus.end(), NID_anyExtendedKeyUsage) == ekus.end());
    CHECK((X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 1) == (profile == cert_profile::server));
  }
}

TEST_CASE("a server certificate without a CN: empty subject, critical SAN", "[pki][issuer]") {
  const auto& h = pki();
  certificate_spec spec = leaf_spec(cert_profile::server, *h.leaf_ec);
  spec.subject_cn.clear();
  spec.dns_names = {"a.example.org", "B.Example.Org."};
  x509_ptr cert = sign(spec, h.sub);
  CHECK(X509_NAME_entry_count(X509_get_subject_name(cert.get())) == 0);
  CHECK(subject_line(*cert).empty());
  int crit = -1;
  general_names_ptr gns(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, &crit, nullptr)));
  REQUIRE(gns);
  CHECK(crit == 1);
  CHECK(san_strings(*cert) == std::vector<std::string>{"DNS:a.example.org", "DNS:b.example.org"});
  CHECK(verify_chain(*cert, h, X509_PURPOSE_SSL_SERVER, at("2025-06-01")) == X509_V_OK);
}

TEST_CASE("subject details: UTF8String CN, IP literals, GeneralizedTime from 2050, no URLs", "[pki][issuer]") {
  const auto& h = pki();
  SECTION("the CN is a UTF8String and the subject line keeps UTF-8") {
    certificate_spec spec = leaf_spec(cert_profile::client_named, *h.leaf_ec);
    spec.subject_cn = "Zo\xc3\xab Example";
    x509_ptr cert = sign(spec, h.sub);
    const X509_NAME* name = X509_get_subject_name(cert.get());
    const int at_cn = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    REQUIRE(at_cn >= 0);
    CHECK(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at_cn))) == V_ASN1_UTF8STRING);
    CHECK(subject_line(*cert) == "CN=Zo\xc3\xab Example");
  }
  SECTION("RFC 4514 escaping in the subject line") {
    certificate_spec spec = leaf_spec(cert_profile::device, *h.leaf_ec);
    spec.subject_cn = "router, rack 4";
    CHECK(subject_line(*sign(spec, h.sub)) == "CN=router\\, rack 4");
  }
  SECTION("IP literals become iPAddress names (ACME's own TLS certificate)") {
    certificate_spec spec = leaf_spec(cert_profile::server, *h.leaf_ec);
    spec.subject_cn = "localhost";
    spec.dns_names = {"LocalHost", "127.0.0.1", "::1"};
    x509_ptr cert = sign(spec, h.sub);
    CHECK(san_strings(*cert) == std::vector<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1"});
    CHECK(X509_check_ip_asc(cert.get(), "127.0.0.1", 0) == 1);
  }
  SECTION("UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5)") {
    test_random rng(99);
    auto root = make_root(*h.root.key, "Long Root", "WoTCA", random_serial(rng), at("2025-01-01"), at("2060-01-01"));
    REQUIRE(root);
    CHECK(ASN1_STRING_type(X509_get0_notAfter(root->get())) == V_ASN1_GENERALIZEDTIME);
    // The root was made with h.root.key; a copy of that key signs.
    ca_signer long_root{std::move(*root), nullptr};
    unsigned char* raw = nullptr;
    int len = i2d_PrivateKey(h.root.key.get(), &raw);
    REQUIRE(len > 0);
    openssl_bytes_ptr der(raw);
    const unsigned char* p = raw;
    long_root.key.reset(d2i_AutoPrivateKey(nullptr, &p, len));
    REQUIRE(long_root.key);
    certificate_spec spec = leaf_spec(cert_profile::device, *h.leaf_ec);
    spec.not_before = at("2049-12-31T23:59:59Z");
    spec.not_after = at("2050-01-01T00:00:00Z");
    x509_ptr cert = sign(spec, long_root);
    CHECK(ASN1_STRING_type(X509_get0_notBefore(cert.get())) == V_ASN1_UTCTIME);
    CHECK(ASN1_STRING_type(X509_get0_notAfter(cert.get())) == V_ASN1_GENERALIZEDTIME);
    CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert.get()), 2524608000) == 0);
    CHECK(X509_get_signature_nid(cert.get()) == NID_ecdsa_with_SHA384);
  }
  SECTION("an EC key given with a compressed point is certified uncompressed (RFC 5480 2.2)") {
    unsigned char* raw = nullptr;
    int len = i2d_PUBKEY(h.leaf_ec.get(), &raw);
    REQUIRE(len > 0);
    openssl_bytes_ptr der(raw);
    const unsigned char* p = raw;
    evp_pkey_ptr compressed(d2i_PUBKEY(nullptr, &p, len));
    REQUIRE(compressed);
    char form[] = "compressed";
    REQUIRE(EVP_PKEY_set_utf8_string_param(compressed.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, form) == 1);
    REQUIRE(i2d_PUBKEY(compressed.get(), nullptr) < len);  // really compressed now
    x509_ptr cert = sign(leaf_spec(cert_profile::server, *compressed), h.sub);
    const ASN1_BIT_STRING* point = X509_get0_pubkey_bitstr(cert.get());
    REQUIRE(point);
    CHECK(ASN1_STRING_length(point) == 65);
    CHECK(ASN1_STRING_get0_data(point)[0] == 0x04);
    CHECK(EVP_PKEY_eq(X509_get0_pubkey(cert.get()), h.leaf_ec.get()) == 1);
  }
  SECTION("no URLs, no AIA and no CDP") {
    certificate_spec spec = leaf_spec(cert_profile::client_email, *h.leaf_ec);
    spec.urls = {};
    x509_ptr cert = sign(spec, h.sub);
    CHECK(X509_get_ext_by_NID(cert.get(), NID_info_access, -1) < 0);
    CHECK(X509_get_ext_by_NID(cert.get(), NID_crl_distribution_points, -1) < 0);
  }
  SECTION("an RSA issuer signs with SHA-256") {
    test_random rng(5);
    auto rsa_key = generate_key(key_algorithm::rsa2048);
    REQUIRE(rsa_key);
    auto root = make_root(**rsa_key, "RSA Root", "WoTCA", random_serial(rng), at("2025-01-01"), at("2035-01-01"));
    REQUIRE(root);
    CHECK(X509_get_signature_nid(root->get()) == NID_sha256WithRSAEncryption);
    ca_signer rsa_ca{std::move(*root), std::move(*rsa_key)};
    x509_ptr cert = sign(leaf_spec(cert_profile::server, *h.leaf_ec), rsa_ca);
    CHECK(X509_get_signature_nid(cert.get()) == NID_sha256WithRSAEncryption);
  }
}

TEST_CASE("a CSR's key and names go into a certificate that verifies", "[pki][issuer]") {
  const auto& h = pki();
  std::ifstream in(std::string(WOTCA_TESTDATA) + "/pki/dns_no_cn.csr.der", std::ios::binary);
  std::vector<std::uint8_t> der{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto csr = parse_csr(der);
  REQUIRE(csr);
  certificate_spec spec = leaf_spec(cert_profile::server, *csr->public_key());
  spec.subject_cn.clear();
  spec.dns_names = csr->dns_names;
  x509_ptr cert = sign(spec, h.sub);
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(cert.get()), csr->public_key()) == 1);
  CHECK(san_strings(*cert) ==
        std::vector<std::string>{"DNS:a.example.org", "DNS:b.example.org", "DNS:c.example.org"});
  CHECK(verify_chain(*cert, h, X509_PURPOSE_SSL_SERVER, at("2025-06-01")) == X509_V_OK);
}

TEST_CASE("sign_certificate refuses inconsistent specs, naming the field", "[pki][issuer]") {
  const auto& h = pki();
  certificate_spec spec = leaf_spec(cert_profile::server, *h.leaf_ec);
  auto refused = [&](errc code, const std::string& where) {
    auto r = sign_certificate(spec, h.sub);
    REQUIRE_FALSE(r);
    CAPTURE(r.error().message);
    CHECK(r.error().code == code);
    CHECK(r.error().where == where);
    CHECK_FALSE(r.error().message.empty());
  };
  SECTION("no subject key") {
    spec.subject_key = nullptr;
    refused(errc::invalid_input, "subject_key");
  }
  SECTION("not_after equal to not_before") {
    spec.not_after = spec.not_before;
    refused(errc::invalid_input, "not_after");
  }
  SECTION("not_after before not_before") {
    spec.not_after = spec.not_before - std::chrono::seconds(1);
    refused(errc::invalid_input, "not_after");
  }
  SECTION("beyond the issuer's notAfter") {
    spec.not_after = at("2040-01-01T00:00:01Z");
    refused(errc::invalid_input, "not_after");
  }
  SECTION("exactly the issuer's notAfter is fine") {
    spec.not_after = at("2040-01-01");
    CHECK(sign_certificate(spec, h.sub).has_value());
  }
  SECTION("neither CN nor SAN") {
    spec.subject_cn.clear();
    spec.dns_names.clear();
    refused(errc::invalid_input, "subject_cn");
  }
  SECTION("a CA certificate without a CN") {
    spec = leaf_spec(cert_profile::sub_ca, *h.leaf_ec);
    spec.subject_cn.clear();
    spec.dns_names = {"ca.example.org"};
    refused(errc::invalid_input, "subject_cn");
  }
  SECTION("a CA below a CA whose pathLenConstraint is 0") {
    spec = leaf_spec(cert_profile::sub_ca, *h.leaf_ec);
    refused(errc::invalid_input, "profile");
  }
  SECTION("a CN longer than ub-common-name") {
    spec.subject_cn = std::string(65, 'a');
    refused(errc::invalid_input, "subject_cn");
  }
  SECTION("a CN with a control character") {
    spec.subject_cn = "evil\nname";
    refused(errc::invalid_input, "subject_cn");
  }
  SECTION("a CN that is not UTF-8") {
    spec.subject_cn = "Zo\xeb";
    refused(errc::invalid_input, "subject_cn");
  }
  SECTION("a zero serial") {
    spec.serial = serial_number{};
    refused(errc::invalid_input, "serial");
  }
  SECTION("a negative serial") {
    spec.serial[0] = 0x80;
    refused(errc::invalid_input, "serial");
  }
  SECTION("a malformed DNS name") {
    auto bad = GENERATE(as<std::string>{}, "bad_name.example.org", "-localhost", "*", "www.*.example.org", "", ".",
                        "a..b");
    CAPTURE(bad);
    spec.dns_names = {"www.example.org", bad};
    refused(errc::invalid_input, "dns_names");
  }
  SECTION("a malformed email") {
    spec = leaf_spec(cert_profile::client_email, *h.leaf_ec);
    spec.emails = {"not-an-email"};
    refused(errc::invalid_input, "emails");
  }
  SECTION("a URL with a space") {
    spec.urls.ocsp = "http://ocsp example/";
    refused(errc::invalid_input, "urls.ocsp");
  }
  SECTION("a subject key R-KEYS refuses") {
    bio_ptr bio(BIO_new_file((std::string(WOTCA_TESTDATA) + "/pki/rsa1024.csr.pem").c_str(), "r"));
    x509_req_ptr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    REQUIRE(req);
    spec.subject_key = X509_REQ_get0_pubkey(req.get());
    refused(errc::denied, "R-KEYS");
  }
  SECTION("an issuer whose key is not its certificate's") {
    ca_signer wrong{x509_ptr(X509_dup(h.sub.cert.get())), new_key(key_algorithm::ec_p256)};
    auto r = sign_certificate(spec, wrong);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::crypto);
    CHECK(r.error().where == "issuer");
  }
  SECTION("an issuer that is not a CA") {
    auto leaf_key = new_key(key_algorithm::ec_p256);
    certificate_spec leaf = leaf_spec(cert_profile::device, *leaf_key);
    ca_signer not_ca{sign(leaf, h.sub), std::move(leaf_key)};
    auto r = sign_certificate(spec, not_ca);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_input);
    CHECK(r.error().where == "issuer");
  }
  SECTION("an issuer with nothing in it") {
    ca_signer empty;
    auto r = sign_certificate(spec, empty);
    REQUIRE_FALSE(r);
    CHECK(r.error().where == "issuer");
  }
}

TEST_CASE("an issuing CA's extendedKeyUsage limits what verifies below it (R-SERVER-50 in the chain)", "[pki][issuer]") {
  const hierarchy& h = pki();
  test_random rng(77);
  // A Class 1 CA as init makes it: no serverAuth among its purposes.
  auto class1_key = new_key(key_algorithm::ec_p256);
  certificate_spec ca_spec;
  ca_spec.serial = random_serial(rng);
  ca_spec.profile = cert_profile::sub_ca;
  ca_spec.subject_cn = "WoTCA Class 1";
  ca_spec.not_before = at("2025-01-01");
  ca_spec.not_after = at("2040-01-01");
  ca_spec.subject_key = class1_key.get();
  ca_spec.ca_extended_key_usage = {NID_client_auth, NID_email_protect, NID_OCSP_sign};
  auto class1_cert = sign_certificate(ca_spec, h.root);
  REQUIRE(class1_cert);
  CHECK(X509_get_extended_key_usage(class1_cert->get()) == (XKU_SSL_CLIENT | XKU_SMIME | XKU_OCSP_SIGN));
  hierarchy limited;
  limited.root = ca_signer{x509_ptr(X509_dup(h.root.cert.get())), evp_pkey_ptr(EVP_PKEY_dup(h.root.key.get()))};
  limited.sub = ca_signer{std::move(*class1_cert), std::move(class1_key)};

  auto leaf = [&](cert_profile p, std::vector<std::string> dns, std::vector<std::string> emails) {
    certificate_spec s;
    s.serial = random_serial(rng);
    s.profile = p;
    s.subject_cn = "leaf";
    s.dns_names = std::move(dns);
    s.emails = std::move(emails);
    s.not_before = at("2025-06-01");
    s.not_after = at("2026-06-01");
    s.subject_key = h.leaf_ec.get();
    auto c = sign_certificate(s, limited.sub);
    REQUIRE(c);
    return std::move(*c);
  };
  // Even if a server certificate were signed under Class 1, no verifier
  // would accept it for TLS servers.
  auto server = leaf(cert_profile::server, {"www.example.org"}, {});
  CHECK(verify_chain(*server, limited, X509_PURPOSE_SSL_SERVER, at("2025-07-01")) == X509_V_ERR_INVALID_PURPOSE);
  auto client = leaf(cert_profile::client_email, {}, {"a@example.org"});
  CHECK(verify_chain(*client, limited, X509_PURPOSE_SSL_CLIENT, at("2025-07-01")) == X509_V_OK);
  CHECK(verify_chain(*client, limited, X509_PURPOSE_SMIME_SIGN, at("2025-07-01")) == X509_V_OK);
  // The unlimited sub-CA of the fixture still verifies server certificates.
  CHECK(X509_get_extended_key_usage(h.sub.cert.get()) == UINT32_MAX);
}
