#include "core/pki/csr.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "core/pki/key.h"
#include "core/util/encoding.h"

namespace wotca {

namespace {

constexpr std::size_t max_csr_bytes = 64 * 1024;
constexpr int max_san_entries = 100;
constexpr int max_extensions = 64;
constexpr std::size_t max_dns_name = 253;     // RFC 1035 2.3.4, without the trailing dot
constexpr std::size_t max_dns_label = 63;     // RFC 1035 2.3.4
constexpr std::size_t max_email_local = 64;   // RFC 5321 4.5.3.1.1
constexpr std::size_t max_email = 254;        // RFC 5321 4.5.3.1.3 path, less the angle brackets
constexpr std::size_t max_common_name = 64;   // RFC 5280 appendix A, ub-common-name
constexpr std::size_t max_challenge = 255;    // RFC 2985 5.4.1, ub-challengePassword

unexpected<error> bad_csr(std::string message) {
  ERR_clear_error();
  return fail(errc::invalid_input, "csr", std::move(message));
}

// A value from the peer, made safe to quote in a message: printable ASCII
// as is, other bytes as \xHH, cut after 80 characters.
std::string shown(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= 80) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string_view as_view(const ASN1_STRING* s) {
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s))};
}

bool is_space(std::uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Strict UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF), no control characters; the number of code points on success.
std::optional<std::size_t> utf8_text_length(std::string_view s) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return std::nullopt;
      ++i;
      ++count;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (s.size() - i <= n) return std::nullopt;
    for (std::size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) ||
        (cp >= 0x80 && cp < 0xa0)) {
      return std::nullopt;
    }
    i += n + 1;
    ++count;
  }
  return count;
}

