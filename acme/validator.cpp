#include "acme/validator.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/net/dns.h"
#include "core/net/http_fetch.h"
#include "core/pki/ossl.h"
#include "core/util/encoding.h"

namespace wotca::acme {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using steady = std::chrono::steady_clock;

validator_settings settings_from(const acme_validation_config& c) {
  validator_settings s;
  s.resolver = c.resolver;
  s.http_port = static_cast<std::uint16_t>(c.http_port);
  s.tls_alpn_port = static_cast<std::uint16_t>(c.tls_alpn_port);
  s.allow_private_addresses = c.allow_private_addresses;
  s.timeout = std::chrono::milliseconds(c.timeout_ms);
  s.attempts = std::max(1, c.attempts);
  s.retry = std::chrono::milliseconds(std::max(0, c.retry_ms));
  return s;
}

namespace {

validation_outcome abandoned() {
  validation_outcome o;
  o.abandoned = true;
  o.detail = "the validator stopped before the validation ended";
  return o;
}

validation_outcome failure(std::string_view type, std::string detail) {
  validation_outcome o;
  o.problem_type = std::string(type);
  o.detail = std::move(detail);
  return o;
}

// At most `n` characters of peer-sent text, non-printable bytes as '?', for
// details a person reads.
std::string shown(std::string_view text, std::size_t n = 64) {
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (text.size() > n) out += "...";
  return out + "'";
}

// A plain DNS name: LDH labels of 1..63 characters, 253 at most, not all
// digits and dots (an IPv4 literal written as a host).
std::optional<std::string> dns_host(std::string_view host) {
  std::string h;
  for (char c : host) h += ascii_lower(c);
  if (!h.empty() && h.back() == '.') h.pop_back();
  if (h.empty() || h.size() > 253) return std::nullopt;
  std::size_t label = 0;
  bool only_digits = true;
  for (std::size_t i = 0; i < h.size(); ++i) {
    const char c = h[i];
    if (c == '.') {
      if (label == 0 || h[i - 1] == '-') return std::nullopt;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return std::nullopt;
    if (c == '-' && label == 0) return std::nullopt;
    if (c < '0' || c > '9') only_digits = false;
    if (++label > 63) return std::nullopt;
  }
  if (h.back() == '-' || only_digits) return std::nullopt;
  return h;
}

std::string url_of(const redirect_target& t) {
  std::string url = t.https ? "https://" : "http://";
  url += t.host;
  if (t.port != (t.https ? 443 : 80)) url += ":" + std::to_string(t.port);
  return url + t.path;
}

}  // namespace

result<redirect_target> resolve_redirect(std::string_view location, const redirect_target& from) {
  const std::string_view where = "Location";
  if (location.empty()) return fail(errc::invalid_input, std::string(where), "the redirect has an empty Location");
  if (location.size() > 2048) {
    return fail(errc::invalid_input, std::string(where), "the redirect's Location is longer than 2048 bytes");
  }
  for (char c : location) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return fail(errc::invalid_input, std::string(where),
                  "the redirect's Location " + shown(location) + " holds a space or a control or non-ASCII byte");
    }
  }
  auto strip_fragment = [](std::string_view p) { return p.substr(0, p.find('#')); };
  redirect_target to;
  if (location.front() == '/' && (location.size() < 2 || location[1] != '/')) {
    to = from;
    to.path = std::string(strip_fragment(location));
    return to;
  }
  std::string_view rest;
  if (location.size() >= 7 && equal_ignoring_case(location.substr(0, 7), "http://")) {
    to.https = false;
    rest = location.substr(7);
  } else if (location.size() >= 8 && equal_ignoring_case(location.substr(0, 8), "https://")) {
    to.https = true;
    rest = location.substr(8);
  } else {
    return fail(errc::invalid_input, std::string(where),
                "the redirect to " + shown(location) +
                    " is neither an absolute http(s) URL nor an absolute path (RFC 8555 8.3 follows only http and https)");
  }
  const auto end_of_authority = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end_of_authority);
  std::string_view tail = end_of_authority == std::string_view::npos ? std::string_view{} : rest.substr(end_of_authority);
  if (authority.find('@') != std::string_view::npos) {
    return fail(errc::invalid_input, std::string(where), "the redirect to " + shown(location) + " carries user info");
  }
  if (!authority.empty() && authority.front() == '[') {
    return fail(errc::invalid_input, std::string(where),
                "the redirect to " + shown(location) + " names an IP address; only DNS names are followed");
  }
  to.port = to.https ? 443 : 80;
  std::string_view host = authority;
  if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    const std::string_view digits = authority.substr(colon + 1);
    if (digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return fail(errc::invalid_input, std::string(where), "the redirect to " + shown(location) + " has a malformed port");
    }
    const int port = std::stoi(std::string(digits));
    if (port != 80 && port != 443) {
      return fail(errc::invalid_input, std::string(where),
                  "the redirect to " + shown(location) + " uses port " + std::to_string(port) +
                      "; RFC 8555 8.3 allows only 80 and 443");
    }
    to.port = static_cast<std::uint16_t>(port);
  }
  auto name = dns_host(host);
  if (!name) {
    return fail(errc::invalid_input, std::string(where),
                "the redirect to " + shown(location) + " does not name a DNS host (IP addresses are not followed)");
  }
  to.host = std::move(*name);
  tail = strip_fragment(tail);
  if (tail.empty()) {
    to.path = "/";
  } else if (tail.front() == '?') {
    to.path = "/" + std::string(tail);
  } else {
    to.path = std::string(tail);
  }
  return to;
}

