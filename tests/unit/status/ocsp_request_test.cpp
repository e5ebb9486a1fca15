// decode_ocsp_request (core/status/ocsp_request.h) three ways (STYLE.md 16):
//  - the requests of tests/data/ocsp (made by make.sh with `openssl ocsp`;
//    dump.txt shows each), decoded and compared field by field with
//    OpenSSL's own parse (d2i_OCSP_REQUEST + OCSP_id_get0_info);
//  - requests built here field by field, each row changing one thing, with
//    every accepted one also checked against OpenSSL;
//  - rejection of every prefix of each valid request, and of malformed rows.
#include <catch2/catch.hpp>

#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/pki/ossl.h"
#include "core/status/ocsp_request.h"

using namespace wotca;

namespace {

using bytes = std::vector<std::uint8_t>;

bytes data_file(const std::string& name) {
  std::ifstream in(std::string(WOTCA_TESTDATA) + "/ocsp/" + name, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bytes to_bytes(std::span<const std::uint8_t> s) { return {s.begin(), s.end()}; }
bytes to_bytes(const ASN1_STRING* s) {
  const auto* p = ASN1_STRING_get0_data(s);
  return {p, p + ASN1_STRING_length(s)};
}

// ---- A DER builder for the hand-made rows ----------------------------------

bytes tlv(std::uint8_t tag, const bytes& contents) {
  bytes out{tag};
  const std::size_t n = contents.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else if (n < 0x100) {
    out.insert(out.end(), {0x81, static_cast<std::uint8_t>(n)});
  } else if (n < 0x10000) {
    out.insert(out.end(), {0x82, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
  } else {
    out.insert(out.end(), {0x83, static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8),
                           static_cast<std::uint8_t>(n)});
  }
  out.insert(out.end(), contents.begin(), contents.end());
  return out;
}
bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
bytes seq(std::initializer_list<bytes> parts) { return tlv(0x30, cat(parts)); }
bytes ctx(unsigned n, std::initializer_list<bytes> parts) { return tlv(static_cast<std::uint8_t>(0xa0 | n), cat(parts)); }
bytes octets(const bytes& b) { return tlv(0x04, b); }
bytes integer(const bytes& b) { return tlv(0x02, b); }
bytes oid(const bytes& b) { return tlv(0x06, b); }
const bytes null_value{0x05, 0x00};

const bytes sha1_oid{0x2b, 0x0e, 0x03, 0x02, 0x1a};
const bytes sha256_oid{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
const bytes sha224_oid{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04};
const bytes nonce_oid{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02};
const bytes other_ext_oid{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x04};  // id-pkix-ocsp-response
const bytes nonce16{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};

bytes hash20(std::uint8_t fill) { return bytes(20, fill); }

bytes cert_id_der(const bytes& alg_id, const bytes& name_hash, const bytes& key_hash, const bytes& serial) {
  return seq({alg_id, octets(name_hash), octets(key_hash), integer(serial)});
}
const bytes sha1_alg = seq({oid(sha1_oid), null_value});
const bytes default_cert_id = cert_id_der(sha1_alg, hash20(0x11), hash20(0x22), {0x10, 0x01});

bytes extension(const bytes& id, const bytes& value, const bytes& critical = {}) {
  return seq({oid(id), critical, octets(value)});
}
bytes nonce_extension(const bytes& n) { return extension(nonce_oid, octets(n)); }

// OCSPRequest { TBSRequest { [prefix] requestList, [suffix] }, [after] }
bytes request_der(const bytes& request_list_contents, const bytes& tbs_prefix = {}, const bytes& tbs_suffix = {},
                  const bytes& after_tbs = {}) {
  return seq({seq({tbs_prefix, tlv(0x30, request_list_contents), tbs_suffix}), after_tbs});
}
bytes one(const bytes& cert_id) { return request_der(seq({cert_id})); }
bytes with_extensions(std::initializer_list<bytes> exts) {
  return request_der(seq({default_cert_id}), {}, ctx(2, {tlv(0x30, cat(exts))}));
}

// ---- The differential check against OpenSSL ---------------------------------

hash_algorithm from_nid(int nid) {
  switch (nid) {
    case NID_sha1: return hash_algorithm::sha1;
    case NID_sha256: return hash_algorithm::sha256;
    case NID_sha384: return hash_algorithm::sha384;
    case NID_sha512: return hash_algorithm::sha512;
    default: return hash_algorithm::unknown;
  }
}

// Parses `der` with OpenSSL (all bytes consumed) and checks that `ours`
// holds the same CertIDs, nonce and signed flag.
void same_as_openssl(const bytes& der, const ocsp_request& ours) {
  const unsigned char* p = der.data();
  ocsp_request_ptr req(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(req != nullptr);
  REQUIRE(p == der.data() + der.size());
  REQUIRE(OCSP_request_onereq_count(req.get()) == static_cast<int>(ours.ids.size()));
  for (std::size_t i = 0; i < ours.ids.size(); ++i) {
    CAPTURE(i);
    OCSP_CERTID* cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), static_cast<int>(i)));
    ASN1_OCTET_STRING* name_hash = nullptr;
    ASN1_OCTET_STRING* key_hash = nullptr;
    ASN1_OBJECT* md = nullptr;
    ASN1_INTEGER* serial = nullptr;
    REQUIRE(OCSP_id_get0_info(&name_hash, &md, &key_hash, &serial, cid) == 1);
    CHECK(ours.ids[i].alg == from_nid(OBJ_obj2nid(md)));
    CHECK(to_bytes(ours.ids[i].issuer_name_hash) == to_bytes(name_hash));
    CHECK(to_bytes(ours.ids[i].issuer_key_hash) == to_bytes(key_hash));
    // The serial as OpenSSL re-encodes it: tag, length, our contents.
    unsigned char* enc = nullptr;
    int len = i2d_ASN1_INTEGER(serial, &enc);
    openssl_bytes_ptr owned(enc);
    REQUIRE(len > 0);
    CHECK(bytes(enc + 2, enc + len) == to_bytes(ours.ids[i].serial));
  }
  CHECK(ours.signed_request == (OCSP_request_is_signed(req.get()) == 1));
  int at = OCSP_REQUEST_get_ext_by_NID(req.get(), NID_id_pkix_OCSP_Nonce, -1);
  REQUIRE(ours.nonce.has_value() == (at >= 0));
  if (at >= 0) {
    bytes extn_value = to_bytes(X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(req.get(), at)));
    if (ours.nonce_unwrapped) {
      CHECK(to_bytes(*ours.nonce) == extn_value);
    } else {
      const unsigned char* q = extn_value.data();
      asn1_octet_string_ptr inner(d2i_ASN1_OCTET_STRING(nullptr, &q, static_cast<long>(extn_value.size())));
      REQUIRE(inner != nullptr);
      CHECK(q == extn_value.data() + extn_value.size());
      CHECK(to_bytes(*ours.nonce) == to_bytes(inner.get()));
    }
  }
}

bytes serial_of(const std::string& cert_file) {
  bytes pem = data_file(cert_file);
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(cert != nullptr);
  unsigned char* enc = nullptr;
  int len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert.get()), &enc);
  openssl_bytes_ptr owned(enc);
  REQUIRE(len > 2);
  return bytes(enc + 2, enc + len);
}

