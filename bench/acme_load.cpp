// ACME load generator for bench/acme, the C++ twin of bench/acme_load.py
// (which is its specification: the same flags, the same protocol flow, the
// same output lines and JSON fields). It exists because the generator runs
// on the same two cores as the server it measures: the Python one spends
// about 3.5 ms of CPU per issuance, a third of the machine, and so limits and
// blurs the figure. Here an issuance costs its ~8 ES256 signatures, TLS
// records and JSON parses, about a third of the Python's CPU: most of what is
// left is loopback TCP in the kernel and thread wake-ups, which any client
// doing these requests one by one pays.
//
// N client threads against one ACME server (RFC 8555), each with a blocking
// keep-alive TLS connection and an account of its own made once with External
// Account Binding (RFC 8555 7.3.4), then in a loop:
//
//   newOrder (one dns identifier, a new name per order)
//   -> POST-as-GET the authorization
//   -> POST {} to its http-01 challenge (the key authorization is served by
//      this program's own HTTP server on --http-port, one epoll thread)
//   -> poll the authorization until valid
//   -> finalize with a CSR (a new P-256 key per order, SAN only)
//   -> poll the order until valid
//   -> download the certificate (and check that it names the identifier).
//
// Keys, CSRs and accounts are made before the clock starts. Counted: the
// issuances completed (certificate downloaded) within --seconds; timed: each
// finalize, from sending the request to the order read as valid, and each
// whole issuance. badNonce answers are retried with the nonce they carry and
// counted apart. The last line is one of key=value pairs for scripts.
//
// usage: wotca-bench-acme-load --directory URL --cafile F --eab-kid K[,K...] --eab-hmac H[,H...]
//                              [--clients N] [--seconds S] [--http-port P] [--domain-suffix .test] ...
//
// Inside this program, failures travel as exceptions, like the Python
// original's: a failed step abandons the issuance and is counted by kind in
// the client's loop; nothing escapes a thread (each one's top catches all and
// reports it as fatal).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/net/socket.h"
#include "core/pki/ossl.h"
#include "bench/acme_load_parse.h"
#include "core/util/encoding.h"

using namespace wotca;
using namespace wotca::bench;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

// libssl objects: core/pki/ossl.h covers libcrypto only (the core never
// speaks TLS itself), so the two libssl owners this program needs are made
// here with its deleter.
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ossl_detail::deleter<SSL_CTX, SSL_CTX_free>>;
using ssl_ptr = std::unique_ptr<SSL, ossl_detail::deleter<SSL, SSL_free>>;

// --- failures, named as the Python original names them in "error KIND" ---
// (load_error and connection_closed are in acme_load_parse.h)

struct timeout_error : load_error {
  explicit timeout_error(const std::string& what) : load_error("TimeoutError", what) {}
};

// An ACME problem (or an answer that is not what the step needs); counted as
// "step:type".
struct acme_error : std::runtime_error {
  acme_error(std::string step_, int status_, std::string type_, const std::string& detail)
      : std::runtime_error(fmt::format("{}: {} {}: {}", step_, status_, type_, detail)),
        step(std::move(step_)),
        type(std::move(type_)) {}
  std::string step;
  std::string type;
};

// As AcmeError(step, status, body) in the Python: the problem document's type
// (its last ':' part) and detail, else "http-STATUS" and the body's start.
acme_error problem(const std::string& step, int status, std::string_view body) {
  auto doc = json::parse(body, nullptr, false);
  if (!doc.is_discarded() && doc.is_object()) {
    std::string type, detail;
    if (auto t = doc.find("type"); t != doc.end()) type = t->is_string() ? t->get<std::string>() : t->dump();
    if (auto d = doc.find("detail"); d != doc.end()) detail = d->is_string() ? d->get<std::string>() : d->dump();
    if (auto colon = type.rfind(':'); colon != std::string::npos) type = type.substr(colon + 1);
    if (type.empty()) type = fmt::format("http-{}", status);
    return {step, status, type, detail};
  }
  return {step, status, fmt::format("http-{}", status), std::string(body.substr(0, 200))};
}