validation_outcome judge_http01(unsigned status, std::string_view body, std::string_view key_authorization,
                                std::string_view url) {
  if (status != 200) {
    return failure(problem::unauthorized, std::string(url) + " answered HTTP " + std::to_string(status) +
                                              "; it must answer 200 with the key authorization");
  }
  // RFC 8555 8.3: "the server SHOULD ignore whitespace characters at the end of the body".
  while (!body.empty() && (body.back() == ' ' || body.back() == '\t' || body.back() == '\r' || body.back() == '\n')) {
    body.remove_suffix(1);
  }
  if (body.size() == key_authorization.size() &&
      equal_constant_time({reinterpret_cast<const std::uint8_t*>(body.data()), body.size()},
                          {reinterpret_cast<const std::uint8_t*>(key_authorization.data()), key_authorization.size()})) {
    validation_outcome ok;
    ok.valid = true;
    return ok;
  }
  return failure(problem::incorrect_response, std::string(url) + " answered " + shown(body) +
                                                  ", not the key authorization " + shown(key_authorization, 128));
}

validation_outcome judge_dns01(std::span<const std::string> txt_records, std::string_view key_authorization,
                               std::string_view at) {
  const std::string expected = base64url_encode(sha256(key_authorization));
  std::string seen;
  for (const auto& r : txt_records) {
    if (r == expected) {
      validation_outcome ok;
      ok.valid = true;
      return ok;
    }
    if (seen.size() < 200) seen += (seen.empty() ? "" : ", ") + shown(r);
  }
  if (txt_records.empty()) {
    return failure(problem::incorrect_response,
                   "no TXT record found at " + std::string(at) + "; publish " + expected + " there");
  }
  return failure(problem::incorrect_response, "the TXT records at " + std::string(at) + " (" + seen +
                                                  ") do not include " + expected);
}

