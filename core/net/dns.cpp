#include "core/net/dns.h"

#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/net/socket.h"
#include "core/util/encoding.h"

namespace wotca {

namespace {

constexpr std::size_t header_size = 12;
constexpr std::size_t max_name_text = 253;   // RFC 1035 2.3.4, written without the trailing dot
constexpr std::size_t max_name_wire = 255;   // RFC 1035 2.3.4: "names - 255 octets or less"
constexpr std::size_t max_label = 63;        // RFC 1035 2.3.4: "labels - 63 octets or less"
constexpr int max_pointer_hops = 64;         // far more than any honest name needs (at most 127 labels)
constexpr int max_cname_chain = 8;
constexpr std::uint16_t edns_udp_payload = 1232;  // RFC 6891 6.2.5; the 2020 DNS flag day's value
constexpr std::size_t max_udp_message = 65535;
constexpr std::uint16_t class_in = 1;
constexpr std::uint16_t type_cname = 5;
constexpr std::uint16_t type_opt = 41;

constexpr std::uint16_t flag_qr = 0x8000;
constexpr std::uint16_t flag_tc = 0x0200;
constexpr std::uint16_t flag_rd = 0x0100;

unexpected<error> malformed(std::string message) {
  return fail(errc::invalid_input, "dns_response", std::move(message));
}

std::string hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", static_cast<unsigned>(v));
  return buf;
}

std::string_view type_text(dns_type type) {
  switch (type) {
    case dns_type::a: return "A";
    case dns_type::txt: return "TXT";
    case dns_type::aaaa: return "AAAA";
  }
  return "?";
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// A name in wire form ("\x03www\x07example\x03org\x00") as text for a
// message: labels joined by dots, bytes outside printable ASCII (and dots
// inside a label) escaped, cut after 100 characters.
std::string name_text(std::string_view wire) {
  std::string out;
  std::size_t i = 0;
  while (i < wire.size()) {
    const auto len = static_cast<unsigned char>(wire[i++]);
    if (len == 0) break;
    if (!out.empty()) out += '.';
    for (std::size_t k = 0; k < len && i < wire.size(); ++k, ++i) {
      const auto c = static_cast<unsigned char>(wire[i]);
      if (c > 0x20 && c < 0x7f && c != '.' && c != '\\') {
        out += static_cast<char>(c);
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      }
    }
    if (out.size() > 100) return out.substr(0, 100) + "...";
  }
  return out.empty() ? "." : out;
}

std::string quoted(std::string_view text) {
  std::string out = "'";
  for (const char ch : text.substr(0, 100)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (text.size() > 100) out += "...";
  return out + "'";
}

// `name` in wire form (RFC 1035 3.1: "a sequence of labels, where each label
// consists of a length octet followed by that number of octets", ending in
// the zero length of the root), in the caller's case. Letters, digits,
// hyphens and underscores only: the underscore labels of _wotca-challenge and
// _acme-challenge (RFC 8555 8.4) are not host names but are valid DNS names.
result<std::string> encode_name(std::string_view name) {
  auto bad = [&](std::string why) {
    return fail(errc::invalid_input, "dns_name", quoted(name) + " is not a valid DNS name: " + why);
  };
  std::string_view text = name;
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty()) return bad("it is empty");
  if (text.size() > max_name_text) return bad("longer than 253 characters");
  std::string wire;
  wire.reserve(text.size() + 2);
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = text.find('.', start);
    const std::string_view label = text.substr(start, dot == std::string_view::npos ? text.npos : dot - start);
    if (label.empty()) return bad("an empty label");
    if (label.size() > max_label) return bad("a label longer than 63 characters");
    for (const char c : label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok) return bad("the character " + quoted(std::string_view(&c, 1)) + " is not allowed");
    }
    wire += static_cast<char>(label.size());
    wire += label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  wire += '\0';
  return wire;
}

void put_u16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

// A bounded reader over one DNS message (STYLE.md 10). Every read checks the
// bytes left before `end_`; a child reader for an RR's RDATA has its end at
// the RDATA's end, but compression pointers may still reach back anywhere
// into the whole message.
class dns_reader {
 public:
  explicit dns_reader(std::span<const std::uint8_t> message) : message_(message), end_(message.size()) {}