// A DirectoryString-like value as UTF-8, or nullopt if it cannot be
// converted or is not clean text.
std::optional<std::string> text_of(const ASN1_STRING* s) {
  unsigned char* raw = nullptr;
  int n = ASN1_STRING_to_UTF8(&raw, s);
  if (n < 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  openssl_bytes_ptr owned(raw);
  std::string out(reinterpret_cast<const char*>(raw), static_cast<std::size_t>(n));
  if (!utf8_text_length(out)) return std::nullopt;
  return out;
}

std::string hash_name(int md_nid) {
  switch (md_nid) {
    case NID_md2: return "MD2";
    case NID_md4: return "MD4";
    case NID_md5: return "MD5";
    case NID_sha1: return "SHA-1";
    case NID_sha224: return "SHA-224";
    case NID_sha256: return "SHA-256";
    case NID_sha384: return "SHA-384";
    case NID_sha512: return "SHA-512";
    case NID_undef: return "no separate hash";
    default: break;
  }
  const char* ln = OBJ_nid2ln(md_nid);
  return ln ? ln : "an unknown hash";
}

bool strong_hash(int md_nid) {
  return md_nid == NID_sha256 || md_nid == NID_sha384 || md_nid == NID_sha512 || md_nid == NID_sha3_256 ||
         md_nid == NID_sha3_384 || md_nid == NID_sha3_512;
}

std::string object_name(const ASN1_OBJECT* obj) {
  int nid = OBJ_obj2nid(obj);
  if (nid != NID_undef) {
    if (const char* ln = OBJ_nid2ln(nid)) return ln;
  }
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof buf, obj, 1);
  if (n <= 0) return "an unreadable OID";
  return std::string(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}

// The hash of an AlgorithmIdentifier inside RSASSA-PSS parameters.
int digest_nid(const X509_ALGOR* alg) {
  const ASN1_OBJECT* obj = nullptr;
  X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
  return OBJ_obj2nid(obj);
}

unexpected<error> weak_signature(const std::string& algorithm, const std::string& hash) {
  ERR_clear_error();
  return fail(errc::denied, "R-KEYS",
              "the CSR is signed with " + algorithm + " (" + hash +
                  "); signatures must use SHA-256 or stronger");
}

// R-KEYS: "signatures SHA-256 or stronger".
//   CertificationRequest ::= SEQUENCE {
//     certificationRequestInfo CertificationRequestInfo,
//     signatureAlgorithm AlgorithmIdentifier{{ SignatureAlgorithms }},
//     signature          BIT STRING }                       (RFC 2986 4.2)
result<void> check_signature_algorithm(const X509_REQ& req) {
  const ASN1_BIT_STRING* sig = nullptr;
  const X509_ALGOR* alg = nullptr;
  X509_REQ_get0_signature(&req, &sig, &alg);
  const ASN1_OBJECT* obj = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&obj, &ptype, &pval, alg);
  const int sig_nid = OBJ_obj2nid(obj);
  const std::string name = object_name(obj);

  if (sig_nid == NID_rsassaPss) {
    // RFC 4055 3.1:
    //   RSASSA-PSS-params ::= SEQUENCE {
    //     hashAlgorithm     [0] HashAlgorithm DEFAULT sha1Identifier,
    //     maskGenAlgorithm  [1] MaskGenAlgorithm DEFAULT mgf1SHA1Identifier,
    //     saltLength        [2] INTEGER DEFAULT 20,
    //     trailerField      [3] INTEGER DEFAULT 1 }
    if (ptype != V_ASN1_SEQUENCE || pval == nullptr) return bad_csr("the CSR's RSASSA-PSS parameters are missing");
    auto seq = as_view(static_cast<const ASN1_STRING*>(pval));
    const auto* p = reinterpret_cast<const unsigned char*>(seq.data());
    rsa_pss_params_ptr pss(d2i_RSA_PSS_PARAMS(nullptr, &p, static_cast<long>(seq.size())));
    if (!pss || p != reinterpret_cast<const unsigned char*>(seq.data()) + seq.size()) {
      return bad_csr("the CSR's RSASSA-PSS parameters are malformed");
    }
    const int hash = pss->hashAlgorithm ? digest_nid(pss->hashAlgorithm) : NID_sha1;
    if (!strong_hash(hash)) return weak_signature(name, hash_name(hash));
    // RFC 4055 3.1: MaskGenAlgorithm is id-mgf1 with the hash as parameter.
    int mgf_hash = NID_sha1;
    if (pss->maskGenAlgorithm) {
      const ASN1_OBJECT* mgf = nullptr;
      int mgf_ptype = 0;
      const void* mgf_pval = nullptr;
      X509_ALGOR_get0(&mgf, &mgf_ptype, &mgf_pval, pss->maskGenAlgorithm);
      if (OBJ_obj2nid(mgf) != NID_mgf1 || mgf_ptype != V_ASN1_SEQUENCE || mgf_pval == nullptr) {
        return bad_csr("the CSR's RSASSA-PSS mask generation is not MGF1 with a hash");
      }
      auto mseq = as_view(static_cast<const ASN1_STRING*>(mgf_pval));
      const auto* q = reinterpret_cast<const unsigned char*>(mseq.data());
      x509_algor_ptr mgf_alg(d2i_X509_ALGOR(nullptr, &q, static_cast<long>(mseq.size())));
      if (!mgf_alg || q != reinterpret_cast<const unsigned char*>(mseq.data()) + mseq.size()) {
        return bad_csr("the CSR's RSASSA-PSS MGF1 parameters are malformed");
      }
      mgf_hash = digest_nid(mgf_alg.get());
    }
    if (!strong_hash(mgf_hash)) return weak_signature(name + " with MGF1", hash_name(mgf_hash));
    return {};
  }

  int md_nid = NID_undef;
  int pk_nid = NID_undef;
  if (sig_nid == NID_undef || OBJ_find_sigid_algs(sig_nid, &md_nid, &pk_nid) != 1) {
    ERR_clear_error();
    return fail(errc::denied, "R-KEYS", "the CSR's signature algorithm " + name + " is not accepted");
  }
  if (!strong_hash(md_nid)) return weak_signature(name, hash_name(md_nid));
  return {};
}