const std::vector<std::string> request_files{
    "sha1_nonce.req.der", "sha1_no_nonce.req.der", "sha256.req.der",      "sha256_nonce.req.der",
    "sha384.req.der",     "sha512.req.der",        "sha224.req.der",      "multi.req.der",
    "multi_mixed.req.der", "by_serial.req.der",    "signed.req.der",
};

using algs = std::vector<hash_algorithm>;
using certs = std::vector<std::string>;

}  // namespace

TEST_CASE("decode_ocsp_request reads what `openssl ocsp` sends, as OpenSSL parses it", "[status][ocsp]") {
  // file, hash of each CertID, the certificate of each CertID, nonce, signed
  auto [file, want_algs, want_certs, nonce, is_signed] = GENERATE(table<std::string, algs, certs, bool, bool>({
      {"sha1_nonce.req.der", {hash_algorithm::sha1}, {"leaf1.cert.pem"}, true, false},
      {"sha1_no_nonce.req.der", {hash_algorithm::sha1}, {"leaf1.cert.pem"}, false, false},
      {"sha256.req.der", {hash_algorithm::sha256}, {"leaf1.cert.pem"}, false, false},
      {"sha256_nonce.req.der", {hash_algorithm::sha256}, {"leaf2.cert.pem"}, true, false},
      {"sha384.req.der", {hash_algorithm::sha384}, {"leaf1.cert.pem"}, false, false},
      {"sha512.req.der", {hash_algorithm::sha512}, {"leaf2.cert.pem"}, false, false},
      // SHA-224 is no CertID hash we serve: decoded, alg unknown, hashes as sent.
      {"sha224.req.der", {hash_algorithm::unknown}, {"leaf1.cert.pem"}, false, false},
      {"multi.req.der", {hash_algorithm::sha1, hash_algorithm::sha1}, {"leaf1.cert.pem", "leaf2.cert.pem"}, true,
       false},
      {"multi_mixed.req.der", {hash_algorithm::sha1, hash_algorithm::sha256}, {"leaf1.cert.pem", "leaf2.cert.pem"},
       false, false},
      {"by_serial.req.der", {hash_algorithm::sha1}, {"leaf2.cert.pem"}, false, false},
      {"signed.req.der", {hash_algorithm::sha1}, {"leaf1.cert.pem"}, true, true},
  }));
  CAPTURE(file);
  const bytes der = data_file(file);
  auto r = decode_ocsp_request(der, request_limits{});
  if (!r) FAIL(describe(r.error()));
  REQUIRE(r->ids.size() == want_algs.size());
  for (std::size_t i = 0; i < want_algs.size(); ++i) {
    CHECK(r->ids[i].alg == want_algs[i]);
    if (want_algs[i] != hash_algorithm::unknown) {
      CHECK(r->ids[i].issuer_name_hash.size() == digest_size(want_algs[i]));
      CHECK(r->ids[i].issuer_key_hash.size() == digest_size(want_algs[i]));
    } else {
      CHECK(r->ids[i].issuer_name_hash.size() == 28);
    }
    CHECK(to_bytes(r->ids[i].serial) == serial_of(want_certs[i]));
  }
  // Spans point into the caller's buffer.
  CHECK(r->ids[0].serial.data() > der.data());
  CHECK(r->ids[0].serial.data() < der.data() + der.size());
  CHECK(r->nonce.has_value() == nonce);
  if (nonce) {
    CHECK(r->nonce->size() == 16);  // openssl's default nonce
    CHECK_FALSE(r->nonce_unwrapped);
  }
  CHECK(r->signed_request == is_signed);
  same_as_openssl(der, *r);
}