  [[nodiscard]] std::size_t offset() const { return offset_; }
  [[nodiscard]] std::size_t remaining() const { return end_ - offset_; }
  // A reader for the next `length` bytes, which this reader then skips.
  [[nodiscard]] result<dns_reader> child(std::size_t length, std::string_view what) {
    if (length > remaining()) return overrun(what, length);
    dns_reader sub(message_);
    sub.offset_ = offset_;
    sub.end_ = offset_ + length;
    offset_ += length;
    return sub;
  }

  [[nodiscard]] result<std::uint8_t> read_u8(std::string_view what) {
    if (remaining() < 1) return overrun(what, 1);
    return message_[offset_++];
  }
  [[nodiscard]] result<std::uint16_t> read_u16(std::string_view what) {
    if (remaining() < 2) return overrun(what, 2);
    const auto v = static_cast<std::uint16_t>((message_[offset_] << 8) | message_[offset_ + 1]);
    offset_ += 2;
    return v;
  }
  [[nodiscard]] result<std::uint32_t> read_u32(std::string_view what) {
    if (remaining() < 4) return overrun(what, 4);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | message_[offset_++];
    return v;
  }
  [[nodiscard]] result<std::span<const std::uint8_t>> read_bytes(std::size_t length, std::string_view what) {
    if (length > remaining()) return overrun(what, length);
    auto out = message_.subspan(offset_, length);
    offset_ += length;
    return out;
  }

  // A domain name, lower-cased, in wire form.
  // RFC 1035 4.1.4: "the entire domain name or a list of labels at the end
  // of a domain name is replaced with a pointer to a prior occurance of the
  // same name. [...] The first two bits are ones. [...] The OFFSET field
  // specifies an offset from the start of the message". "Prior": a pointer
  // must point before itself; with the hop limit and the 255-octet limit
  // (2.3.4) every loop ends.
  [[nodiscard]] result<std::string> read_name(std::string_view what) {
    std::string wire;
    std::size_t pos = offset_;
    std::size_t bound = end_;  // inline labels stay in this reader; after a jump, in the message
    bool jumped = false;
    int hops = 0;
    for (;;) {
      if (pos >= bound) return malformed(std::string(what) + " runs past the end of its section");
      const std::uint8_t len = message_[pos];
      if ((len & 0xC0) == 0xC0) {
        if (pos + 1 >= bound) return malformed(std::string(what) + " ends inside a compression pointer");
        const std::size_t target = (static_cast<std::size_t>(len & 0x3F) << 8) | message_[pos + 1];
        if (!jumped) offset_ = pos + 2;
        if (target >= pos) {
          return malformed(std::string(what) + " has a compression pointer to offset " + std::to_string(target) +
                           " that does not point back before " + std::to_string(pos));
        }
        if (target < header_size) {
          return malformed(std::string(what) + " has a compression pointer into the header");
        }
        if (++hops > max_pointer_hops) {
          return malformed(std::string(what) + " follows more than " + std::to_string(max_pointer_hops) +
                           " compression pointers (a loop?)");
        }
        jumped = true;
        pos = target;
        bound = message_.size();
        continue;
      }
      // 0x40 and 0x80 were extended label types (RFC 6891 5 deprecates them).
      if ((len & 0xC0) != 0) return malformed(std::string(what) + " uses an unknown label type " + hex16(len));
      if (wire.size() + 1u + len > max_name_wire) {
        return malformed(std::string(what) + " is longer than 255 octets");
      }
      if (len == 0) {
        wire += '\0';
        if (!jumped) offset_ = pos + 1;
        return wire;
      }
      if (bound - pos - 1 < len) return malformed(std::string(what) + " has a label running past its section");
      wire += static_cast<char>(len);
      for (std::size_t i = 0; i < len; ++i) wire += lower(static_cast<char>(message_[pos + 1 + i]));
      pos += 1u + len;
    }
  }

 private:
  [[nodiscard]] unexpected<error> overrun(std::string_view what, std::size_t wanted) const {
    return malformed(std::string(what) + " needs " + std::to_string(wanted) + " bytes at offset " +
                     std::to_string(offset_) + " but only " + std::to_string(remaining()) + " remain");
  }

