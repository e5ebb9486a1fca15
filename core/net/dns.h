// A small DNS stub client (RFC 1035) for proving control of domains: TXT
// records (R-DOMAIN-CONTROL, and ACME dns-01 later) and A/AAAA (where to
// fetch an HTTP token). It asks one configured server (tests run one on
// loopback), over UDP, and over TCP when the answer is truncated. Responses
// are untrusted bytes: parse_response is bounded and fuzzed
// (tests/fuzz/net_dns_response_fuzzer.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/error.h"
#include "core/util/random.h"

namespace wotca {

struct dns_server {
  std::string address;  // an IPv4 or IPv6 literal
  std::uint16_t port = 53;
};

enum class dns_type : std::uint16_t { a = 1, txt = 16, aaaa = 28 };

// The first `nameserver` of /etc/resolv.conf (errc::config if none).
[[nodiscard]] result<dns_server> system_dns_server();
// The same from resolv.conf text: the first `nameserver` line whose value is
// an IP literal (lines with a zone id, "fe80::1%eth0", are skipped).
// errc::config with `field` as where if there is none.
[[nodiscard]] result<dns_server> parse_resolv_conf(std::string_view text, std::string_view field);
// "HOST:PORT" or "[v6]:PORT" or a bare address (port 53).
[[nodiscard]] result<dns_server> parse_dns_server(std::string_view text, std::string_view field);

// A standard query (RD set) for `name` and `type` with message id `id`.
// errc::invalid_input if `name` is not a valid DNS name.
[[nodiscard]] result<std::vector<std::uint8_t>> build_query(std::string_view name, dns_type type, std::uint16_t id);

struct dns_answer {
  bool truncated = false;             // TC: ask again over TCP
  int rcode = 0;                      // 0 NOERROR, 3 NXDOMAIN, ...
  std::vector<std::string> records;   // TXT: each record's strings joined; A/AAAA: address text
};

// Parses a response to the query (`id`, `name`, `type`): checks the id, QR,
// the echoed question, and every length against the buffer; follows
// compression pointers with a loop limit; collects answers of `type` whose
// owner is `name` or the target of a CNAME chain from it. Never reads past
// `response`. errc::invalid_input naming what was malformed.
[[nodiscard]] result<dns_answer> parse_response(std::span<const std::uint8_t> response, std::uint16_t id,
                                                std::string_view name, dns_type type);

// Sends the query and returns the answer (UDP, then TCP if truncated).
// errc::io on timeout or network errors, naming the server; an NXDOMAIN or
// an empty answer is a dns_answer with no records, not an error.
[[nodiscard]] result<dns_answer> dns_lookup(std::string_view name, dns_type type, const dns_server& server,
                                            std::chrono::milliseconds timeout, random_source& rng);

}  // namespace wotca
