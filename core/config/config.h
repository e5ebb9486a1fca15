// Typed, validated configuration (ARCHITECTURE.md "Defaults"). The YAML
// format and every key's meaning are documented in config/wotca.yaml, which
// is also compiled in as the template `wotca init` writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/pki/key.h"
#include "core/policy/policy.h"
#include "core/util/error.h"
#include "core/wot/rules.h"

namespace wotca {

struct listen_address {
  std::string host;
  std::uint16_t port = 0;
};
// "HOST:PORT" or "[v6]:PORT"; `field` names the input in the error.
[[nodiscard]] result<listen_address> parse_listen_address(std::string_view text, std::string_view field);

struct ca_config {
  std::string name = "WoTCA Demo";
  std::string organisation = "WoTCA Community";
  key_algorithm root_key_algorithm = key_algorithm::ec_p384;
  key_algorithm issuing_key_algorithm = key_algorithm::ec_p256;
  key_algorithm ocsp_key_algorithm = key_algorithm::ec_p256;
  key_algorithm scep_ra_key_algorithm = key_algorithm::rsa3072;
  int root_years = 20;
  int issuing_years = 10;
  int ocsp_signer_days = 365;
};

struct url_config {
  std::string ocsp = "http://127.0.0.1:14081/";
  std::string crl_base = "http://127.0.0.1:14082/";
};

struct mail_config {
  std::string sendmail;  // empty: write to outbox/
};

// How control of a domain is checked over the network (R-DOMAIN-CONTROL).
struct verification_config {
  std::string resolver;                 // HOST:PORT of a DNS server; empty: /etc/resolv.conf
  int http_port = 80;                   // where HTTP tokens are fetched
  bool allow_private_addresses = false; // tests on loopback turn this on
  int challenge_hours = 72;             // how long a published token is waited for
  int timeout_ms = 10000;               // one DNS lookup or one HTTP fetch
};

struct enrolment_config {
  int eab_key_days = 7;
  int scep_challenge_hours = 24;
};

// wotca-ocsp (RFC 6960, RFC 5019).
struct ocsp_config {
  int validity_hours = 96;         // nextUpdate - thisUpdate; re-signed at half of it
  bool nonces = false;             // sign on demand for requests with a nonce (RFC 8954)
  int threads = 0;                 // HTTP threads; 0: one per core
  int max_request_bytes = 8192;
  int max_connections = 10000;
  int read_timeout_seconds = 10;
  int poll_milliseconds = 200;     // how often the change feed is read
};

// wotca-crl (RFC 5280 5).
struct crl_config {
  int validity_days = 7;           // nextUpdate - thisUpdate
  int debounce_seconds = 60;       // a change is published within this, bursts coalesced
  int refresh_hours = 0;           // re-sign with no change this long before nextUpdate; 0: half the validity
  int keep_expired_crls = 1;       // an expired certificate stays on this many CRLs after its notAfter
  bool delta = false;              // publish delta CRLs (RFC 5280 5.2.4) and the Freshest CRL extension
  int delta_minutes = 60;          // a delta CRL's validity
  int shards = 0;                  // 0: one CRL per issuer; N: N partitions with an Issuing Distribution Point
  int threads = 0;                 // HTTP threads; 0: one per core
  int max_connections = 10000;
  int read_timeout_seconds = 10;
  int poll_milliseconds = 500;     // how often the change feed is read
};

// How wotca-acme validates challenges (RFC 8555 8, RFC 8737).
struct acme_validation_config {
  std::string resolver;                  // HOST:PORT of a DNS server; empty: /etc/resolv.conf
  int http_port = 80;                    // http-01 is fetched from this port
  int tls_alpn_port = 443;               // tls-alpn-01 connects to this port
  bool allow_private_addresses = false;  // tests on loopback turn this on
  int timeout_ms = 10000;                // one attempt
  int attempts = 3;                      // attempts before the challenge is invalid
  int retry_ms = 2000;                   // pause between attempts
  int answer_wait_ms = 2000;             // a challenge POST waits this long for the result (0: answers at once)
};

// wotca-acme (RFC 8555).
struct acme_config {
  std::string base_url;                  // external https URL; empty: https://LISTEN
  std::string terms_of_service;          // directory meta.termsOfService (may be empty)
  std::string website;                   // directory meta.website (may be empty)
  std::vector<std::string> caa_identities{"wotca.example"};
  int nonce_seconds = 3600;              // a nonce is redeemable this long
  int order_hours = 24;                  // pending orders and authorizations expire after this
  int orders_per_account_hour = 300;     // RFC 8555 6.6 rateLimited beyond this
  int orders_per_member_hour = 1000;
  int max_identifiers = 100;             // per order
  int max_request_bytes = 65536;
  int read_timeout_seconds = 30;
  int threads = 0;                       // 0: one per core
  acme_validation_config validation;
};

struct config {
  std::filesystem::path source;    // the file this was read from (empty when parsed from text)
  std::filesystem::path data_dir;  // absolute
  std::filesystem::path database;  // absolute
  ca_config ca;
  url_config urls;
  policy_rules policy;
  wot_rules wot;
  mail_config mail;
  verification_config verification;
  enrolment_config enrolment;
  ocsp_config ocsp;
  crl_config crl;
  acme_config acme;
  listen_address acme_listen{"127.0.0.1", 14443};
  listen_address scep_listen{"127.0.0.1", 14080};
  listen_address ocsp_listen{"127.0.0.1", 14081};
  listen_address crl_listen{"127.0.0.1", 14082};

  // The fixed layout under data_dir.
  [[nodiscard]] std::filesystem::path keys_dir() const { return data_dir / "keys"; }
  [[nodiscard]] std::filesystem::path public_dir() const { return data_dir / "public"; }
  [[nodiscard]] std::filesystem::path crl_dir() const { return data_dir / "crl"; }
  [[nodiscard]] std::filesystem::path outbox_dir() const { return data_dir / "outbox"; }
};

// Parses YAML text. Relative paths resolve against `base_dir` (the folder of
// the file). Never throws: yaml-cpp's exceptions become errc::config errors
// naming the line. Every error names the key path ("policy.server_days") and
// says why the value is wrong.
[[nodiscard]] result<config> parse_config(std::string_view yaml_text, const std::filesystem::path& base_dir);

// Reads and parses `file`. errc::io naming the path if it cannot be read.
[[nodiscard]] result<config> load_config(const std::filesystem::path& file);

// The documented template (config/wotca.yaml), compiled in.
[[nodiscard]] std::string_view config_template();

// The template with data_dir set to `data_dir` (absolute), as init writes it.
[[nodiscard]] std::string render_config(const std::filesystem::path& data_dir);

// Where the CLI finds its configuration: --config if given, else
// $WOTCA_CONFIG, else ./data/wotca.yaml.
[[nodiscard]] std::filesystem::path default_config_path(std::string_view from_flag);

}  // namespace wotca