TEST_CASE("leaf2's 20-byte serial with its top bit set decodes with its leading zero", "[status][ocsp]") {
  auto r = decode_ocsp_request(data_file("by_serial.req.der"), request_limits{});
  REQUIRE(r);
  REQUIRE(r->ids[0].serial.size() == 21);
  CHECK(r->ids[0].serial[0] == 0x00);
  CHECK(r->ids[0].serial[1] == 0x8f);
}

TEST_CASE("every proper prefix and every extension of a valid request is refused", "[status][ocsp]") {
  for (const auto& file : request_files) {
    CAPTURE(file);
    const bytes der = data_file(file);
    REQUIRE(decode_ocsp_request(der, request_limits{}));
    for (std::size_t n = 0; n < der.size(); ++n) {
      auto r = decode_ocsp_request(std::span<const std::uint8_t>(der.data(), n), request_limits{});
      if (r) FAIL("accepted a prefix of " << n << " bytes");
      CHECK(r.error().code == errc::invalid_input);
      CHECK(r.error().where == "ocsp request");
      CHECK_FALSE(r.error().message.empty());
    }
    bytes longer = der;
    longer.push_back(0x00);
    auto r = decode_ocsp_request(longer, request_limits{});
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "OCSPRequest: 1 byte after the end (first tag 0x00) at offset " +
                                   std::to_string(der.size()));
  }
}