  std::span<const std::uint8_t> message_;
  std::size_t offset_ = 0;
  std::size_t end_ = 0;
};

// One answer RR of a type we read; others are skipped by RDLENGTH.
struct answer_record {
  std::string owner;  // wire form, lower case
  std::uint16_t type = 0;
  std::string value;  // CNAME: target in wire form; TXT: joined strings; A/AAAA: address text
};

// RDATA of the types we know, each of which must fill RDLENGTH exactly.
result<std::string> read_rdata(dns_reader& rdata, std::uint16_t type) {
  switch (type) {
    case type_cname: {
      // RFC 1035 3.3.1: "CNAME  A <domain-name> which specifies the
      // canonical or primary name for the owner."
      auto target = rdata.read_name("a CNAME target");
      if (!target) return unexpected(std::move(target.error()));
      if (rdata.remaining() != 0) return malformed("a CNAME record has bytes after its target");
      return target;
    }
    case static_cast<std::uint16_t>(dns_type::txt): {
      // RFC 1035 3.3.14: "TXT-DATA  One or more <character-string>s."
      // 3.3: "<character-string> is a single length octet followed by that
      // number of characters." Joined without separator (RFC 7208 3.3).
      if (rdata.remaining() == 0) return malformed("a TXT record has no character-string");
      std::string joined;
      while (rdata.remaining() != 0) {
        auto len = rdata.read_u8("a TXT character-string length");
        if (!len) return unexpected(std::move(len.error()));
        auto text = rdata.read_bytes(*len, "a TXT character-string");
        if (!text) return unexpected(std::move(text.error()));
        joined.append(reinterpret_cast<const char*>(text->data()), text->size());
      }
      return joined;
    }
    case static_cast<std::uint16_t>(dns_type::a): {
      // RFC 1035 3.4.1: "ADDRESS  A 32 bit Internet address."
      if (rdata.remaining() != 4) {
        return malformed("an A record has " + std::to_string(rdata.remaining()) + " bytes of data, not 4");
      }
      auto b = rdata.read_bytes(4, "an A address");
      if (!b) return unexpected(std::move(b.error()));
      return std::to_string((*b)[0]) + "." + std::to_string((*b)[1]) + "." + std::to_string((*b)[2]) + "." +
             std::to_string((*b)[3]);
    }
    case static_cast<std::uint16_t>(dns_type::aaaa): {
      // RFC 3596 2.2: "A 128 bit IPv6 address is encoded in the data portion
      // of an AAAA resource record in network byte order".
      if (rdata.remaining() != 16) {
        return malformed("an AAAA record has " + std::to_string(rdata.remaining()) + " bytes of data, not 16");
      }
      auto b = rdata.read_bytes(16, "an AAAA address");
      if (!b) return unexpected(std::move(b.error()));
      char text[INET6_ADDRSTRLEN];
      if (inet_ntop(AF_INET6, b->data(), text, sizeof text) == nullptr) {
        return fail(errc::internal, "dns_response", "inet_ntop refused 16 bytes");
      }
      return std::string(text);
    }
    default: return std::string();
  }
}

bool is_known_type(std::uint16_t type) {
  return type == type_cname || type == static_cast<std::uint16_t>(dns_type::txt) ||
         type == static_cast<std::uint16_t>(dns_type::a) || type == static_cast<std::uint16_t>(dns_type::aaaa);
}

// RFC 1034 3.6.2 / RFC 2181 10.1: an alias has exactly one CNAME, and its
// data lives at the target. The names whose records answer the question:
// the question's name, then each CNAME target in turn.
result<std::vector<std::string>> alias_chain(const std::vector<answer_record>& records, const std::string& qname) {
  std::vector<std::string> chain{qname};
  for (;;) {
    const answer_record* cname = nullptr;
    for (const auto& r : records) {
      if (r.type != type_cname || r.owner != chain.back()) continue;
      if (cname != nullptr) return malformed("two CNAME records for " + name_text(r.owner));
      cname = &r;
    }
    if (cname == nullptr) return chain;
    if (std::find(chain.begin(), chain.end(), cname->value) != chain.end()) {
      return malformed("the CNAME chain loops back to " + name_text(cname->value));
    }
    if (static_cast<int>(chain.size()) > max_cname_chain) {
      return malformed("the CNAME chain is longer than " + std::to_string(max_cname_chain));
    }
    chain.push_back(cname->value);
  }
}

// Reads from a non-blocking socket until `out` is full.
result<void> recv_exact(int fd, std::span<std::uint8_t> out, deadline until, const std::string& where,
                        std::chrono::milliseconds budget) {
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::recv(fd, out.data() + got, out.size() - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) {
      return fail(errc::io, where, "closed the TCP connection after " + std::to_string(got) + " of " +
                                       std::to_string(out.size()) + " bytes");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return fail(errc::io, where, "TCP read failed: " + errno_text(errno));
    switch (wait_for(fd, POLLIN, until)) {
      case wait_status::ready: break;
      case wait_status::timed_out:
        return fail(errc::io, where, "no complete TCP answer within " + std::to_string(budget.count()) + " ms");
      case wait_status::failed: return fail(errc::io, where, "poll failed: " + errno_text(errno));
    }
  }
  return {};
}

// RFC 1035 4.2.2: "The message is prefixed with a two byte length field
// which gives the message length, excluding the two byte length field."
result<std::vector<std::uint8_t>> exchange_tcp(const socket_address& to, std::span<const std::uint8_t> query,
                                               deadline until, const std::string& where,
                                               std::chrono::milliseconds budget) {
  auto fd = connect_tcp(to, until, where, budget);
  if (!fd) return unexpected(std::move(fd.error()));
  std::vector<std::uint8_t> framed;
  framed.reserve(query.size() + 2);
  put_u16(framed, static_cast<std::uint16_t>(query.size()));
  framed.insert(framed.end(), query.begin(), query.end());
  if (auto sent = send_all(fd->get(), framed, until, where, budget); !sent) return unexpected(std::move(sent.error()));
  std::array<std::uint8_t, 2> prefix{};
  if (auto got = recv_exact(fd->get(), prefix, until, where, budget); !got) return unexpected(std::move(got.error()));
  std::vector<std::uint8_t> message(static_cast<std::size_t>((prefix[0] << 8) | prefix[1]));
  if (auto got = recv_exact(fd->get(), message, until, where, budget); !got) return unexpected(std::move(got.error()));
  return message;
}

// dns_lookup names the server in every error, including malformed answers.
unexpected<error> from_server(error e, const std::string& where) {
  e.where = where;
  return unexpected<error>(std::move(e));
}

std::optional<std::uint16_t> parse_port(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

result<dns_server> parse_dns_server(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return fail(errc::config, std::string(field),
                quoted(text) + " is not a DNS server: write an IP address, \"ADDRESS:PORT\" or \"[IPv6]:PORT\"");
  };
  std::string_view address = text;
  std::uint16_t port = 53;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return bad();
    address = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad();
      auto p = parse_port(rest.substr(1));
      if (!p) return bad();
      port = *p;
    }
    if (address.find(':') == std::string_view::npos) return bad();  // brackets are for IPv6 only
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const std::size_t colon = text.find(':');
    address = text.substr(0, colon);
    auto p = parse_port(text.substr(colon + 1));
    if (!p) return bad();
    port = *p;
  }
  if (!parse_ip_literal(address, port)) return bad();
  return dns_server{std::string(address), port};
}

