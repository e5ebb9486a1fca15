#include "core/wot/model.h"

namespace wotca {

std::string_view to_string(member_kind k) {
  return k == member_kind::person ? "person" : "organisation";
}

std::string_view to_string(verification_method m) {
  switch (m) {
    case verification_method::none: return "none";
    case verification_method::email_probe: return "email-probe";
    case verification_method::acme_http01: return "acme-http-01";
    case verification_method::acme_dns01: return "acme-dns-01";
    case verification_method::acme_tls_alpn01: return "acme-tls-alpn-01";
    case verification_method::dns_txt: return "dns-txt";
    case verification_method::http_token: return "http-token";
    case verification_method::operator_override: return "operator";
  }
  return "none";
}

std::string_view to_string(assurance_method m) {
  switch (m) {
    case assurance_method::face_to_face: return "face-to-face";
    case assurance_method::ttp: return "ttp";
    case assurance_method::topup: return "topup";
    case assurance_method::founding: return "founding";
  }
  return "face-to-face";
}

std::optional<member_kind> member_kind_from(std::string_view s) {
  if (s == "person") return member_kind::person;
  if (s == "organisation" || s == "organization") return member_kind::organisation;
  return std::nullopt;
}

std::optional<verification_method> verification_method_from(std::string_view s) {
  for (auto m : {verification_method::none, verification_method::email_probe,
                 verification_method::acme_http01, verification_method::acme_dns01,
                 verification_method::acme_tls_alpn01, verification_method::dns_txt,
                 verification_method::http_token, verification_method::operator_override}) {
    if (to_string(m) == s) return m;
  }
  return std::nullopt;
}

std::optional<assurance_method> assurance_method_from(std::string_view s) {
  for (auto m : {assurance_method::face_to_face, assurance_method::ttp, assurance_method::topup,
                 assurance_method::founding}) {
    if (to_string(m) == s) return m;
  }
  return std::nullopt;
}

}  // namespace wotca