validation_outcome judge_tls_alpn01(std::span<const std::uint8_t> certificate_der, std::string_view domain,
                                    std::string_view key_authorization) {
  const unsigned char* p = certificate_der.data();
  if (certificate_der.size() > 1 << 20) return failure(problem::unauthorized, "the certificate presented is too large");
  x509_ptr cert(d2i_X509(nullptr, &p, static_cast<long>(certificate_der.size())));
  if (!cert || p != certificate_der.data() + certificate_der.size()) {
    (void)drain_openssl_errors();
    return failure(problem::unauthorized, "the certificate presented for " + std::string(domain) + " is not valid DER");
  }
  // RFC 8737 3: "a subjectAltName extension containing the dNSName being
  // validated and no other entries".
  int critical = -1;
  general_names_ptr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, &critical, nullptr)));
  (void)drain_openssl_errors();
  if (!names || sk_GENERAL_NAME_num(names.get()) != 1) {
    return failure(problem::unauthorized, "the certificate presented for " + std::string(domain) +
                                              " must have one subjectAltName extension with exactly one entry, "
                                              "the dNSName " + std::string(domain));
  }
  const GENERAL_NAME* only = sk_GENERAL_NAME_value(names.get(), 0);
  if (only->type != GEN_DNS) {
    return failure(problem::unauthorized,
                   "the certificate presented for " + std::string(domain) + " names something other than a dNSName");
  }
  const ASN1_IA5STRING* ia5 = only->d.dNSName;
  const std::string_view san(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ia5)),
                             static_cast<std::size_t>(ASN1_STRING_length(ia5)));
  if (!equal_ignoring_case(san, domain)) {
    return failure(problem::unauthorized,
                   "the certificate presented names " + shown(san) + ", not " + std::string(domain));
  }
  // RFC 8737 3: id-pe-acmeIdentifier OBJECT IDENTIFIER ::= { id-pe 31 };
  // "The extension MUST be marked critical"; its value is
  //   Authorization ::= OCTET STRING (SIZE (32))
  // holding the SHA-256 digest of the key authorization.
  asn1_object_ptr oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
  if (!oid) return failure(problem::server_internal, "cannot make the acmeIdentifier OID");
  const int at = X509_get_ext_by_OBJ(cert.get(), oid.get(), -1);
  if (at < 0) {
    return failure(problem::unauthorized,
                   "the certificate presented for " + std::string(domain) + " has no acmeIdentifier extension");
  }
  if (X509_get_ext_by_OBJ(cert.get(), oid.get(), at) >= 0) {
    return failure(problem::unauthorized,
                   "the certificate presented for " + std::string(domain) + " has more than one acmeIdentifier extension");
  }
  X509_EXTENSION* ext = X509_get_ext(cert.get(), at);
  if (X509_EXTENSION_get_critical(ext) != 1) {
    return failure(problem::unauthorized, "the acmeIdentifier extension of the certificate presented for " +
                                              std::string(domain) + " is not marked critical (RFC 8737 3)");
  }
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
  const std::span<const std::uint8_t> der(ASN1_STRING_get0_data(value), static_cast<std::size_t>(ASN1_STRING_length(value)));
  const bytes digest = sha256(key_authorization);
  // The DER of an OCTET STRING of 32 bytes: tag 04, length 20, then the digest.
  if (der.size() != 34 || der[0] != 0x04 || der[1] != 0x20) {
    return failure(problem::unauthorized, "the acmeIdentifier extension presented for " + std::string(domain) +
                                              " is not an OCTET STRING of 32 bytes");
  }
  if (!equal_constant_time(der.subspan(2), digest)) {
    return failure(problem::unauthorized, "the acmeIdentifier extension presented for " + std::string(domain) +
                                              " does not hold SHA-256 of the key authorization");
  }
  validation_outcome ok;
  ok.valid = true;
  return ok;
}

// ---- the answer reader ---------------------------------------------------------

struct http_answer_reader::parser {
  http::response_parser<http::string_body> p;
  std::string empty;
};

http_answer_reader::http_answer_reader(std::size_t max_header_bytes, std::size_t max_body_bytes)
    : parser_(std::make_unique<parser>()), max_pending_(max_header_bytes + max_body_bytes + 4096) {
  parser_->p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(max_header_bytes, UINT32_MAX)));
  parser_->p.body_limit(max_body_bytes);
}

http_answer_reader::~http_answer_reader() = default;

http_answer_reader::state http_answer_reader::feed(std::string_view bytes) {
  if (state_ != state::more) return state_;
  pending_.append(bytes);
  while (!pending_.empty()) {
    beast::error_code ec;
    const std::size_t used = parser_->p.put(asio::buffer(pending_.data(), pending_.size()), ec);
    pending_.erase(0, used);
    // Eager only once the header is done: Beast 1.74 loses the body_limit
    // error of a Content-Length over the limit when the header is parsed
    // eagerly.
    if (parser_->p.is_header_done()) parser_->p.eager(true);
    if (ec == http::error::need_more) break;
    if (ec) {
      too_large_ = ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow;
      error_ = ec.message();
      return state_ = state::failed;
    }
    if (parser_->p.is_done()) return state_ = state::done;
    if (used == 0) break;
  }
  if (pending_.size() > max_pending_) {
    too_large_ = true;
    error_ = "the answer is too large";
    return state_ = state::failed;
  }
  return state_;
}

