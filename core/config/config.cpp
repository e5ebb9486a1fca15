#include "core/config/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>

namespace wotca {

namespace fs = std::filesystem;

namespace {

// Files larger than this are not configuration.
constexpr std::size_t max_config_bytes = 1 << 20;

std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

unexpected<error> bad(std::string_view path, std::string message) {
  return fail(errc::config, path.empty() ? std::string("(top level)") : std::string(path), std::move(message));
}

// A mapping (or absent) whose keys must all be in `known`.
result<void> check_mapping(const YAML::Node& node, std::string_view path,
                           std::initializer_list<std::string_view> known) {
  if (!node.IsDefined() || node.IsNull()) return {};
  if (!node.IsMap()) return bad(path.empty() ? "(top level)" : path, "must be a mapping of keys to values");
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return bad(path, "keys must be plain words");
    const std::string& key = kv.first.Scalar();
    bool found = false;
    std::string list;
    for (auto k : known) {
      if (k == key) found = true;
      if (!list.empty()) list += ", ";
      list += k;
    }
    if (!found) return bad(join_path(path, key), "unknown key (known here: " + list + ")");
  }
  return {};
}

YAML::Node child(const YAML::Node& node, std::string_view key) {
  if (!node.IsDefined() || !node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return node[std::string(key)];
}

bool present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

result<void> read_string(const YAML::Node& parent, std::string_view path, std::string_view key,
                         std::string& out, bool allow_empty) {
  YAML::Node n = child(parent, key);
  if (!n.IsDefined()) return {};
  std::string full = join_path(path, key);
  if (n.IsNull()) {
    if (allow_empty) {
      out.clear();
      return {};
    }
    return bad(full, "must not be empty");
  }
  if (!n.IsScalar()) return bad(full, "must be a text value");
  if (n.Scalar().empty() && !allow_empty) return bad(full, "must not be empty");
  if (n.Scalar().size() > 4096) return bad(full, "is longer than 4096 characters");
  out = n.Scalar();
  return {};
}

result<void> read_int(const YAML::Node& parent, std::string_view path, std::string_view key, int& out,
                      int min, int max) {
  YAML::Node n = child(parent, key);
  if (!present(n)) return {};
  std::string full = join_path(path, key);
  long long v = 0;
  if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v)) {
    return bad(full, "'" + (n.IsScalar() ? n.Scalar() : std::string("(not a scalar)")) +
                         "' is not a whole number");
  }
  if (v < min || v > max) {
    return bad(full, std::to_string(v) + " is out of range (" + std::to_string(min) + " to " +
                         std::to_string(max) + ")");
  }
  out = static_cast<int>(v);
  return {};
}

result<void> read_bool(const YAML::Node& parent, std::string_view path, std::string_view key, bool& out) {
  YAML::Node n = child(parent, key);
  if (!present(n)) return {};
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
    return bad(join_path(path, key), "'" + (n.IsScalar() ? n.Scalar() : std::string("(not a scalar)")) +
                                         "' is not true or false");
  }
  out = v;
  return {};
}

result<void> read_key_algorithm(const YAML::Node& parent, std::string_view path, std::string_view key,
                                key_algorithm& out) {
  std::string text;
  if (auto r = read_string(parent, path, key, text, false); !r) return r;
  if (text.empty()) return {};
  auto a = key_algorithm_from(text);
  if (!a) {
    return bad(join_path(path, key), "'" + text +
                                         "' is not a key algorithm (ecdsa-p256, ecdsa-p384, rsa-2048, "
                                         "rsa-3072, rsa-4096)");
  }
  out = *a;
  return {};
}

result<void> read_url(const YAML::Node& parent, std::string_view path, std::string_view key, std::string& out) {
  std::string text;
  if (auto r = read_string(parent, path, key, text, false); !r) return r;
  if (text.empty()) return {};
  std::string full = join_path(path, key);
  if (text.rfind("http://", 0) != 0) {
    // RFC 5019 §4 and RFC 5280 §4.2.1.13: relying parties fetch OCSP and CRLs over plain HTTP.
    return bad(full, "'" + text + "' must be an http:// URL (OCSP and CRL fetches are plain HTTP)");
  }
  if (text.size() <= 7 || text.find_first_of(" \t\r\n\"<>") != std::string::npos) {
    return bad(full, "'" + text + "' is not a valid URL");
  }
  if (text.back() != '/') return bad(full, "'" + text + "' must end with '/'");
  out = text;
  return {};
}

