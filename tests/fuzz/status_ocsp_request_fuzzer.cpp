// libFuzzer target for core/status/ocsp_request.h (STYLE.md 10, 17):
// decode_ocsp_request on the raw bytes, differentially against OpenSSL's
// d2i_OCSP_REQUEST.
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//  - a failure is errc::invalid_input with where "ocsp request" and a message;
//  - a success has 1..max_ids CertIDs whose spans lie inside the input, known
//    hashes of their digest's length, serials of 1..21 minimal non-negative
//    bytes; and decoding again with max_ids one lower fails;
//  - whatever we accept, OpenSSL parses too, consuming every byte, with the
//    same CertIDs (hash algorithm, both hashes, serial), the same nonce, the
//    same signed flag and no critical extension. The one exception: we read
//    requestorName and optionalSignature only as far as their outer tags
//    (the responder uses neither), so when either is present OpenSSL may
//    refuse what is inside; when it does parse, it must still agree.
//    The other direction is allowed: OpenSSL takes BER (indefinite and
//    non-minimal lengths, constructed strings) and more that DER forbids.
//  - no OpenSSL error is left on the thread's queue.
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/pki/ossl.h"
#include "core/status/der.h"
#include "core/status/ocsp_request.h"

namespace {

constexpr std::size_t max_input = 64 * 1024;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "status_ocsp_request_fuzzer: invariant broken: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) broken(what);
}

using bytes = std::vector<std::uint8_t>;

bytes to_bytes(std::span<const std::uint8_t> s) { return {s.begin(), s.end()}; }
bytes to_bytes(const ASN1_STRING* s) {
  const auto* p = ASN1_STRING_get0_data(s);
  return {p, p + ASN1_STRING_length(s)};
}