std::string b64u(std::string_view s) {
  return base64url_encode({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

std::string openssl_failure(std::string_view what) {
  auto detail = drain_openssl_errors();
  return detail.empty() ? std::string(what) : fmt::format("{}: {}", what, detail);
}

// --- account keys (ES256, RFC 7518 3.4) ---

class account_key {
 public:
  account_key() : key_(EVP_EC_gen("P-256")) {
    if (!key_) throw std::runtime_error(openssl_failure("cannot make a P-256 key"));
    std::uint8_t xy[64];
    for (auto [param, at] : {std::pair{OSSL_PKEY_PARAM_EC_PUB_X, 0}, std::pair{OSSL_PKEY_PARAM_EC_PUB_Y, 32}}) {
      BIGNUM* raw = nullptr;
      if (EVP_PKEY_get_bn_param(key_.get(), param, &raw) != 1)
        throw std::runtime_error(openssl_failure("cannot read the public point"));
      bignum_ptr coordinate(raw);
      if (BN_bn2binpad(coordinate.get(), xy + at, 32) != 32) throw std::runtime_error("public point too long");
    }
    // RFC 7638 3: the required members in lexicographic order, no
    // whitespace; this is also the "jwk" of newAccount and the EAB payload.
    jwk_ = fmt::format(R"({{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}})",
                       base64url_encode({xy, 32}), base64url_encode({xy + 32, 32}));
    thumbprint_ = base64url_encode(sha256(jwk_));
    // One signing context for the key's life: EVP_DigestSignInit per
    // signature costs OpenSSL 3.0 an algorithm fetch and a key copy, more
    // than the signature itself.
    signer_.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, key_.get(), nullptr));
    sha256_.reset(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    digest_.reset(EVP_MD_CTX_new());
    if (!signer_ || EVP_PKEY_sign_init(signer_.get()) != 1 || !sha256_ || !digest_)
      throw std::runtime_error(openssl_failure("cannot set up ES256 signing"));
  }

  [[nodiscard]] const std::string& jwk() const { return jwk_; }
  [[nodiscard]] const std::string& thumbprint() const { return thumbprint_; }

  // RFC 7518 3.4: ECDSA P-256 over SHA-256; the signature is R || S, each
  // 32 bytes, not DER. Not thread-safe: a key belongs to one client thread.
  [[nodiscard]] std::string sign(std::string_view data) {
    std::uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    std::uint8_t der[80];
    std::size_t der_len = sizeof der;
    if (EVP_DigestInit_ex2(digest_.get(), sha256_.get(), nullptr) != 1 ||
        EVP_DigestUpdate(digest_.get(), data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(digest_.get(), digest, &digest_len) != 1 ||
        EVP_PKEY_sign(signer_.get(), der, &der_len, digest, digest_len) != 1)
      throw std::runtime_error(openssl_failure("ES256 signing failed"));
    const std::uint8_t* p = der;
    ecdsa_sig_ptr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
    if (!sig) throw std::runtime_error(openssl_failure("cannot read our own ECDSA signature"));
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    std::uint8_t rs[64];
    if (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32, 32) != 32)
      throw std::runtime_error("ECDSA signature part longer than 32 bytes");
    return base64url_encode({rs, 64});
  }

 private:
  evp_pkey_ptr key_;
  evp_pkey_ctx_ptr signer_;  // after key_: freed first
  evp_md_ptr sha256_;        // fetched once (the implicit fetch of EVP_sha256() is per use)
  evp_md_ctx_ptr digest_;
  std::string jwk_;
  std::string thumbprint_;
};

// A DER CSR for one dns name: a new P-256 key, an empty subject and the
// name in subjectAltName only, as the Python's make_csr.
std::string make_csr(const std::string& name) {
  evp_pkey_ptr key(EVP_EC_gen("P-256"));
  x509_req_ptr req(X509_REQ_new());
  general_names_ptr names(GENERAL_NAMES_new());
  general_name_ptr dns(GENERAL_NAME_new());
  asn1_ia5string_ptr text(ASN1_IA5STRING_new());
  if (!key || !req || !names || !dns || !text ||
      ASN1_STRING_set(text.get(), name.data(), static_cast<int>(name.size())) != 1)
    throw std::runtime_error(openssl_failure("cannot build a CSR"));
  GENERAL_NAME_set0_value(dns.get(), GEN_DNS, text.release());
  if (sk_GENERAL_NAME_push(names.get(), dns.get()) <= 0) throw std::runtime_error(openssl_failure("cannot build a CSR"));
  dns.release();  // now owned by names
  STACK_OF(X509_EXTENSION)* raw_extensions = nullptr;
  int added = X509V3_add1_i2d(&raw_extensions, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT);
  x509_extension_stack_ptr extensions(raw_extensions);
  if (added != 1 || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1 || X509_REQ_add_extensions(req.get(), extensions.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0)
    throw std::runtime_error(openssl_failure("cannot build a CSR"));
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req.get(), &der);
  openssl_bytes_ptr owned(der);
  if (len <= 0) throw std::runtime_error(openssl_failure("cannot encode a CSR"));
  return base64url_encode({der, static_cast<std::size_t>(len)});
}

// --- the http-01 responder ---
// Every name this program orders is w{client}-{i}-{tag}{suffix}, so the key
// authorization of a token follows from the Host header the validator sends:
// token "." thumbprint of that client's account key (RFC 8555 8.1, 8.3).
// One thread, one epoll set, non-blocking sockets: an answer per connection,
// then close. The request heads are parsed by http01_answer
// (acme_load_parse.h).

class http01_responder {
 public:
  // Listens on 127.0.0.1:port and, where there is an IPv6 loopback, [::1]:port.
  // Throws std::runtime_error with a message when 127.0.0.1 cannot be had.
  http01_responder(int port, std::vector<std::string> thumbprints)
      : thumbprints_(std::move(thumbprints)), epoll_(epoll_create1(EPOLL_CLOEXEC)), wake_(eventfd(0, EFD_CLOEXEC)) {
    if (!epoll_ || !wake_) throw std::runtime_error(fmt::format("epoll/eventfd: {}", std::strerror(errno)));
    add(wake_.get());
    for (bool v6 : {false, true}) {
      unique_fd s(socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      int one = 1;
      sockaddr_storage addr{};
      socklen_t len;
      if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<std::uint16_t>(port));
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
      } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&addr);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<std::uint16_t>(port));
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
      }
      if (!s || setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
          (v6 && setsockopt(s.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
          bind(s.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(s.get(), 1024) != 0) {
        if (!v6)
          throw std::runtime_error(
              fmt::format("cannot serve http-01 on 127.0.0.1:{}: {}", port, std::strerror(errno)));
        continue;  // no IPv6 loopback here: validators get A records only
      }
      add(s.get());
      listeners_.push_back(std::move(s));
    }
    thread_ = std::thread([this] { loop(); });
  }
  http01_responder(const http01_responder&) = delete;
  http01_responder& operator=(const http01_responder&) = delete;
  ~http01_responder() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_.get(), &one, sizeof one);  // cannot fail below the eventfd's maximum
    thread_.join();
  }

  // CPU seconds the responder's thread has used so far (while it runs).
  [[nodiscard]] double cpu_seconds() {
    clockid_t clock;
    timespec ts{};
    if (!thread_.joinable() || pthread_getcpuclockid(thread_.native_handle(), &clock) != 0 ||
        clock_gettime(clock, &ts) != 0)
      return 0.0;
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  }

  std::atomic<long> answered{0};
  std::atomic<long> refused{0};

 private:
  void add(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      throw std::runtime_error(fmt::format("epoll_ctl: {}", std::strerror(errno)));
  }

  void drop(int fd) {
    pending_.erase(fd);  // closes it, which also takes it out of the epoll set
  }

  void loop() {
    epoll_event events[64];
    for (;;) {
      int n = epoll_wait(epoll_.get(), events, 64, -1);
      if (n < 0 && errno != EINTR) return;
      for (int e = 0; e < n; ++e) {
        int fd = events[e].data.fd;
        if (fd == wake_.get()) {
          pending_.clear();
          return;
        }
        if (std::any_of(listeners_.begin(), listeners_.end(), [fd](const unique_fd& l) { return l.get() == fd; })) {
          unique_fd conn(accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
          if (!conn) continue;
          int c = conn.get();
          pending_.emplace(c, std::pair{std::move(conn), std::string{}});
          // The validator usually has its request on the way already: try
          // it before paying for an epoll registration.
          if (serve(c) == state::waiting) {
            try {
              add(c);
            } catch (const std::runtime_error&) {
              pending_.erase(c);
            }
          }
          continue;
        }
        serve(fd);
      }
    }
  }

  enum class state { waiting, done };

  // Reads what the connection has; answers and closes it once the request
  // head is complete (or it is closed, broken or too long).
  state serve(int fd) {
    auto it = pending_.find(fd);
    if (it == pending_.end()) return state::done;
    std::string& in = it->second.second;
    char chunk[8192];
    ssize_t got = recv(fd, chunk, sizeof chunk, 0);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return state::waiting;
    if (got <= 0) return drop(fd), state::done;
    in.append(chunk, static_cast<std::size_t>(got));
    if (in.size() > 16384) return drop(fd), state::done;
    auto end = in.find("\r\n\r\n");
    if (end == std::string::npos) return state::waiting;
    auto [answer, ok] = http01_answer(std::string_view(in).substr(0, end), thumbprints_);
    (ok ? answered : refused).fetch_add(1, std::memory_order_relaxed);
    // The answer is small and nearly always fits the socket buffer at once;
    // if not, the rest goes out blocking, bounded by 5 s (as the Python's
    // sendall with a timeout).
    std::string_view left = answer;
    ssize_t sent = send(fd, left.data(), left.size(), MSG_NOSIGNAL);
    if (sent > 0 && static_cast<std::size_t>(sent) < left.size()) {
      left.remove_prefix(static_cast<std::size_t>(sent));
      timeval tv{5, 0};
      int flags = fcntl(fd, F_GETFL);
      if (flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 &&
          setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0) {
        while (!left.empty() && (sent = send(fd, left.data(), left.size(), MSG_NOSIGNAL)) > 0)
          left.remove_prefix(static_cast<std::size_t>(sent));
      }
    }
    drop(fd);
    return state::done;
  }

  std::vector<std::string> thumbprints_;
  unique_fd epoll_;
  unique_fd wake_;
  std::vector<unique_fd> listeners_;
  std::unordered_map<int, std::pair<unique_fd, std::string>> pending_;  // connection -> bytes read
  std::thread thread_;  // last: starts once everything above exists
};