result<void> read_listen(const YAML::Node& root, std::string_view section, listen_address& out) {
  YAML::Node s = child(root, section);
  if (auto r = check_mapping(s, section, {"listen"}); !r) return r;
  std::string text;
  if (auto r = read_string(s, section, "listen", text, false); !r) return r;
  if (text.empty()) return {};
  auto a = parse_listen_address(text, join_path(section, "listen"));
  if (!a) return unexpected(a.error());
  out = *a;
  return {};
}

// `p` against `base`, normalised and without a trailing separator ("." and
// "dir/" would otherwise leave one: "/srv/ca/").
fs::path resolve(const fs::path& base, const std::string& p) {
  fs::path path(p);
  fs::path out = (path.is_absolute() ? path : base / path).lexically_normal();
  if (!out.has_filename() && out != out.root_path()) out = out.parent_path();
  return out;
}

result<config> parse_tree(const YAML::Node& root, const fs::path& base_dir) {
  config c;
  if (auto r = check_mapping(root, "", {"data_dir", "database", "ca", "urls", "policy", "wot", "mail",
                                        "verification", "enrolment", "acme", "scep", "ocsp", "crl"});
      !r) {
    return unexpected(r.error());
  }
#define WOTCA_TRY(expr)                     \
  if (auto r_ = (expr); !r_) {              \
    return unexpected(std::move(r_.error())); \
  }
  std::string data_dir = ".", database = "wotca.db";
  WOTCA_TRY(read_string(root, "", "data_dir", data_dir, false));
  WOTCA_TRY(read_string(root, "", "database", database, false));
  fs::path base = base_dir.empty() ? fs::current_path() : base_dir;
  if (base.is_relative()) base = fs::absolute(base);
  c.data_dir = resolve(base, data_dir);
  c.database = resolve(c.data_dir, database);

  YAML::Node ca = child(root, "ca");
  WOTCA_TRY(check_mapping(ca, "ca", {"name", "organisation", "root_key_algorithm", "issuing_key_algorithm",
                                     "ocsp_key_algorithm", "scep_ra_key_algorithm", "root_years",
                                     "issuing_years", "ocsp_signer_days"}));
  WOTCA_TRY(read_string(ca, "ca", "name", c.ca.name, false));
  WOTCA_TRY(read_string(ca, "ca", "organisation", c.ca.organisation, false));
  if (c.ca.name.size() > 64) return bad("ca.name", "is longer than 64 characters (an X.509 CN limit)");
  if (c.ca.organisation.size() > 64) return bad("ca.organisation", "is longer than 64 characters");
  WOTCA_TRY(read_key_algorithm(ca, "ca", "root_key_algorithm", c.ca.root_key_algorithm));
  WOTCA_TRY(read_key_algorithm(ca, "ca", "issuing_key_algorithm", c.ca.issuing_key_algorithm));
  WOTCA_TRY(read_key_algorithm(ca, "ca", "ocsp_key_algorithm", c.ca.ocsp_key_algorithm));
  WOTCA_TRY(read_key_algorithm(ca, "ca", "scep_ra_key_algorithm", c.ca.scep_ra_key_algorithm));
  if (c.ca.scep_ra_key_algorithm != key_algorithm::rsa2048 && c.ca.scep_ra_key_algorithm != key_algorithm::rsa3072 &&
      c.ca.scep_ra_key_algorithm != key_algorithm::rsa4096) {
    return bad("ca.scep_ra_key_algorithm", "must be an RSA algorithm: SCEP envelopes need RSA key transport");
  }
  WOTCA_TRY(read_int(ca, "ca", "root_years", c.ca.root_years, 1, 50));
  WOTCA_TRY(read_int(ca, "ca", "issuing_years", c.ca.issuing_years, 1, 50));
  if (c.ca.issuing_years > c.ca.root_years) {
    return bad("ca.issuing_years", std::to_string(c.ca.issuing_years) + " exceeds ca.root_years (" +
                                       std::to_string(c.ca.root_years) + "): an issuing CA cannot outlive its root");
  }
  WOTCA_TRY(read_int(ca, "ca", "ocsp_signer_days", c.ca.ocsp_signer_days, 1, 3650));

  YAML::Node urls = child(root, "urls");
  WOTCA_TRY(check_mapping(urls, "urls", {"ocsp", "crl_base"}));
  WOTCA_TRY(read_url(urls, "urls", "ocsp", c.urls.ocsp));
  WOTCA_TRY(read_url(urls, "urls", "crl_base", c.urls.crl_base));

  YAML::Node policy = child(root, "policy");
  WOTCA_TRY(check_mapping(policy, "policy", {"pseudonym_cn", "client_days_unassured", "client_days_assured",
                                             "server_days", "acme_server_days", "code_signing_days",
                                             "device_days"}));
  WOTCA_TRY(read_string(policy, "policy", "pseudonym_cn", c.policy.pseudonym_cn, false));
  if (c.policy.pseudonym_cn.size() > 64) return bad("policy.pseudonym_cn", "is longer than 64 characters");
  WOTCA_TRY(read_int(policy, "policy", "client_days_unassured", c.policy.client_days_unassured, 1, 180));
  WOTCA_TRY(read_int(policy, "policy", "client_days_assured", c.policy.client_days_assured, 1, 730));
  WOTCA_TRY(read_int(policy, "policy", "server_days", c.policy.server_days, 1, 398));
  WOTCA_TRY(read_int(policy, "policy", "acme_server_days", c.policy.acme_server_days, 1, 398));
  // Checked after both are read: a lowered server_days must not leave the
  // default ACME validity above it.
  if (c.policy.acme_server_days > c.policy.server_days) {
    return bad("policy.acme_server_days", std::to_string(c.policy.acme_server_days) + " exceeds policy.server_days (" +
                                              std::to_string(c.policy.server_days) + "); lower it too");
  }
  WOTCA_TRY(read_int(policy, "policy", "code_signing_days", c.policy.code_signing_days, 1, 1095));
  WOTCA_TRY(read_int(policy, "policy", "device_days", c.policy.device_days, 1, 730));

  YAML::Node wot = child(root, "wot");
  WOTCA_TRY(check_mapping(wot, "wot", {"min_documents", "min_government_photo_ids", "ep_per_assurance",
                                       "ep_per_mass_event_assurance", "cats_validity_years", "founding_max",
                                       "email_probe_hours", "domain_reuse_days", "acme_authz_reuse_days"}));
  WOTCA_TRY(read_int(wot, "wot", "min_documents", c.wot.min_documents, 1, 10));
  WOTCA_TRY(read_int(wot, "wot", "min_government_photo_ids", c.wot.min_government_photo_ids, 1, 10));
  if (c.wot.min_government_photo_ids > c.wot.min_documents) {
    return bad("wot.min_government_photo_ids", std::to_string(c.wot.min_government_photo_ids) +
                                                   " exceeds wot.min_documents (" +
                                                   std::to_string(c.wot.min_documents) + ")");
  }
  WOTCA_TRY(read_int(wot, "wot", "ep_per_assurance", c.wot.ep_per_assurance, 0, 10));
  WOTCA_TRY(read_int(wot, "wot", "ep_per_mass_event_assurance", c.wot.ep_per_mass_event_assurance, 0, 10));
  int cats_years = 0;
  WOTCA_TRY(read_int(wot, "wot", "cats_validity_years", cats_years, 0, 50));
  if (cats_years > 0) c.wot.cats_validity_years = cats_years;
  WOTCA_TRY(read_int(wot, "wot", "founding_max", c.wot.founding_max, 0, 10));
  WOTCA_TRY(read_int(wot, "wot", "email_probe_hours", c.wot.email_probe_hours, 1, 24 * 30));
  WOTCA_TRY(read_int(wot, "wot", "domain_reuse_days", c.wot.domain_reuse_days, 1, 398));
  WOTCA_TRY(read_int(wot, "wot", "acme_authz_reuse_days", c.wot.acme_authz_reuse_days, 0, 398));

  YAML::Node mail = child(root, "mail");
  WOTCA_TRY(check_mapping(mail, "mail", {"sendmail"}));
  WOTCA_TRY(read_string(mail, "mail", "sendmail", c.mail.sendmail, true));

  YAML::Node verification = child(root, "verification");
  WOTCA_TRY(check_mapping(verification, "verification",
                          {"resolver", "http_port", "allow_private_addresses", "challenge_hours", "timeout_ms"}));
  WOTCA_TRY(read_string(verification, "verification", "resolver", c.verification.resolver, true));
  if (!c.verification.resolver.empty()) {
    auto a = parse_listen_address(c.verification.resolver, "verification.resolver");
    if (!a) return unexpected(a.error());
  }
  WOTCA_TRY(read_int(verification, "verification", "http_port", c.verification.http_port, 1, 65535));
  WOTCA_TRY(read_bool(verification, "verification", "allow_private_addresses",
                      c.verification.allow_private_addresses));
  WOTCA_TRY(read_int(verification, "verification", "challenge_hours", c.verification.challenge_hours, 1, 24 * 30));
  WOTCA_TRY(read_int(verification, "verification", "timeout_ms", c.verification.timeout_ms, 100, 60000));

  YAML::Node enrolment = child(root, "enrolment");
  WOTCA_TRY(check_mapping(enrolment, "enrolment", {"eab_key_days", "scep_challenge_hours"}));
  WOTCA_TRY(read_int(enrolment, "enrolment", "eab_key_days", c.enrolment.eab_key_days, 1, 365));
  WOTCA_TRY(read_int(enrolment, "enrolment", "scep_challenge_hours", c.enrolment.scep_challenge_hours, 1, 24 * 365));

  {
    YAML::Node a = child(root, "acme");
    WOTCA_TRY(check_mapping(a, "acme", {"listen", "base_url", "terms_of_service", "website", "caa_identities",
                                        "nonce_seconds", "order_hours", "orders_per_account_hour",
                                        "orders_per_member_hour", "max_identifiers", "max_request_bytes",
                                        "read_timeout_seconds", "threads", "validation"}));
    std::string text;
    WOTCA_TRY(read_string(a, "acme", "listen", text, false));
    if (!text.empty()) {
      auto l = parse_listen_address(text, "acme.listen");
      if (!l) return unexpected(l.error());
      c.acme_listen = *l;
    }
    WOTCA_TRY(read_string(a, "acme", "base_url", c.acme.base_url, true));
    if (!c.acme.base_url.empty()) {
      // RFC 8555 6.1: ACME is served over HTTPS only.
      if (c.acme.base_url.rfind("https://", 0) != 0 || c.acme.base_url.size() <= 8 ||
          c.acme.base_url.find_first_of(" \t\r\n\"<>") != std::string::npos) {
        return bad("acme.base_url", "'" + c.acme.base_url + "' must be an https:// URL (RFC 8555 6.1)");
      }
      while (!c.acme.base_url.empty() && c.acme.base_url.back() == '/') c.acme.base_url.pop_back();
    }
    WOTCA_TRY(read_string(a, "acme", "terms_of_service", c.acme.terms_of_service, true));
    WOTCA_TRY(read_string(a, "acme", "website", c.acme.website, true));
    if (const YAML::Node list = child(a, "caa_identities"); present(list)) {
      if (!list.IsSequence()) return bad("acme.caa_identities", "must be a list of domain names");
      c.acme.caa_identities.clear();
      for (const auto& item : list) {
        if (!item.IsScalar() || item.Scalar().empty()) {
          return bad("acme.caa_identities", "every entry must be a domain name");
        }
        c.acme.caa_identities.push_back(item.Scalar());
      }
    }
    WOTCA_TRY(read_int(a, "acme", "nonce_seconds", c.acme.nonce_seconds, 10, 24 * 3600));
    WOTCA_TRY(read_int(a, "acme", "order_hours", c.acme.order_hours, 1, 24 * 30));
    WOTCA_TRY(read_int(a, "acme", "orders_per_account_hour", c.acme.orders_per_account_hour, 1, 1000000));
    WOTCA_TRY(read_int(a, "acme", "orders_per_member_hour", c.acme.orders_per_member_hour, 1, 1000000));
    WOTCA_TRY(read_int(a, "acme", "max_identifiers", c.acme.max_identifiers, 1, 1000));
    WOTCA_TRY(read_int(a, "acme", "max_request_bytes", c.acme.max_request_bytes, 4096, 1 << 22));
    WOTCA_TRY(read_int(a, "acme", "read_timeout_seconds", c.acme.read_timeout_seconds, 1, 3600));
    WOTCA_TRY(read_int(a, "acme", "threads", c.acme.threads, 0, 256));
    YAML::Node v = child(a, "validation");
    WOTCA_TRY(check_mapping(v, "acme.validation", {"resolver", "http_port", "tls_alpn_port",
                                                   "allow_private_addresses", "timeout_ms", "attempts", "retry_ms",
                                                   "answer_wait_ms"}));
    WOTCA_TRY(read_string(v, "acme.validation", "resolver", c.acme.validation.resolver, true));
    if (!c.acme.validation.resolver.empty()) {
      auto r = parse_listen_address(c.acme.validation.resolver, "acme.validation.resolver");
      if (!r) return unexpected(r.error());
    }
    WOTCA_TRY(read_int(v, "acme.validation", "http_port", c.acme.validation.http_port, 1, 65535));
    WOTCA_TRY(read_int(v, "acme.validation", "tls_alpn_port", c.acme.validation.tls_alpn_port, 1, 65535));
    WOTCA_TRY(read_bool(v, "acme.validation", "allow_private_addresses", c.acme.validation.allow_private_addresses));
    WOTCA_TRY(read_int(v, "acme.validation", "timeout_ms", c.acme.validation.timeout_ms, 100, 120000));
    WOTCA_TRY(read_int(v, "acme.validation", "attempts", c.acme.validation.attempts, 1, 20));
    WOTCA_TRY(read_int(v, "acme.validation", "retry_ms", c.acme.validation.retry_ms, 0, 600000));
    WOTCA_TRY(read_int(v, "acme.validation", "answer_wait_ms", c.acme.validation.answer_wait_ms, 0, 30000));
  }
  WOTCA_TRY(read_listen(root, "scep", c.scep_listen));
  {
    YAML::Node o = child(root, "ocsp");
    WOTCA_TRY(check_mapping(o, "ocsp", {"listen", "validity_hours", "nonces", "threads", "max_request_bytes",
                                        "max_connections", "read_timeout_seconds", "poll_milliseconds"}));
    std::string text;
    WOTCA_TRY(read_string(o, "ocsp", "listen", text, false));
    if (!text.empty()) {
      auto a = parse_listen_address(text, "ocsp.listen");
      if (!a) return unexpected(a.error());
      c.ocsp_listen = *a;
    }
    WOTCA_TRY(read_int(o, "ocsp", "validity_hours", c.ocsp.validity_hours, 1, 24 * 7));
    WOTCA_TRY(read_bool(o, "ocsp", "nonces", c.ocsp.nonces));
    WOTCA_TRY(read_int(o, "ocsp", "threads", c.ocsp.threads, 0, 256));
    WOTCA_TRY(read_int(o, "ocsp", "max_request_bytes", c.ocsp.max_request_bytes, 256, 1 << 20));
    WOTCA_TRY(read_int(o, "ocsp", "max_connections", c.ocsp.max_connections, 1, 1000000));
    WOTCA_TRY(read_int(o, "ocsp", "read_timeout_seconds", c.ocsp.read_timeout_seconds, 1, 3600));
    WOTCA_TRY(read_int(o, "ocsp", "poll_milliseconds", c.ocsp.poll_milliseconds, 10, 60000));
  }
  {
    YAML::Node o = child(root, "crl");
    WOTCA_TRY(check_mapping(o, "crl", {"listen", "validity_days", "debounce_seconds", "refresh_hours",
                                       "keep_expired_crls", "delta", "delta_minutes", "shards", "threads",
                                       "max_connections", "read_timeout_seconds", "poll_milliseconds"}));
    std::string text;
    WOTCA_TRY(read_string(o, "crl", "listen", text, false));
    if (!text.empty()) {
      auto a = parse_listen_address(text, "crl.listen");
      if (!a) return unexpected(a.error());
      c.crl_listen = *a;
    }
    WOTCA_TRY(read_int(o, "crl", "validity_days", c.crl.validity_days, 1, 366));
    WOTCA_TRY(read_int(o, "crl", "debounce_seconds", c.crl.debounce_seconds, 0, 24 * 3600));
    WOTCA_TRY(read_int(o, "crl", "refresh_hours", c.crl.refresh_hours, 0, 366 * 24));
    if (c.crl.refresh_hours >= c.crl.validity_days * 24) {
      return bad("crl.refresh_hours", std::to_string(c.crl.refresh_hours) + " must be less than crl.validity_days (" +
                                          std::to_string(c.crl.validity_days) + ") in hours");
    }
    WOTCA_TRY(read_int(o, "crl", "keep_expired_crls", c.crl.keep_expired_crls, 0, 100));
    WOTCA_TRY(read_bool(o, "crl", "delta", c.crl.delta));
    WOTCA_TRY(read_int(o, "crl", "delta_minutes", c.crl.delta_minutes, 1, 7 * 24 * 60));
    WOTCA_TRY(read_int(o, "crl", "shards", c.crl.shards, 0, 4096));
    WOTCA_TRY(read_int(o, "crl", "threads", c.crl.threads, 0, 256));
    WOTCA_TRY(read_int(o, "crl", "max_connections", c.crl.max_connections, 1, 1000000));
    WOTCA_TRY(read_int(o, "crl", "read_timeout_seconds", c.crl.read_timeout_seconds, 1, 3600));
    WOTCA_TRY(read_int(o, "crl", "poll_milliseconds", c.crl.poll_milliseconds, 10, 60000));
  }
#undef WOTCA_TRY
  return c;
}

}  // namespace