// The DER inside a PEM text: exactly one block, labelled as RFC 7468
// section 7 says ("CERTIFICATE REQUEST"; "NEW CERTIFICATE REQUEST" is what
// older tools wrote), no RFC 1421 headers, nothing but whitespace around it.
result<std::vector<std::uint8_t>> der_from_pem(std::span<const std::uint8_t> text) {
  bio_ptr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return fail(errc::crypto, "csr", "cannot allocate a buffer for the PEM text");
  char* raw_name = nullptr;
  char* raw_header = nullptr;
  unsigned char* raw_data = nullptr;
  long len = 0;
  int ok = PEM_read_bio(bio.get(), &raw_name, &raw_header, &raw_data, &len);
  openssl_string_ptr name(raw_name);
  openssl_string_ptr header(raw_header);
  openssl_bytes_ptr data(raw_data);
  if (ok != 1 || len <= 0) return bad_csr("the PEM text could not be decoded");
  std::string_view label(name.get());
  if (label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST") {
    return bad_csr("the PEM block is a '" + shown(label) + "', not a 'CERTIFICATE REQUEST'");
  }
  if (header && header.get()[0] != '\0') return bad_csr("the PEM block has headers (encrypted?); a CSR has none");
  char* rest = nullptr;
  long rest_len = BIO_get_mem_data(bio.get(), &rest);
  for (long i = 0; i < rest_len; ++i) {
    if (!is_space(static_cast<std::uint8_t>(rest[i]))) {
      return bad_csr("the PEM text holds more than one block; send exactly one CSR");
    }
  }
  return std::vector<std::uint8_t>(data.get(), data.get() + len);
}

// One GeneralName of the requested subjectAltName into `out`.
//   GeneralName ::= CHOICE {
//     otherName [0], rfc822Name [1] IA5String, dNSName [2] IA5String,
//     x400Address [3], directoryName [4], ediPartyName [5],
//     uniformResourceIdentifier [6] IA5String, iPAddress [7] OCTET STRING,
//     registeredID [8] }                                     (RFC 5280 4.2.1.6)
result<void> take_name(const GENERAL_NAME& gn, parsed_csr& out) {
  int type = 0;
  void* value = GENERAL_NAME_get0_value(&gn, &type);
  auto add_unique = [](std::vector<std::string>& list, std::string v) {
    if (std::find(list.begin(), list.end(), v) == list.end()) list.push_back(std::move(v));
  };
  switch (type) {
    case GEN_DNS: {
      auto text = as_view(static_cast<const ASN1_STRING*>(value));
      auto name = normalize_dns_name(text);
      if (!name) return bad_csr("the CSR's SAN dNSName " + name.error().message);
      add_unique(out.dns_names, std::move(*name));
      return {};
    }
    case GEN_EMAIL: {
      auto text = as_view(static_cast<const ASN1_STRING*>(value));
      auto email = normalize_email(text);
      if (!email) return bad_csr("the CSR's SAN rfc822Name " + email.error().message);
      add_unique(out.emails, std::move(*email));
      return {};
    }
    case GEN_IPADD: {
      auto octets = as_view(static_cast<const ASN1_STRING*>(value));
      char buf[INET6_ADDRSTRLEN] = "?";
      if (octets.size() == 4) ::inet_ntop(AF_INET, octets.data(), buf, sizeof buf);
      if (octets.size() == 16) ::inet_ntop(AF_INET6, octets.data(), buf, sizeof buf);
      return bad_csr(std::string("the CSR asks for an IP address SAN (") + buf +
                     "); only DNS names and email addresses are issued");
    }
    case GEN_URI:
      return bad_csr("the CSR asks for a URI SAN (" + shown(as_view(static_cast<const ASN1_STRING*>(value))) +
                     "); only DNS names and email addresses are issued");
    case GEN_OTHERNAME:
      return bad_csr("the CSR asks for an otherName SAN; only DNS names and email addresses are issued");
    case GEN_X400: return bad_csr("the CSR asks for an x400Address SAN; only DNS names and email addresses are issued");
    case GEN_DIRNAME:
      return bad_csr("the CSR asks for a directoryName SAN; only DNS names and email addresses are issued");
    case GEN_EDIPARTY:
      return bad_csr("the CSR asks for an ediPartyName SAN; only DNS names and email addresses are issued");
    case GEN_RID: return bad_csr("the CSR asks for a registeredID SAN; only DNS names and email addresses are issued");
    default: break;
  }
  return bad_csr("the CSR asks for a SAN of an unknown type");
}