// --- one keep-alive HTTPS connection, HTTP/1.1 written and read by hand ---

struct step_time {
  long requests = 0;
  double ms = 0.0;  // waiting for the answers
};

struct client_stats {
  long requests = 0;
  long connections = 0;
  long badnonce_retries = 0;
  long timeouts = 0;
  // When the earliest request that got no answer was sent: a server that
  // stops answering (pebble's deadlock) is measured up to that moment.
  std::optional<steady::time_point> first_unanswered;
  std::vector<std::pair<std::string, step_time>> steps;  // in the order first seen, as the Python's dict

  step_time& step(const std::string& name) {
    for (auto& [n, t] : steps)
      if (n == name) return t;
    return steps.emplace_back(name, step_time{}).second;
  }
};

struct target {
  std::string host;       // as in the URL, without brackets
  int port = 443;
  std::string authority;  // the Host header
  std::string tls_name;   // checked against the server's certificate
  std::vector<sockaddr_storage> addresses;
  std::vector<socklen_t> address_lengths;
};

class connection {
 public:
  connection(const target& to, SSL_CTX* ctx, double timeout, client_stats& stats)
      : to_(to), ctx_(ctx), timeout_(timeout), stats_(stats) {}

  void close() {
    ssl_.reset();
    fd_.reset();
    reader_.reset();
  }

  http_response request(std::string_view method, std::string_view path, const std::string* body = nullptr,
                        const std::vector<std::pair<std::string_view, std::string_view>>& headers = {}) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool fresh = !ssl_;
      if (fresh) open();
      auto sent = steady::now();
      try {
        auto out = exchange(method, path, body, headers);
        ++stats_.requests;
        return out;
      } catch (const timeout_error&) {
        // No answer within --timeout: the server is stuck or overloaded.
        // Counted; the next request gets a new connection.
        close();
        ++stats_.timeouts;
        if (!stats_.first_unanswered || sent < *stats_.first_unanswered) stats_.first_unanswered = sent;
        throw;
      } catch (const connection_closed&) {
        // The server closed an idle keep-alive connection: once more on a
        // new one (a replayed nonce would come back as badNonce).
        close();
        if (fresh || attempt == 1) throw;
      }
    }
    throw std::logic_error("unreachable");
  }

 private:
  void open() {
    close();
    std::string last = "no address";
    for (std::size_t i = 0; i < to_.addresses.size() && !fd_; ++i) {
      const auto& addr = to_.addresses[i];
      unique_fd s(socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!s) throw load_error("OSError", fmt::format("socket: {}", std::strerror(errno)));
      int rc = connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), to_.address_lengths[i]);
      if (rc != 0 && errno == EINPROGRESS) {
        pollfd p{s.get(), POLLOUT, 0};
        rc = poll(&p, 1, static_cast<int>(timeout_ * 1000));
        if (rc == 0) {
          // Not counted in "timeouts" (no request was sent), as in the Python.
          throw timeout_error(fmt::format("connect to {} timed out", to_.authority));
        }
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        rc = err == 0 ? 0 : -1;
      }
      if (rc != 0) {
        last = std::strerror(errno);
        continue;
      }
      fd_ = std::move(s);
    }
    if (!fd_) throw load_error("ConnectionRefusedError", fmt::format("connect to {}: {}", to_.authority, last));
    // Blocking from here on, each read and write bounded by --timeout.
    int one = 1;
    timeval tv{static_cast<time_t>(timeout_), static_cast<suseconds_t>(std::fmod(timeout_, 1.0) * 1e6)};
    fcntl(fd_.get(), F_SETFL, fcntl(fd_.get(), F_GETFL) & ~O_NONBLOCK);
    setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    ssl_.reset(SSL_new(ctx_));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1)
      throw load_error("SSLError", openssl_failure("cannot set up TLS"));
    // The certificate is checked against tls_name, which may differ from the
    // host connected to (a certificate for "localhost" served on 127.0.0.1);
    // an IP address is matched against the iPAddress names, and not sent as
    // SNI (RFC 6066 3).
    in6_addr probe{};
    bool is_ip = inet_pton(AF_INET, to_.tls_name.c_str(), &probe) == 1 ||
                 inet_pton(AF_INET6, to_.tls_name.c_str(), &probe) == 1;
    bool named = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), to_.tls_name.c_str()) == 1
                       : SSL_set1_host(ssl_.get(), to_.tls_name.c_str()) == 1 &&
                             SSL_set_tlsext_host_name(ssl_.get(), to_.tls_name.c_str()) == 1;
    if (!named) throw load_error("SSLError", openssl_failure("cannot set the name to check"));
    ERR_clear_error();
    int rc = SSL_connect(ssl_.get());
    if (rc != 1) {
      int err = SSL_get_error(ssl_.get(), rc);
      int saved = errno;
      long verify = SSL_get_verify_result(ssl_.get());
      std::string what = openssl_failure(fmt::format("TLS handshake with {}", to_.authority));
      close();
      if (timed_out(err, saved)) throw timeout_error(what + ": timed out");
      if (verify != X509_V_OK)
        throw load_error("SSLCertVerificationError",
                         fmt::format("{}: {}", what, X509_verify_cert_error_string(verify)));
      throw load_error(err == SSL_ERROR_SSL ? "SSLError" : "ConnectionResetError", what);
    }
    ++stats_.connections;
  }

  // On this blocking socket, SO_RCVTIMEO/SO_SNDTIMEO expiring makes read()
  // or write() fail with EAGAIN, which OpenSSL reports as "want read/write".
  static bool timed_out(int ssl_error, int saved_errno) {
    return ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE ||
           (ssl_error == SSL_ERROR_SYSCALL && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK));
  }

  // Turns a failed SSL_read/SSL_write into the exception the caller counts.
  [[noreturn]] void io_failure(int rc, std::string_view op) {
    int err = SSL_get_error(ssl_.get(), rc);
    int saved = errno;
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && rc == 0))
      throw connection_closed("the server closed the connection");
    if (timed_out(err, saved)) throw timeout_error(fmt::format("no {} within {:g} s", op, timeout_));
    if (err == SSL_ERROR_SYSCALL && (saved == ECONNRESET || saved == EPIPE))
      throw connection_closed(fmt::format("{}: {}", op, std::strerror(saved)));
    // OpenSSL 3 reports an EOF without close_notify as SSL_ERROR_SSL with
    // "unexpected eof": a closed connection all the same.
    if (err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      ERR_clear_error();
      throw connection_closed("the server closed the connection");
    }
    throw load_error("SSLError", openssl_failure(fmt::format("TLS {}", op)));
  }

  // The reader's source: what one TLS record read brings.
  void receive(std::string& into) {
    char chunk[65536];
    std::size_t got = 0;
    ERR_clear_error();
    int rc = SSL_read_ex(ssl_.get(), chunk, sizeof chunk, &got);
    if (rc != 1) io_failure(rc, "answer");
    into.append(chunk, got);
  }

  http_response exchange(std::string_view method, std::string_view path, const std::string* body,
                         const std::vector<std::pair<std::string_view, std::string_view>>& headers) {
    std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n", method, path, to_.authority);
    for (auto [k, v] : headers) out += fmt::format("{}: {}\r\n", k, v);
    if (body) out += fmt::format("Content-Length: {}\r\n", body->size());
    out += "\r\n";
    if (body) out += *body;
    ERR_clear_error();
    std::size_t written = 0;
    int rc = SSL_write_ex(ssl_.get(), out.data(), out.size(), &written);
    if (rc != 1) io_failure(rc, "request");

    bool close_after = false;
    http_response r = reader_.read(method, close_after);
    if (close_after) close();
    return r;
  }

  const target& to_;
  SSL_CTX* ctx_;
  double timeout_;
  client_stats& stats_;
  unique_fd fd_;
  ssl_ptr ssl_;  // after fd_: freed first
  response_reader reader_{[this](std::string& into) { receive(into); }};
};