bool inside(std::span<const std::uint8_t> part, std::span<const std::uint8_t> whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

wotca::hash_algorithm from_nid(int nid) {
  switch (nid) {
    case NID_sha1: return wotca::hash_algorithm::sha1;
    case NID_sha256: return wotca::hash_algorithm::sha256;
    case NID_sha384: return wotca::hash_algorithm::sha384;
    case NID_sha512: return wotca::hash_algorithm::sha512;
    default: return wotca::hash_algorithm::unknown;
  }
}

// Whether tbsRequest holds a requestorName, read with our own reader (only
// called on input decode_ocsp_request accepted, so the framing holds).
bool has_requestor_name(std::span<const std::uint8_t> der) {
  wotca::der_reader top(der, "fuzz");
  auto request = top.read_constructed(wotca::der_tag::sequence, "OCSPRequest");
  if (!request) return false;
  auto tbs = request->read_constructed(wotca::der_tag::sequence, "tbsRequest");
  if (!tbs) return false;
  auto version = tbs->read_optional(wotca::der_tag::explicit_context(0), "version");
  if (!version) return false;
  return tbs->peek_tag() == wotca::der_tag::explicit_context(1);
}

void check_error(const wotca::error& e) {
  require(e.code == wotca::errc::invalid_input, "an error other than invalid_input");
  require(e.where == "ocsp request", "an error with the wrong where");
  require(!e.message.empty(), "an error without a message");
}

void check_shape(std::span<const std::uint8_t> der, const wotca::ocsp_request& r, const wotca::request_limits& limits) {
  require(!r.ids.empty() && r.ids.size() <= limits.max_ids, "CertID count out of range");
  for (const auto& id : r.ids) {
    require(inside(id.issuer_name_hash, der) && inside(id.issuer_key_hash, der) && inside(id.serial, der),
            "a span outside the input");
    if (id.alg != wotca::hash_algorithm::unknown) {
      require(id.issuer_name_hash.size() == wotca::digest_size(id.alg), "name hash of the wrong length");
      require(id.issuer_key_hash.size() == wotca::digest_size(id.alg), "key hash of the wrong length");
    }
    require(!id.serial.empty() && id.serial.size() <= 21, "serial of a bad length");
    require((id.serial[0] & 0x80) == 0, "negative serial");
    require(wotca::is_minimal_integer(id.serial), "serial not minimal");
    require(id.serial.size() < 21 || id.serial[0] == 0, "21-byte serial without its leading zero");
  }
  if (r.nonce) require(inside(*r.nonce, der), "nonce outside the input");
  require(!r.nonce_unwrapped || r.nonce, "nonce_unwrapped without a nonce");
}

void check_limit(std::span<const std::uint8_t> der, std::size_t ids) {
  auto fewer = wotca::decode_ocsp_request(der, wotca::request_limits{.max_ids = ids - 1});
  require(!fewer, "accepted more CertIDs than max_ids");
  require(fewer.error().message.find("CertIDs; at most") != std::string::npos, "max_ids refused with another error");
}

void check_extensions_not_critical(OCSP_REQUEST* req) {
  for (int i = 0; i < OCSP_REQUEST_get_ext_count(req); ++i) {
    require(X509_EXTENSION_get_critical(OCSP_REQUEST_get_ext(req, i)) == 0, "accepted a critical request extension");
  }
  for (int j = 0; j < OCSP_request_onereq_count(req); ++j) {
    OCSP_ONEREQ* one = OCSP_request_onereq_get0(req, j);
    for (int i = 0; i < OCSP_ONEREQ_get_ext_count(one); ++i) {
      require(X509_EXTENSION_get_critical(OCSP_ONEREQ_get_ext(one, i)) == 0,
              "accepted a critical single-request extension");
    }
  }
}

void same_as_openssl(std::span<const std::uint8_t> der, const wotca::ocsp_request& ours) {
  const unsigned char* p = der.data();
  wotca::ocsp_request_ptr req(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size())));
  const bool parsed = req != nullptr && p == der.data() + der.size();
  if (!parsed) {
    ERR_clear_error();
    require(ours.signed_request || has_requestor_name(der), "we accepted what OpenSSL refuses");
    return;
  }
  require(OCSP_request_onereq_count(req.get()) == static_cast<int>(ours.ids.size()), "CertID counts differ");
  for (std::size_t i = 0; i < ours.ids.size(); ++i) {
    OCSP_CERTID* cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), static_cast<int>(i)));
    ASN1_OCTET_STRING* name_hash = nullptr;
    ASN1_OCTET_STRING* key_hash = nullptr;
    ASN1_OBJECT* md = nullptr;
    ASN1_INTEGER* serial = nullptr;
    require(OCSP_id_get0_info(&name_hash, &md, &key_hash, &serial, cid) == 1, "OCSP_id_get0_info failed");
    require(ours.ids[i].alg == from_nid(OBJ_obj2nid(md)), "hash algorithms differ");
    require(to_bytes(ours.ids[i].issuer_name_hash) == to_bytes(name_hash), "issuer name hashes differ");
    require(to_bytes(ours.ids[i].issuer_key_hash) == to_bytes(key_hash), "issuer key hashes differ");
    unsigned char* enc = nullptr;
    int len = i2d_ASN1_INTEGER(serial, &enc);
    wotca::openssl_bytes_ptr owned(enc);
    require(len > 2 && len < 128, "serial does not re-encode");
    require(bytes(enc + 2, enc + len) == to_bytes(ours.ids[i].serial), "serials differ");
  }
  require(ours.signed_request == (OCSP_request_is_signed(req.get()) == 1), "signed flags differ");
  check_extensions_not_critical(req.get());
  int at = OCSP_REQUEST_get_ext_by_NID(req.get(), NID_id_pkix_OCSP_Nonce, -1);
  require(ours.nonce.has_value() == (at >= 0), "nonce presence differs");
  if (at >= 0) {
    bytes extn_value = to_bytes(X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(req.get(), at)));
    if (ours.nonce_unwrapped) {
      require(to_bytes(*ours.nonce) == extn_value, "raw nonce is not extnValue");
    } else {
      const unsigned char* q = extn_value.data();
      wotca::asn1_octet_string_ptr inner(d2i_ASN1_OCTET_STRING(nullptr, &q, static_cast<long>(extn_value.size())));
      require(inner != nullptr && q == extn_value.data() + extn_value.size(), "OpenSSL refuses our wrapped nonce");
      require(to_bytes(*ours.nonce) == to_bytes(inner.get()), "nonces differ");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > max_input) return 0;
  std::span<const std::uint8_t> der(data, size);
  const wotca::request_limits limits{};
  auto r = wotca::decode_ocsp_request(der, limits);
  if (!r) {
    check_error(r.error());
  } else {
    check_shape(der, *r, limits);
    check_limit(der, r->ids.size());
    same_as_openssl(der, *r);
  }
  require(ERR_peek_error() == 0, "an OpenSSL error was left on the queue");
  return 0;
}