http_answer_reader::state http_answer_reader::finish() {
  if (state_ != state::more) return state_;
  if (!parser_->p.got_some()) {  // put_eof requires that something was parsed
    error_ = "the connection closed without an answer";
    return state_ = state::failed;
  }
  beast::error_code ec;
  parser_->p.put_eof(ec);
  if (ec || !parser_->p.is_done()) {
    error_ = ec ? ec.message() : "the connection closed before the answer was complete";
    if (ec == http::error::partial_message) error_ = "the connection closed before the answer was complete";
    return state_ = state::failed;
  }
  return state_ = state::done;
}

unsigned http_answer_reader::status() const {
  return parser_->p.is_header_done() ? parser_->p.get().result_int() : 0;
}

const std::string& http_answer_reader::body() const {
  return state_ == state::done ? parser_->p.get().body() : parser_->empty;
}

std::optional<std::string> http_answer_reader::location() const {
  if (!parser_->p.is_header_done()) return std::nullopt;
  const auto& res = parser_->p.get();
  auto it = res.find(http::field::location);
  if (it == res.end()) return std::nullopt;
  return std::string(it->value());
}

// ---- the network part ----------------------------------------------------------

namespace {

// Runs one asynchronous operation started by `start(handler)` on the
// attempt's private io_context until it completes. Time limits are the
// streams' own (beast::tcp_stream::expires_at), so this always returns.
template <class Start>
beast::error_code run_step(asio::io_context& ioc, Start&& start) {
  beast::error_code out = asio::error::operation_aborted;
  start([&out](beast::error_code ec, auto&&...) { out = ec; });
  ioc.restart();
  ioc.run();
  return out;
}

std::string remaining_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

struct attempt_context {
  const validator_settings& s;
  random_source& rng;
  steady::time_point deadline;
  validation_outcome outcome;  // addresses_used accumulates here

  std::chrono::milliseconds remaining() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    return std::max(left, std::chrono::milliseconds(1));
  }
};

struct resolution {
  std::vector<std::string> addresses;  // usable, IPv6 first
  std::optional<validation_outcome> failed;
};

// A and AAAA of `host` through the configured server; private addresses
// dropped unless allowed.
resolution resolve(attempt_context& ctx, const std::string& host) {
  resolution out;
  auto server = ctx.s.resolver.empty() ? system_dns_server() : parse_dns_server(ctx.s.resolver, "acme.validation.resolver");
  if (!server) {
    out.failed = failure(problem::server_internal, "no DNS server to ask: " + describe(server.error()));
    return out;
  }
  std::vector<std::string> found;
  std::string errors;
  int answered = 0;
  for (auto type : {dns_type::aaaa, dns_type::a}) {
    const char* name = type == dns_type::a ? "A" : "AAAA";
    auto answer = dns_lookup(host, type, *server, ctx.remaining(), ctx.rng);
    if (!answer) {
      if (answer.error().code == errc::invalid_input) {
        out.failed = failure(problem::rejected_identifier, shown(host) + " is not a DNS name that can be looked up");
        return out;
      }
      errors += std::string(errors.empty() ? "" : "; ") + name + ": " + describe(answer.error());
      continue;
    }
    if (answer->rcode != 0 && answer->rcode != 3) {
      errors += std::string(errors.empty() ? "" : "; ") + name + ": the server answered rcode " +
                std::to_string(answer->rcode);
      continue;
    }
    ++answered;
    for (auto& a : answer->records) found.push_back(std::move(a));
  }
  if (found.empty()) {
    out.failed = failure(problem::dns, answered == 0 ? "DNS lookup of " + host + " failed (" + errors + ")"
                                                     : "no A or AAAA record found for " + host +
                                                           (errors.empty() ? "" : " (" + errors + ")"));
    return out;
  }
  std::string refused;
  for (auto& a : found) {
    if (!ctx.s.allow_private_addresses && is_private_address(a)) {
      refused += (refused.empty() ? "" : ", ") + a;
      continue;
    }
    out.addresses.push_back(std::move(a));
  }
  if (out.addresses.empty()) {
    out.failed = failure(problem::rejected_identifier,
                         host + " resolves only to private or special-purpose addresses (" + refused +
                             "), which the CA does not connect to");
  }
  return out;
}

