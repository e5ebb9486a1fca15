#include "core/net/http_fetch.h"

#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <optional>

#include "core/net/socket.h"
#include "core/util/encoding.h"

namespace wotca {

namespace {

// A chunk-size line is a few hex digits and, rarely, an extension; a longer
// one is not an honest server.
constexpr std::size_t max_chunk_line = 256;
// What http_get reads beyond the header and body limits: chunk framing and
// trailers. The parser's own limits usually stop a long response earlier.
constexpr std::size_t read_slack = 16 * 1024;

unexpected<error> bad_response(std::string message) {
  return fail(errc::invalid_input, "http_response", std::move(message));
}

// A value from the peer, safe to quote: printable ASCII as is, other bytes
// as \xHH, cut after 80 characters.
std::string quoted(std::string_view text) {
  std::string out = "'";
  for (const char ch : text.substr(0, 80)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (text.size() > 80) out += "...";
  return out + "'";
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t'; }

// RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
bool is_tchar(char c) {
  if (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 9110 5.5: field-vchar = VCHAR / obs-text, with SP and HTAB inside a
// value; "Field values containing CR, LF, or NUL characters are invalid and
// dangerous". The reason phrase allows the same (RFC 9112 4).
bool is_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::size_t saturating_add(std::size_t a, std::size_t b) {
  return a > std::numeric_limits<std::size_t>::max() - b ? std::numeric_limits<std::size_t>::max() : a + b;
}

enum class progress { done, need_more };

struct field {
  std::string_view name;
  std::string_view value;  // without surrounding whitespace
};

// RFC 9112 5: field-line = field-name ":" OWS field-value OWS
result<field> parse_field(std::string_view line) {
  // RFC 9112 5.2: obs-fold = OWS CRLF RWS. Folding is obsolete; a token
  // server has no reason to send it, so it is refused rather than unfolded.
  if (is_space(line.front())) return bad_response("a header line starts with whitespace (obsolete line folding)");
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return bad_response("the header line " + quoted(line) + " has no ':'");
  const std::string_view name = line.substr(0, colon);
  // RFC 9112 5.1: "No whitespace is allowed between the field name and colon."
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) {
    return bad_response("the header name " + quoted(name) + " is not a token");
  }
  const std::string_view value = trim(line.substr(colon + 1));
  if (!is_text(value)) return bad_response("the header " + quoted(name) + " has a control character in its value");
  return field{name, value};
}

// One pass over the bytes received so far. At the end of the input
// (`at_end_`) an incomplete message is an error; before it, need_more.
class response_parser {
 public:
  response_parser(std::string_view in, const fetch_limits& limits, bool at_end)
      : in_(in), limits_(limits), at_end_(at_end) {}

  // The reply once complete, nullopt while more bytes may complete it.
  result<std::optional<http_reply>> run() {
    auto head = read_head();
    if (!head) return unexpected(std::move(head.error()));
    if (*head == progress::need_more) return incomplete("the response ended inside the headers");
    auto body = read_body();
    if (!body) return unexpected(std::move(body.error()));
    if (*body == progress::need_more) return incomplete(ended_in_body_);
    if (pos_ != in_.size()) {
      return bad_response(std::to_string(in_.size() - pos_) + " bytes follow the end of the response");
    }
    return std::optional<http_reply>(std::move(reply_));
  }

 private:
  result<std::optional<http_reply>> incomplete(const std::string& what) {
    if (!at_end_) return std::optional<http_reply>();
    if (in_.empty()) return bad_response("the server closed the connection without a response");
    return bad_response(what);
  }

  // The next CRLF-terminated line, which must end before `limit_end`
  // (an offset into the input), else `too_long`.
  result<progress> next_line(std::size_t limit_end, const std::string& too_long, std::string_view& line) {
    const std::size_t scan_end = std::min(in_.size(), limit_end);
    for (std::size_t i = pos_; i < scan_end; ++i) {
      if (in_[i] != '\n') continue;
      // RFC 9112 2.2: a recipient "MAY recognize a single LF as a line
      // terminator"; we don't: one framing, no ambiguity.
      if (i == pos_ || in_[i - 1] != '\r') return bad_response("a line ends in a bare LF, not CRLF");
      line = in_.substr(pos_, i - 1 - pos_);
      if (line.find('\r') != std::string_view::npos) return bad_response("a line contains a bare CR");
      pos_ = i + 1;
      return progress::done;
    }
    if (in_.size() >= limit_end) return bad_response(too_long);
    return progress::need_more;
  }

  result<progress> read_head() {
    const std::string too_long =
        "the status line and headers are longer than " + std::to_string(limits_.max_header_bytes) + " bytes";
    // RFC 9110 15.2: "A client MUST be able to parse one or more 1xx
    // responses received prior to a final response". All heads together
    // count against max_header_bytes.
    for (;;) {
      reset_head();
      std::string_view line;
      auto got = next_line(limits_.max_header_bytes, too_long, line);
      if (!got || *got == progress::need_more) return got;
      if (auto status = parse_status_line(line); !status) return unexpected(std::move(status.error()));
      for (;;) {
        got = next_line(limits_.max_header_bytes, too_long, line);
        if (!got || *got == progress::need_more) return got;
        if (line.empty()) break;
        if (auto ok = take_field(line); !ok) return unexpected(std::move(ok.error()));
      }
      if (reply_.status >= 200) break;
      if (reply_.status == 101) return bad_response("the server switched protocols (101) unasked");
    }
    // RFC 9112 6.3 (3): "If a message is received with both a
    // Transfer-Encoding and a Content-Length header field [...] ought to be
    // handled as an error."
    if (chunked_ && content_length_) return bad_response("both Transfer-Encoding and Content-Length are present");
    if (location_ && reply_.status >= 300 && reply_.status <= 399) reply_.location = std::string(*location_);
    return progress::done;
  }

  void reset_head() {
    reply_ = http_reply{};
    content_length_.reset();
    location_.reset();
    chunked_ = false;
  }

  // RFC 9112 4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
  // HTTP-version = HTTP-name "/" DIGIT "." DIGIT; status-code = 3DIGIT.
  // A missing SP before an empty reason is tolerated.
  result<void> parse_status_line(std::string_view line) {
    const auto bad = [&] { return bad_response("the status line " + quoted(line) + " is not HTTP/1.0 or HTTP/1.1"); };
    if (!line.starts_with("HTTP/1.1 ") && !line.starts_with("HTTP/1.0 ")) return bad();
    if (line.size() < 12 || !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11])) return bad();
    const std::string_view reason = line.substr(12);
    if (!reason.empty() && (reason.front() != ' ' || !is_text(reason))) return bad();
    const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    // RFC 9110 15: "Values outside the range 100..599 are invalid."
    if (status < 100 || status > 599) return bad_response("the status code " + std::to_string(status) + " is out of range");
    reply_.status = status;
    return {};
  }

  result<void> take_field(std::string_view line) {
    auto f = parse_field(line);
    if (!f) return unexpected(std::move(f.error()));
    if (equal_ignoring_case(f->name, "content-length")) {
      // RFC 9110 8.6: Content-Length = 1*DIGIT. A list of equal values is
      // allowed there; we take one value per field and require duplicates
      // to agree.
      if (f->value.empty() || !std::all_of(f->value.begin(), f->value.end(), is_digit)) {
        return bad_response("Content-Length " + quoted(f->value) + " is not a number");
      }
      std::size_t length = 0;
      for (const char c : f->value) {
        const auto digit = static_cast<std::size_t>(c - '0');
        if (digit > limits_.max_body_bytes || length > (limits_.max_body_bytes - digit) / 10) {
          return bad_response("Content-Length " + quoted(f->value) + " is more than the limit of " +
                              std::to_string(limits_.max_body_bytes) + " bytes");
        }
        length = length * 10 + static_cast<std::size_t>(c - '0');
      }
      if (content_length_ && *content_length_ != length) {
        return bad_response("two Content-Length fields disagree (" + std::to_string(*content_length_) + " and " +
                            std::to_string(length) + ")");
      }
      content_length_ = length;
    } else if (equal_ignoring_case(f->name, "transfer-encoding")) {
      // RFC 9112 6.1: chunked is the only coding we undo; a compressed body
      // is not a token.
      if (chunked_ || !equal_ignoring_case(f->value, "chunked")) {
        return bad_response("the transfer coding " + quoted(f->value) + " is not supported (only chunked)");
      }
      chunked_ = true;
    } else if (equal_ignoring_case(f->name, "location")) {
      if (location_ && *location_ != f->value) return bad_response("two Location fields disagree");
      location_ = f->value;
    }
    return {};
  }

  // RFC 9112 6.3, in order: no body for 1xx/204/304; chunked; Content-Length;
  // otherwise "the message body length is determined by the number of
  // octets received prior to the server closing the connection."
  result<progress> read_body() {
    const std::size_t available = in_.size() - pos_;
    if (reply_.status == 204 || reply_.status == 304) return progress::done;
    if (chunked_) return read_chunked();
    if (content_length_) {
      if (available < *content_length_) {
        ended_in_body_ = "the response ended after " + std::to_string(available) + " of " +
                         std::to_string(*content_length_) + " body bytes";
        return progress::need_more;
      }
      reply_.body.assign(in_.substr(pos_, *content_length_));
      pos_ += *content_length_;
      return progress::done;
    }
    if (available > limits_.max_body_bytes) {
      return bad_response("the body is longer than the limit of " + std::to_string(limits_.max_body_bytes) + " bytes");
    }
    if (!at_end_) return progress::need_more;
    reply_.body.assign(in_.substr(pos_));
    pos_ = in_.size();
    return progress::done;
  }

  // RFC 9112 7.1:
  //   chunked-body = *chunk last-chunk trailer-section CRLF
  //   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
  //   chunk-size   = 1*HEXDIG
  //   last-chunk   = 1*("0") [ chunk-ext ] CRLF
  //   chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
  // Extensions are skipped; 7.1.2 trailer-section = *( field-line CRLF ) is
  // read for syntax and ignored.
  result<progress> read_chunked() {
    const std::string too_long_chunk = "a chunk-size line is longer than " + std::to_string(max_chunk_line) + " bytes";
    for (;;) {
      ended_in_body_ = "the response ended inside the chunked body after " + std::to_string(reply_.body.size()) +
                       " body bytes";
      std::string_view line;
      auto got = next_line(saturating_add(pos_, max_chunk_line), too_long_chunk, line);
      if (!got || *got == progress::need_more) return got;
      std::size_t digits = 0;
      std::size_t size = 0;
      const std::size_t room = limits_.max_body_bytes - reply_.body.size();
      for (; digits < line.size(); ++digits) {
        const char c = line[digits];
        int v = 0;
        if (is_digit(c)) {
          v = c - '0';
        } else if (c >= 'a' && c <= 'f') {
          v = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
          v = c - 'A' + 10;
        } else {
          break;
        }
        const auto digit = static_cast<std::size_t>(v);
        if (digit > room || size > (room - digit) / 16) {
          return bad_response("the chunked body is longer than the limit of " +
                              std::to_string(limits_.max_body_bytes) + " bytes");
        }
        size = size * 16 + digit;
      }
      if (digits == 0) return bad_response("the chunk-size line " + quoted(line) + " has no hex size");
      const std::string_view extension = trim(line.substr(digits));
      if ((!extension.empty() && extension.front() != ';') || !is_text(extension)) {
        return bad_response("the chunk-size line " + quoted(line) + " is malformed");
      }
      if (size == 0) return read_trailers();
      const std::size_t available = in_.size() - pos_;
      if (available < size || available - size < 2) return progress::need_more;
      reply_.body.append(in_.substr(pos_, size));
      pos_ += size;
      if (in_.substr(pos_, 2) != "\r\n") return bad_response("chunk data is not followed by CRLF");
      pos_ += 2;
    }
  }

  result<progress> read_trailers() {
    const std::string too_long =
        "the trailer section is longer than " + std::to_string(limits_.max_header_bytes) + " bytes";
    const std::size_t limit_end = saturating_add(pos_, limits_.max_header_bytes);
    ended_in_body_ = "the response ended inside the chunked trailer section";
    for (;;) {
      std::string_view line;
      auto got = next_line(limit_end, too_long, line);
      if (!got || *got == progress::need_more) return got;
      if (line.empty()) return progress::done;
      if (auto f = parse_field(line); !f) return unexpected(std::move(f.error()));
    }
  }

  std::string_view in_;
  const fetch_limits& limits_;
  bool at_end_;
  std::size_t pos_ = 0;
  http_reply reply_;
  std::optional<std::size_t> content_length_;
  std::optional<std::string_view> location_;
  bool chunked_ = false;
  std::string ended_in_body_;
};

result<std::optional<http_reply>> parse_some(std::string_view in, const fetch_limits& limits, bool at_end) {
  return response_parser(in, limits, at_end).run();
}

// Request-target and Host go into the request as they are: no byte that
// could end a line or a field (RFC 9112 2.2 request smuggling), nothing
// outside visible ASCII.
bool is_request_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7f;
  });
}