// --- the ACME client ---

std::string path_of(const std::string& url) {
  // scheme://authority/path?query -> /path?query (the fragment dropped)
  auto scheme = url.find("://");
  auto start = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (start == std::string::npos) return "/";
  std::string out = url.substr(start);
  if (auto hash = out.find('#'); hash != std::string::npos) out.resize(hash);
  return out;
}

std::string status_of(const json& doc) {
  if (!doc.is_object()) return {};
  auto s = doc.find("status");
  return s != doc.end() && s->is_string() ? s->get<std::string>() : std::string{};
}

class acme_client {
 public:
  acme_client(json directory, connection& conn, account_key& key, client_stats& stats)
      : dir(std::move(directory)), conn_(conn), key_(key), stats_(stats) {}

  [[nodiscard]] std::string url(const char* name) const {
    auto it = dir.find(name);
    if (it == dir.end() || !it->is_string())
      throw acme_error("directory", 200, "malformed", fmt::format("no \"{}\" in the directory", name));
    return it->get<std::string>();
  }

  std::string fresh_nonce() {
    auto r = conn_.request("HEAD", path_of(url("newNonce")));
    const std::string* nonce = r.header("replay-nonce");
    if (!nonce) throw problem("newNonce", r.status, "");
    return *nonce;
  }

  // One signed POST (payload nullopt: POST-as-GET), retried on badNonce with
  // the nonce that answer carried.
  http_response post(const std::string& step, const std::string& url, const std::optional<std::string>& payload,
                     std::string_view accept = {}, bool with_jwk = false) {
    for (int tries = 0; tries < 20; ++tries) {
      std::string use = nonce ? *nonce : fresh_nonce();
      nonce.reset();
      json protected_header = {{"alg", "ES256"}, {"nonce", use}, {"url", url}};
      std::string prot;
      if (with_jwk) {
        // The key's JWK is spliced in as is: it is already compact JSON.
        std::string head = protected_header.dump();
        head.pop_back();
        prot = b64u(head + ",\"jwk\":" + key_.jwk() + "}");
      } else {
        protected_header["kid"] = kid;
        prot = b64u(protected_header.dump());
      }
      std::string pay = payload ? b64u(*payload) : std::string{};
      std::string sig = key_.sign(prot + "." + pay);
      std::string body = fmt::format(R"({{"protected":"{}","payload":"{}","signature":"{}"}})", prot, pay, sig);
      std::vector<std::pair<std::string_view, std::string_view>> headers{{"Content-Type", "application/jose+json"}};
      if (!accept.empty()) headers.emplace_back("Accept", accept);
      auto t0 = steady::now();
      auto r = conn_.request("POST", path_of(url), &body, headers);
      auto& t = stats_.step(step);
      ++t.requests;
      t.ms += std::chrono::duration<double, std::milli>(steady::now() - t0).count();
      if (const std::string* n = r.header("replay-nonce")) nonce = *n;
      if (r.status >= 400) {
        auto err = problem(step, r.status, r.body);
        if (err.type == "badNonce") {
          ++stats_.badnonce_retries;
          continue;
        }
        throw err;
      }
      return r;
    }
    throw acme_error(step, 400, "badNonce", "20 badNonce answers in a row");
  }

  void new_account(const std::string& eab_kid, const std::string& eab_hmac) {
    std::string account_url = url("newAccount");
    // RFC 8555 7.3.4: a JWS over the account key's JWK, MACed with the EAB key.
    std::string eab_prot = b64u(json{{"alg", "HS256"}, {"kid", eab_kid}, {"url", account_url}}.dump());
    std::string eab_pay = b64u(key_.jwk());
    std::string_view padded = eab_hmac;
    while (padded.ends_with('=')) padded.remove_suffix(1);
    auto mac_key = base64url_decode(padded);
    if (!mac_key) throw acme_error("newAccount", 0, "eab", "the EAB HMAC key is not base64url");
    std::string signing_input = eab_prot + "." + eab_pay;
    std::uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (!HMAC(EVP_sha256(), mac_key->data(), static_cast<int>(mac_key->size()),
              reinterpret_cast<const std::uint8_t*>(signing_input.data()), signing_input.size(), mac, &mac_len))
      throw std::runtime_error(openssl_failure("HMAC-SHA256 failed"));
    std::string payload = fmt::format(
        R"({{"termsOfServiceAgreed":true,"externalAccountBinding":{{"protected":"{}","payload":"{}","signature":"{}"}}}})",
        eab_prot, eab_pay, base64url_encode({mac, mac_len}));
    auto r = post("newAccount", account_url, payload, {}, true);
    const std::string* location = r.header("location");
    if ((r.status != 200 && r.status != 201) || !location) throw problem("newAccount", r.status, "no Location");
    kid = *location;
  }