result<listen_address> parse_listen_address(std::string_view text, std::string_view field) {
  auto bad_address = [&] {
    return fail(errc::config, std::string(field),
                "'" + std::string(text) + "' is not HOST:PORT (e.g. 127.0.0.1:14081 or [::1]:14081)");
  };
  listen_address out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return bad_address();
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return bad_address();
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty() || port_text.empty() || port_text.size() > 5) return bad_address();
  unsigned port = 0;
  for (char ch : port_text) {
    if (ch < '0' || ch > '9') return bad_address();
    port = port * 10 + static_cast<unsigned>(ch - '0');
  }
  if (port > 65535) return fail(errc::config, std::string(field), "port " + std::string(port_text) + " is above 65535");
  for (char ch : out.host) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '-' || ch == ':';
    if (!ok) return bad_address();
  }
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

result<config> parse_config(std::string_view yaml_text, const fs::path& base_dir) {
  if (yaml_text.size() > max_config_bytes) {
    return fail(errc::config, "(file)", "is larger than 1 MiB; this is not a wotca configuration");
  }
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    return parse_tree(root, base_dir);
  } catch (const YAML::Exception& e) {
    std::string where = e.mark.is_null() ? "(file)" : "line " + std::to_string(e.mark.line + 1);
    return fail(errc::config, where, "is not valid YAML: " + e.msg);
  } catch (const std::exception& e) {
    return fail(errc::config, "(file)", std::string("could not be read as YAML: ") + e.what());
  }
}

result<config> load_config(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fail(errc::io, file.string(),
                "cannot read the configuration (run `wotca init --data DIR` to make one, or pass --config)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail(errc::io, file.string(), "reading the configuration failed");
  fs::path abs = fs::absolute(file);
  auto c = parse_config(text.str(), abs.parent_path());
  if (!c) {
    c.error().message = c.error().where + " " + c.error().message;
    c.error().where = file.string();
    return c;
  }
  c->source = abs;
  return c;
}

std::string render_config(const fs::path& data_dir) {
  std::string text(config_template());
  const std::string_view marker = "\ndata_dir: .\n";
  auto at = text.find(marker);
  // A single-quoted YAML scalar: only ' needs escaping (as '').
  std::string quoted = "'";
  for (char ch : data_dir.string()) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
  quoted += "'";
  if (at != std::string::npos) text.replace(at, marker.size(), "\ndata_dir: " + quoted + "\n");
  return text;
}

fs::path default_config_path(std::string_view from_flag) {
  if (!from_flag.empty()) return fs::path(from_flag);
  if (const char* env = std::getenv("WOTCA_CONFIG"); env != nullptr && *env != '\0') return fs::path(env);
  return fs::path("data") / "wotca.yaml";
}

}  // namespace wotca