unexpected<error> from_server(error e, const std::string& where) {
  e.where = where;
  return unexpected<error>(std::move(e));
}

struct v4_range {
  std::uint32_t base;
  int prefix;
};

// RFC 6890 and its IANA registry: blocks that are not globally reachable
// unicast, or that reach something other than a member's server.
constexpr std::array<v4_range, 14> private_v4_ranges{{
    {0x00000000, 8},   // 0.0.0.0/8 "this network" (RFC 1122 3.2.1.3)
    {0x0A000000, 8},   // 10.0.0.0/8 private (RFC 1918)
    {0x64400000, 10},  // 100.64.0.0/10 shared address space, CGNAT (RFC 6598)
    {0x7F000000, 8},   // 127.0.0.0/8 loopback (RFC 1122)
    {0xA9FE0000, 16},  // 169.254.0.0/16 link local, cloud metadata services (RFC 3927)
    {0xAC100000, 12},  // 172.16.0.0/12 private (RFC 1918)
    {0xC0000000, 24},  // 192.0.0.0/24 IETF protocol assignments (RFC 6890)
    {0xC0000200, 24},  // 192.0.2.0/24 TEST-NET-1 (RFC 5737)
    {0xC0A80000, 16},  // 192.168.0.0/16 private (RFC 1918)
    {0xC6120000, 15},  // 198.18.0.0/15 benchmarking (RFC 2544)
    {0xC6336400, 24},  // 198.51.100.0/24 TEST-NET-2 (RFC 5737)
    {0xCB007100, 24},  // 203.0.113.0/24 TEST-NET-3 (RFC 5737)
    {0xE0000000, 4},   // 224.0.0.0/4 multicast (RFC 5771)
    {0xF0000000, 4},   // 240.0.0.0/4 reserved, and 255.255.255.255 broadcast (RFC 1112, RFC 919)
}};