  json dir;
  std::string kid;
  std::optional<std::string> nonce;

 private:
  connection& conn_;
  account_key& key_;
  client_stats& stats_;
};

struct options {
  std::string directory, cafile, tls_name, label, json_path, domain_suffix = ".test", tag;
  std::vector<std::string> eab_kids, eab_hmacs;
  int clients = 8, http_port = -1, prepare = 300;
  double seconds = 15.0, timeout = 10.0, poll = 0.02, retry_after_cap = 0.1;
};

void sleep_seconds(double s) {
  if (s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }

// POST-as-GET url until its status is "valid"; honours Retry-After up to
// `limit` seconds. The document, or nullopt once the deadline passed.
std::optional<json> wait_valid(acme_client& client, const std::string& step, const std::string& url, json doc,
                               steady::time_point deadline, double poll, double limit) {
  bool first = true;
  while (status_of(doc) != "valid") {
    if (status_of(doc) == "invalid") throw acme_error(step, 200, "invalid", doc.dump().substr(0, 300));
    if (steady::now() > deadline) return std::nullopt;
    if (!first) sleep_seconds(poll);
    first = false;
    auto r = client.post(step, url, std::nullopt);
    doc = json::parse(r.body);
    const std::string* retry_after = r.header("retry-after");
    if (status_of(doc) != "valid" && retry_after) {
      // Seconds only; an HTTP-date is ignored, as float() fails on it in the Python.
      char* end = nullptr;
      double v = std::strtod(retry_after->c_str(), &end);
      if (end != retry_after->c_str() && *end == '\0' && std::isfinite(v))
        sleep_seconds(std::min(std::max(v - poll, 0.0), limit));
    }
  }
  return doc;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nan("");
  std::sort(values.begin(), values.end());  // nearest rank
  auto rank = static_cast<long>(std::ceil(p / 100.0 * static_cast<double>(values.size()))) - 1;
  return values[static_cast<std::size_t>(std::clamp(rank, 0L, static_cast<long>(values.size()) - 1))];
}

// Both clocks of one run: the clients wait here until every one has its
// keys, CSRs and account, then start together at `start`.
class start_gate {
 public:
  void arrive() {
    std::lock_guard lock(m_);
    ++ready_;
    cv_.notify_all();
  }
  bool wait_ready(int n, std::chrono::seconds limit) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, limit, [&] { return ready_ >= n; });
  }
  void open(steady::time_point start) {
    std::lock_guard lock(m_);
    start_ = start;
    cv_.notify_all();
  }
  std::optional<steady::time_point> wait_open(std::chrono::seconds limit) {
    std::unique_lock lock(m_);
    if (!cv_.wait_for(lock, limit, [&] { return start_.has_value(); })) return std::nullopt;
    return start_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int ready_ = 0;
  std::optional<steady::time_point> start_;
};

struct client_result {
  long issued = 0, late = 0, prepared_lazily = 0;
  std::vector<double> finalize_ms, issuance_ms;
  std::vector<steady::time_point> issued_at;  // when each counted issuance completed
  std::map<std::string, long> errors;
  std::map<std::string, std::string> examples;
  std::string fatal;
  client_stats stats;

  void count(const std::string& kind, const std::string& what) {
    ++errors[kind];
    examples.emplace(kind, what.substr(0, 400));
  }
};

// The name of a failure that is not an ACME problem, as the Python would
// print its exception class.
std::string kind_of(const std::exception& e) {
  if (auto* l = dynamic_cast<const load_error*>(&e)) return l->kind;
  if (dynamic_cast<const json::parse_error*>(&e)) return "JSONDecodeError";
  if (dynamic_cast<const json::out_of_range*>(&e)) return "KeyError";
  if (dynamic_cast<const json::type_error*>(&e)) return "TypeError";
  return "Exception";
}

// Whether the PEM chain's first certificate names `name` as a dNSName.
// d2i_X509 would do, but OpenSSL 3.0 decodes the subject public key through
// its provider decoders on every parse, which costs more than the rest of an
// issuance: so only the headers down to the extensions are read (with
// OpenSSL's bounded ASN1_get_object), and the extensions are parsed by
// OpenSSL. RFC 5280 4.1:
//   Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, ... }
//   TBSCertificate ::= SEQUENCE { version [0] EXPLICIT, serialNumber, signature,
//     issuer, validity, subject, subjectPublicKeyInfo, issuerUniqueID [1] IMPLICIT OPTIONAL,
//     subjectUniqueID [2] IMPLICIT OPTIONAL, extensions [3] EXPLICIT Extensions OPTIONAL }
bool certificate_names(const std::string& pem, const std::string& name) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  char* raw_type = nullptr;
  char* raw_header = nullptr;
  unsigned char* raw_der = nullptr;
  long der_len = 0;
  bool read = bio && PEM_read_bio(bio.get(), &raw_type, &raw_header, &raw_der, &der_len) == 1;
  openssl_string_ptr type(raw_type), header(raw_header);
  openssl_bytes_ptr der(raw_der);
  if (!read || std::string_view(type.get()) != "CERTIFICATE")
    throw load_error("ValueError", openssl_failure("the answer does not start with a PEM certificate"));
  // Steps into the constructed value at p (its contents become [p, p + len)).
  auto enter = [](const unsigned char*& p, long& len, int want_tag, int want_class) {
    long inner = 0;
    int tag = 0, cls = 0;
    int rc = ASN1_get_object(&p, &inner, &tag, &cls, len);
    if ((rc & 0x80) || !(rc & V_ASN1_CONSTRUCTED) || tag != want_tag || cls != want_class)
      throw load_error("ValueError", "the certificate is not DER");
    len = inner;
  };
  const unsigned char* p = der.get();
  long len = der_len;
  enter(p, len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);  // Certificate
  enter(p, len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);  // TBSCertificate
  const unsigned char* end = p + len;
  while (p < end) {
    long inner = 0;
    int tag = 0, cls = 0;
    int rc = ASN1_get_object(&p, &inner, &tag, &cls, end - p);
    if (rc & 0x80) throw load_error("ValueError", "the certificate is not DER");
    if (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 3) {
      const unsigned char* q = p;
      STACK_OF(X509_EXTENSION)* raw_extensions = d2i_X509_EXTENSIONS(nullptr, &q, inner);
      x509_extension_stack_ptr extensions(raw_extensions);
      if (!extensions || q != p + inner) throw load_error("ValueError", "the certificate's extensions are not DER");
      general_names_ptr sans(static_cast<GENERAL_NAMES*>(
          X509V3_get_d2i(extensions.get(), NID_subject_alt_name, nullptr, nullptr)));
      if (!sans) break;
      for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans.get(), i);
        if (g->type != GEN_DNS) continue;
        std::string_view dns(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                             static_cast<std::size_t>(ASN1_STRING_length(g->d.dNSName)));
        if (dns == name) return true;
      }
      return false;
    }
    p += inner;
  }
  throw load_error("ExtensionNotFound", "the certificate has no subjectAltName");
}