std::optional<tcp::endpoint> endpoint_of(const std::string& address, std::uint16_t port) {
  beast::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) return std::nullopt;
  return tcp::endpoint(ip, port);
}

std::string endpoint_text(const std::string& address, std::uint16_t port) {
  return (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::shared_ptr<ssl::context> client_context(bool alpn_acme) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_verify_mode(ssl::verify_none);  // RFC 8737 3 and RFC 8555 8.3: no chain validation
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  if (alpn_acme) {
    static const unsigned char protos[] = {10, 'a', 'c', 'm', 'e', '-', 't', 'l', 's', '/', '1'};
    SSL_CTX_set_alpn_protos(ctx->native_handle(), protos, sizeof protos);
  }
  return ctx;
}

std::string ssl_error_text(const beast::error_code& ec) {
  std::string s = ec.message();
  auto extra = drain_openssl_errors();
  if (!extra.empty()) s += " (" + extra + ")";
  return s;
}

// What one HTTP exchange gave.
struct hop {
  bool connected = false;              // false: try the next address
  std::optional<validation_outcome> failed;
  unsigned status = 0;
  std::string body;
  std::optional<std::string> location;
};

template <class Stream>
hop exchange(asio::io_context& ioc, Stream& stream, const attempt_context& ctx, const redirect_target& t,
             const std::string& url) {
  hop h;
  h.connected = true;
  http::request<http::empty_body> req{http::verb::get, t.path, 11};
  req.set(http::field::host, t.host);
  req.set(http::field::user_agent, "wotca-acme validation");
  req.set(http::field::accept, "*/*");
  req.set(http::field::connection, "close");
  if (auto ec = run_step(ioc, [&](auto&& handler) { http::async_write(stream, req, std::move(handler)); })) {
    h.failed = failure(problem::connection, "sending the request for " + url + " failed: " + ec.message());
    return h;
  }
  http_answer_reader reader(ctx.s.max_header_bytes, ctx.s.max_body_bytes);
  std::array<char, 4096> chunk;
  auto state = http_answer_reader::state::more;
  beast::error_code ec;
  while (state == http_answer_reader::state::more) {
    std::size_t got = 0;
    ec = asio::error::operation_aborted;
    stream.async_read_some(asio::buffer(chunk), [&](beast::error_code e, std::size_t n) {
      ec = e;
      got = n;
    });
    ioc.restart();
    ioc.run();
    if (got > 0) state = reader.feed(std::string_view(chunk.data(), got));
    if (state != http_answer_reader::state::more) break;
    if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
      state = reader.finish();
      ec = {};
      break;
    }
    if (ec) break;
  }
  if (state == http_answer_reader::state::failed && reader.too_large()) {
    h.failed = failure(problem::unauthorized, url + " answered with a header over " +
                                                  std::to_string(ctx.s.max_header_bytes) + " or a body over " +
                                                  std::to_string(ctx.s.max_body_bytes) + " bytes");
    return h;
  }
  if (state == http_answer_reader::state::failed) {
    h.failed = failure(problem::connection, "the answer of " + url + " is not valid HTTP: " + reader.error());
    return h;
  }
  if (ec == beast::error::timeout) {
    h.failed = failure(problem::connection, url + " did not answer within " + remaining_text(ctx.s.timeout));
    return h;
  }
  if (ec) {
    h.failed = failure(problem::connection, "reading the answer of " + url + " failed: " + ec.message());
    return h;
  }
  h.status = reader.status();
  h.body = reader.body();
  h.location = reader.location();
  return h;
}