bool is_private_v4(const std::uint8_t* b) {
  const std::uint32_t v = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  return std::any_of(private_v4_ranges.begin(), private_v4_ranges.end(), [v](const v4_range& r) {
    const std::uint32_t mask = ~std::uint32_t{0} << (32 - r.prefix);
    return (v & mask) == r.base;
  });
}

// The first `bits` bits of `a` equal `prefix` (given as bytes).
bool has_prefix(const std::uint8_t* a, std::initializer_list<std::uint8_t> prefix, int bits) {
  int i = 0;
  for (const std::uint8_t p : prefix) {
    if (bits <= 0) break;
    const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (p & mask)) return false;
    bits -= 8;
    ++i;
  }
  return true;
}

bool is_private_v6(const std::uint8_t* a) {
  // ::/96, the deprecated IPv4-compatible block (RFC 4291 2.5.5.1), holds
  // :: (unspecified) and ::1 (loopback); none of it is routed.
  if (has_prefix(a, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 96)) return true;
  // ::ffff:0:0/96 IPv4-mapped (RFC 4291 2.5.5.2): the IPv4 address decides.
  if (has_prefix(a, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96)) return is_private_v4(a + 12);
  // 64:ff9b::/96 NAT64 well-known prefix (RFC 6052): as the embedded IPv4.
  if (has_prefix(a, {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}, 96)) return is_private_v4(a + 12);
  // 64:ff9b:1::/48 local-use NAT64 (RFC 8215): translates into the site.
  if (has_prefix(a, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return true;
  // 100::/64 discard-only (RFC 6666).
  if (has_prefix(a, {0x01, 0x00, 0, 0, 0, 0, 0, 0}, 64)) return true;
  // 2001::/23 IETF protocol assignments, Teredo included (RFC 2928, RFC 4380).
  if (has_prefix(a, {0x20, 0x01, 0x00}, 23)) return true;
  // 2001:db8::/32 documentation (RFC 3849); 3fff::/20 too (RFC 9637).
  if (has_prefix(a, {0x20, 0x01, 0x0d, 0xb8}, 32)) return true;
  if (has_prefix(a, {0x3f, 0xff, 0x00}, 20)) return true;
  // 2002::/16 6to4 (RFC 3056): the relay reaches the embedded IPv4.
  if (has_prefix(a, {0x20, 0x02}, 16)) return is_private_v4(a + 2);
  // fc00::/7 unique local (RFC 4193); fe80::/10 link local and fec0::/10
  // site local (RFC 4291, RFC 3879); ff00::/8 multicast.
  if (has_prefix(a, {0xfc}, 7)) return true;
  if (has_prefix(a, {0xfe, 0x80}, 10)) return true;
  if (has_prefix(a, {0xfe, 0xc0}, 10)) return true;
  if (has_prefix(a, {0xff}, 8)) return true;
  return false;
}

}  // namespace

result<http_reply> parse_http_response(std::span<const std::uint8_t> bytes, const fetch_limits& limits) {
  auto reply = parse_some(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), limits, true);
  if (!reply) return unexpected(std::move(reply.error()));
  if (!reply->has_value()) return fail(errc::internal, "http_response", "a complete parse returned no reply");
  return std::move(**reply);
}