result<dns_server> parse_resolv_conf(std::string_view text, std::string_view field) {
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string keyword;
    std::string value;
    // resolv.conf(5): "nameserver Name server IP address", one per line.
    if (!(words >> keyword) || keyword != "nameserver" || !(words >> value)) continue;
    if (parse_ip_literal(value, 53)) return dns_server{value, 53};
  }
  return fail(errc::config, std::string(field), "no \"nameserver\" line with an IP address");
}

result<dns_server> system_dns_server() {
  constexpr std::string_view path = "/etc/resolv.conf";
  std::ifstream in{std::string(path)};
  if (!in) return fail(errc::config, std::string(path), "cannot be read; configure a DNS server explicitly");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_resolv_conf(text.str(), path);
}

result<std::vector<std::uint8_t>> build_query(std::string_view name, dns_type type, std::uint16_t id) {
  auto qname = encode_name(name);
  if (!qname) return unexpected(std::move(qname.error()));
  std::vector<std::uint8_t> out;
  out.reserve(header_size + qname->size() + 4 + 11);
  // RFC 1035 4.1.1: ID, then QR(0) Opcode(0, QUERY) AA TC RD RA Z RCODE,
  // QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT. RD: "Recursion Desired - this bit
  // may be set in a query": we ask a recursive resolver.
  put_u16(out, id);
  put_u16(out, flag_rd);
  put_u16(out, 1);  // QDCOUNT
  put_u16(out, 0);  // ANCOUNT
  put_u16(out, 0);  // NSCOUNT
  put_u16(out, 1);  // ARCOUNT: the OPT record
  // RFC 1035 4.1.2: QNAME, QTYPE, QCLASS.
  out.insert(out.end(), qname->begin(), qname->end());
  put_u16(out, static_cast<std::uint16_t>(type));
  put_u16(out, class_in);
  // RFC 6891 6.1.2: the OPT pseudo-RR: NAME "MUST be 0 (root domain)",
  // TYPE OPT (41), CLASS "requestor's UDP payload size", TTL "extended
  // RCODE and flags" (0: version 0, DO clear), RDLEN 0 (no options).
  // Without it a server may truncate anything over 512 bytes (RFC 1035
  // 4.2.1); 1232 avoids IP fragmentation (RFC 6891 6.2.5).
  out.push_back(0);
  put_u16(out, type_opt);
  put_u16(out, edns_udp_payload);
  put_u16(out, 0);
  put_u16(out, 0);
  put_u16(out, 0);
  return out;
}