void worker(int index, const options& opt, account_key& key, const std::string& eab_kid,
            const std::string& eab_hmac, const target& to, SSL_CTX* ctx, start_gate& gate, bool& arrived,
            client_result& out) {
  auto name_of = [&](long i) { return fmt::format("w{}-{}-{}{}", index, i, opt.tag, opt.domain_suffix); };
  std::vector<std::string> names_ready, csrs;
  std::optional<connection> conn;
  std::optional<acme_client> client;
  try {
    for (long i = 0; i < opt.prepare; ++i) {
      names_ready.push_back(name_of(i));
      csrs.push_back(make_csr(names_ready.back()));
    }
    conn.emplace(to, ctx, opt.timeout, out.stats);
    auto r = conn->request("GET", path_of(opt.directory));
    if (r.status != 200) throw problem("directory", r.status, r.body);
    client.emplace(json::parse(r.body), *conn, key, out.stats);
    client->new_account(eab_kid, eab_hmac);
  } catch (const std::exception& e) {  // reported by main; this client does no work
    out.fatal = fmt::format("client {} setup: {}", index, e.what());
  }
  gate.arrive();
  arrived = true;
  auto start = gate.wait_open(std::chrono::seconds(660));
  if (!start && out.fatal.empty()) out.fatal = fmt::format("client {}: start barrier: timed out", index);
  if (!out.fatal.empty()) return;

  std::this_thread::sleep_until(*start);
  auto deadline = *start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(opt.seconds));
  std::string new_order_url = client->url("newOrder");
  for (long i = 0; steady::now() < deadline; ++i) {
    std::string name, csr;
    if (i < static_cast<long>(csrs.size())) {
      name = names_ready[i];
      csr = csrs[i];
    } else {
      name = name_of(i);
      csr = make_csr(name);
      ++out.prepared_lazily;
    }
    auto began = steady::now();
    try {
      auto r = client->post("newOrder", new_order_url,
                            json{{"identifiers", json::array({{{"type", "dns"}, {"value", name}}})}}.dump());
      json order = json::parse(r.body);
      const std::string* order_url = r.header("location");
      if (r.status != 201 || !order_url) throw problem("newOrder", r.status, R"({"detail":"not 201 with a Location"})");
      std::string order_location = *order_url;
      std::string authz_url = order.at("authorizations").at(0).get<std::string>();
      json authz = json::parse(client->post("authz", authz_url, std::nullopt).body);
      if (status_of(authz) != "valid") {
        const json* chall = nullptr;
        if (authz.is_object() && authz.contains("challenges") && authz["challenges"].is_array())
          for (const auto& c : authz["challenges"])
            if (c.is_object() && c.value("type", "") == "http-01") {
              chall = &c;
              break;
            }
        if (!chall) throw problem("authz", 200, R"({"detail":"no http-01 challenge"})");
        client->post("challenge", chall->at("url").get<std::string>(), std::string("{}"));
        if (!wait_valid(*client, "authz-poll", authz_url, json{{"status", "pending"}}, deadline, opt.poll,
                        opt.retry_after_cap))
          break;
      }
      if (steady::now() > deadline) break;
      auto f0 = steady::now();
      auto fin = client->post("finalize", order.at("finalize").get<std::string>(), fmt::format(R"({{"csr":"{}"}})", csr));
      auto done_order =
          wait_valid(*client, "order-poll", order_location, json::parse(fin.body), deadline, opt.poll, opt.retry_after_cap);
      if (!done_order) break;
      auto f1 = steady::now();
      auto pem = client->post("certificate", done_order->at("certificate").get<std::string>(), std::nullopt,
                              "application/pem-certificate-chain");
      if (!certificate_names(pem.body, name))
        throw acme_error("certificate", 200, "http-200", fmt::format("certificate does not name {}", name));
      auto done = steady::now();
      if (done <= deadline) {
        ++out.issued;
        out.finalize_ms.push_back(std::chrono::duration<double, std::milli>(f1 - f0).count());
        out.issuance_ms.push_back(std::chrono::duration<double, std::milli>(done - began).count());
        out.issued_at.push_back(done);
      } else {
        ++out.late;
      }
    } catch (const acme_error& e) {
      out.count(e.step + ":" + e.type, e.what());
      sleep_seconds(opt.poll);
    } catch (const std::exception& e) {  // a transport or parse error counts; the loop goes on
      out.count(kind_of(e), e.what());
      client->nonce.reset();
      conn->close();
      sleep_seconds(opt.poll);
    }
  }
}

// --- command line, as the Python's argparse ---

constexpr const char* usage_text =
    "usage: wotca-bench-acme-load [-h] --directory DIRECTORY --cafile CAFILE --eab-kid EAB_KID --eab-hmac EAB_HMAC\n"
    "                             [--clients CLIENTS] [--seconds SECONDS] --http-port HTTP_PORT\n"
    "                             [--domain-suffix DOMAIN_SUFFIX] [--tag TAG] [--prepare PREPARE] [--timeout TIMEOUT]\n"
    "                             [--poll POLL] [--retry-after-cap RETRY_AFTER_CAP] [--tls-name TLS_NAME]\n"
    "                             [--label LABEL] [--json JSON]\n";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "%swotca-bench-acme-load: error: %s\n", usage_text, message.c_str());
  std::exit(2);
}