hop fetch_once(attempt_context& ctx, const std::string& address, const redirect_target& t, std::uint16_t port,
               const std::string& url) {
  hop h;
  auto ep = endpoint_of(address, port);
  if (!ep) {
    h.connected = true;
    h.failed = failure(problem::dns, "the resolver returned " + shown(address) + ", not an IP address");
    return h;
  }
  asio::io_context ioc(1);
  beast::tcp_stream tcp_stream(ioc);
  tcp_stream.expires_at(ctx.deadline);
  auto ec = run_step(ioc, [&](auto&& handler) { tcp_stream.async_connect(*ep, std::move(handler)); });
  ctx.outcome.addresses_used.push_back(address);
  if (ec) {
    h.failed = failure(problem::connection, "cannot connect to " + endpoint_text(address, port) + " for " + url + ": " +
                                                (ec == beast::error::timeout ? "timed out" : ec.message()));
    return h;
  }
  if (!t.https) return exchange(ioc, tcp_stream, ctx, t, url);
  auto tls = client_context(false);
  beast::ssl_stream<beast::tcp_stream&> stream(tcp_stream, *tls);
  SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str());
  ec = run_step(ioc, [&](auto&& handler) { stream.async_handshake(ssl::stream_base::client, std::move(handler)); });
  if (ec) {
    hop bad;
    bad.connected = true;
    bad.failed = failure(problem::tls, "the TLS handshake with " + endpoint_text(address, port) + " for " + url +
                                           " failed: " + ssl_error_text(ec));
    return bad;
  }
  return exchange(ioc, stream, ctx, t, url);
}

// One GET over every usable address of t.host until one connects.
hop fetch(attempt_context& ctx, const redirect_target& t) {
  const std::string url = url_of(t);
  auto r = resolve(ctx, t.host);
  if (r.failed) {
    hop h;
    h.connected = true;
    h.failed = std::move(r.failed);
    return h;
  }
  // Ports 80 and 443 of the URL map to the configured ports (both are 80
  // and 443 in production; tests move them to free loopback ports).
  const std::uint16_t port = t.port == 443 ? ctx.s.tls_alpn_port : ctx.s.http_port;
  hop last;
  for (const auto& address : r.addresses) {
    last = fetch_once(ctx, address, t, port, url);
    if (last.connected) return last;
    if (steady::now() >= ctx.deadline) break;
  }
  return last;
}

validation_outcome http01(attempt_context& ctx, const validation_job& job) {
  redirect_target t;
  t.https = false;
  t.host = job.domain;
  t.port = 80;
  t.path = "/.well-known/acme-challenge/" + job.token;
  for (int redirects = 0;; ++redirects) {
    hop h = fetch(ctx, t);
    if (h.failed) return std::move(*h.failed);
    const bool redirect = h.status == 301 || h.status == 302 || h.status == 303 || h.status == 307 || h.status == 308;
    if (!redirect || !h.location) return judge_http01(h.status, h.body, job.key_authorization, url_of(t));
    if (redirects >= ctx.s.max_redirects) {
      return failure(problem::connection, "too many redirects (more than " + std::to_string(ctx.s.max_redirects) +
                                              ") fetching http://" + job.domain + "/.well-known/acme-challenge/" +
                                              job.token);
    }
    auto next = resolve_redirect(*h.location, t);
    if (!next) return failure(problem::connection, url_of(t) + " redirected badly: " + next.error().message);
    t = std::move(*next);
  }
}

validation_outcome dns01(attempt_context& ctx, const validation_job& job) {
  const std::string at = "_acme-challenge." + job.domain;
  auto server = ctx.s.resolver.empty() ? system_dns_server() : parse_dns_server(ctx.s.resolver, "acme.validation.resolver");
  if (!server) return failure(problem::server_internal, "no DNS server to ask: " + describe(server.error()));
  auto answer = dns_lookup(at, dns_type::txt, *server, ctx.remaining(), ctx.rng);
  if (!answer) {
    if (answer.error().code == errc::invalid_input) {
      return failure(problem::rejected_identifier, shown(at) + " is not a DNS name that can be looked up");
    }
    return failure(problem::dns, "DNS lookup of TXT " + at + " failed: " + describe(answer.error()));
  }
  if (answer->rcode != 0 && answer->rcode != 3) {
    return failure(problem::dns, "DNS lookup of TXT " + at + " failed with rcode " + std::to_string(answer->rcode));
  }
  return judge_dns01(answer->records, job.key_authorization, at);
}

