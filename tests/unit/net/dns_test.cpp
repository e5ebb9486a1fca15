#include "core/net/dns.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/net/socket.h"

using namespace wotca;
using namespace std::chrono_literals;

namespace {

using bytes = std::vector<std::uint8_t>;

// --- hand-built DNS messages (RFC 1035 4.1), independent of dns.cpp ---

bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

bytes u16(unsigned v) { return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v & 0xff)}; }

bytes raw(std::string_view s) { return bytes(s.begin(), s.end()); }

// "a.b" -> \x01a\x01b\x00
bytes wire(std::string_view dotted) {
  bytes out;
  std::size_t start = 0;
  while (start < dotted.size()) {
    std::size_t dot = dotted.find('.', start);
    if (dot == std::string_view::npos) dot = dotted.size();
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), dotted.begin() + static_cast<std::ptrdiff_t>(start),
               dotted.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

bytes ptr(unsigned offset) { return {static_cast<std::uint8_t>(0xC0 | (offset >> 8)), static_cast<std::uint8_t>(offset)}; }

constexpr unsigned response_flags = 0x8180;  // QR, RD, RA, NOERROR

bytes header(unsigned id, unsigned flags, unsigned qd, unsigned an) {
  return cat({u16(id), u16(flags), u16(qd), u16(an), u16(0), u16(0)});
}

bytes question(std::string_view name, unsigned type) { return cat({wire(name), u16(type), u16(1)}); }

bytes rr(const bytes& owner, unsigned type, const bytes& rdata, unsigned cls = 1) {
  return cat({owner, u16(type), u16(cls), {0, 0, 0x0e, 0x10}, u16(static_cast<unsigned>(rdata.size())), rdata});
}

bytes txt(std::initializer_list<std::string_view> strings) {
  bytes out;
  for (auto s : strings) {
    out.push_back(static_cast<std::uint8_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

constexpr unsigned t_a = 1, t_cname = 5, t_txt = 16, t_aaaa = 28;
constexpr std::uint16_t test_id = 0x1234;
// In every message below the question name starts at offset 12 and the
// first answer at 12 + 13 + 4 = 29 for "example.org".
constexpr unsigned qname_at = 12;

std::string hex(const bytes& b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

class fixed_random final : public random_source {
 public:
  explicit fixed_random(std::uint8_t byte) : byte_(byte) {}
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = byte_;
  }

 private:
  std::uint8_t byte_;
};

}  // namespace

TEST_CASE("build_query writes the RFC 1035 bytes with an EDNS0 OPT record", "[dns]") {
  // Written by hand from RFC 1035 4.1.1-4.1.2 and RFC 6891 6.1.2.
  const std::string expected =
      "beef"                              // ID
      "0100"                              // QR=0 OPCODE=0 AA=0 TC=0 RD=1 RA=0 Z=0 RCODE=0
      "0001" "0000" "0000" "0001"         // QDCOUNT=1 ANCOUNT=0 NSCOUNT=0 ARCOUNT=1
      "10" "5f776f7463612d6368616c6c656e6765"  // 16 "_wotca-challenge"
      "07" "6578616d706c65"               // 7 "example"
      "03" "6f7267"                       // 3 "org"
      "00"                                // root
      "0010" "0001"                       // QTYPE=TXT QCLASS=IN
      "00" "0029" "04d0" "00000000" "0000";  // OPT: root, type 41, 1232 bytes, ext-rcode/flags 0, RDLEN 0
  auto q = build_query("_wotca-challenge.example.org", dns_type::txt, 0xbeef);
  REQUIRE(q);
  CHECK(hex(*q) == expected);

  // A trailing dot names the same query; the case is kept as given.
  auto dotted = build_query("_wotca-challenge.example.org.", dns_type::txt, 0xbeef);
  REQUIRE(dotted);
  CHECK(*dotted == *q);
  auto a = build_query("Example.ORG", dns_type::aaaa, 1);
  REQUIRE(a);
  CHECK(hex(*a) == "0001010000010000000000010745" "78616d706c6503" "4f5247" "00001c0001" "00002904d0000000000000");
}

TEST_CASE("build_query accepts and refuses names", "[dns]") {
  const std::string l63(63, 'a');
  const std::string l64(64, 'a');
  // 4 labels of 63 plus 3 dots is 255: too long; cut to 253.
  const std::string n253 = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
  const std::string n254 = n253 + "b";
  auto [rule, name, ok] = GENERATE_COPY(table<std::string, std::string, bool>({
      {"plain name", "example.org", true},
      {"underscore labels", "_acme-challenge.www.example.org", true},
      {"single label", "localhost", true},
      {"trailing dot", "example.org.", true},
      {"63-byte label", l63 + ".org", true},
      {"64-byte label", l64 + ".org", false},
      {"253 characters", n253, true},
      {"254 characters", n254, false},
      {"empty", "", false},
      {"root only", ".", false},
      {"empty label", "example..org", false},
      {"leading dot", ".example.org", false},
      {"two trailing dots", "example.org..", false},
      {"space", "exa mple.org", false},
      {"slash", "example.org/x", false},
      {"NUL", std::string("exa\0mple.org", 12), false},
      {"non-ASCII", "ex\xc3\xa4mple.org", false},
      {"wildcard", "*.example.org", false},
  }));
  CAPTURE(rule);
  auto q = build_query(name, dns_type::a, 7);
  CHECK(q.has_value() == ok);
  if (!q) {
    CHECK(q.error().code == errc::invalid_input);
    CHECK(q.error().where == "dns_name");
  }
}

namespace {

struct parse_case {
  std::string rule;
  bytes message;
  std::string name = "example.org";
  dns_type type = dns_type::txt;
  bool ok = true;
  std::vector<std::string> records;
  int rcode = 0;
  bool truncated = false;
  std::string error_part;  // in the message when !ok
};

std::vector<parse_case> parse_cases() {
  const bytes q_txt = question("example.org", t_txt);
  const bytes qp = ptr(qname_at);
  std::vector<parse_case> c;
  auto good = [&](std::string rule, bytes message, std::string name, dns_type type, std::vector<std::string> records,
                  int rcode = 0, bool truncated = false) {
    parse_case p;
    p.rule = std::move(rule);
    p.message = std::move(message);
    p.name = std::move(name);
    p.type = type;
    p.records = std::move(records);
    p.rcode = rcode;
    p.truncated = truncated;
    c.push_back(std::move(p));
  };
  good("TXT of several strings is joined",
               cat({header(test_id, response_flags, 1, 1), q_txt, rr(qp, t_txt, txt({"v=wotca1 ", "tok", "en"}))}),
               "example.org", dns_type::txt, {"v=wotca1 token"});
  good("several TXT records, in order",
               cat({header(test_id, response_flags, 1, 3), q_txt, rr(qp, t_txt, txt({"one"})),
                    rr(qp, t_txt, txt({""})), rr(qp, t_txt, txt({"three"}))}),
               "example.org", dns_type::txt, {"one", "", "three"});
  good("owner written out, not compressed",
               cat({header(test_id, response_flags, 1, 1), q_txt, rr(wire("EXAMPLE.org"), t_txt, txt({"x"}))}),
               "example.org", dns_type::txt, {"x"});
  {
    // _wotca-challenge.example.org CNAME a.example.net; a.example.net CNAME
    // b.example.net; b.example.net TXT "tok"; an unrelated TXT is ignored.
    const bytes q = question("_wotca-challenge.example.org", t_txt);
    const unsigned first_rr = 12 + static_cast<unsigned>(q.size());
    const bytes cname1 = rr(ptr(qname_at), t_cname, wire("a.example.net"));
    // a.example.net's wire form starts 12 bytes into cname1 (2 pointer + 10 fixed).
    const unsigned a_at = first_rr + 12;
    const bytes cname2 = rr(ptr(a_at), t_cname, cat({raw("\x01"
                                                         "b"),
                                                     ptr(a_at + 2)}));  // "b" + pointer to "example.net"
    const unsigned b_at = first_rr + static_cast<unsigned>(cname1.size()) + 12;
    good("CNAME chain, then TXT at its end; compression pointers everywhere",
                 cat({header(test_id, response_flags, 1, 4), q, cname1, cname2,
                      rr(wire("other.example.net"), t_txt, txt({"not this"})), rr(ptr(b_at), t_txt, txt({"tok"}))}),
                 "_wotca-challenge.example.org", dns_type::txt, {"tok"});
  }
  good("TXT owned by another name is ignored",
               cat({header(test_id, response_flags, 1, 1), q_txt, rr(wire("example.com"), t_txt, txt({"x"}))}),
               "example.org", dns_type::txt, {});
  good("records of other types and classes are skipped",
               cat({header(test_id, response_flags, 1, 3), q_txt, rr(qp, 46, raw("any bytes at all")),
                    rr(qp, t_txt, txt({"chaos"}), 3), rr(qp, t_txt, txt({"in"}))}),
               "example.org", dns_type::txt, {"in"});
  good("the question's case differs (0x20)",
               cat({header(test_id, response_flags, 1, 1), question("eXaMpLe.OrG", t_txt), rr(qp, t_txt, txt({"x"}))}),
               "Example.org.", dns_type::txt, {"x"});
  good("bytes after the answer section are ignored",
               cat({header(test_id, response_flags, 1, 1), q_txt, rr(qp, t_txt, txt({"x"})), raw("garbage")}),
               "example.org", dns_type::txt, {"x"});
  good("A record as a dotted quad",
               cat({header(test_id, response_flags, 1, 2), question("example.org", t_a), rr(qp, t_a, {192, 0, 2, 1}),
                    rr(qp, t_a, {255, 255, 0, 10})}),
               "example.org", dns_type::a, {"192.0.2.1", "255.255.0.10"});
  good("AAAA record as inet_ntop text",
               cat({header(test_id, response_flags, 1, 1), question("example.org", t_aaaa),
                    rr(qp, t_aaaa, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})}),
               "example.org", dns_type::aaaa, {"2001:db8::1"});
  good("NXDOMAIN: rcode 3, no records",
               cat({header(test_id, 0x8183, 1, 0), q_txt}), "example.org", dns_type::txt, {}, 3);
  good("SERVFAIL with an answer: the answer is not used",
               cat({header(test_id, 0x8182, 1, 1), q_txt, rr(qp, t_txt, txt({"x"}))}), "example.org", dns_type::txt,
               {}, 2);
  good("TC: truncated, records left for TCP",
               cat({header(test_id, 0x8380, 1, 2), q_txt, rr(qp, t_txt, txt({"x"}))}), "example.org", dns_type::txt,
               {}, 0, true);
  good("TC without a question", header(test_id, 0x8380, 0, 0), "example.org", dns_type::txt, {}, 0,
               true);

  auto bad = [&](std::string rule, bytes message, std::string part, dns_type type = dns_type::txt) {
    parse_case p;
    p.rule = std::move(rule);
    p.message = std::move(message);
    p.type = type;
    p.ok = false;
    p.error_part = std::move(part);
    c.push_back(std::move(p));
  };
  bad("shorter than a header", bytes{0x12, 0x34, 0x81, 0x80, 0, 1}, "12-byte header");
  bad("empty", bytes{}, "12-byte header");
  bad("wrong id", cat({header(0x4321, response_flags, 1, 0), q_txt}), "0x4321");
  bad("QR clear: a query", cat({header(test_id, 0x0100, 1, 0), q_txt}), "QR is 0");
  bad("opcode not QUERY", cat({header(test_id, 0x8980, 1, 0), q_txt}), "opcode is 1");
  bad("no question", header(test_id, response_flags, 0, 0), "QDCOUNT is 0");
  bad("two questions", cat({header(test_id, response_flags, 2, 0), q_txt, q_txt}), "QDCOUNT is 2");
  bad("question for another name", cat({header(test_id, response_flags, 1, 0), question("example.com", t_txt)}),
      "example.com");
  bad("question for another type", cat({header(test_id, response_flags, 1, 0), question("example.org", t_a)}),
      "type 1");
  bad("question cut short", cat({header(test_id, response_flags, 1, 0), wire("example.org"), u16(t_txt)}),
      "question's class");
  bad("pointer loop (label then pointer back to it)",
      cat({header(test_id, response_flags, 1, 1), q_txt, raw("\x01"
                                                             "a"),
           ptr(29), u16(t_txt), u16(1), {0, 0, 0, 0}, u16(2), txt({"x"})}),
      "more than 64 compression pointers");
  bad("pointer to itself", cat({header(test_id, response_flags, 1, 1), q_txt, ptr(29), u16(t_txt), u16(1), {0, 0, 0, 0},
                                u16(2), txt({"x"})}),
      "does not point back");
  bad("forward pointer", cat({header(test_id, response_flags, 1, 1), q_txt, ptr(40), u16(t_txt), u16(1), {0, 0, 0, 0},
                              u16(2), txt({"x"})}),
      "does not point back");
  bad("pointer into the header", cat({header(test_id, response_flags, 1, 1), q_txt, ptr(4), u16(t_txt), u16(1),
                                      {0, 0, 0, 0}, u16(2), txt({"x"})}),
      "into the header");
  bad("name over 255 octets through pointers",
      cat({header(test_id, response_flags, 1, 1), q_txt, bytes{63}, bytes(63, 'a'), ptr(29), u16(t_txt), u16(1),
           {0, 0, 0, 0}, u16(2), txt({"x"})}),
      "longer than 255");
  bad("extended label type 0x40", cat({header(test_id, response_flags, 1, 1), q_txt, bytes{0x41, 0}, u16(t_txt),
                                       u16(1), {0, 0, 0, 0}, u16(2), txt({"x"})}),
      "unknown label type");
  bad("RDLENGTH past the end",
      cat({header(test_id, response_flags, 1, 1), q_txt, qp, u16(t_txt), u16(1), {0, 0, 0, 0}, u16(50), txt({"x"})}),
      "RDATA needs 50 bytes");
  bad("ANCOUNT larger than the answers", cat({header(test_id, response_flags, 1, 2), q_txt, rr(qp, t_txt, txt({"x"}))}),
      "an answer's name");
  bad("RR header cut short", cat({header(test_id, response_flags, 1, 1), q_txt, qp, u16(t_txt), u16(1), {0, 0}}),
      "TTL");
  bad("TXT string longer than RDLENGTH",
      cat({header(test_id, response_flags, 1, 1), q_txt, rr(qp, t_txt, raw("\x05"
                                                                            "abc"))}),
      "TXT character-string");
  bad("TXT with no string", cat({header(test_id, response_flags, 1, 1), q_txt, rr(qp, t_txt, {})}),
      "no character-string");
  bad("A of 5 bytes", cat({header(test_id, response_flags, 1, 1), question("example.org", t_a), rr(qp, t_a, {1, 2, 3, 4, 5})}),
      "not 4", dns_type::a);
  bad("AAAA of 4 bytes",
      cat({header(test_id, response_flags, 1, 1), question("example.org", t_aaaa), rr(qp, t_aaaa, {1, 2, 3, 4})}),
      "not 16", dns_type::aaaa);
  bad("CNAME with bytes after the target",
      cat({header(test_id, response_flags, 1, 1), q_txt, rr(qp, t_cname, cat({wire("a.net"), raw("x")}))}),
      "after its target");
  bad("CNAME target running out of RDATA",
      cat({header(test_id, response_flags, 1, 1), q_txt, rr(qp, t_cname, raw("\x03"
                                                                              "ab"))}),
      "running past its section");
  bad("CNAME loop",
      cat({header(test_id, response_flags, 1, 2), q_txt, rr(qp, t_cname, wire("a.net")),
           rr(wire("a.net"), t_cname, wire("example.org"))}),
      "loops back");
  bad("two CNAMEs for one name",
      cat({header(test_id, response_flags, 1, 2), q_txt, rr(qp, t_cname, wire("a.net")), rr(qp, t_cname, wire("b.net"))}),
      "two CNAME");
  {
    // example.org -> c1 -> ... -> c9: nine aliases, one more than allowed.
    bytes m = cat({header(test_id, response_flags, 1, 9), q_txt, rr(qp, t_cname, wire("c1.net"))});
    for (int i = 1; i < 9; ++i) {
      m = cat({m, rr(wire("c" + std::to_string(i) + ".net"), t_cname, wire("c" + std::to_string(i + 1) + ".net"))});
    }
    bad("CNAME chain of nine", m, "longer than 8");
    // Eight aliases are fine.
    bytes ok = cat({header(test_id, response_flags, 1, 9), q_txt, rr(qp, t_cname, wire("c1.net"))});
    for (int i = 1; i < 8; ++i) {
      ok = cat({ok, rr(wire("c" + std::to_string(i) + ".net"), t_cname, wire("c" + std::to_string(i + 1) + ".net"))});
    }
    ok = cat({ok, rr(wire("c8.net"), t_txt, txt({"end"}))});
    good("CNAME chain of eight", ok, "example.org", dns_type::txt, {"end"});
  }
  return c;
}

}  // namespace

TEST_CASE("parse_response over hand-built responses", "[dns]") {
  const auto c = GENERATE(from_range(parse_cases()));
  CAPTURE(c.rule);
  auto answer = parse_response(c.message, test_id, c.name, c.type);
  CAPTURE(answer ? std::string("ok") : answer.error().message);
  REQUIRE(answer.has_value() == c.ok);
  if (answer) {
    CHECK(answer->records == c.records);
    CHECK(answer->rcode == c.rcode);
    CHECK(answer->truncated == c.truncated);
  } else {
    CAPTURE(answer.error().message);
    CHECK(answer.error().code == errc::invalid_input);
    CHECK(answer.error().where == "dns_response");
    CHECK(answer.error().message.find(c.error_part) != std::string::npos);
  }
}

TEST_CASE("parse_response never reads past a cut message", "[dns]") {
  // Every prefix of a valid answer either fails or (for the header-only
  // prefixes that stop early) succeeds; run under ASan this checks bounds.
  const bytes full = cat({header(test_id, response_flags, 1, 2), question("example.org", t_txt),
                          rr(ptr(qname_at), t_txt, txt({"abc", "def"})), rr(wire("example.org"), t_txt, txt({"g"}))});
  REQUIRE(parse_response(full, test_id, "example.org", dns_type::txt));
  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    auto cut = parse_response(std::span<const std::uint8_t>(full.data(), n), test_id, "example.org", dns_type::txt);
    CHECK_FALSE(cut.has_value());
  }
}

TEST_CASE("parse_dns_server", "[dns]") {
  auto [text, ok, address, port] = GENERATE(table<std::string, bool, std::string, int>({
      {"192.0.2.53", true, "192.0.2.53", 53},
      {"192.0.2.53:5353", true, "192.0.2.53", 5353},
      {"[::1]:5353", true, "::1", 5353},
      {"[2001:db8::53]", true, "2001:db8::53", 53},
      {"::1", true, "::1", 53},
      {"2001:db8::53", true, "2001:db8::53", 53},
      {"", false, "", 0},
      {"dns.example.org", false, "", 0},
      {"192.0.2.53:0", false, "", 0},
      {"192.0.2.53:65536", false, "", 0},
      {"192.0.2.53:", false, "", 0},
      {"192.0.2.53:53x", false, "", 0},
      {"[::1]5353", false, "", 0},
      {"[::1", false, "", 0},
      {"[192.0.2.53]:53", false, "", 0},
      {"256.0.0.1", false, "", 0},
      {"fe80::1%eth0", false, "", 0},
  }));
  CAPTURE(text);
  auto server = parse_dns_server(text, "dns.server");
  REQUIRE(server.has_value() == ok);
  if (server) {
    CHECK(server->address == address);
    CHECK(server->port == port);
  } else {
    CHECK(server.error().code == errc::config);
    CHECK(server.error().where == "dns.server");
  }
}

TEST_CASE("parse_resolv_conf takes the first usable nameserver", "[dns]") {
  auto [rule, text, ok, address] = GENERATE(table<std::string, std::string, bool, std::string>({
      {"one", "nameserver 192.0.2.53\n", true, "192.0.2.53"},
      {"comments and options first", "# generated\n; x\nsearch example.org\noptions edns0\nnameserver 10.0.0.1\nnameserver 10.0.0.2\n", true, "10.0.0.1"},
      {"tabs and no final newline", "nameserver\t::1", true, "::1"},
      {"zone id skipped", "nameserver fe80::1%eth0\nnameserver 192.0.2.1\n", true, "192.0.2.1"},
      {"commented out", "#nameserver 192.0.2.53\n", false, ""},
      {"empty", "", false, ""},
      {"keyword alone", "nameserver\n", false, ""},
  }));
  CAPTURE(rule);
  auto server = parse_resolv_conf(text, "/etc/resolv.conf");
  REQUIRE(server.has_value() == ok);
  if (server) {
    CHECK(server->address == address);
    CHECK(server->port == 53);
  } else {
    CHECK(server.error().code == errc::config);
    CHECK(server.error().where == "/etc/resolv.conf");
  }
}

TEST_CASE("system_dns_server reads /etc/resolv.conf or says why not", "[dns]") {
  // The test host's resolver is not ours to fix: only the shape of the result.
  auto server = system_dns_server();
  if (server) {
    CHECK(parse_dns_server(server->address, "x").has_value());
  } else {
    CHECK(server.error().code == errc::config);
  }
}

namespace {

// A DNS server on 127.0.0.1 (UDP and TCP on one port 0 port) run in a
// thread. `answer(query, over_tcp)` returns the datagrams to send back (for
// TCP, the first one); an empty list answers nothing. No Catch2 macros run
// in the thread (Catch2 is not thread-safe); the test reads the counters
// after the server stops.
class test_dns_server {
 public:
  using responder = std::function<std::vector<bytes>(const bytes& query, bool over_tcp)>;

  explicit test_dns_server(responder answer) : answer_(std::move(answer)) {
    for (int attempt = 0; attempt < 20 && !tcp_; ++attempt) {
      udp_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      auto any = parse_ip_literal("127.0.0.1", 0);
      if (!udp_ || ::bind(udp_.get(), any->get(), any->length) != 0) continue;
      port_ = local_address(udp_.get())->port();
      unique_fd tcp(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      auto same = parse_ip_literal("127.0.0.1", port_);
      const int one = 1;
      ::setsockopt(tcp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(tcp.get(), same->get(), same->length) == 0 && ::listen(tcp.get(), 4) == 0) tcp_ = std::move(tcp);
    }
    int p[2];
    if (::pipe(p) == 0) {
      stop_read_.reset(p[0]);
      stop_write_.reset(p[1]);
    }
    thread_ = std::thread([this] { run(); });
  }
  ~test_dns_server() {
    if (stop_write_) (void)!::write(stop_write_.get(), "x", 1);
    thread_.join();
  }
  test_dns_server(const test_dns_server&) = delete;
  test_dns_server& operator=(const test_dns_server&) = delete;

  [[nodiscard]] bool ready() const { return static_cast<bool>(tcp_) && static_cast<bool>(stop_read_); }
  [[nodiscard]] dns_server address() const { return dns_server{"127.0.0.1", port_}; }
  std::atomic<int> udp_queries{0};
  std::atomic<int> tcp_queries{0};

 private:
  void run() {
    for (;;) {
      pollfd fds[3] = {{stop_read_.get(), POLLIN, 0}, {udp_.get(), POLLIN, 0}, {tcp_.get(), POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0) return;
      if (fds[0].revents != 0) return;
      if (fds[1].revents & POLLIN) serve_udp();
      if (fds[2].revents & POLLIN) serve_tcp();
    }
  }
  void serve_udp() {
    bytes buffer(65535);
    sockaddr_storage from{};
    socklen_t from_length = sizeof from;
    const ssize_t n = ::recvfrom(udp_.get(), buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from),
                                 &from_length);
    if (n <= 0) return;
    buffer.resize(static_cast<std::size_t>(n));
    ++udp_queries;
    for (const auto& reply : answer_(buffer, false)) {
      ::sendto(udp_.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_length);
    }
  }
  void serve_tcp() {
    unique_fd conn(::accept4(tcp_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;
    timeval two_seconds{2, 0};
    ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &two_seconds, sizeof two_seconds);
    std::uint8_t prefix[2];
    if (::recv(conn.get(), prefix, 2, MSG_WAITALL) != 2) return;
    bytes query(static_cast<std::size_t>((prefix[0] << 8) | prefix[1]));
    if (::recv(conn.get(), query.data(), query.size(), MSG_WAITALL) != static_cast<ssize_t>(query.size())) return;
    ++tcp_queries;
    auto replies = answer_(query, true);
    if (replies.empty()) return;
    const bytes framed = cat({u16(static_cast<unsigned>(replies.front().size())), replies.front()});
    ::send(conn.get(), framed.data(), framed.size(), MSG_NOSIGNAL);
  }

  responder answer_;
  unique_fd udp_;
  unique_fd tcp_;
  unique_fd stop_read_;
  unique_fd stop_write_;
  std::uint16_t port_ = 0;
  std::thread thread_;  // last: started once every member above exists
};

// The query's ID and question section, echoed into a reply with `flags` and `answers`.
bytes reply_to(const bytes& query, unsigned flags, std::initializer_list<bytes> answers) {
  if (query.size() < 12) return {};
  std::size_t end = 12;
  while (end < query.size() && query[end] != 0) end += 1u + query[end];
  end += 1 + 4;
  if (end > query.size()) return {};
  bytes out = cat({bytes(query.begin(), query.begin() + 2), u16(flags), u16(1), u16(static_cast<unsigned>(answers.size())),
                   u16(0), u16(0), bytes(query.begin() + 12, query.begin() + static_cast<std::ptrdiff_t>(end))});
  for (const auto& a : answers) out = cat({out, a});
  return out;
}

}  // namespace

TEST_CASE("dns_lookup over UDP", "[dns][loopback]") {
  std::atomic<int> seen_id{-1};
  test_dns_server server([&](const bytes& query, bool) {
    seen_id = (query[0] << 8) | query[1];
    return std::vector<bytes>{reply_to(query, response_flags, {rr(ptr(qname_at), t_txt, txt({"token-", "value"}))})};
  });
  REQUIRE(server.ready());
  fixed_random rng(0xab);
  auto answer = dns_lookup("_wotca-challenge.example.org", dns_type::txt, server.address(), 2000ms, rng);
  REQUIRE(answer);
  CHECK(answer->records == std::vector<std::string>{"token-value"});
  CHECK_FALSE(answer->truncated);
  CHECK(server.udp_queries == 1);
  CHECK(server.tcp_queries == 0);
  CHECK(seen_id == 0xabab);  // the ID comes from the injected RNG
}

TEST_CASE("dns_lookup ignores answers with another id and waits for its own", "[dns][loopback]") {
  test_dns_server server([](const bytes& query, bool) {
    bytes forged = reply_to(query, response_flags, {rr(ptr(qname_at), t_a, {10, 0, 0, 1})});
    forged[1] ^= 0xff;
    return std::vector<bytes>{forged, reply_to(query, response_flags, {rr(ptr(qname_at), t_a, {192, 0, 2, 7})})};
  });
  REQUIRE(server.ready());
  fixed_random rng(0x42);
  auto answer = dns_lookup("example.org", dns_type::a, server.address(), 2000ms, rng);
  REQUIRE(answer);
  CHECK(answer->records == std::vector<std::string>{"192.0.2.7"});
}

TEST_CASE("dns_lookup retries a truncated answer over TCP", "[dns][loopback]") {
  // Three 255-byte strings: more than a classic 512-byte datagram.
  const std::string big(255, 'x');
  test_dns_server server([&](const bytes& query, bool over_tcp) {
    if (!over_tcp) return std::vector<bytes>{reply_to(query, response_flags | 0x0200, {})};
    return std::vector<bytes>{reply_to(
        query, response_flags,
        {rr(ptr(qname_at), t_txt, txt({big, big, big})), rr(ptr(qname_at), t_txt, txt({"second"}))})};
  });
  REQUIRE(server.ready());
  fixed_random rng(0x01);
  auto answer = dns_lookup("_acme-challenge.example.org", dns_type::txt, server.address(), 2000ms, rng);
  REQUIRE(answer);
  CHECK_FALSE(answer->truncated);
  CHECK(answer->records == std::vector<std::string>{big + big + big, "second"});
  CHECK(server.udp_queries == 1);
  CHECK(server.tcp_queries == 1);
}

TEST_CASE("dns_lookup: NXDOMAIN is an answer, not an error", "[dns][loopback]") {
  test_dns_server server([](const bytes& query, bool) { return std::vector<bytes>{reply_to(query, 0x8183, {})}; });
  REQUIRE(server.ready());
  fixed_random rng(0x07);
  auto answer = dns_lookup("missing.example.org", dns_type::txt, server.address(), 2000ms, rng);
  REQUIRE(answer);
  CHECK(answer->rcode == 3);
  CHECK(answer->records.empty());
}

TEST_CASE("dns_lookup: a malformed answer names the server", "[dns][loopback]") {
  test_dns_server server([](const bytes& query, bool) {
    return std::vector<bytes>{reply_to(query, response_flags, {rr(ptr(qname_at), t_a, {1, 2, 3})})};
  });
  REQUIRE(server.ready());
  fixed_random rng(0x07);
  auto answer = dns_lookup("example.org", dns_type::a, server.address(), 2000ms, rng);
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code == errc::invalid_input);
  CHECK(answer.error().where == "dns server 127.0.0.1:" + std::to_string(server.address().port));
}

TEST_CASE("dns_lookup times out against a server that never answers", "[dns][loopback]") {
  test_dns_server server([](const bytes&, bool) { return std::vector<bytes>{}; });
  REQUIRE(server.ready());
  fixed_random rng(0x07);
  const auto start = std::chrono::steady_clock::now();
  auto answer = dns_lookup("example.org", dns_type::txt, server.address(), 200ms, rng);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code == errc::io);
  CHECK(answer.error().where == "dns server 127.0.0.1:" + std::to_string(server.address().port));
  CHECK(answer.error().message.find("no answer within 200 ms") != std::string::npos);
  CHECK(elapsed >= 190ms);
  CHECK(elapsed < 2s);
  CHECK(server.udp_queries == 1);
}

TEST_CASE("dns_lookup: the TCP retry shares the UDP query's time budget", "[dns][loopback]") {
  // The TCP side holds the connection for 800 ms without answering.
  test_dns_server server([](const bytes& query, bool over_tcp) {
    if (over_tcp) {
      std::this_thread::sleep_for(800ms);
      return std::vector<bytes>{};
    }
    return std::vector<bytes>{reply_to(query, response_flags | 0x0200, {})};
  });
  REQUIRE(server.ready());
  fixed_random rng(0x07);
  const auto start = std::chrono::steady_clock::now();
  auto answer = dns_lookup("example.org", dns_type::txt, server.address(), 300ms, rng);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code == errc::io);
  CHECK(answer.error().message.find("within 300 ms") != std::string::npos);
  CHECK(elapsed < 700ms);
}