// The requested extensions (PKCS#9 extensionRequest, RFC 2985 5.4.2):
//   extensionRequest ATTRIBUTE ::= { WITH SYNTAX ExtensionRequest
//     SINGLE VALUE TRUE ID pkcs-9-at-extensionRequest }
//   ExtensionRequest ::= Extensions
// Only subjectAltName is read: the profile, not the requester, decides every
// other extension.
result<void> take_extensions(X509_REQ& req, parsed_csr& out) {
  x509_extension_stack_ptr exts(X509_REQ_get_extensions(&req));
  if (!exts) return bad_csr("the CSR's extensionRequest attribute is malformed");
  const int n = sk_X509_EXTENSION_num(exts.get());
  if (n > max_extensions) {
    return bad_csr("the CSR requests " + std::to_string(n) + " extensions; at most " +
                   std::to_string(max_extensions) + " are read");
  }
  for (int i = 0; i < n; ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts.get(), i);
    const ASN1_OBJECT* obj = X509_EXTENSION_get_object(ext);
    // RFC 5280 4.2: "A certificate MUST NOT include more than one instance
    // of a particular extension"; a request that does is not one we read.
    for (int j = 0; j < i; ++j) {
      if (OBJ_cmp(obj, X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts.get(), j))) == 0) {
        return bad_csr("the CSR requests the extension " + object_name(obj) + " twice");
      }
    }
    if (OBJ_obj2nid(obj) != NID_subject_alt_name) continue;
    // RFC 5280 4.2.1.6: GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
    auto value = as_view(X509_EXTENSION_get_data(ext));
    const auto* p = reinterpret_cast<const unsigned char*>(value.data());
    general_names_ptr names(d2i_GENERAL_NAMES(nullptr, &p, static_cast<long>(value.size())));
    if (!names || p != reinterpret_cast<const unsigned char*>(value.data()) + value.size()) {
      return bad_csr("the CSR's subjectAltName is malformed");
    }
    const int count = sk_GENERAL_NAME_num(names.get());
    if (count <= 0) return bad_csr("the CSR's subjectAltName is empty");
    if (count > max_san_entries) {
      return bad_csr("the CSR asks for " + std::to_string(count) + " names; at most " +
                     std::to_string(max_san_entries) + " are accepted");
    }
    for (int k = 0; k < count; ++k) {
      if (auto ok = take_name(*sk_GENERAL_NAME_value(names.get(), k), out); !ok) return ok;
    }
  }
  return {};
}

// RFC 2986 4.1:
//   CertificationRequestInfo ::= SEQUENCE {
//     version       INTEGER { v1(0) } (v1,...),
//     subject       Name,
//     subjectPKInfo SubjectPublicKeyInfo{{ PKInfoAlgorithms }},
//     attributes    [0] Attributes{{ CRIAttributes }} }
result<void> take_attributes(X509_REQ& req, parsed_csr& out) {
  int extension_requests = 0;
  const int n = X509_REQ_get_attr_count(&req);
  for (int i = 0; i < n; ++i) {
    X509_ATTRIBUTE* attr = X509_REQ_get_attr(&req, i);
    const int nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(attr));
    if (nid == NID_ext_req || nid == NID_ms_ext_req) {
      if (++extension_requests > 1 || X509_ATTRIBUTE_count(attr) != 1) {
        return bad_csr("the CSR's extension request is not exactly one value");
      }
      continue;
    }
    if (nid != NID_pkcs9_challengePassword) continue;
    // RFC 2985 5.4.1:
    //   challengePassword ATTRIBUTE ::= { WITH SYNTAX DirectoryString
    //     {pkcs-9-ub-challengePassword} EQUALITY MATCHING RULE
    //     caseExactMatch SINGLE VALUE TRUE ID pkcs-9-at-challengePassword }
    if (out.challenge_password || X509_ATTRIBUTE_count(attr) != 1) {
      return bad_csr("the CSR's challengePassword is not exactly one value");
    }
    ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attr, 0);
    const int type = value ? ASN1_TYPE_get(value) : -1;
    if (type != V_ASN1_PRINTABLESTRING && type != V_ASN1_UTF8STRING && type != V_ASN1_T61STRING &&
        type != V_ASN1_BMPSTRING && type != V_ASN1_UNIVERSALSTRING && type != V_ASN1_IA5STRING) {
      return bad_csr("the CSR's challengePassword is not a string");
    }
    auto text = text_of(value->value.asn1_string);
    // The password itself is a secret and is never quoted.
    if (!text || text->empty() || text->size() > max_challenge * 4 || *utf8_text_length(*text) > max_challenge) {
      return bad_csr("the CSR's challengePassword is not 1 to 255 characters of text");
    }
    out.challenge_password = std::move(*text);
  }
  if (extension_requests > 0) return take_extensions(req, out);
  return {};
}

