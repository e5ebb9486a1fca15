// libFuzzer target for core/net/dns.h (STYLE.md 17): parse_response on
// untrusted bytes as a DNS server (or an off-path forger) could send them.
//
// Input layout: bytes 0-1 the query ID (big-endian), byte 2 the query type
// (0: TXT, 1: A, 2: AAAA, by value modulo 3), the rest the response; the
// question is always for "example.org" (the seed corpus holds answers for it).
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//  - an error is errc::invalid_input with where "dns_response" and a message;
//  - a success has the query's ID in its first two bytes, an rcode of 0..15,
//    and records only when NOERROR and not truncated;
//  - every A record is text inet_pton(AF_INET) reads back to the same text,
//    likewise AAAA with AF_INET6 (after inet_ntop); A/AAAA records are never
//    empty (TXT may be: one empty character-string).
#include <arpa/inet.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "core/net/dns.h"

namespace {

constexpr std::size_t max_input = 64 * 1024 + 3;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "net_dns_response_fuzzer: invariant broken: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) broken(what);
}

bool reads_back(int family, const std::string& text) {
  unsigned char address[16];
  if (inet_pton(family, text.c_str(), address) != 1) return false;
  char again[INET6_ADDRSTRLEN];
  return inet_ntop(family, address, again, sizeof again) != nullptr && text == again;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3 || size > max_input) return 0;
  const auto id = static_cast<std::uint16_t>((data[0] << 8) | data[1]);
  const wotca::dns_type types[] = {wotca::dns_type::txt, wotca::dns_type::a, wotca::dns_type::aaaa};
  const wotca::dns_type type = types[data[2] % 3];
  const std::span<const std::uint8_t> message(data + 3, size - 3);

  auto answer = wotca::parse_response(message, id, "example.org", type);
  if (!answer) {
    require(answer.error().code == wotca::errc::invalid_input, "an unexpected error code");
    require(answer.error().where == "dns_response", "an error not naming dns_response");
    require(!answer.error().message.empty(), "an error without a message");
    return 0;
  }
  require(message.size() >= 12, "accepted a message shorter than its header");
  require(((message[0] << 8) | message[1]) == id, "accepted another query's ID");
  require((message[2] & 0x80) != 0, "accepted a query (QR=0)");
  require(answer->rcode >= 0 && answer->rcode <= 15, "an rcode outside 4 bits");
  if (answer->truncated || answer->rcode != 0) require(answer->records.empty(), "records from a TC or error answer");
  for (const auto& record : answer->records) {
    if (type == wotca::dns_type::txt) continue;
    require(!record.empty(), "an empty A/AAAA record");
    if (type == wotca::dns_type::a) require(reads_back(AF_INET, record), "an A record that is not a dotted quad");
    if (type == wotca::dns_type::aaaa) require(reads_back(AF_INET6, record), "an AAAA record that is not IPv6 text");
  }
  return 0;
}