TEST_CASE("decode_ocsp_request accepts these built requests, as OpenSSL does", "[status][ocsp]") {
  struct expect {
    expect(hash_algorithm a = hash_algorithm::sha1, bytes s = {0x10, 0x01}, std::optional<bytes> n = std::nullopt,
           bool u = false, bool sig = false)
        : alg(a), serial(std::move(s)), nonce(std::move(n)), unwrapped(u), is_signed(sig) {}
    hash_algorithm alg;
    bytes serial;
    std::optional<bytes> nonce;
    bool unwrapped;
    bool is_signed;
  };
  const bytes sha256_id = cert_id_der(seq({oid(sha256_oid)}), bytes(32, 1), bytes(32, 2), {0x10, 0x01});
  const bytes signature = ctx(0, {seq({seq({oid({0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02})}),
                                       tlv(0x03, {0x00, 0x30, 0x00})})});
  const bytes directory_name = ctx(1, {ctx(4, {seq({tlv(0x31, seq({oid({0x55, 0x04, 0x03}), tlv(0x0c, {'x'})}))})})});
  auto [rule, der, want] = GENERATE_REF(table<std::string, bytes, expect>({
      {"the smallest request: one SHA-1 CertID", one(default_cert_id), {}},
      {"RFC 5754: SHA-256 parameters absent", request_der(seq({sha256_id})), {hash_algorithm::sha256}},
      {"RFC 3279: SHA-1 parameters absent", one(cert_id_der(seq({oid(sha1_oid)}), hash20(1), hash20(2), {0x10, 0x01})),
       {}},
      {"unknown hash: decoded, hashes of any length",
       one(cert_id_der(seq({oid(sha224_oid)}), bytes(28, 1), bytes(3, 2), {0x10, 0x01})), {hash_algorithm::unknown}},
      {"serial 0", one(cert_id_der(sha1_alg, hash20(1), hash20(2), {0x00})), {hash_algorithm::sha1, {0x00}}},
      {"serial 20 bytes, top bit clear", one(cert_id_der(sha1_alg, hash20(1), hash20(2), bytes(20, 0x7f))),
       {hash_algorithm::sha1, bytes(20, 0x7f)}},
      {"serial 20 bytes, top bit set: 21 content bytes",
       one(cert_id_der(sha1_alg, hash20(1), hash20(2), cat({{0x00}, bytes(20, 0xff)}))),
       {hash_algorithm::sha1, cat({{0x00}, bytes(20, 0xff)})}},
      {"explicit version v1 (DEFAULT, accepted)",
       request_der(seq({default_cert_id}), ctx(0, {integer({0x00})})), {}},
      {"requestorName directoryName", request_der(seq({default_cert_id}), directory_name), {}},
      {"RFC 8954 nonce", with_extensions({nonce_extension(nonce16)}), {hash_algorithm::sha1, {0x10, 0x01}, nonce16}},
      {"RFC 8954 nonce of 1 byte", with_extensions({nonce_extension({0x2a})}),
       {hash_algorithm::sha1, {0x10, 0x01}, bytes{0x2a}}},
      {"empty nonce: decoded, policy refuses it", with_extensions({nonce_extension({})}),
       {hash_algorithm::sha1, {0x10, 0x01}, bytes{}}},
      {"pre-RFC 8954 raw nonce", with_extensions({extension(nonce_oid, nonce16)}),
       {hash_algorithm::sha1, {0x10, 0x01}, nonce16, true}},
      {"nonce OCTET STRING with trailing bytes: raw",
       with_extensions({extension(nonce_oid, cat({octets({1, 2}), {0x00}}))}),
       {hash_algorithm::sha1, {0x10, 0x01}, bytes{0x04, 0x02, 1, 2, 0x00}, true}},
      {"nonce with a non-minimal length: raw", with_extensions({extension(nonce_oid, {0x04, 0x81, 0x01, 0x2a})}),
       {hash_algorithm::sha1, {0x10, 0x01}, bytes{0x04, 0x81, 0x01, 0x2a}, true}},
      {"nonce beside another extension",
       with_extensions({extension(other_ext_oid, seq({oid(sha1_oid)})), nonce_extension(nonce16)}),
       {hash_algorithm::sha1, {0x10, 0x01}, nonce16}},
      {"explicit critical FALSE (accepted)", with_extensions({extension(other_ext_oid, {}, tlv(0x01, {0x00}))}), {}},
      {"a nonce in singleRequestExtensions is not the request's nonce",
       request_der(seq({default_cert_id, ctx(0, {seq({nonce_extension(nonce16)})})})), {}},
      {"signed: optionalSignature skipped", request_der(seq({default_cert_id}), {}, {}, signature),
       {hash_algorithm::sha1, {0x10, 0x01}, std::nullopt, false, true}},
      {"signed with certs",
       request_der(seq({default_cert_id}), {}, {},
                   ctx(0, {seq({seq({oid({0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02})}), tlv(0x03, {0x00}),
                                ctx(0, {seq({})})})})),
       {hash_algorithm::sha1, {0x10, 0x01}, std::nullopt, false, true}},
  }));
  CAPTURE(rule);
  auto r = decode_ocsp_request(der, request_limits{});
  if (!r) FAIL(describe(r.error()));
  REQUIRE(r->ids.size() == 1);
  CHECK(r->ids[0].alg == want.alg);
  CHECK(to_bytes(r->ids[0].serial) == want.serial);
  REQUIRE(r->nonce.has_value() == want.nonce.has_value());
  if (want.nonce) CHECK(to_bytes(*r->nonce) == *want.nonce);
  CHECK(r->nonce_unwrapped == want.unwrapped);
  CHECK(r->signed_request == want.is_signed);
  same_as_openssl(der, *r);
}