result<dns_answer> parse_response(std::span<const std::uint8_t> response, std::uint16_t id, std::string_view name,
                                  dns_type type) {
  auto expected_name = encode_name(name);
  if (!expected_name) return unexpected(std::move(expected_name.error()));
  const std::string qname = ascii_lower(*expected_name);
  if (response.size() < header_size) {
    return malformed("a DNS message has a 12-byte header; got " + std::to_string(response.size()) + " bytes");
  }
  dns_reader reader(response);
  // RFC 1035 4.1.1 header: ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
  // The length check above makes these reads infallible; they are checked anyway.
  auto got_id = reader.read_u16("the ID");
  auto flags = reader.read_u16("the flags");
  auto qdcount = reader.read_u16("QDCOUNT");
  auto ancount = reader.read_u16("ANCOUNT");
  auto nscount = reader.read_u16("NSCOUNT");  // the sections after the answers are not read
  auto arcount = reader.read_u16("ARCOUNT");
  if (!got_id || !flags || !qdcount || !ancount || !nscount || !arcount) return malformed("the header is cut short");
  // "ID  A 16 bit identifier assigned by the program that generates any kind
  // of query. This identifier is copied the corresponding reply".
  if (*got_id != id) return malformed("the message ID " + hex16(*got_id) + " is not the query's " + hex16(id));
  // "QR  A one bit field that specifies whether this message is a query (0),
  // or a response (1)."
  if ((*flags & flag_qr) == 0) return malformed("QR is 0: this is a query, not a response");
  // "OPCODE  A four bit field that specifies kind of query [...] This value
  // is set by the originator of a query and copied into the response."
  if (const unsigned opcode = (*flags >> 11) & 0xF; opcode != 0) {
    return malformed("the opcode is " + std::to_string(opcode) + ", not 0 (QUERY)");
  }
  dns_answer answer;
  answer.truncated = (*flags & flag_tc) != 0;
  answer.rcode = *flags & 0xF;
  // A truncated answer is read again over TCP; some servers cut it before
  // the question, and nothing in it is used.
  if (answer.truncated && *qdcount == 0) return answer;
  if (*qdcount != 1) return malformed("QDCOUNT is " + std::to_string(*qdcount) + ", not 1");

  // RFC 1035 4.1.2: QNAME, QTYPE, QCLASS, as sent.
  auto echoed_name = reader.read_name("the question's name");
  if (!echoed_name) return unexpected(std::move(echoed_name.error()));
  auto echoed_type = reader.read_u16("the question's type");
  if (!echoed_type) return unexpected(std::move(echoed_type.error()));
  auto echoed_class = reader.read_u16("the question's class");
  if (!echoed_class) return unexpected(std::move(echoed_class.error()));
  if (*echoed_name != qname) {
    return malformed("the question is for " + name_text(*echoed_name) + ", not " + name_text(qname));
  }
  if (*echoed_type != static_cast<std::uint16_t>(type) || *echoed_class != class_in) {
    return malformed("the question is for type " + std::to_string(*echoed_type) + " class " +
                     std::to_string(*echoed_class) + ", not " + std::string(type_text(type)) + " IN");
  }
  // A truncated answer section may end anywhere; an error rcode has no
  // answer to give.
  if (answer.truncated || answer.rcode != 0) return answer;

  // RFC 1035 4.1.3: each RR is NAME, TYPE, CLASS, TTL, RDLENGTH, RDATA.
  // The authority and additional sections are not read.
  std::vector<answer_record> records;
  for (unsigned i = 0; i < *ancount; ++i) {
    auto owner = reader.read_name("an answer's name");
    if (!owner) return unexpected(std::move(owner.error()));
    auto rr_type = reader.read_u16("an answer's type");
    if (!rr_type) return unexpected(std::move(rr_type.error()));
    auto rr_class = reader.read_u16("an answer's class");
    if (!rr_class) return unexpected(std::move(rr_class.error()));
    auto ttl = reader.read_u32("an answer's TTL");
    if (!ttl) return unexpected(std::move(ttl.error()));
    auto rdlength = reader.read_u16("an answer's RDLENGTH");
    if (!rdlength) return unexpected(std::move(rdlength.error()));
    auto rdata = reader.child(*rdlength, "an answer's RDATA");
    if (!rdata) return unexpected(std::move(rdata.error()));
    if (*rr_class != class_in || !is_known_type(*rr_type)) continue;
    auto value = read_rdata(*rdata, *rr_type);
    if (!value) return unexpected(std::move(value.error()));
    records.push_back(answer_record{std::move(*owner), *rr_type, std::move(*value)});
  }

  auto chain = alias_chain(records, qname);
  if (!chain) return unexpected(std::move(chain.error()));
  for (auto& r : records) {
    if (r.type != static_cast<std::uint16_t>(type)) continue;
    if (std::find(chain->begin(), chain->end(), r.owner) == chain->end()) continue;
    answer.records.push_back(std::move(r.value));
  }
  return answer;
}