void split_into(std::vector<std::string>& out, std::string_view v) {
  while (!v.empty()) {
    auto comma = v.find(',');
    if (comma != 0) out.emplace_back(v.substr(0, comma));
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

options parse_args(int argc, char** argv) {
  options o;
  bool have_directory = false, have_cafile = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(usage_text, stdout);
      std::puts("\nC++ ACME load generator for bench/acme; see bench/acme_load.py for the meaning of every option.");
      std::exit(0);
    }
    std::string value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      usage_error(fmt::format("argument {}: expected one argument", arg));
    }
    auto number = [&](auto& into) {
      try {
        std::size_t used = 0;
        if constexpr (std::is_same_v<std::remove_reference_t<decltype(into)>, int>)
          into = std::stoi(value, &used);
        else
          into = std::stod(value, &used);
        if (used != value.size()) throw std::invalid_argument(value);
      } catch (const std::exception&) {
        usage_error(fmt::format("argument {}: invalid value: '{}'", arg, value));
      }
    };
    if (arg == "--directory") {
      o.directory = value;
      have_directory = true;
    } else if (arg == "--cafile") {
      o.cafile = value;
      have_cafile = true;
    } else if (arg == "--eab-kid") {
      split_into(o.eab_kids, value);
    } else if (arg == "--eab-hmac") {
      split_into(o.eab_hmacs, value);
    } else if (arg == "--clients") {
      number(o.clients);
    } else if (arg == "--seconds") {
      number(o.seconds);
    } else if (arg == "--http-port") {
      number(o.http_port);
    } else if (arg == "--domain-suffix") {
      o.domain_suffix = value;
    } else if (arg == "--tag") {
      o.tag = value;
    } else if (arg == "--prepare") {
      number(o.prepare);
    } else if (arg == "--timeout") {
      number(o.timeout);
    } else if (arg == "--poll") {
      number(o.poll);
    } else if (arg == "--retry-after-cap") {
      number(o.retry_after_cap);
    } else if (arg == "--tls-name") {
      o.tls_name = value;
    } else if (arg == "--label") {
      o.label = value;
    } else if (arg == "--json") {
      o.json_path = value;
    } else {
      usage_error(fmt::format("unrecognized arguments: {}", arg));
    }
  }
  if (!have_directory || !have_cafile || o.eab_kids.empty() || o.eab_hmacs.empty() || o.http_port < 0)
    usage_error("the following arguments are required: --directory, --cafile, --eab-kid, --eab-hmac, --http-port");
  if (o.clients < 1 || o.seconds <= 0 || o.timeout <= 0 || o.prepare < 0 || o.http_port > 65535)
    usage_error("--clients, --seconds and --timeout must be positive, --prepare not negative, --http-port a port");
  if (o.eab_kids.size() != o.eab_hmacs.size() ||
      (o.eab_kids.size() != 1 && o.eab_kids.size() != static_cast<std::size_t>(o.clients)))
    usage_error(fmt::format("give 1 or {} EAB keys (--eab-kid and --eab-hmac alike); got {} and {}", o.clients,
                            o.eab_kids.size(), o.eab_hmacs.size()));
  if (o.eab_kids.size() == 1) {
    o.eab_kids.assign(static_cast<std::size_t>(o.clients), o.eab_kids[0]);
    o.eab_hmacs.assign(static_cast<std::size_t>(o.clients), o.eab_hmacs[0]);
  }
  if (o.tag.empty()) {
    std::uint8_t random[3];
    if (RAND_bytes(random, sizeof random) != 1) usage_error("no random bytes for --tag");
    o.tag = to_hex(random);
  }
  return o;
}

// https://host[:port]/... -> host (lower-cased, brackets stripped) and port.
target parse_directory(const options& o) {
  std::string_view url = o.directory;
  if (!url.starts_with("https://")) usage_error("--directory must be an https URL");
  url.remove_prefix(8);
  std::string_view authority = url.substr(0, url.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  target t;
  std::string_view port;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) usage_error("--directory must be an https URL");
    t.host = authority.substr(1, close - 1);
    if (authority.substr(close + 1).starts_with(':')) port = authority.substr(close + 2);
  } else {
    auto colon = authority.find(':');
    t.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  t.host = ascii_lower(t.host);
  if (t.host.empty()) usage_error("--directory must be an https URL");
  if (!port.empty()) {
    t.port = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || t.port > 65535) usage_error("--directory has a bad port");
      t.port = t.port * 10 + (c - '0');
    }
  }
  t.authority = t.host.find(':') == std::string::npos ? fmt::format("{}:{}", t.host, t.port)
                                                      : fmt::format("[{}]:{}", t.host, t.port);
  t.tls_name = o.tls_name.empty() ? t.host : o.tls_name;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(t.host.c_str(), std::to_string(t.port).c_str(), &hints, &found); rc != 0) {
    std::fprintf(stderr, "acme_load: cannot resolve %s: %s\n", t.host.c_str(), gai_strerror(rc));
    std::exit(1);
  }
  for (auto* a = found; a; a = a->ai_next) {
    sockaddr_storage s{};
    std::memcpy(&s, a->ai_addr, a->ai_addrlen);
    t.addresses.push_back(s);
    t.address_lengths.push_back(a->ai_addrlen);
  }
  freeaddrinfo(found);
  return t;
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Python's round(x, digits) printed by str(): "12.0", "nan".
double round_to(double x, int digits) {
  double scale = std::pow(10.0, digits);
  return std::round(x * scale) / scale;
}
std::string py_float(double x) {
  if (std::isnan(x)) return "nan";
  std::string s = fmt::format("{}", x);
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";
  return s;
}

