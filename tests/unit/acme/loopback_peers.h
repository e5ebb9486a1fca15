// Tiny peers on 127.0.0.1 for the transport tests of wotca-acme: a DNS
// server (UDP) answering from a table, a plain HTTP responder, a TLS server
// presenting a given certificate with a given ALPN choice, and certificates
// made here with OpenSSL (the tls-alpn-01 one needs an extension no command
// line tool writes). Each runs on its own thread; no Catch2 macro runs
// there (Catch2 is not thread-safe): tests read what was recorded after the
// exchange.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/pki/ossl.h"
#include "core/util/encoding.h"

namespace wotca::acme::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;

// ---- certificates -------------------------------------------------------------

struct test_cert {
  x509_ptr cert;
  evp_pkey_ptr key;
};

inline evp_pkey_ptr make_p256() {
  evp_pkey_ptr key(EVP_EC_gen("P-256"));
  return key;
}

struct cert_options {
  std::vector<std::string> dns_names;      // dNSName entries of the SAN
  bool acme_identifier = false;            // add id-pe-acmeIdentifier
  bool acme_identifier_critical = true;
  bytes acme_identifier_value;             // the extnValue's DER (04 20 + digest)
  const test_cert* issuer = nullptr;       // null: self-signed
  bool ca = false;
};

inline test_cert make_cert(const cert_options& o) {
  test_cert out;
  out.key = make_p256();
  out.cert.reset(X509_new());
  X509* x = out.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1000 + static_cast<long>(o.dns_names.size()));
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_NAME* name = X509_get_subject_name(x);
  const std::string cn = o.dns_names.empty() ? std::string("test") : o.dns_names.front();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, o.issuer ? X509_get_subject_name(o.issuer->cert.get()) : name);
  X509_set_pubkey(x, out.key.get());
  if (!o.dns_names.empty()) {
    general_names_ptr names(sk_GENERAL_NAME_new_null());
    for (const auto& d : o.dns_names) {
      general_name_ptr gn(GENERAL_NAME_new());
      asn1_ia5string_ptr ia5(ASN1_IA5STRING_new());
      ASN1_STRING_set(ia5.get(), d.data(), static_cast<int>(d.size()));
      GENERAL_NAME_set0_value(gn.get(), GEN_DNS, ia5.release());
      sk_GENERAL_NAME_push(names.get(), gn.release());
    }
    X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT);
  }
  if (o.ca) {
    basic_constraints_ptr bc(BASIC_CONSTRAINTS_new());
    bc->ca = 1;
    X509_add1_ext_i2d(x, NID_basic_constraints, bc.get(), 1, X509V3_ADD_DEFAULT);
  }
  if (o.acme_identifier) {
    asn1_object_ptr oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
    asn1_octet_string_ptr value(ASN1_OCTET_STRING_new());
    ASN1_OCTET_STRING_set(value.get(), o.acme_identifier_value.data(), static_cast<int>(o.acme_identifier_value.size()));
    x509_extension_ptr ext(
        X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), o.acme_identifier_critical ? 1 : 0, value.get()));
    X509_add_ext(x, ext.get(), -1);
  }
  X509_sign(x, o.issuer ? o.issuer->key.get() : out.key.get(), EVP_sha256());
  return out;
}

// DER of Authorization ::= OCTET STRING (SIZE (32)) holding SHA-256(key_authorization).
inline bytes acme_identifier_for(std::string_view key_authorization) {
  bytes der{0x04, 0x20};
  const bytes digest = sha256(key_authorization);
  der.insert(der.end(), digest.begin(), digest.end());
  return der;
}

inline bytes der_of(const X509& cert) {
  const int len = i2d_X509(&cert, nullptr);
  bytes der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_X509(&cert, &p);
  return der;
}

// ---- DNS --------------------------------------------------------------------------