TEST_CASE("decode_ocsp_request takes up to max_ids CertIDs", "[status][ocsp]") {
  auto list = [](std::size_t n) {
    bytes contents;
    for (std::size_t i = 0; i < n; ++i) {
      bytes id = cert_id_der(sha1_alg, hash20(1), hash20(2), {static_cast<std::uint8_t>(i & 0x7f)});
      bytes req = seq({id});
      contents.insert(contents.end(), req.begin(), req.end());
    }
    return request_der(contents);
  };
  const bytes hundred_ids = list(100);  // outlives the spans of `hundred`
  auto hundred = decode_ocsp_request(hundred_ids, request_limits{});
  REQUIRE(hundred);
  CHECK(hundred->ids.size() == 100);
  same_as_openssl(hundred_ids, *hundred);

  // requestList at 8: the three outer lengths take 82 xx xx
  auto too_many = decode_ocsp_request(list(101), request_limits{});
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error().message == "requestList: 101 CertIDs; at most 100 at offset 8");

  auto ten_thousand = decode_ocsp_request(list(10000), request_limits{});
  REQUIRE_FALSE(ten_thousand);
  CHECK(ten_thousand.error().message.starts_with("requestList: 10000 CertIDs; at most 100"));

  // 128 bytes of OCSPRequest contents take 81 80: requestList at 5
  auto one_allowed = decode_ocsp_request(list(2), request_limits{.max_ids = 1});
  REQUIRE_FALSE(one_allowed);
  CHECK(one_allowed.error().message == "requestList: 2 CertIDs; at most 1 at offset 5");
}