TEST_CASE("dns_lookup: a TCP retry closed without an answer is an io error", "[dns][loopback]") {
  test_dns_server server([](const bytes& query, bool over_tcp) {
    if (over_tcp) return std::vector<bytes>{};
    return std::vector<bytes>{reply_to(query, response_flags | 0x0200, {})};
  });
  REQUIRE(server.ready());
  fixed_random rng(0x07);
  auto answer = dns_lookup("example.org", dns_type::txt, server.address(), 2000ms, rng);
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code == errc::io);
  CHECK(answer.error().message.find("closed the TCP connection") != std::string::npos);
  CHECK(server.tcp_queries == 1);
}

TEST_CASE("dns_lookup: a closed port is refused quickly", "[dns][loopback]") {
  std::uint16_t port = 0;
  {
    unique_fd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto any = parse_ip_literal("127.0.0.1", 0);
    REQUIRE(::bind(probe.get(), any->get(), any->length) == 0);
    port = local_address(probe.get())->port();
  }
  fixed_random rng(0x07);
  auto answer = dns_lookup("example.org", dns_type::txt, dns_server{"127.0.0.1", port}, 2000ms, rng);
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code == errc::io);
}

TEST_CASE("dns_lookup refuses bad input before sending", "[dns]") {
  fixed_random rng(0x07);
  auto bad_server = dns_lookup("example.org", dns_type::txt, dns_server{"dns.example.org", 53}, 100ms, rng);
  REQUIRE_FALSE(bad_server);
  CHECK(bad_server.error().code == errc::config);
  auto bad_name = dns_lookup("bad name", dns_type::txt, dns_server{"127.0.0.1", 9}, 100ms, rng);
  REQUIRE_FALSE(bad_name);
  CHECK(bad_name.error().code == errc::invalid_input);
  CHECK(bad_name.error().where == "dns_name");
}
