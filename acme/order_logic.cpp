#include "acme/order_logic.h"

#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

#include "core/util/encoding.h"

namespace wotca::acme {

namespace {

std::string listed(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

constexpr std::size_t max_csr_text = 65536;

}  // namespace

result<std::string> normalize_identifier(std::string_view type, std::string_view value) {
  if (type != "dns") {
    return fail(errc::invalid_input, "unsupportedIdentifier",
                "identifier type '" + std::string(type.substr(0, 32)) + "' is not supported; only 'dns' is");
  }
  auto n = normalize_dns_name(value);
  if (!n) {
    return fail(errc::invalid_input, "rejectedIdentifier",
                "'" + std::string(value.substr(0, 260)) + "' is not a DNS name this CA issues for: " + n.error().message);
  }
  if (!value.empty() && value.back() == '.') {
    return fail(errc::invalid_input, "rejectedIdentifier",
                "'" + std::string(value.substr(0, 260)) + "' ends in a dot; send the name without it");
  }
  return *n;
}

std::vector<std::string> csr_name_set(const parsed_csr& csr) {
  std::vector<std::string> out;
  if (csr.common_name) out.push_back(ascii_lower(*csr.common_name));
  for (const auto& d : csr.dns_names) out.push_back(ascii_lower(d));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<std::string> name_set_mismatch(std::vector<std::string> csr_names, std::vector<std::string> identifiers) {
  for (auto& n : csr_names) n = ascii_lower(n);
  for (auto& n : identifiers) n = ascii_lower(n);
  std::sort(csr_names.begin(), csr_names.end());
  csr_names.erase(std::unique(csr_names.begin(), csr_names.end()), csr_names.end());
  std::sort(identifiers.begin(), identifiers.end());
  identifiers.erase(std::unique(identifiers.begin(), identifiers.end()), identifiers.end());
  if (csr_names == identifiers) return std::nullopt;
  std::vector<std::string> missing, extra;
  std::set_difference(identifiers.begin(), identifiers.end(), csr_names.begin(), csr_names.end(),
                      std::back_inserter(missing));
  std::set_difference(csr_names.begin(), csr_names.end(), identifiers.begin(), identifiers.end(),
                      std::back_inserter(extra));
  std::string out = "the CSR's names must be exactly the order's identifiers";
  if (!missing.empty()) out += "; missing from the CSR: " + listed(missing);
  if (!extra.empty()) out += "; in the CSR but not in the order: " + listed(extra);
  return out;
}

result<parsed_csr> check_finalize_csr(std::string_view csr_b64url, std::span<const std::string> identifiers) {
  if (csr_b64url.empty()) return fail(errc::invalid_input, "csr", "the \"csr\" member is empty");
  if (csr_b64url.size() > max_csr_text) {
    return fail(errc::invalid_input, "csr",
                "the \"csr\" member is " + std::to_string(csr_b64url.size()) + " characters; at most 65536");
  }
  auto der = base64url_decode(csr_b64url);
  if (!der) {
    return fail(errc::invalid_input, "csr", "the \"csr\" member is not base64url without padding (RFC 8555 7.4)");
  }
  auto csr = parse_csr(*der);
  if (!csr) return unexpected(csr.error());
  if (!csr->emails.empty()) {
    return fail(errc::invalid_input, "csr",
                "the CSR asks for the email address " + csr->emails.front() + "; a server certificate carries DNS names only");
  }
  if (auto wrong = name_set_mismatch(csr_name_set(*csr), std::vector<std::string>(identifiers.begin(), identifiers.end()))) {
    return fail(errc::invalid_input, "csr", *wrong);
  }
  return std::move(*csr);
}

result<std::string> ari_cert_id(const X509& cert) {
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(const_cast<X509*>(&cert));
  if (aki == nullptr || ASN1_STRING_length(aki) <= 0) {
    return fail(errc::invalid_input, "certificate", "the certificate has no authority key identifier");
  }
  const ASN1_INTEGER* serial = X509_get0_serialNumber(&cert);
  // The DER content octets of the INTEGER, leading zero included where the
  // encoding needs one (RFC 9773 4.1).
  int len = i2d_ASN1_INTEGER(serial, nullptr);
  if (len <= 2) return fail(errc::invalid_input, "certificate", "the certificate's serial cannot be encoded");
  std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_ASN1_INTEGER(serial, &p);
  // Short form length for serials up to 127 octets: tag, length, content.
  if (der[1] & 0x80) return fail(errc::invalid_input, "certificate", "the certificate's serial is too long");
  std::span<const std::uint8_t> content(der.data() + 2, der.size() - 2);
  std::span<const std::uint8_t> key_id(ASN1_STRING_get0_data(aki), static_cast<std::size_t>(ASN1_STRING_length(aki)));
  return base64url_encode(key_id) + "." + base64url_encode(content);
}

std::optional<ari_cert_id_parts> parse_ari_cert_id(std::string_view text) {
  if (text.size() > 200) return std::nullopt;
  auto dot = text.find('.');
  if (dot == std::string_view::npos || text.find('.', dot + 1) != std::string_view::npos) return std::nullopt;
  auto key = base64url_decode(text.substr(0, dot));
  auto serial = base64url_decode(text.substr(dot + 1));
  if (!key || !serial || key->empty() || serial->empty() || key->size() > 64 || serial->size() > 21) {
    return std::nullopt;
  }
  return ari_cert_id_parts{std::move(*key), std::move(*serial)};
}

renewal_window suggested_window(sys_seconds not_before, sys_seconds not_after, std::optional<sys_seconds> revoked_at) {
  if (revoked_at) return {*revoked_at, *revoked_at + std::chrono::hours(1)};
  const auto life = not_after - not_before;
  return {not_before + life * 2 / 3, not_before + life * 3 / 4};
}

std::string opaque_id(random_source& rng) {
  std::uint8_t raw[15];
  rng.fill(raw);
  return base64url_encode(raw);
}

}  // namespace wotca::acme