TEST_CASE("decode_ocsp_request refuses malformed requests, naming field and fault", "[status][ocsp]") {
  // OCSPRequest at 0, tbsRequest at 2, requestList at 4, Request at 6, CertID at 8
  const bytes valid = one(default_cert_id);
  auto patched = [&](std::size_t at, std::uint8_t value) {
    bytes b = valid;
    b[at] = value;
    return b;
  };
  // The outer length, valid[1] (below 128), behind these length bytes.
  auto long_form = [&](std::initializer_list<std::uint8_t> length_bytes) {
    bytes b{0x30};
    b.insert(b.end(), length_bytes);
    b.push_back(valid[1]);
    b.insert(b.end(), valid.begin() + 2, valid.end());
    return b;
  };
  auto [rule, der, fragment] = GENERATE_REF(table<std::string, bytes, std::string>({
      // framing
      {"empty input", {}, "OCSPRequest: missing (the enclosing value ended) at offset 0"},
      {"SET where SEQUENCE", patched(0, 0x31), "OCSPRequest: tag 0x31 where SEQUENCE (0x30) was expected at offset 0"},
      {"Request as SET", patched(6, 0x31), "Request: tag 0x31 where SEQUENCE (0x30) was expected at offset 6"},
      {"CertID as SET", patched(8, 0x31), "CertID: tag 0x31 where SEQUENCE (0x30) was expected at offset 8"},
      {"X.690 10.1: long-form length below 128", long_form({0x81}), "OCSPRequest: long-form length 67 below 128 (not minimal) at offset 0"},
      {"X.690 10.1: leading zero length byte", long_form({0x82, 0x00}), "leading zero byte"},
      {"X.690 10.1: indefinite length", cat({{0x30, 0x80}, bytes(valid.begin() + 2, valid.end()), {0x00, 0x00}}),
       "OCSPRequest: indefinite length (BER, not DER) at offset 0"},
      {"5 length bytes", long_form({0x85, 0x00, 0x00, 0x00, 0x00}), "length of 5 bytes (at most 4)"},
      {"two requests back to back", cat({valid, valid}), "OCSPRequest: " + std::to_string(valid.size()) + " bytes after the end (first tag 0x30) at offset " +
           std::to_string(valid.size())},
      {"constructed OCTET STRING (BER)",
       one(seq({sha1_alg, tlv(0x24, octets(hash20(1))), octets(hash20(2)), integer({1})})),
       "issuerNameHash: tag 0x24 where OCTET STRING (0x04) was expected"},
      {"serial as OCTET STRING", one(seq({sha1_alg, octets(hash20(1)), octets(hash20(2)), octets({1})})),
       "serialNumber: tag 0x04 where INTEGER (0x02) was expected"},
      {"CertID without serial", one(seq({sha1_alg, octets(hash20(1)), octets(hash20(2))})),
       "serialNumber: missing (the enclosing value ended)"},
      {"CertID with an extra field", one(seq({sha1_alg, octets(hash20(1)), octets(hash20(2)), integer({1}), null_value})),
       "CertID: 2 bytes after the end (first tag 0x05)"},
      {"tbsRequest with an unknown [3]", request_der(seq({default_cert_id}), {}, ctx(3, {null_value})),
       "tbsRequest: 4 bytes after the end (first tag 0xa3)"},
      {"requestExtensions before requestList", request_der(seq({default_cert_id}), ctx(2, {seq({nonce_extension({1})})})),
       "requestList: tag 0xa2 where SEQUENCE (0x30) was expected"},
      // requestList
      {"zero CertIDs", request_der({}), "requestList: no CertID (at least one is required) at offset 4"},
      // version
      {"version v2", request_der(seq({default_cert_id}), ctx(0, {integer({0x01})})),
       "version: not v1 (0), the only version RFC 6960 defines at offset 4"},
      {"version v1 not minimal", request_der(seq({default_cert_id}), ctx(0, {integer({0x00, 0x00})})), "version: not v1"},
      {"version not an INTEGER", request_der(seq({default_cert_id}), ctx(0, {null_value})),
       "version: tag 0x05 where INTEGER (0x02) was expected"},
      {"version with two values", request_der(seq({default_cert_id}), ctx(0, {integer({0}), integer({0})})),
       "version: 3 bytes after the end"},
      // requestorName
      {"requestorName not a GeneralName", request_der(seq({default_cert_id}), ctx(1, {seq({})})),
       "requestorName: tag SEQUENCE (0x30) is not a GeneralName"},
      {"requestorName [9]", request_der(seq({default_cert_id}), ctx(1, {tlv(0x89, {1})})), "is not a GeneralName"},
      {"requestorName dNSName constructed", request_der(seq({default_cert_id}), ctx(1, {tlv(0xa2, {})})),
       "is not a GeneralName"},
      {"requestorName empty", request_der(seq({default_cert_id}), ctx(1, {})), "requestorName: missing"},
      // hashAlgorithm
      {"hash OID not minimal", one(cert_id_der(seq({oid({0x2b, 0x80, 0x0e})}), hash20(1), hash20(2), {1})),
       "hashAlgorithm.algorithm: malformed OBJECT IDENTIFIER"},
      {"hash OID empty", one(cert_id_der(seq({oid({})}), hash20(1), hash20(2), {1})), "malformed OBJECT IDENTIFIER"},
      {"hash OID unterminated", one(cert_id_der(seq({oid({0x2b, 0x8e})}), hash20(1), hash20(2), {1})),
       "malformed OBJECT IDENTIFIER"},
      {"NULL with contents", one(cert_id_der(seq({oid(sha1_oid), tlv(0x05, {0})}), hash20(1), hash20(2), {1})),
       "hashAlgorithm.parameters: NULL with contents"},
      {"parameters other than NULL", one(cert_id_der(seq({oid(sha1_oid), octets({})}), hash20(1), hash20(2), {1})),
       "hashAlgorithm.parameters: tag 0x04 where NULL (0x05) was expected"},
      {"two parameters", one(cert_id_der(seq({oid(sha1_oid), null_value, null_value}), hash20(1), hash20(2), {1})),
       "hashAlgorithm: 2 bytes after the end"},
      {"AlgorithmIdentifier without OID", one(cert_id_der(seq({}), hash20(1), hash20(2), {1})),
       "hashAlgorithm.algorithm: missing"},
      // hash lengths
      {"SHA-1 with a 32-byte name hash", one(cert_id_der(sha1_alg, bytes(32, 1), hash20(2), {1})),
       "issuerNameHash: 32 bytes where SHA-1 gives 20"},
      {"SHA-1 with a 19-byte key hash", one(cert_id_der(sha1_alg, hash20(1), bytes(19, 2), {1})),
       "issuerKeyHash: 19 bytes where SHA-1 gives 20"},
      {"SHA-256 with 20-byte hashes", one(cert_id_der(seq({oid(sha256_oid)}), hash20(1), hash20(2), {1})),
       "issuerNameHash: 20 bytes where SHA-256 gives 32"},
      {"SHA-1 with empty hashes", one(cert_id_der(sha1_alg, {}, {}, {1})), "0 bytes where SHA-1 gives 20"},
      // serialNumber
      {"empty serial", one(cert_id_der(sha1_alg, hash20(1), hash20(2), {})), "serialNumber: empty INTEGER"},
      {"negative serial", one(cert_id_der(sha1_alg, hash20(1), hash20(2), {0x80})),
       "serialNumber: negative serial number"},
      {"serial -1", one(cert_id_der(sha1_alg, hash20(1), hash20(2), {0xff})), "negative serial number"},
      {"serial with a needless 00", one(cert_id_der(sha1_alg, hash20(1), hash20(2), {0x00, 0x01})),
       "serialNumber: INTEGER not minimally encoded"},
      {"serial with a needless ff", one(cert_id_der(sha1_alg, hash20(1), hash20(2), {0xff, 0x80})),
       "INTEGER not minimally encoded"},
      {"21-byte serial value", one(cert_id_der(sha1_alg, hash20(1), hash20(2), bytes(21, 0x11))),
       "serialNumber: serial number of 21 bytes (at most 20)"},
      {"21-byte value after its 00", one(cert_id_der(sha1_alg, hash20(1), hash20(2), cat({{0x00}, bytes(21, 0x81)}))),
       "serial number of 21 bytes (at most 20)"},
      // extensions
      {"empty Extensions", request_der(seq({default_cert_id}), {}, ctx(2, {seq({})})),
       "requestExtensions: empty Extensions (SIZE (1..MAX))"},
      {"empty singleRequestExtensions", request_der(seq({default_cert_id, ctx(0, {seq({})})})),
       "singleRequestExtensions: empty Extensions"},
      {"critical nonce", with_extensions({extension(nonce_oid, octets(nonce16), tlv(0x01, {0xff}))}),
       "Extension: unsupported critical extension"},
      {"critical unknown extension", with_extensions({extension(other_ext_oid, {}, tlv(0x01, {0xff}))}),
       "unsupported critical extension"},
      {"critical single-request extension",
       request_der(seq({default_cert_id, ctx(0, {seq({extension(other_ext_oid, {}, tlv(0x01, {0xff}))})})})),
       "unsupported critical extension"},
      {"X.690 11.1: BOOLEAN 0x01", with_extensions({extension(other_ext_oid, {}, tlv(0x01, {0x01}))}),
       "critical: BOOLEAN not 0x00 or 0xff"},
      {"BOOLEAN of two bytes", with_extensions({extension(other_ext_oid, {}, tlv(0x01, {0xff, 0xff}))}),
       "critical: BOOLEAN not 0x00 or 0xff"},
      {"two nonces", with_extensions({nonce_extension({1}), nonce_extension({2})}),
       "Extension: a second nonce extension"},
      {"extnValue not an OCTET STRING", with_extensions({seq({oid(nonce_oid), seq({})})}),
       "extnValue: tag 0x30 where OCTET STRING (0x04) was expected"},
      {"extension OID malformed", with_extensions({extension({0x80, 0x01}, {})}),
       "extnID: malformed OBJECT IDENTIFIER"},
      {"Extension with an extra field", with_extensions({seq({oid(nonce_oid), octets({}), null_value})}),
       "Extension: 2 bytes after the end"},
      {"requestExtensions with two lists", request_der(seq({default_cert_id}), {}, ctx(2, {seq({nonce_extension({1})}), seq({nonce_extension({1})})})),
       "requestExtensions: 20 bytes after the end"},
      // optionalSignature
      {"optionalSignature empty", request_der(seq({default_cert_id}), {}, {}, ctx(0, {})), "Signature: missing"},
      {"Signature without its BIT STRING", request_der(seq({default_cert_id}), {}, {}, ctx(0, {seq({seq({})})})),
       "signature: missing"},
      {"Signature certs not SEQUENCEs",
       request_der(seq({default_cert_id}), {}, {}, ctx(0, {seq({seq({}), tlv(0x03, {0}), ctx(0, {seq({null_value})})})})),
       "Certificate: tag 0x05 where SEQUENCE (0x30) was expected"},
      {"something after optionalSignature", request_der(seq({default_cert_id}), {}, {}, null_value),
       "OCSPRequest: 2 bytes after the end"},
  }));
  CAPTURE(rule);
  auto r = decode_ocsp_request(der, request_limits{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_input);
  CHECK(r.error().where == "ocsp request");
  CHECK_THAT(r.error().message, Catch::Contains(fragment));
}