// Answers A, AAAA and TXT queries from tables keyed by lower-case name; a
// name in no table gets NOERROR with no answer.
class dns_peer {
 public:
  std::map<std::string, std::vector<std::string>> a, aaaa, txt;

  dns_peer() : socket_(ioc_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
  ~dns_peer() { stop(); }

  void start() {
    receive();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void stop() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(socket_.local_endpoint().port()); }
  int queries() const {
    std::lock_guard lock(mu_);
    return queries_;
  }

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(buffer_), from_, [this](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      auto reply = answer(bytes(buffer_.begin(), buffer_.begin() + static_cast<long>(n)));
      if (!reply.empty()) {
        boost::system::error_code ignored;
        socket_.send_to(asio::buffer(reply), from_, 0, ignored);
      }
      receive();
    });
  }

  bytes answer(const bytes& q) {
    {
      std::lock_guard lock(mu_);
      ++queries_;
    }
    if (q.size() < 17) return {};
    // The question: labels from offset 12, then QTYPE, QCLASS.
    std::size_t i = 12;
    std::string name;
    while (i < q.size() && q[i] != 0) {
      const std::size_t len = q[i];
      if (i + 1 + len > q.size()) return {};
      if (!name.empty()) name += '.';
      for (std::size_t k = 0; k < len; ++k) name += static_cast<char>(std::tolower(q[i + 1 + k]));
      i += 1 + len;
    }
    if (i + 5 > q.size()) return {};
    const std::size_t question_end = i + 5;
    const int qtype = (q[i + 1] << 8) | q[i + 2];
    std::vector<bytes> rdatas;
    auto from_table = [&](const std::map<std::string, std::vector<std::string>>& table) -> const std::vector<std::string>* {
      auto it = table.find(name);
      return it == table.end() ? nullptr : &it->second;
    };
    if (qtype == 1 || qtype == 28) {
      if (auto* list = from_table(qtype == 1 ? a : aaaa)) {
        for (const auto& text : *list) {
          boost::system::error_code ec;
          auto ip = asio::ip::make_address(text, ec);
          if (ec) continue;
          if (ip.is_v4()) {
            auto b = ip.to_v4().to_bytes();
            rdatas.emplace_back(b.begin(), b.end());
          } else {
            auto b = ip.to_v6().to_bytes();
            rdatas.emplace_back(b.begin(), b.end());
          }
        }
      }
    } else if (qtype == 16) {
      if (auto* list = from_table(txt)) {
        for (const auto& text : *list) {
          bytes rd{static_cast<std::uint8_t>(text.size())};
          rd.insert(rd.end(), text.begin(), text.end());
          rdatas.push_back(std::move(rd));
        }
      }
    }
    bytes r(q.begin(), q.begin() + static_cast<long>(question_end));
    r[2] = 0x81;  // QR, RD
    r[3] = 0x80;  // RA, NOERROR
    r[6] = 0;
    r[7] = static_cast<std::uint8_t>(rdatas.size());
    r[8] = r[9] = r[10] = r[11] = 0;
    for (const auto& rd : rdatas) {
      const bytes rr{0xC0, 0x0C, static_cast<std::uint8_t>(qtype >> 8), static_cast<std::uint8_t>(qtype & 0xff), 0, 1,
                     0, 0, 0, 60, static_cast<std::uint8_t>(rd.size() >> 8), static_cast<std::uint8_t>(rd.size() & 0xff)};
      r.insert(r.end(), rr.begin(), rr.end());
      r.insert(r.end(), rd.begin(), rd.end());
    }
    return r;
  }

  asio::io_context ioc_;
  udp::socket socket_;
  udp::endpoint from_;
  std::array<std::uint8_t, 1500> buffer_{};
  std::thread thread_;
  mutable std::mutex mu_;
  int queries_ = 0;
};

// ---- HTTP -------------------------------------------------------------------------

struct seen_request {
  std::string target;
  std::string host;
};