result<dns_answer> dns_lookup(std::string_view name, dns_type type, const dns_server& server,
                              std::chrono::milliseconds timeout, random_source& rng) {
  const deadline until = net_clock::now() + timeout;
  const std::string where = "dns server " + endpoint_text(server.address, server.port);
  const auto to = parse_ip_literal(server.address, server.port);
  if (!to) return fail(errc::config, where, quoted(server.address) + " is not an IPv4 or IPv6 address");

  std::array<std::uint8_t, 2> id_bytes{};
  rng.fill(id_bytes);
  const auto id = static_cast<std::uint16_t>((id_bytes[0] << 8) | id_bytes[1]);
  auto query = build_query(name, type, id);
  if (!query) return unexpected(std::move(query.error()));
  const std::string asked = std::string(type_text(type)) + " " + std::string(name);

  // RFC 1035 4.2.1: UDP first. The socket is connected so that the kernel
  // drops datagrams from elsewhere and reports ICMP refusals; the source is
  // compared again below all the same.
  unique_fd udp(::socket(to->family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!udp) return fail(errc::io, where, "cannot create a UDP socket: " + errno_text(errno));
  if (::connect(udp.get(), to->get(), to->length) != 0) {
    return fail(errc::io, where, "cannot reach: " + errno_text(errno));
  }
  if (::send(udp.get(), query->data(), query->size(), 0) < 0) {
    return fail(errc::io, where, "cannot send the query: " + errno_text(errno));
  }
  std::vector<std::uint8_t> buffer(max_udp_message);
  for (;;) {
    switch (wait_for(udp.get(), POLLIN, until)) {
      case wait_status::ready: break;
      case wait_status::timed_out:
        return fail(errc::io, where, "no answer within " + std::to_string(timeout.count()) + " ms for " + asked);
      case wait_status::failed: return fail(errc::io, where, "poll failed: " + errno_text(errno));
    }
    sockaddr_storage from{};
    socklen_t from_length = sizeof from;
    const ssize_t n =
        ::recvfrom(udp.get(), buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      if (errno == ECONNREFUSED) return fail(errc::io, where, "refused the query (nothing listens there)");
      return fail(errc::io, where, "cannot receive: " + errno_text(errno));
    }
    // A datagram from another endpoint, or with another ID, is not the
    // answer (a late one, or a forgery); keep waiting for the real one.
    if (!same_endpoint(from, from_length, *to)) continue;
    const auto message = std::span<const std::uint8_t>(buffer.data(), static_cast<std::size_t>(n));
    if (message.size() < 2 || ((message[0] << 8) | message[1]) != id) continue;
    auto answer = parse_response(message, id, name, type);
    if (!answer) return from_server(std::move(answer.error()), where);
    if (!answer->truncated) return answer;
    break;
  }

  // RFC 1035 4.2.2 and RFC 7766 5: a truncated answer is asked again over TCP.
  auto message = exchange_tcp(*to, *query, until, where, timeout);
  if (!message) return unexpected(std::move(message.error()));
  auto answer = parse_response(*message, id, name, type);
  if (!answer) return from_server(std::move(answer.error()), where);
  return answer;
}

}  // namespace wotca