result<void> take_common_name(X509_REQ& req, parsed_csr& out) {
  const X509_NAME* subject = X509_REQ_get_subject_name(&req);
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at < 0) return {};
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0) {
    return bad_csr("the CSR's subject has more than one common name");
  }
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
  auto text = text_of(value);
  if (!text) return bad_csr("the CSR's subject common name is not valid text");
  const std::size_t chars = *utf8_text_length(*text);
  if (chars > max_common_name) {
    return bad_csr("the CSR's subject common name is " + std::to_string(chars) + " characters; at most " +
                   std::to_string(max_common_name) + " are allowed");
  }
  if (!text->empty()) out.common_name = std::move(*text);
  return {};
}

}  // namespace

EVP_PKEY* parsed_csr::public_key() const { return req ? X509_REQ_get0_pubkey(req.get()) : nullptr; }

const X509_PUBKEY* parsed_csr::spki() const { return req ? X509_REQ_get_X509_PUBKEY(req.get()) : nullptr; }

result<std::string> normalize_dns_name(std::string_view name) {
  auto refuse = [&](std::string_view why) {
    return fail(errc::invalid_input, "dns_name", "'" + shown(name) + "' is not a valid DNS name: " + std::string(why));
  };
  std::string_view s = name;
  // A fully qualified name's trailing dot (RFC 1034 3.1) is dropped.
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty()) return refuse("it is empty");
  if (s.size() > max_dns_name) return refuse("it is longer than 253 characters");
  std::string out = ascii_lower(s);
  // RFC 1035 2.3.1 (as relaxed by RFC 1123 2.1): labels of letters, digits
  // and hyphens, starting and ending with a letter or digit, at most 63
  // characters. RFC 6125 6.4.3 / CA/B BR 7.1.4.2: a wildcard is only the
  // whole leftmost label.
  std::size_t labels = 0;
  bool wildcard = false;
  std::string_view last;
  std::size_t start = 0;
  while (start <= out.size()) {
    std::size_t end = out.find('.', start);
    if (end == std::string::npos) end = out.size();
    std::string_view label(out.data() + start, end - start);
    if (label.empty()) return refuse("it has an empty label");
    if (label == "*") {
      if (start != 0) return refuse("a wildcard may only be the whole leftmost label");
      wildcard = true;
    } else {
      if (label.size() > max_dns_label) return refuse("a label is longer than 63 characters");
      for (char c : label) {
        if (c == '*') return refuse("a wildcard may only be the whole leftmost label");
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
          return refuse("it has a character that is not a letter, digit or hyphen");
        }
      }
      if (label.front() == '-' || label.back() == '-') return refuse("a label starts or ends with a hyphen");
      ++labels;
      last = label;
    }
    start = end + 1;
  }
  if (labels < 2) {
    return refuse(wildcard ? "a wildcard needs at least two labels after it" : "it needs at least two labels");
  }
  // RFC 3696 2: a top-level domain is never all-numeric, which also keeps
  // IPv4 literals out of dNSName.
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return refuse("its last label is all digits (an IP address is not a DNS name)");
  }
  return out;
}