result<http_reply> http_get(std::string_view address, std::uint16_t port, std::string_view host,
                            std::string_view path, const fetch_limits& limits) {
  const deadline until = net_clock::now() + limits.timeout;
  const std::string where = "http server " + endpoint_text(address, port);
  if (!is_request_token(path) || path.front() != '/') {
    return fail(errc::invalid_input, "http_path", quoted(path) + " is not a path of visible ASCII starting with '/'");
  }
  if (!is_request_token(host)) return fail(errc::invalid_input, "http_host", quoted(host) + " is not a host name");
  const auto to = parse_ip_literal(address, port);
  if (!to) return fail(errc::invalid_input, where, quoted(address) + " is not an IPv4 or IPv6 address");

  auto fd = connect_tcp(*to, until, where, limits.timeout);
  if (!fd) return unexpected(std::move(fd.error()));
  // RFC 9112 3: request-line = method SP request-target SP HTTP-version;
  // RFC 9112 3.2: "A client MUST send a Host header field in all HTTP/1.1
  // request messages"; 9.6: "Connection: close" lets the body end at EOF.
  const std::string request = "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + std::string(host) +
                              "\r\nUser-Agent: wotca\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  const auto request_bytes = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(request.data()),
                                                           request.size());
  if (auto sent = send_all(fd->get(), request_bytes, until, where, limits.timeout); !sent) {
    return unexpected(std::move(sent.error()));
  }

  const std::size_t cap =
      saturating_add(saturating_add(limits.max_header_bytes, limits.max_body_bytes), read_slack);
  std::string received;
  std::array<char, 4096> chunk{};
  for (;;) {
    switch (wait_for(fd->get(), POLLIN, until)) {
      case wait_status::ready: break;
      case wait_status::timed_out:
        return fail(errc::io, where,
                    "no complete response within " + std::to_string(limits.timeout.count()) + " ms (" +
                        std::to_string(received.size()) + " bytes received)");
      case wait_status::failed: return fail(errc::io, where, "poll failed: " + errno_text(errno));
    }
    // One byte past the cap is enough to know it was exceeded.
    const std::size_t room = cap - received.size();
    const std::size_t want = room >= chunk.size() ? chunk.size() : room + 1;
    const ssize_t n = ::recv(fd->get(), chunk.data(), want, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return fail(errc::io, where, "read failed: " + errno_text(errno));
    }
    if (n == 0) {
      auto reply = parse_http_response(
          std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(received.data()), received.size()),
          limits);
      if (!reply) return from_server(std::move(reply.error()), where);
      return reply;
    }
    received.append(chunk.data(), static_cast<std::size_t>(n));
    if (received.size() > cap) {
      return fail(errc::invalid_input, where, "the response is longer than " + std::to_string(cap) + " bytes");
    }
    // A server may keep the connection open after a complete response
    // despite "Connection: close"; stop as soon as the framing says it is whole.
    auto partial = parse_some(received, limits, false);
    if (!partial) return from_server(std::move(partial.error()), where);
    if (partial->has_value()) return std::move(**partial);
  }
}

bool is_private_address(std::string_view ip_literal) {
  const auto address = parse_ip_literal(ip_literal, 0);
  if (!address) return true;  // what cannot be checked is refused
  if (address->family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address->storage);
    return is_private_v4(reinterpret_cast<const std::uint8_t*>(&v4->sin_addr));
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address->storage);
  return is_private_v6(reinterpret_cast<const std::uint8_t*>(&v6->sin6_addr));
}

}  // namespace wotca