// Reads one request head per connection and writes what `respond(target,
// host)` returns (a whole raw HTTP response), then closes.
class http_peer {
 public:
  using responder = std::function<std::string(const std::string& target, const std::string& host)>;

  explicit http_peer(responder r)
      : respond_(std::move(r)), acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { serve(); });
  }
  ~http_peer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    // Wake the blocking accept with a connection of our own.
    boost::system::error_code ec;
    tcp::socket poke(ioc_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<seen_request> requests() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void serve() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
      if (ec) continue;
      std::string head;
      char c;
      while (head.size() < 16384 && head.find("\r\n\r\n") == std::string::npos) {
        if (asio::read(s, asio::buffer(&c, 1), ec) != 1) break;
        head += c;
      }
      seen_request r;
      const auto sp1 = head.find(' ');
      const auto sp2 = head.find(' ', sp1 + 1);
      if (sp1 != std::string::npos && sp2 != std::string::npos) r.target = head.substr(sp1 + 1, sp2 - sp1 - 1);
      if (auto h = head.find("\r\nHost: "); h != std::string::npos) {
        r.host = head.substr(h + 8, head.find("\r\n", h + 8) - h - 8);
      }
      {
        std::lock_guard lock(mu_);
        seen_.push_back(r);
      }
      const std::string reply = respond_(r.target, r.host);
      asio::write(s, asio::buffer(reply), ec);
      s.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  responder respond_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  mutable std::mutex mu_;
  bool stopping_ = false;
  std::vector<seen_request> seen_;
};

inline std::string http_reply(int status, const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n" + extra_headers + "\r\n" + body;
}

// ---- TLS ----------------------------------------------------------------------------

// Presents `cert` to every client and selects `alpn` if the client offers
// it (empty: selects nothing), completes the handshake and closes.
class tls_peer {
 public:
  tls_peer(const test_cert& cert, std::string alpn)
      : alpn_(std::move(alpn)), ctx_(asio::ssl::context::tls_server),
        acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    SSL_CTX_use_certificate(ctx_.native_handle(), cert.cert.get());
    SSL_CTX_use_PrivateKey(ctx_.native_handle(), cert.key.get());
    SSL_CTX_set_alpn_select_cb(ctx_.native_handle(), &tls_peer::select, this);
    thread_ = std::thread([this] { serve(); });
  }
  ~tls_peer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    boost::system::error_code ec;
    tcp::socket poke(ioc_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<std::string> server_names() const {
    std::lock_guard lock(mu_);
    return sni_;
  }

 private:
  static int select(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                    void* arg) {
    auto* self = static_cast<tls_peer*>(arg);
    if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
      std::lock_guard lock(self->mu_);
      self->sni_.emplace_back(sni);
    }
    if (self->alpn_.empty()) return SSL_TLSEXT_ERR_NOACK;
    std::string ours(1, static_cast<char>(self->alpn_.size()));
    ours += self->alpn_;
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(ours.data()),
                              static_cast<unsigned>(ours.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED) {
      return SSL_TLSEXT_ERR_NOACK;
    }
    // `chosen` points into `ours` or `in`; keep ours alive in the object.
    self->chosen_ = std::string(reinterpret_cast<const char*>(chosen), *outlen);
    *out = reinterpret_cast<const unsigned char*>(self->chosen_.data());
    return SSL_TLSEXT_ERR_OK;
  }

  void serve() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
      if (ec) continue;
      asio::ssl::stream<tcp::socket> tls(std::move(s), ctx_);
      tls.handshake(asio::ssl::stream_base::server, ec);
      if (!ec) tls.shutdown(ec);
    }
  }

  std::string alpn_;
  std::string chosen_;
  asio::io_context ioc_;
  asio::ssl::context ctx_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  mutable std::mutex mu_;
  bool stopping_ = false;
  std::vector<std::string> sni_;
};

}  // namespace wotca::acme::testing