result<std::string> normalize_email(std::string_view email) {
  auto refuse = [&](std::string_view why) {
    return fail(errc::invalid_input, "email",
                "'" + shown(email) + "' is not a valid email address: " + std::string(why));
  };
  const std::size_t at = email.find('@');
  if (at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos) {
    return refuse("it is not of the form local@domain");
  }
  if (email.size() > max_email) return refuse("it is longer than 254 characters");
  std::string_view local = email.substr(0, at);
  std::string_view domain = email.substr(at + 1);
  // RFC 5321 4.5.3.1.1: a local part of at most 64 octets; of RFC 5322's
  // forms only what needs no quoting of spaces or controls is accepted.
  if (local.empty() || local.size() > max_email_local) return refuse("the local part is not 1 to 64 characters");
  for (char c : local) {
    if (c <= 0x20 || c >= 0x7f) return refuse("the local part has a space or a character that is not printable ASCII");
  }
  if (!domain.empty() && domain.back() == '.') return refuse("the domain ends with a dot");
  if (domain.starts_with("*.")) return refuse("the domain is a wildcard");
  auto d = normalize_dns_name(domain);
  if (!d) return refuse("the domain is not a valid DNS name");
  return ascii_lower(local) + "@" + *d;
}

result<parsed_csr> parse_csr(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > max_csr_bytes) {
    return bad_csr("the CSR is " + std::to_string(bytes.size()) + " bytes; at most " + std::to_string(max_csr_bytes) +
                   " are accepted");
  }
  std::size_t first = 0;
  while (first < bytes.size() && is_space(bytes[first])) ++first;
  if (first == bytes.size()) return bad_csr("the CSR is empty");

  std::vector<std::uint8_t> from_pem;
  std::span<const std::uint8_t> der = bytes;
  static constexpr std::string_view begin = "-----BEGIN ";
  if (bytes.size() - first >= begin.size() && std::equal(begin.begin(), begin.end(), bytes.begin() + first)) {
    auto decoded = der_from_pem(bytes.subspan(first));
    if (!decoded) return unexpected(std::move(decoded).error());
    from_pem = std::move(*decoded);
    der = from_pem;
  }

  // RFC 2986 4.2: CertificationRequest (above); DER, every byte of it.
  const unsigned char* p = der.data();
  parsed_csr out;
  out.req.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!out.req) return bad_csr("the bytes are not a DER or PEM PKCS#10 certification request");
  if (p != der.data() + der.size()) {
    return bad_csr("the CSR is followed by " + std::to_string(der.data() + der.size() - p) + " more bytes");
  }
  X509_REQ& req = *out.req;
  if (X509_REQ_get_version(&req) != X509_REQ_VERSION_1) {
    return bad_csr("the CSR has version " + std::to_string(X509_REQ_get_version(&req) + 1) + "; only 1 exists");
  }

  EVP_PKEY* key = X509_REQ_get0_pubkey(&req);
  if (key == nullptr) {
    const X509_PUBKEY* spki = X509_REQ_get_X509_PUBKEY(&req);
    ASN1_OBJECT* alg = nullptr;
    if (spki) X509_PUBKEY_get0_param(&alg, nullptr, nullptr, nullptr, spki);
    return bad_csr("the CSR's public key (" + (alg ? object_name(alg) : std::string("no algorithm")) +
                   ") could not be decoded");
  }
  out.key_description = describe_key(*key);
  if (auto ok = check_key(*key); !ok) return unexpected(std::move(ok).error());
  if (auto ok = check_signature_algorithm(req); !ok) return unexpected(std::move(ok).error());
  // RFC 2986 3: the signature proves the requester holds the private key.
  if (X509_REQ_verify(&req, key) != 1) return bad_csr("the CSR's signature does not verify");

  if (auto ok = take_common_name(req, out); !ok) return unexpected(std::move(ok).error());
  if (auto ok = take_attributes(req, out); !ok) return unexpected(std::move(ok).error());
  ERR_clear_error();
  return out;
}

}  // namespace wotca