validation_outcome tls_alpn01(attempt_context& ctx, const validation_job& job) {
  auto r = resolve(ctx, job.domain);
  if (r.failed) return std::move(*r.failed);
  const std::uint16_t port = ctx.s.tls_alpn_port;
  auto tls = client_context(true);
  validation_outcome last = failure(problem::connection, "no address of " + job.domain + " could be reached");
  for (const auto& address : r.addresses) {
    auto ep = endpoint_of(address, port);
    if (!ep) return failure(problem::dns, "the resolver returned " + shown(address) + ", not an IP address");
    asio::io_context ioc(1);
    beast::tcp_stream tcp_stream(ioc);
    tcp_stream.expires_at(ctx.deadline);
    auto ec = run_step(ioc, [&](auto&& handler) { tcp_stream.async_connect(*ep, std::move(handler)); });
    ctx.outcome.addresses_used.push_back(address);
    if (ec) {
      last = failure(problem::connection, "cannot connect to " + endpoint_text(address, port) + " for tls-alpn-01 of " +
                                              job.domain + ": " + (ec == beast::error::timeout ? "timed out" : ec.message()));
      if (steady::now() >= ctx.deadline) break;
      continue;
    }
    beast::ssl_stream<beast::tcp_stream&> stream(tcp_stream, *tls);
    SSL_set_tlsext_host_name(stream.native_handle(), job.domain.c_str());
    ec = run_step(ioc, [&](auto&& handler) { stream.async_handshake(ssl::stream_base::client, std::move(handler)); });
    if (ec) {
      return failure(problem::tls, "the TLS handshake with " + endpoint_text(address, port) + " for " + job.domain +
                                       " failed: " + ssl_error_text(ec) +
                                       " (the server must offer the ALPN protocol acme-tls/1, RFC 8737)");
    }
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(stream.native_handle(), &alpn, &alpn_len);
    if (std::string_view(reinterpret_cast<const char*>(alpn), alpn ? alpn_len : 0) != "acme-tls/1") {
      return failure(problem::tls, endpoint_text(address, port) + " did not negotiate the ALPN protocol acme-tls/1 for " +
                                       job.domain + " (RFC 8737 3)");
    }
    x509_ptr peer(SSL_get1_peer_certificate(stream.native_handle()));
    if (!peer) return failure(problem::tls, endpoint_text(address, port) + " presented no certificate");
    int len = i2d_X509(peer.get(), nullptr);
    if (len <= 0) return failure(problem::tls, "cannot re-encode the certificate " + endpoint_text(address, port) + " presented");
    bytes der(static_cast<std::size_t>(len));
    unsigned char* out = der.data();
    i2d_X509(peer.get(), &out);
    beast::error_code ignored;
    tcp_stream.socket().close(ignored);
    return judge_tls_alpn01(der, job.domain, job.key_authorization);
  }
  return last;
}

const char* type_name(challenge_type t) {
  switch (t) {
    case challenge_type::http01: return "http-01";
    case challenge_type::dns01: return "dns-01";
    case challenge_type::tls_alpn01: return "tls-alpn-01";
  }
  return "unknown";
}

}  // namespace

// ---- the pool ---------------------------------------------------------------------

struct network_validator::impl {
  struct pending {
    validation_job job;
    std::function<void(validation_outcome)> done;
    int attempts_made = 0;
  };

  random_source& rng;
  mutable std::mutex mu;
  std::condition_variable wake;
  validator_settings settings;
  std::multimap<steady::time_point, pending> queue;  // by when it is due
  bool stopping = false;
  std::atomic<std::size_t> in_flight{0};
  std::vector<std::thread> workers;

  // [type][0 invalid, 1 valid]
  std::array<std::array<std::atomic<std::uint64_t>, 2>, 3> results{};
  std::atomic<std::uint64_t> attempts{0};
  std::atomic<std::uint64_t> refused_queue_full{0};

  impl(validator_settings s, random_source& r) : rng(r), settings(std::move(s)) {}

  validator_settings current() const {
    std::lock_guard lock(mu);
    return settings;
  }

  void finish(pending& p, validation_outcome o) {
    if (!o.abandoned)
      results[static_cast<std::size_t>(p.job.type)][o.valid ? 1 : 0].fetch_add(1, std::memory_order_relaxed);
    try {
      p.done(std::move(o));
    } catch (...) {
      // The callback is the service's; an exception must not kill a worker.
    }
    in_flight.fetch_sub(1);
  }