int run(int argc, char** argv) {
  options opt = parse_args(argc, argv);
  target to = parse_directory(opt);

  ssl_ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
      SSL_CTX_load_verify_locations(ctx.get(), opt.cafile.c_str(), nullptr) != 1) {
    std::fprintf(stderr, "acme_load: %s\n", openssl_failure(fmt::format("cannot load {}", opt.cafile)).c_str());
    return 1;
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  // One read() per TLS record instead of two (header, then body).
  SSL_CTX_set_read_ahead(ctx.get(), 1);

  std::vector<account_key> keys(static_cast<std::size_t>(opt.clients));
  std::vector<std::string> thumbprints;
  for (const auto& k : keys) thumbprints.push_back(k.thumbprint());
  std::optional<http01_responder> responder;
  try {
    responder.emplace(opt.http_port, thumbprints);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "acme_load: %s\n", e.what());
    return 1;
  }

  start_gate gate;
  std::vector<client_result> outs(static_cast<std::size_t>(opt.clients));
  std::vector<std::thread> threads;
  auto t_setup = steady::now();
  for (int i = 0; i < opt.clients; ++i) {
    auto n = static_cast<std::size_t>(i);
    threads.emplace_back([&, i, n] {
      bool arrived = false;
      try {
        worker(i, opt, keys[n], opt.eab_kids[n], opt.eab_hmacs[n], to, ctx.get(), gate, arrived, outs[n]);
      } catch (const std::exception& e) {
        outs[n].fatal = fmt::format("client {}: {}", i, e.what());
      } catch (...) {
        outs[n].fatal = fmt::format("client {}: an unknown exception", i);
      }
      // A client that died before the barrier must not hold the others.
      if (!arrived) gate.arrive();
    });
  }
  // Every client has its keys, CSRs and account: the clock starts.
  if (!gate.wait_ready(opt.clients, std::chrono::seconds(600)))
    std::fprintf(stderr, "acme_load: not every client was ready after 600 s; starting anyway\n");
  double setup_s = seconds_since(t_setup);
  auto start = steady::now() + std::chrono::milliseconds(20);
  double cpu0 = process_cpu_seconds();
  double responder0 = responder->cpu_seconds();
  gate.open(start);
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(steady::now() - start).count();
  double responder_cpu = responder->cpu_seconds() - responder0;
  long http01_ok = responder->answered, http01_bad = responder->refused;
  responder->stop();
  double cpu1 = process_cpu_seconds();

  std::vector<std::string> fatal;
  long issued = 0, late = 0, lazily = 0;
  std::vector<double> fin, iss;
  std::map<std::string, long> errors;
  std::map<std::string, std::string> examples;
  client_stats stats;
  for (const auto& o : outs) {
    if (!o.fatal.empty()) fatal.push_back(o.fatal);
    issued += o.issued;
    late += o.late;
    lazily += o.prepared_lazily;
    fin.insert(fin.end(), o.finalize_ms.begin(), o.finalize_ms.end());
    iss.insert(iss.end(), o.issuance_ms.begin(), o.issuance_ms.end());
    for (const auto& [k, v] : o.errors) errors[k] += v;
    for (const auto& [k, v] : o.examples) examples.emplace(k, v);
    stats.requests += o.stats.requests;
    stats.connections += o.stats.connections;
    stats.badnonce_retries += o.stats.badnonce_retries;
    stats.timeouts += o.stats.timeouts;
    if (o.stats.first_unanswered && (!stats.first_unanswered || *o.stats.first_unanswered < *stats.first_unanswered))
      stats.first_unanswered = o.stats.first_unanswered;
    for (const auto& [k, t] : o.stats.steps) {
      auto& sum = stats.step(k);
      sum.requests += t.requests;
      sum.ms += t.ms;
    }
  }
  long error_count = 0;
  for (const auto& [k, v] : errors) error_count += v;
  std::string label = opt.label.empty() ? opt.directory : opt.label;
  double generator_cpu = round_to(cpu1 - cpu0, 2);
  // The timed seconds in which the server answered every request: all of
  // them, or those before the first request that never got an answer was
  // sent; and the issuances completed within them.
  double answering = opt.seconds;
  long issued_answering = issued;
  if (stats.first_unanswered) {
    answering = std::clamp(std::chrono::duration<double>(*stats.first_unanswered - start).count(), 0.0, opt.seconds);
    issued_answering = 0;
    for (const auto& o : outs)
      issued_answering += std::count_if(o.issued_at.begin(), o.issued_at.end(),
                                        [&](steady::time_point t) { return t <= *stats.first_unanswered; });
  }
  double responder_cpu_r = round_to(responder_cpu, 2);

  nlohmann::ordered_json steps = nlohmann::ordered_json::object();
  for (const auto& [k, t] : stats.steps)
    steps[k] = {{"requests", t.requests}, {"mean_ms", round_to(t.ms / static_cast<double>(t.requests), 2)}};
  nlohmann::ordered_json figures = {
      {"label", label},
      {"clients", opt.clients},
      {"seconds", opt.seconds},
      {"issued", issued},
      {"per_second", round_to(static_cast<double>(issued) / opt.seconds, 2)},
      {"answering_seconds", round_to(answering, 2)},
      {"answering_per_second", round_to(answering > 0 ? static_cast<double>(issued_answering) / answering : 0.0, 2)},
      {"finalize_p50_ms", round_to(percentile(fin, 50), 1)},
      {"finalize_p99_ms", round_to(percentile(fin, 99), 1)},
      {"issuance_p50_ms", round_to(percentile(iss, 50), 1)},
      {"issuance_p99_ms", round_to(percentile(iss, 99), 1)},
      {"errors", error_count},
      {"badnonce_retries", stats.badnonce_retries},
      {"timeouts", stats.timeouts},
      {"requests", stats.requests},
      {"connections", stats.connections},
      {"http01_served", http01_ok},
      {"http01_refused", http01_bad},
      {"late", late},
      {"csrs_made_during_run", lazily},
      {"setup_seconds", round_to(setup_s, 2)},
      // the whole process (clients and the http-01 responder) during the timed part
      {"generator_cpu_seconds", generator_cpu},
      {"responder_cpu_seconds", responder_cpu_r},
      {"steps", steps},
      {"clients_reported", outs.size()},
      {"fatal", fatal},
      {"error_kinds", errors},
      {"error_examples", examples},
  };

  fmt::print("# {}: {} clients, {:g} s timed (clients ready after {:.1f} s; {:.1f} s until the last one reported)\n",
             label, opt.clients, opt.seconds, setup_s, elapsed);
  for (const auto& f : fatal) fmt::print("FATAL {}\n", f);
  for (const auto& [k, v] : errors) fmt::print("error {}: {}  e.g. {}\n", k, v, examples[k]);
  fmt::print(
      "requests {} on {} connections, badNonce retries {}, http-01 answers {} (refused {}), issuances completed after "
      "the deadline {}, CSRs made during the run {}; CPU seconds: clients {:.2f}, http-01 responder {:.2f}\n",
      stats.requests, stats.connections, stats.badnonce_retries, http01_ok, http01_bad, late, lazily,
      generator_cpu - responder_cpu_r, responder_cpu_r);
  if (issued) {
    std::string line;
    for (const auto& [k, t] : stats.steps) {
      if (k == "newAccount") continue;
      if (!line.empty()) line += ", ";
      line += fmt::format("{} {:.2f} x {:.1f} ms", k, static_cast<double>(t.requests) / static_cast<double>(issued),
                          t.ms / static_cast<double>(t.requests));
    }
    fmt::print("requests per issuance and mean answer time by step: {}\n", line);
  }
  if (!opt.json_path.empty()) {
    std::ofstream file(opt.json_path);
    file << figures.dump(1) << '\n';
    if (!file) std::fprintf(stderr, "acme_load: cannot write %s\n", opt.json_path.c_str());
  }
  std::string last;
  for (const char* k : {"issued", "seconds", "per_second", "answering_seconds", "answering_per_second", "finalize_p50_ms", "finalize_p99_ms", "issuance_p50_ms",
                        "issuance_p99_ms", "errors", "timeouts", "badnonce_retries", "requests",
                        "generator_cpu_seconds"}) {
    const auto& v = figures[k];
    if (!last.empty()) last += ' ';
    last += fmt::format("{}={}", k, v.is_number_float() ? py_float(v.get<double>()) : v.dump());
  }
  fmt::print("{}\n", last);
  std::fflush(stdout);
  return fatal.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // A server closing a connection must not kill us with SIGPIPE on a write.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "acme_load: %s\n", e.what());
    return 1;
  }
}
