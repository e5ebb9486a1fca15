#include "core/status/ocsp_request.h"

#include <algorithm>
#include <array>
#include <string>

#include "core/status/der.h"

namespace wotca {

namespace {

constexpr std::string_view where = "ocsp request";

using bytes_view = std::span<const std::uint8_t>;

// OBJECT IDENTIFIER contents (X.690 8.19).
// id-sha1 1.3.14.3.2.26 (RFC 3279 2.2.1)
constexpr std::array<std::uint8_t, 5> oid_sha1{0x2b, 0x0e, 0x03, 0x02, 0x1a};
// id-sha256 / id-sha384 / id-sha512 2.16.840.1.101.3.4.2.{1,2,3} (RFC 5754 2)
constexpr std::array<std::uint8_t, 9> oid_sha256{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
constexpr std::array<std::uint8_t, 9> oid_sha384{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};
constexpr std::array<std::uint8_t, 9> oid_sha512{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03};
// id-pkix-ocsp-nonce 1.3.6.1.5.5.7.48.1.2 (RFC 6960 4.4.1)
constexpr std::array<std::uint8_t, 9> oid_nonce{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02};

template <std::size_t N>
bool is(bytes_view oid, const std::array<std::uint8_t, N>& known) {
  return std::equal(oid.begin(), oid.end(), known.begin(), known.end());
}

result<hash_algorithm> read_hash_algorithm(der_reader& cert_id_reader) {
  // RFC 5280 4.1.1.2:
  //   AlgorithmIdentifier ::= SEQUENCE {
  //        algorithm               OBJECT IDENTIFIER,
  //        parameters              ANY DEFINED BY algorithm OPTIONAL }
  auto alg = cert_id_reader.read_constructed(der_tag::sequence, "hashAlgorithm");
  if (!alg) return unexpected(std::move(alg).error());
  const std::size_t oid_at = alg->offset();
  auto oid = alg->read(der_tag::object_identifier, "hashAlgorithm.algorithm");
  if (!oid) return unexpected(std::move(oid).error());
  if (!is_valid_oid(*oid)) return alg->failure("hashAlgorithm.algorithm", "malformed OBJECT IDENTIFIER", oid_at);
  // RFC 3279 2.2.1 (SHA-1) and RFC 5754 2 (SHA-2): parameters absent or
  // NULL, and implementations MUST accept both. Other parameters are refused
  // for any algorithm, known or not: no CertID hash takes any, and reading
  // an ANY as OpenSSL does is not worth it for a request we cannot answer.
  if (!alg->at_end()) {
    const std::size_t params_at = alg->offset();
    auto params = alg->read(der_tag::null, "hashAlgorithm.parameters");
    if (!params) return unexpected(std::move(params).error());
    if (!params->empty()) return alg->failure("hashAlgorithm.parameters", "NULL with contents", params_at);
  }
  if (auto end = alg->expect_end("hashAlgorithm"); !end) return unexpected(std::move(end).error());
  if (is(*oid, oid_sha1)) return hash_algorithm::sha1;
  if (is(*oid, oid_sha256)) return hash_algorithm::sha256;
  if (is(*oid, oid_sha384)) return hash_algorithm::sha384;
  if (is(*oid, oid_sha512)) return hash_algorithm::sha512;
  return hash_algorithm::unknown;
}

result<bytes_view> read_hash(der_reader& cert_id_reader, hash_algorithm alg, std::string_view field) {
  const std::size_t at = cert_id_reader.offset();
  auto hash = cert_id_reader.read(der_tag::octet_string, field);
  if (!hash) return unexpected(std::move(hash).error());
  if (alg != hash_algorithm::unknown && hash->size() != digest_size(alg)) {
    return cert_id_reader.failure(field,
                                  std::to_string(hash->size()) + " bytes where " + std::string(to_string(alg)) +
                                      " gives " + std::to_string(digest_size(alg)),
                                  at);
  }
  return *hash;
}

result<cert_id> read_cert_id(der_reader& request) {
  // RFC 6960 4.1.1:
  //   CertID ::= SEQUENCE {
  //       hashAlgorithm       AlgorithmIdentifier,
  //       issuerNameHash      OCTET STRING, -- Hash of issuer's DN
  //       issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
  //       serialNumber        CertificateSerialNumber }
  auto reader = request.read_constructed(der_tag::sequence, "CertID");
  if (!reader) return unexpected(std::move(reader).error());
  cert_id id;
  auto alg = read_hash_algorithm(*reader);
  if (!alg) return unexpected(std::move(alg).error());
  id.alg = *alg;
  auto name_hash = read_hash(*reader, id.alg, "issuerNameHash");
  if (!name_hash) return unexpected(std::move(name_hash).error());
  id.issuer_name_hash = *name_hash;
  auto key_hash = read_hash(*reader, id.alg, "issuerKeyHash");
  if (!key_hash) return unexpected(std::move(key_hash).error());
  id.issuer_key_hash = *key_hash;
  // RFC 5280 4.1.2.2: CertificateSerialNumber ::= INTEGER. "The serial
  // number MUST be a positive integer ... Conforming CAs MUST NOT use
  // serialNumber values longer than 20 octets." A 20-octet value with its top
  // bit set takes 21 content bytes, the first 0x00. Zero is let through: it
  // is well-formed, and the lookup answers it like any serial we never issued.
  const std::size_t serial_at = reader->offset();
  auto serial = reader->read(der_tag::integer, "serialNumber");
  if (!serial) return unexpected(std::move(serial).error());
  if (serial->empty()) return reader->failure("serialNumber", "empty INTEGER", serial_at);
  if (!is_minimal_integer(*serial)) return reader->failure("serialNumber", "INTEGER not minimally encoded", serial_at);
  if (((*serial)[0] & 0x80) != 0) return reader->failure("serialNumber", "negative serial number", serial_at);
  const std::size_t value_bytes = serial->size() - ((*serial)[0] == 0x00 && serial->size() > 1 ? 1 : 0);
  if (value_bytes > 20) {
    return reader->failure("serialNumber", "serial number of " + std::to_string(value_bytes) + " bytes (at most 20)",
                           serial_at);
  }
  id.serial = *serial;
  if (auto end = reader->expect_end("CertID"); !end) return unexpected(std::move(end).error());
  return id;
}

// Reads `[n] EXPLICIT Extensions` whose [n] wrapper the caller has entered.
// Only the request-level list may carry the nonce (RFC 6960 4.4.1); one in
// singleRequestExtensions is ignored like any other non-critical extension.
result<void> read_extensions(der_reader& wrapper, std::string_view field, ocsp_request* nonce_target) {
  // RFC 5280 4.1:
  //   Extensions  ::=  SEQUENCE SIZE (1..MAX) OF Extension
  //   Extension  ::=  SEQUENCE  {
  //        extnID      OBJECT IDENTIFIER,
  //        critical    BOOLEAN DEFAULT FALSE,
  //        extnValue   OCTET STRING
  //                    -- contains the DER encoding of an ASN.1 value
  //                    -- corresponding to the extension type identified
  //                    -- by extnID
  //        }
  const std::size_t list_at = wrapper.offset();
  auto list = wrapper.read_constructed(der_tag::sequence, field);
  if (!list) return unexpected(std::move(list).error());
  if (auto end = wrapper.expect_end(field); !end) return end;
  if (list->at_end()) return list->failure(field, "empty Extensions (SIZE (1..MAX))", list_at);
  while (!list->at_end()) {
    auto extension = list->read_constructed(der_tag::sequence, "Extension");
    if (!extension) return unexpected(std::move(extension).error());
    const std::size_t oid_at = extension->offset();
    auto oid = extension->read(der_tag::object_identifier, "extnID");
    if (!oid) return unexpected(std::move(oid).error());
    if (!is_valid_oid(*oid)) return extension->failure("extnID", "malformed OBJECT IDENTIFIER", oid_at);
    const std::size_t critical_at = extension->offset();
    auto critical = extension->read_optional(der_tag::boolean, "critical");
    if (!critical) return unexpected(std::move(critical).error());
    if (*critical) {
      // X.690 11.1: DER encodes TRUE as 0xff. An explicit FALSE breaks DER's
      // rule that a DEFAULT value is omitted (11.5), but means the same thing;
      // like BoringSSL's pki/ and OpenSSL we accept it rather than turn an
      // encoder's quirk into malformedRequest.
      const auto& value = **critical;
      if (value.size() != 1 || (value[0] != 0x00 && value[0] != 0xff)) {
        return extension->failure("critical", "BOOLEAN not 0x00 or 0xff", critical_at);
      }
      // RFC 5280 4.2: a critical extension the recipient does not recognise
      // MUST be rejected; we recognise none as critical (RFC 8954 makes the
      // nonce non-critical, and honouring it is optional).
      if (value[0] == 0xff) return extension->failure("Extension", "unsupported critical extension", oid_at);
    }
    const std::size_t value_at = extension->offset();
    auto extn_value = extension->read(der_tag::octet_string, "extnValue");
    if (!extn_value) return unexpected(std::move(extn_value).error());
    if (auto end = extension->expect_end("Extension"); !end) return end;
    if (nonce_target == nullptr || !is(*oid, oid_nonce)) continue;
    if (nonce_target->nonce) return extension->failure("Extension", "a second nonce extension", oid_at);
    // RFC 8954 2.1: Nonce ::= OCTET STRING(SIZE(1..32)), the DER encoding of
    // which is the extnValue. Clients written to RFC 2560, which left the
    // syntax open, put the nonce bytes in extnValue directly; when the
    // contents are not exactly one DER OCTET STRING, they are the nonce
    // itself. (A raw nonce that happens to be one DER OCTET STRING is taken
    // as wrapped; re-wrapped in the response it gives the same extnValue.)
    // The inner reader's errors only choose between the two readings.
    der_reader inner(*extn_value, where, value_at);
    auto wrapped = inner.read(der_tag::octet_string, "nonce");
    if (wrapped && inner.at_end()) {
      nonce_target->nonce = *wrapped;
    } else {
      nonce_target->nonce = *extn_value;
      nonce_target->nonce_unwrapped = true;
    }
  }
  return {};
}

// Reads `[0] EXPLICIT Signature` whose [0] wrapper the caller has entered,
// as far as its outer structure: the signature is not checked (RFC 5019
// 2.1.2 lets a responder ignore it) and nothing of it is kept.
result<void> read_signature(der_reader& wrapper) {
  // RFC 6960 4.1.1:
  //   Signature ::= SEQUENCE {
  //       signatureAlgorithm      AlgorithmIdentifier,
  //       signature               BIT STRING,
  //       certs               [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
  auto signature = wrapper.read_constructed(der_tag::sequence, "Signature");
  if (!signature) return unexpected(std::move(signature).error());
  if (auto end = wrapper.expect_end("optionalSignature"); !end) return end;
  auto alg = signature->read_constructed(der_tag::sequence, "signatureAlgorithm");
  if (!alg) return unexpected(std::move(alg).error());
  auto bits = signature->read(der_tag::bit_string, "signature");
  if (!bits) return unexpected(std::move(bits).error());
  auto certs = signature->read_optional_constructed(der_tag::explicit_context(0), "certs");
  if (!certs) return unexpected(std::move(certs).error());
  if (*certs) {
    auto list = (*certs)->read_constructed(der_tag::sequence, "certs");
    if (!list) return unexpected(std::move(list).error());
    if (auto end = (*certs)->expect_end("certs"); !end) return end;
    while (!list->at_end()) {
      auto cert = list->read_constructed(der_tag::sequence, "Certificate");
      if (!cert) return unexpected(std::move(cert).error());
    }
  }
  return signature->expect_end("Signature");
}

}  // namespace

std::string_view to_string(hash_algorithm a) noexcept {
  switch (a) {
    case hash_algorithm::sha1: return "SHA-1";
    case hash_algorithm::sha256: return "SHA-256";
    case hash_algorithm::sha384: return "SHA-384";
    case hash_algorithm::sha512: return "SHA-512";
    case hash_algorithm::unknown: return "unknown";
  }
  return "unknown";
}

std::size_t digest_size(hash_algorithm a) noexcept {
  switch (a) {
    case hash_algorithm::sha1: return 20;
    case hash_algorithm::sha256: return 32;
    case hash_algorithm::sha384: return 48;
    case hash_algorithm::sha512: return 64;
    case hash_algorithm::unknown: return 0;
  }
  return 0;
}

result<ocsp_request> decode_ocsp_request(std::span<const std::uint8_t> der, const request_limits& limits) {
  der_reader top(der, where);
  // RFC 6960 4.1.1:
  //   OCSPRequest ::= SEQUENCE {
  //       tbsRequest                  TBSRequest,
  //       optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
  auto request = top.read_constructed(der_tag::sequence, "OCSPRequest");
  if (!request) return unexpected(std::move(request).error());
  if (auto end = top.expect_end("OCSPRequest"); !end) return unexpected(std::move(end).error());

  //   TBSRequest ::= SEQUENCE {
  //       version             [0]     EXPLICIT Version DEFAULT v1,
  //       requestorName       [1]     EXPLICIT GeneralName OPTIONAL,
  //       requestList                 SEQUENCE OF Request,
  //       requestExtensions   [2]     EXPLICIT Extensions OPTIONAL }
  auto tbs = request->read_constructed(der_tag::sequence, "tbsRequest");
  if (!tbs) return unexpected(std::move(tbs).error());

  //   Version ::= INTEGER { v1(0) }
  // DER omits a DEFAULT value (X.690 11.5), so v1 should never be encoded;
  // an explicit v1 is accepted all the same: it is unambiguous, OpenSSL and
  // BouncyCastle take it (BouncyCastle re-encodes it when it parsed one), and
  // a responder gains nothing by answering malformedRequest to it.
  const std::size_t version_at = tbs->offset();
  auto version = tbs->read_optional_constructed(der_tag::explicit_context(0), "version");
  if (!version) return unexpected(std::move(version).error());
  if (*version) {
    auto value = (*version)->read(der_tag::integer, "version");
    if (!value) return unexpected(std::move(value).error());
    if (value->size() != 1 || (*value)[0] != 0x00) {
      return tbs->failure("version", "not v1 (0), the only version RFC 6960 defines", version_at);
    }
    if (auto end = (*version)->expect_end("version"); !end) return unexpected(std::move(end).error());
  }

  // requestorName is kept by nobody (we don't check signatures); its
  // GeneralName is read as one element with a context-specific tag:
  //   GeneralName ::= CHOICE { otherName [0] ..., ..., registeredID [8] ... }
  // (RFC 5280 4.2.1.6).
  auto requestor = tbs->read_optional_constructed(der_tag::explicit_context(1), "requestorName");
  if (!requestor) return unexpected(std::move(requestor).error());
  if (*requestor) {
    auto name = (*requestor)->read_any("requestorName");
    if (!name) return unexpected(std::move(name).error());
    // otherName, x400Address, directoryName (EXPLICIT Name) and ediPartyName
    // are constructed, the five string-like choices primitive.
    const unsigned number = name->tag & 0x1f;
    const bool constructed = number == 0 || number == 3 || number == 4 || number == 5;
    if ((name->tag & 0xc0) != der_tag::context_specific || number > 8 ||
        ((name->tag & der_tag::constructed) != 0) != constructed) {
      return tbs->failure("requestorName", "tag " + describe_tag(name->tag) + " is not a GeneralName", name->offset);
    }
    if (auto end = (*requestor)->expect_end("requestorName"); !end) return unexpected(std::move(end).error());
  }

  const std::size_t list_at = tbs->offset();
  auto list = tbs->read_constructed(der_tag::sequence, "requestList");
  if (!list) return unexpected(std::move(list).error());
  ocsp_request out;
  out.ids.reserve(1);
  while (!list->at_end()) {
    if (out.ids.size() == limits.max_ids) {
      // Count the rest (each element framed, not decoded) for the message.
      std::size_t count = out.ids.size();
      while (!list->at_end()) {
        auto skipped = list->read_any("Request");
        if (!skipped) return unexpected(std::move(skipped).error());
        ++count;
      }
      return tbs->failure("requestList",
                          std::to_string(count) + " CertIDs; at most " + std::to_string(limits.max_ids), list_at);
    }
    //   Request ::= SEQUENCE {
    //       reqCert                     CertID,
    //       singleRequestExtensions     [0] EXPLICIT Extensions OPTIONAL }
    auto one = list->read_constructed(der_tag::sequence, "Request");
    if (!one) return unexpected(std::move(one).error());
    auto id = read_cert_id(*one);
    if (!id) return unexpected(std::move(id).error());
    out.ids.push_back(*id);
    auto single_extensions = one->read_optional_constructed(der_tag::explicit_context(0), "singleRequestExtensions");
    if (!single_extensions) return unexpected(std::move(single_extensions).error());
    if (*single_extensions) {
      auto read = read_extensions(**single_extensions, "singleRequestExtensions", nullptr);
      if (!read) return unexpected(std::move(read).error());
    }
    if (auto end = one->expect_end("Request"); !end) return unexpected(std::move(end).error());
  }
  if (out.ids.empty()) return tbs->failure("requestList", "no CertID (at least one is required)", list_at);

  auto extensions = tbs->read_optional_constructed(der_tag::explicit_context(2), "requestExtensions");
  if (!extensions) return unexpected(std::move(extensions).error());
  if (*extensions) {
    auto read = read_extensions(**extensions, "requestExtensions", &out);
    if (!read) return unexpected(std::move(read).error());
  }
  if (auto end = tbs->expect_end("tbsRequest"); !end) return unexpected(std::move(end).error());

  auto signature = request->read_optional_constructed(der_tag::explicit_context(0), "optionalSignature");
  if (!signature) return unexpected(std::move(signature).error());
  if (*signature) {
    auto read = read_signature(**signature);
    if (!read) return unexpected(std::move(read).error());
    out.signed_request = true;
  }
  if (auto end = request->expect_end("OCSPRequest"); !end) return unexpected(std::move(end).error());
  return out;
}

}  // namespace wotca