  void run(network_validator& self) {
    std::unique_lock lock(mu);
    for (;;) {
      if (stopping) return;
      if (queue.empty()) {
        wake.wait(lock);
        continue;
      }
      const auto due = queue.begin()->first;
      if (due > steady::now()) {
        wake.wait_until(lock, due);
        continue;
      }
      pending p = std::move(queue.begin()->second);
      queue.erase(queue.begin());
      const auto s = settings;
      lock.unlock();
      validation_outcome o = self.attempt(p.job);
      ++p.attempts_made;
      if (!o.valid && p.attempts_made < s.attempts) {
        lock.lock();
        if (!stopping) {
          queue.emplace(steady::now() + s.retry, std::move(p));
          continue;
        }
        lock.unlock();
        o = abandoned();  // a retry was due: the failure is not final
      }
      finish(p, std::move(o));
      lock.lock();
    }
  }
};

network_validator::network_validator(validator_settings settings, random_source& rng)
    : impl_(std::make_unique<impl>(std::move(settings), rng)) {
  const unsigned n = std::max(1u, impl_->settings.workers);
  for (unsigned i = 0; i < n; ++i) impl_->workers.emplace_back([this] { impl_->run(*this); });
}

network_validator::~network_validator() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->workers) t.join();
  for (auto& [due, p] : impl_->queue) impl_->finish(p, abandoned());
}

void network_validator::validate(validation_job job, std::function<void(validation_outcome)> done) {
  impl_->in_flight.fetch_add(1);
  std::unique_lock lock(impl_->mu);
  if (impl_->stopping || impl_->queue.size() >= impl_->settings.max_queue) {
    lock.unlock();
    impl_->refused_queue_full.fetch_add(1, std::memory_order_relaxed);
    impl::pending p{std::move(job), std::move(done), 0};
    impl_->finish(p, failure(problem::server_internal, "too many validations are waiting; retry in a minute"));
    return;
  }
  impl_->queue.emplace(steady::now(), impl::pending{std::move(job), std::move(done), 0});
  lock.unlock();
  impl_->wake.notify_one();
}

void network_validator::set_settings(validator_settings settings) {
  std::lock_guard lock(impl_->mu);
  settings.workers = impl_->settings.workers;
  impl_->settings = std::move(settings);
}

std::size_t network_validator::in_flight() const { return impl_->in_flight.load(); }

validation_outcome network_validator::attempt(const validation_job& job) {
  impl_->attempts.fetch_add(1, std::memory_order_relaxed);
  const validator_settings s = impl_->current();
  attempt_context ctx{s, impl_->rng, steady::now() + s.timeout, {}};
  validation_outcome o;
  try {
    switch (job.type) {
      case challenge_type::http01: o = http01(ctx, job); break;
      case challenge_type::dns01: o = dns01(ctx, job); break;
      case challenge_type::tls_alpn01: o = tls_alpn01(ctx, job); break;
    }
  } catch (const std::exception& e) {
    // Asio and OpenSSL wrappers may throw on resource exhaustion.
    o = failure(problem::server_internal, std::string(type_name(job.type)) + " validation failed inside the server: " + e.what());
  }
  (void)drain_openssl_errors();
  o.addresses_used = std::move(ctx.outcome.addresses_used);
  return o;
}

std::string network_validator::metrics() const {
  std::string out = "# HELP wotca_acme_validations_total Challenge validations by type and result.\n"
                    "# TYPE wotca_acme_validations_total counter\n";
  for (auto t : {challenge_type::http01, challenge_type::dns01, challenge_type::tls_alpn01}) {
    for (int v = 0; v < 2; ++v) {
      out += std::string("wotca_acme_validations_total{type=\"") + type_name(t) + "\",result=\"" +
             (v ? "valid" : "invalid") + "\"} " +
             std::to_string(impl_->results[static_cast<std::size_t>(t)][static_cast<std::size_t>(v)].load()) + "\n";
    }
  }
  out += "# TYPE wotca_acme_validation_attempts_total counter\nwotca_acme_validation_attempts_total " +
         std::to_string(impl_->attempts.load()) + "\n";
  out += "# TYPE wotca_acme_validations_refused_total counter\nwotca_acme_validations_refused_total " +
         std::to_string(impl_->refused_queue_full.load()) + "\n";
  out += "# TYPE wotca_acme_validations_in_flight gauge\nwotca_acme_validations_in_flight " +
         std::to_string(impl_->in_flight.load()) + "\n";
  return out;
}

}  // namespace wotca::acme
