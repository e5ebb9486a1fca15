#include "acme/service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <map>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "acme/jose.h"
#include "acme/nonce.h"
#include "acme/order_logic.h"
#include "acme/problem.h"
#include "core/ca/material.h"
#include "core/pki/key.h"
#include "core/store/sqlite_store.h"
#include "core/util/encoding.h"

namespace wotca::acme {

namespace {

using json = nlohmann::json;
using outcome = expected<http_exchange_response, problem>;

constexpr std::size_t nonce_key_bytes = 32;
constexpr auto sweep_interval = std::chrono::seconds(60);
constexpr std::size_t max_contacts = 10;
constexpr std::size_t orders_per_page = 100;  // RFC 8555 7.1.2.1: more via Link rel="next"
constexpr int ari_retry_after_seconds = 21600;

unexpected<problem> refuse(problem_type t, std::string detail, unsigned status = 0) {
  return unexpected<problem>(problem(t, std::move(detail), status));
}

problem store_problem(const error& e) {
  problem p(problem_type::server_internal, "the CA could not complete the request: " + describe(e));
  if (e.code == errc::busy) {
    p.status = 503;
    p.headers.emplace_back("Retry-After", "1");
  }
  return p;
}

problem from_jose(const jose_error& e) {
  switch (e.problem) {
    case jose_problem::malformed: return problem(problem_type::malformed, e.detail);
    case jose_problem::bad_signature_algorithm: {
      problem p(problem_type::bad_signature_algorithm, e.detail);
      p.extra["algorithms"] = json::array({"ES256", "ES384", "RS256", "EdDSA"});
      return p;
    }
    case jose_problem::bad_public_key: return problem(problem_type::bad_public_key, e.detail);
    case jose_problem::unauthorized: return problem(problem_type::unauthorized, e.detail);
    case jose_problem::bad_nonce: return problem(problem_type::bad_nonce, e.detail);
  }
  return problem(problem_type::malformed, e.detail);
}

std::string trimmed(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string_view base_of(std::string_view identifier) {
  return starts_with(identifier, "*.") ? identifier.substr(2) : identifier;
}

verification_method method_of(std::string_view type) {
  if (type == "dns-01") return verification_method::acme_dns01;
  if (type == "tls-alpn-01") return verification_method::acme_tls_alpn01;
  return verification_method::acme_http01;
}

challenge_type challenge_type_of(std::string_view type) {
  if (type == "dns-01") return challenge_type::dns01;
  if (type == "tls-alpn-01") return challenge_type::tls_alpn01;
  return challenge_type::http01;
}

// --- the nonce key: 32 random bytes in keys/acme-nonce.key, mode 0600 ---------

result<std::array<std::uint8_t, nonce_key_bytes>> read_nonce_key(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fail(errc::io, path.string(), std::string("cannot open the nonce key: ") + std::strerror(errno));
  struct stat st {};
  std::array<std::uint8_t, nonce_key_bytes> key{};
  ssize_t got = -1;
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) == 0 && st.st_size == static_cast<off_t>(nonce_key_bytes)) {
    got = ::read(fd, key.data(), key.size());
  }
  const bool private_mode = (st.st_mode & 077) == 0;
  ::close(fd);
  if (!private_mode) {
    return fail(errc::config, path.string(), "the nonce key may be read by group or others; chmod 600 it");
  }
  if (got != static_cast<ssize_t>(nonce_key_bytes)) {
    return fail(errc::io, path.string(), "the nonce key must be exactly 32 bytes; remove it to have a new one made");
  }
  return key;
}

// Made at the first start: written to a private temporary file, synced, then
// linked to its name, which fails if another replica was quicker; then the
// key on disk, whoever wrote it, is the one used.
result<std::array<std::uint8_t, nonce_key_bytes>> load_or_make_nonce_key(const std::filesystem::path& path,
                                                                        random_source& rng) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return read_nonce_key(path);
  std::filesystem::create_directories(path.parent_path(), ec);
  std::array<std::uint8_t, nonce_key_bytes> key{};
  rng.fill(key);
  std::uint8_t suffix_raw[6];
  rng.fill(suffix_raw);
  const std::filesystem::path temp = path.string() + ".tmp-" + to_hex(suffix_raw);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return fail(errc::io, path.string(), std::string("cannot create the nonce key: ") + std::strerror(errno));
  }
  const bool written = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) {
    ::unlink(temp.c_str());
    return fail(errc::io, path.string(), "cannot write the nonce key (disk full?)");
  }
  const int linked = ::link(temp.c_str(), path.c_str());
  const int link_errno = errno;
  ::unlink(temp.c_str());
  if (linked != 0 && link_errno != EEXIST) {
    return fail(errc::io, path.string(), std::string("cannot store the nonce key: ") + std::strerror(link_errno));
  }
  if (const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
  return read_nonce_key(path);
}

// --- metrics ---------------------------------------------------------------------

class counters {
 public:
  void add(const std::string& series, std::uint64_t n = 1) {
    std::lock_guard lock(mutex_);
    values_[series] += n;
  }
  void observe_finalize(double seconds) {
    std::lock_guard lock(mutex_);
    finalize_sum_ += seconds;
    ++finalize_count_;
  }
  [[nodiscard]] std::string text() const {
    std::lock_guard lock(mutex_);
    std::string out;
    std::string family;
    for (const auto& [series, value] : values_) {
      std::string name = series.substr(0, series.find('{'));
      if (name != family) {
        family = name;
        out += "# TYPE " + name + " counter\n";
      }
      out += series + " " + std::to_string(value) + "\n";
    }
    out += "# TYPE wotca_acme_finalize_seconds summary\n";
    out += fmt::format("wotca_acme_finalize_seconds_sum {:.6f}\n", finalize_sum_);
    out += fmt::format("wotca_acme_finalize_seconds_count {}\n", finalize_count_);
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> values_;
  double finalize_sum_ = 0;
  std::uint64_t finalize_count_ = 0;
};

// --- a POST after its JWS was checked -------------------------------------------

struct signed_request {
  jws j;
  std::optional<acme_account> account;  // signed with "kid"
  evp_pkey_ptr key;                     // the key that verified it
  json payload;                         // an object, or null for POST-as-GET
  [[nodiscard]] bool post_as_get() const { return payload.is_null(); }
};

struct validation_start {
  validation_job job;
};

// --- store connections, one per request in flight ------------------------------------

// A store connection and the issuing service over it, used by one request
// (or one validation result) at a time.
struct worker {
  // The writes of all workers take turns and share their disk flushes in
  // the store (sqlite_store::write, group_commit.h).
  std::unique_ptr<sqlite_store> own_db;  // null for the store given to make()
  store* db = nullptr;                   // own_db, or the store given to make()
  std::unique_ptr<certificate_authority> ca;
};

// Workers are leased per request: an idle one if there is one, else a new
// connection to cfg.database while fewer than `most` exist, else the next
// one given back. With `most` 1 (and so for a private ":memory:" database)
// the store given to make() is the only worker; otherwise the service's
// connections are its own, and the given store (which its owner may use
// meanwhile) serves only if no connection could be opened.
class worker_pool {
 public:
  using opener = std::function<result<std::unique_ptr<sqlite_store>>()>;
  using authority_maker = std::function<std::unique_ptr<certificate_authority>(store&)>;

  worker_pool(store& given, std::size_t most, opener open, authority_maker make_ca)
      : most_(std::max<std::size_t>(1, most)), given_(given), open_(std::move(open)), make_ca_(std::move(make_ca)) {
    if (most_ == 1) add_given();
  }

  class lease {
   public:
    lease(worker_pool& pool, worker* w) : pool_(&pool), w_(w) {}
    lease(lease&& o) noexcept : pool_(o.pool_), w_(std::exchange(o.w_, nullptr)) {}
    lease& operator=(lease&&) = delete;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() {
      if (w_ != nullptr) pool_->give_back(w_);
    }
    worker& operator*() const { return *w_; }

   private:
    worker_pool* pool_;
    worker* w_;
  };

  lease take() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (!idle_.empty()) {
        worker* w = idle_.back();
        idle_.pop_back();
        return lease(*this, w);
      }
      if (open_ && all_.size() + opening_ < most_) {
        ++opening_;
        const opener open = open_;
        lock.unlock();
        auto w = open_worker(open);
        lock.lock();
        --opening_;
        if (w) {
          worker* raw = w.get();
          all_.push_back(std::move(w));
          return lease(*this, raw);
        }
        open_ = nullptr;  // e.g. out of file descriptors: the workers that exist serve
        ++open_failures_;
        if (all_.empty() && opening_ == 0) add_given();
        continue;
      }
      freed_.wait(lock);
    }
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mutex_);
    return all_.size();
  }
  [[nodiscard]] std::size_t open_failures() const {
    std::lock_guard lock(mutex_);
    return open_failures_;
  }

 private:
  void add_given() {
    auto w = std::make_unique<worker>();
    w->db = &given_;
    w->ca = make_ca_(*w->db);
    idle_.push_back(w.get());
    all_.push_back(std::move(w));
  }
  std::unique_ptr<worker> open_worker(const opener& open) {
    auto db = open();
    if (!db) return nullptr;
    auto w = std::make_unique<worker>();
    w->own_db = std::move(*db);
    w->db = w->own_db.get();
    w->ca = make_ca_(*w->db);
    return w;
  }
  void give_back(worker* w) {
    {
      std::lock_guard lock(mutex_);
      idle_.push_back(w);
    }
    freed_.notify_one();
  }

  const std::size_t most_;
  store& given_;
  opener open_;  // guarded by mutex_; null when no more connections are opened
  authority_maker make_ca_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<worker>> all_;
  std::vector<worker*> idle_;
  std::size_t opening_ = 0;
  std::size_t open_failures_ = 0;
};

// What one request (or one validation result) holds while it runs: its
// worker, taken at the first store access, and the nonce its JWS carried.
struct request_context {
  std::optional<worker_pool::lease> lease;
  std::string nonce;      // verified, not yet known to be unused; empty for unsigned requests
  bool redeemed = false;  // recorded in a committed transaction
  bool replayed = false;  // the store had it already
  // Lost validations this request's sweep claimed, in a committed
  // transaction: to be started once the request is answered.
  std::vector<validation_job> resumed;
};

class service_impl final : public service {
 public:
  service_impl(const config& cfg, std::string base_url, store& db, const ca_material& material,
               challenge_validator& validator, const clock& clk, random_source& rng,
               std::array<std::uint8_t, nonce_key_bytes> nonce_key, std::size_t connections)
      : cfg_(cfg), base_(std::move(base_url)), material_(material), validator_(validator), clock_(clk), rng_(rng),
        nonces_(nonce_key, std::chrono::seconds(cfg.acme.nonce_seconds)),
        pool_(db, cfg.database.string() == ":memory:" ? 1 : connections,
              [this]() { return sqlite_store::open(cfg_.database, open_mode::existing); },
              [this](store& s) { return std::make_unique<certificate_authority>(cfg_, s, material_, clock_, rng_); }) {
    // base_ is "https://host[:port][/prefix]": origin_ + prefix_.
    const auto scheme = base_.find("://");
    const auto path = scheme == std::string::npos ? std::string::npos : base_.find('/', scheme + 3);
    origin_ = path == std::string::npos ? base_ : base_.substr(0, path);
    prefix_ = path == std::string::npos ? std::string() : base_.substr(path);
    class1_pem_ = to_pem(*material_.class1.cert);
    class3_pem_ = to_pem(*material_.class3.cert);
    root_pem_ = to_pem(*material_.root.cert);
    limits_.max_body_bytes = static_cast<std::size_t>(cfg.acme.max_request_bytes);
    limits_.max_payload_bytes = std::min<std::size_t>(limits_.max_payload_bytes, limits_.max_body_bytes);
  }

  http_exchange_response handle(const http_exchange_request& req) override {
    std::vector<validation_start> starts;
    std::vector<validation_job> resumed;
    auto resp = answer(req, starts, resumed);
    for (auto& s : starts) start_validation(std::move(s.job), nullptr);
    for (auto& j : resumed) start_validation(std::move(j), nullptr);
    return resp;
  }

  void handle_async(const http_exchange_request& req, exchange_responder respond, const exchange_timer& after) override {
    std::vector<validation_start> starts;
    std::vector<validation_job> resumed;
    auto resp = answer(req, starts, resumed);
    for (auto& j : resumed) start_validation(std::move(j), nullptr);
    const auto wait = std::chrono::milliseconds(cfg_.acme.validation.answer_wait_ms);
    // Only a challenge POST starts a validation, and it starts one.
    if (starts.size() != 1 || wait.count() <= 0 || !after) {
      respond(std::move(resp));
      for (auto& s : starts) start_validation(std::move(s.job), nullptr);
      return;
    }
    // Whichever comes first, the validation's end or the deadline, answers;
    // the other finds `answered` set. The deadline's closure holds no
    // reference to the service, which may be gone (SIGHUP) when it fires.
    struct waiting {
      std::atomic<bool> answered{false};
      exchange_responder respond;
      http_exchange_response processing;
    };
    auto w = std::make_shared<waiting>();
    w->respond = std::move(respond);
    w->processing = std::move(resp);
    after(wait, [w] {
      if (!w->answered.exchange(true)) w->respond(std::move(w->processing));
    });
    start_validation(std::move(starts.front().job), [this, w](std::int64_t challenge_id) {
      if (w->answered.exchange(true)) return;
      std::optional<http_exchange_response> now_answer;
      try {
        now_answer = challenge_answer(challenge_id);
      } catch (const std::exception&) {
        // The "processing" answer is still true.
      }
      w->respond(now_answer ? std::move(*now_answer) : std::move(w->processing));
    });
  }

  void decorate_error(http_exchange_response& resp) override { finish(resp); }

 private:
  // The answer to `req`, the validations it starts and the lost ones its
  // sweep claimed (neither started yet).
  http_exchange_response answer(const http_exchange_request& req, std::vector<validation_start>& starts,
                                std::vector<validation_job>& resumed) {
    http_exchange_response resp;
    std::string resource = "unknown";
    {
      // No lock: each request has its own store connection (taken at its
      // first store access); what two requests race for is decided inside
      // the store's write transactions.
      request_context ctx;
      context_scope scope(ctx);
      try {
        auto out = dispatch(req, starts, resource);
        resp = out ? std::move(*out) : to_response(out.error());
        if (!ctx.nonce.empty() && !ctx.redeemed && !ctx.replayed) {
          if (auto r = redeem_alone(); !r && !ctx.replayed) {
            starts.clear();
            resp = to_response(store_problem(r.error()));
          }
        }
      } catch (const std::exception& e) {
        starts.clear();
        resp = to_response(problem(problem_type::server_internal,
                                   std::string("the CA failed while handling the request: ") + e.what()));
      }
      if (ctx.replayed) {
        starts.clear();
        resp = to_response(
            problem(problem_type::bad_nonce, "protected.nonce was used already; use the Replay-Nonce of this response"));
      }
      resumed = std::move(ctx.resumed);  // committed, whatever the answer
    }
    finish(resp);
    if (req.method == "HEAD") resp.body.clear();
    metrics_.add(fmt::format("wotca_acme_requests_total{{resource=\"{}\",status=\"{}\"}}", resource, resp.status));
    return resp;
  }

  // The headers every answer carries: a fresh nonce and the directory.
  void finish(http_exchange_response& resp) {
    resp.set("Replay-Nonce", nonces_.mint(clock_.now(), rng_));
    resp.set("Link", "<" + base_ + "/directory>;rel=\"index\"");
  }

  // The answer to a challenge POST once its validation has ended: the
  // challenge as it is now, as a POST-as-GET of it would show it.
  std::optional<http_exchange_response> challenge_answer(std::int64_t challenge_id) {
    request_context ctx;
    context_scope scope(ctx);
    std::optional<acme_challenge> c;
    std::optional<acme_authz> a;
    auto r = db().read([&](transaction& tx) -> result<void> {
      auto found = tx.acme().find_challenge_by_id(challenge_id);
      if (!found) return unexpected(found.error());
      c = std::move(*found);
      if (!c) return {};
      auto az = tx.acme().find_authz_by_id(c->authz);
      if (!az) return unexpected(az.error());
      a = std::move(*az);
      return {};
    });
    if (!r || !c || !a) return std::nullopt;
    auto out = challenge_response(*c, *a);
    finish(out);
    metrics_.add("wotca_acme_challenge_answers_with_result_total");
    return out;
  }

 public:
  result<void> check_store() override {
    request_context ctx;
    context_scope scope(ctx);
    return db().read([](transaction& tx) -> result<void> {
      auto head = tx.changes().head();
      if (!head) return unexpected(head.error());
      return {};
    });
  }

  std::string metrics() const override {
    return metrics_.text() + "# TYPE wotca_acme_store_connections gauge\n" +
           fmt::format("wotca_acme_store_connections {}\n", pool_.size()) +
           "# TYPE wotca_acme_store_connection_failures_total counter\n" +
           fmt::format("wotca_acme_store_connection_failures_total {}\n", pool_.open_failures());
  }

 private:
  // --- the request's store connection and nonce --------------------------------------

  // Makes `ctx` the current request of this thread for its lifetime (a
  // validation result completed inside a request gets its own).
  class context_scope {
   public:
    explicit context_scope(request_context& ctx) : previous_(current_) { current_ = &ctx; }
    context_scope(const context_scope&) = delete;
    context_scope& operator=(const context_scope&) = delete;
    ~context_scope() { current_ = previous_; }

   private:
    request_context* previous_;
  };

  worker& current_worker() {
    if (!current_->lease) current_->lease.emplace(pool_.take());
    return **current_->lease;
  }
  store& db() { return *current_worker().db; }

  // `out` = what `fn` (one store call) returns, in a read transaction of the
  // request's connection; a store error comes back as a problem.
  template <class T, class Fn>
  expected<void, problem> read_into(T& out, Fn&& fn) {
    auto r = db().read([&](transaction& tx) -> result<void> {
      auto v = fn(tx);
      if (!v) return unexpected(v.error());
      out = std::move(*v);
      return {};
    });
    if (!r) return unexpected<problem>(store_problem(r.error()));
    return {};
  }
  certificate_authority& ca() { return *current_worker().ca; }

  // How long a challenge may be processing before its validation counts as
  // lost (its daemon died without releasing it): four times the longest a
  // validation takes with its retries, and at least 5 minutes.
  [[nodiscard]] std::chrono::seconds stale_validation_after() const {
    const auto& v = cfg_.acme.validation;
    const std::int64_t attempts = std::max(1, v.attempts);
    const std::chrono::milliseconds longest(attempts * v.timeout_ms + (attempts - 1) * v.retry_ms);
    return std::max<std::chrono::seconds>(std::chrono::minutes(5), std::chrono::ceil<std::chrono::seconds>(4 * longest));
  }

  // Records the request's nonce as used inside `tx` (and, once a minute,
  // forgets the nonces that are stale anyway, expires old objects and
  // claims the challenges whose validation was lost, adding their jobs to
  // `resumed`, to run once `tx` commits).
  // errc::conflict, with ctx.replayed set, if any replica redeemed it first.
  result<void> redeem_in(transaction& tx, std::vector<validation_job>& resumed) {
    request_context& ctx = *current_;
    const sys_seconds now = clock_.now();
    std::int64_t last = last_sweep_.load();
    if (now.time_since_epoch().count() - last >= sweep_interval.count() &&
        last_sweep_.compare_exchange_strong(last, now.time_since_epoch().count())) {
      if (auto p = tx.acme().prune_nonces(now); !p) return unexpected(p.error());
      if (auto e = tx.acme().expire(now); !e) return unexpected(e.error());
      auto lost = tx.acme().claim_stale_validations(now - stale_validation_after(), now);
      if (!lost) return unexpected(lost.error());
      for (const auto& c : *lost) {
        auto job = job_of(tx, c);
        if (!job) return unexpected(job.error());
        resumed.push_back(std::move(*job));
      }
    }
    auto r = tx.acme().redeem_nonce(ctx.nonce, now + nonces_.lifetime());
    if (!r && r.error().code == errc::conflict) ctx.replayed = true;
    return r;
  }

  // One write transaction of the current request. The first one redeems the
  // request's nonce in the same commit as the request's own state change,
  // so a signed request costs one disk flush, not two; if it is rolled back
  // the nonce stays to be redeemed (by a later write or redeem_alone()).
  //
  // Durability: a change that stands on its own returns only once it is on
  // disk (full): an account and its EAB binding, an account update, key
  // change or deactivation, an issued certificate, a revocation. The steps
  // of an order before its certificate (the new order, a challenge moving
  // to processing, a validation result) are relaxed: committed to the log,
  // which a crash of the daemon keeps, and on disk with the next full commit
  // of any writer. A power loss may undo them; the client then finds the
  // order gone or still pending and starts again. No certificate rests on an
  // undone step: a certificate is recorded by a full commit, whose flush of
  // the log covers every commit before it.
  result<void> write(const std::function<result<void>(transaction&)>& fn, durability d = durability::full) {
    request_context& ctx = *current_;
    const bool redeem = !ctx.nonce.empty() && !ctx.redeemed && !ctx.replayed;
    std::vector<validation_job> resumed;
    auto r = db().write(
        [&](transaction& tx) -> result<void> {
          resumed.clear();
          if (redeem) {
            if (auto n = redeem_in(tx, resumed); !n) return n;
          }
          return fn(tx);
        },
        d);
    if (r && redeem) ctx.redeemed = true;
    if (r) std::move(resumed.begin(), resumed.end(), std::back_inserter(ctx.resumed));
    return r;
  }

  // The nonce alone, for a request that wrote nothing (POST-as-GET, a
  // refusal) or before a change the service does not write itself
  // (revocation). Relaxed durability: the commit does not wait for the
  // disk. A crash of the program keeps it (it is in the WAL, which SQLite
  // reads back); only a power loss before the next full commit of any
  // connection (whose sync covers the whole WAL) or checkpoint can undo
  // it, and then the worst case is that one nonce is accepted twice within
  // its lifetime (cfg.acme.nonce_seconds) for a request that changed
  // nothing: every state change redeems its nonce in its own full commit.
  result<void> redeem_alone() {
    request_context& ctx = *current_;
    std::vector<validation_job> resumed;
    auto r = db().write(
        [&](transaction& tx) {
          resumed.clear();
          return redeem_in(tx, resumed);
        },
        durability::relaxed);
    if (r) {
      ctx.redeemed = true;
      std::move(resumed.begin(), resumed.end(), std::back_inserter(ctx.resumed));
    }
    return r;
  }

  // --- URLs ---------------------------------------------------------------------
  [[nodiscard]] std::string url(std::string_view path) const { return base_ + std::string(path); }
  [[nodiscard]] std::string account_url(std::int64_t id) const { return url("/acme/acct/" + std::to_string(id)); }
  [[nodiscard]] std::string order_url(const std::string& id) const { return url("/acme/order/" + id); }
  [[nodiscard]] std::string authz_url(const std::string& id) const { return url("/acme/authz/" + id); }
  [[nodiscard]] std::string challenge_url(const std::string& id) const { return url("/acme/chall/" + id); }
  [[nodiscard]] std::string cert_url(const std::string& serial) const { return url("/acme/cert/" + serial); }

  // --- routing --------------------------------------------------------------------

  outcome dispatch(const http_exchange_request& req, std::vector<validation_start>& starts, std::string& resource) {
    std::string_view path = req.target;
    if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    if (!starts_with(path, prefix_)) return refuse(problem_type::malformed, "no such resource", 404);
    path.remove_prefix(prefix_.size());

    if (req.method == "GET" || req.method == "HEAD") {
      if (path == "/directory") {
        resource = "directory";
        return directory();
      }
      if (path == "/acme/new-nonce") {
        resource = "new-nonce";
        http_exchange_response r;
        r.status = req.method == "HEAD" ? 200 : 204;
        r.set("Cache-Control", "no-store");
        return r;
      }
      if (starts_with(path, "/acme/renewal-info/")) {
        resource = "renewal-info";
        return renewal_info(path.substr(std::string_view("/acme/renewal-info/").size()));
      }
      if (starts_with(path, "/acme/issuer/")) {
        resource = "issuer";
        return issuer_certificate(path.substr(std::string_view("/acme/issuer/").size()));
      }
      problem p(problem_type::malformed, "this resource is read with a POST-as-GET request (RFC 8555 6.3)", 405);
      p.headers.emplace_back("Allow", "POST");
      return unexpected<problem>(std::move(p));
    }
    if (req.method != "POST") {
      problem p(problem_type::malformed, "method " + req.method.substr(0, 16) + " is not allowed", 405);
      p.headers.emplace_back("Allow", "GET, HEAD, POST");
      return unexpected<problem>(std::move(p));
    }

    resource = resource_of(path);
    if (resource == "unknown") return refuse(problem_type::malformed, "no such resource", 404);
    auto sr = authenticate(req, path);
    if (!sr) return unexpected<problem>(std::move(sr.error()));

    if (path == "/acme/new-account") return new_account(*sr);
    if (path == "/acme/new-order") return new_order(*sr);
    if (path == "/acme/revoke-cert") return revoke_cert(*sr);
    if (path == "/acme/key-change") return key_change(*sr, req);
    std::string_view rest;
    if (starts_with(path, "/acme/acct/")) {
      rest = path.substr(std::string_view("/acme/acct/").size());
      auto slash = rest.find('/');
      if (slash != std::string_view::npos) {
        if (rest.substr(slash) != "/orders") return refuse(problem_type::malformed, "no such resource", 404);
        const auto q = std::string_view(req.target).find('?');
        return orders_list(*sr, rest.substr(0, slash),
                           q == std::string_view::npos ? std::string_view() : std::string_view(req.target).substr(q + 1));
      }
      return account(*sr, rest);
    }
    if (starts_with(path, "/acme/order/")) {
      rest = path.substr(std::string_view("/acme/order/").size());
      auto slash = rest.find('/');
      if (slash != std::string_view::npos) {
        if (rest.substr(slash) != "/finalize") return refuse(problem_type::malformed, "no such resource", 404);
        return finalize(*sr, rest.substr(0, slash));
      }
      return order(*sr, rest);
    }
    if (starts_with(path, "/acme/authz/")) return authz(*sr, path.substr(std::string_view("/acme/authz/").size()));
    if (starts_with(path, "/acme/chall/")) {
      return challenge(*sr, path.substr(std::string_view("/acme/chall/").size()), starts);
    }
    if (starts_with(path, "/acme/cert/")) return certificate(*sr, path.substr(std::string_view("/acme/cert/").size()));
    return refuse(problem_type::malformed, "no such resource", 404);
  }

  static std::string resource_of(std::string_view path) {
    if (path == "/acme/new-account") return "new-account";
    if (path == "/acme/new-order") return "new-order";
    if (path == "/acme/revoke-cert") return "revoke-cert";
    if (path == "/acme/key-change") return "key-change";
    if (starts_with(path, "/acme/acct/")) return path.ends_with("/orders") ? "orders" : "account";
    if (starts_with(path, "/acme/order/")) return path.ends_with("/finalize") ? "finalize" : "order";
    if (starts_with(path, "/acme/authz/")) return "authz";
    if (starts_with(path, "/acme/chall/")) return "challenge";
    if (starts_with(path, "/acme/cert/")) return "cert";
    return "unknown";
  }

  // --- JWS, nonce, key (RFC 8555 6.2-6.5) ----------------------------------------------

  expected<signed_request, problem> authenticate(const http_exchange_request& req, std::string_view path) {
    if (req.body.size() > static_cast<std::size_t>(cfg_.acme.max_request_bytes)) {
      return refuse(problem_type::malformed,
                    fmt::format("the request body is {} bytes; at most {} are accepted", req.body.size(),
                                cfg_.acme.max_request_bytes),
                    413);
    }
    const std::string media = ascii_lower(trimmed(std::string_view(req.content_type).substr(0, req.content_type.find(';'))));
    if (media != "application/jose+json") {
      return refuse(problem_type::malformed,
                    "a POST must have Content-Type application/jose+json (RFC 8555 6.2), not '" +
                        req.content_type.substr(0, 64) + "'",
                    415);
    }
    auto parsed = parse_jws(req.body, limits_);
    if (!parsed) return unexpected<problem>(from_jose(parsed.error()));
    signed_request sr;
    sr.j = std::move(*parsed);
    const std::string expected_url = origin_ + req.target;
    if (sr.j.url != expected_url) {
      return refuse(problem_type::unauthorized,
                    "protected.url is '" + sr.j.url.substr(0, 200) + "' but the request was sent to " + expected_url +
                        " (RFC 8555 6.4)");
    }
    const sys_seconds now = clock_.now();
    switch (nonces_.check(sr.j.nonce, now)) {
      case nonce_check::fresh: break;
      case nonce_check::malformed: return refuse(problem_type::bad_nonce, "protected.nonce is not a nonce of this CA");
      case nonce_check::forged: return refuse(problem_type::bad_nonce, "protected.nonce was not issued by this CA");
      case nonce_check::stale:
        return refuse(problem_type::bad_nonce, "protected.nonce has expired; use the Replay-Nonce of this response");
    }

    const bool jwk_allowed = path == "/acme/new-account" || path == "/acme/revoke-cert";
    if (sr.j.kid) {
      if (path == "/acme/new-account") {
        return refuse(problem_type::malformed, "newAccount must be signed with \"jwk\", not \"kid\" (RFC 8555 6.2)");
      }
      const std::string prefix = url("/acme/acct/");
      auto id = starts_with(*sr.j.kid, prefix) ? parse_int(std::string_view(*sr.j.kid).substr(prefix.size()))
                                                : std::nullopt;
      if (!id) {
        return refuse(problem_type::account_does_not_exist,
                      "protected.kid '" + sr.j.kid->substr(0, 200) + "' is not an account URL of this CA");
      }
      std::optional<acme_account> found;
      if (auto r = read_into(found, [&](transaction& tx) { return tx.acme().find_account(*id); }); !r) {
        return unexpected(std::move(r.error()));
      }
      if (!found) return refuse(problem_type::account_does_not_exist, "there is no account " + *sr.j.kid);
      if (found->status != acme_account_status::valid) {
        return refuse(problem_type::unauthorized,
                      "the account " + *sr.j.kid + " is " + std::string(to_string(found->status)));
      }
      auto key = account_keys_.parse(found->jwk);
      if (!key) return unexpected<problem>(from_jose(key.error()));
      sr.key = std::move(*key);
      sr.account = std::move(found);
    } else {
      if (!jwk_allowed) {
        return refuse(problem_type::malformed,
                      "this request must be signed with \"kid\", the account URL; \"jwk\" is only for newAccount "
                      "and revokeCert (RFC 8555 6.2)");
      }
      auto key = parse_jwk(sr.j.jwk.value_or(""));
      if (!key) return unexpected<problem>(from_jose(key.error()));
      sr.key = std::move(*key);
    }
    if (auto a = check_algorithm(sr.key.get(), sr.j.alg); !a) return unexpected<problem>(from_jose(a.error()));
    if (auto v = verify_jws(sr.j, sr.key.get()); !v) return unexpected<problem>(from_jose(v.error()));

    // Single use, in the shared store: a nonce redeemed at any replica is
    // refused at every other. It is redeemed with the request's first write,
    // or alone at its end (handle()); a replay is answered badNonce then.
    current_->nonce = sr.j.nonce;

    if (!sr.j.payload.empty()) {
      sr.payload = json::parse(sr.j.payload, nullptr, false);
      if (sr.payload.is_discarded() || !sr.payload.is_object()) {
        return refuse(problem_type::malformed, "the payload must be a JSON object (or empty for POST-as-GET)");
      }
    }
    return sr;
  }

  // --- directory, nonce, issuer ------------------------------------------------------

  outcome directory() const {
    json meta = {{"externalAccountRequired", true}, {"caaIdentities", cfg_.acme.caa_identities}};
    if (!cfg_.acme.terms_of_service.empty()) meta["termsOfService"] = cfg_.acme.terms_of_service;
    if (!cfg_.acme.website.empty()) meta["website"] = cfg_.acme.website;
    json d = {{"newNonce", url("/acme/new-nonce")},   {"newAccount", url("/acme/new-account")},
              {"newOrder", url("/acme/new-order")},   {"revokeCert", url("/acme/revoke-cert")},
              {"keyChange", url("/acme/key-change")}, {"renewalInfo", url("/acme/renewal-info")},
              {"meta", meta}};
    http_exchange_response r;
    r.set("Content-Type", "application/json");
    r.set("Cache-Control", "public, max-age=0, no-cache");
    r.body = d.dump();
    return r;
  }

  outcome issuer_certificate(std::string_view name) const {
    const X509* cert = nullptr;
    if (name == "class3") cert = material_.class3.cert.get();
    else if (name == "class1") cert = material_.class1.cert.get();
    else if (name == "root") cert = material_.root.cert.get();
    if (cert == nullptr) return refuse(problem_type::malformed, "no such issuer", 404);
    http_exchange_response r;
    r.set("Content-Type", "application/pem-certificate-chain");
    r.body = to_pem(*cert);
    return r;
  }

  // --- accounts (RFC 8555 7.3) ----------------------------------------------------------

  json account_json(const acme_account& a) const {
    return {{"status", to_string(a.status)},
            {"contact", a.contact},
            {"orders", account_url(a.id) + "/orders"},
            {"createdAt", format_time(a.created_at)}};
  }

  static http_exchange_response json_response(unsigned status, const json& body) {
    http_exchange_response r;
    r.status = status;
    r.set("Content-Type", "application/json");
    r.body = body.dump();
    return r;
  }

  http_exchange_response account_response(unsigned status, const acme_account& a) const {
    auto r = json_response(status, account_json(a));
    r.set("Location", account_url(a.id));
    return r;
  }

  // RFC 8555 7.3: mailto: URLs only, each one address without hfields.
  static expected<std::vector<std::string>, problem> contacts_of(const json& payload) {
    std::vector<std::string> out;
    if (!payload.contains("contact")) return out;
    const json& c = payload["contact"];
    if (!c.is_array()) return refuse(problem_type::malformed, "\"contact\" must be an array of mailto: URLs");
    if (c.size() > max_contacts) {
      return refuse(problem_type::invalid_contact, fmt::format("at most {} contacts are accepted", max_contacts));
    }
    for (const auto& item : c) {
      if (!item.is_string()) return refuse(problem_type::malformed, "\"contact\" must hold strings");
      const auto text = item.get<std::string>();
      if (!starts_with(ascii_lower(text.substr(0, 7)), "mailto:")) {
        return refuse(problem_type::unsupported_contact,
                      "contact '" + text.substr(0, 100) + "' is not a mailto: URL; only email contacts are supported");
      }
      const auto address = text.substr(7);
      if (address.find_first_of("?,") != std::string::npos) {
        return refuse(problem_type::invalid_contact,
                      "contact '" + text.substr(0, 100) + "' must name one address without hfields");
      }
      auto norm = normalize_email(address);
      if (!norm) return refuse(problem_type::invalid_contact, "contact '" + text.substr(0, 100) + "': " + norm.error().message);
      out.push_back("mailto:" + *norm);
    }
    return out;
  }

  outcome new_account(const signed_request& sr) {
    auto thumbprint = jwk_thumbprint(sr.key.get());
    auto canonical = canonical_jwk(sr.key.get());
    if (!thumbprint || !canonical) return refuse(problem_type::bad_public_key, "the account key cannot be encoded as a JWK");
    const json& p = sr.payload;
    if (!p.is_object()) return refuse(problem_type::malformed, "newAccount needs a JSON object payload");

    std::optional<acme_account> existing;
    auto by_key = [&](transaction& tx) { return tx.acme().find_account_by_thumbprint(*thumbprint); };
    if (auto r = read_into(existing, by_key); !r) {
      return unexpected(std::move(r.error()));
    }
    if (existing) return account_response(200, *existing);  // RFC 8555 7.3.1
    if (p.contains("onlyReturnExisting") && p["onlyReturnExisting"] == true) {
      return refuse(problem_type::account_does_not_exist, "no account exists for this key (onlyReturnExisting)");
    }
    if (!cfg_.acme.terms_of_service.empty() && !(p.contains("termsOfServiceAgreed") && p["termsOfServiceAgreed"] == true)) {
      problem pr(problem_type::user_action_required,
                 "agree to the terms of service at " + cfg_.acme.terms_of_service + " (termsOfServiceAgreed: true)");
      pr.extra["instance"] = cfg_.acme.terms_of_service;
      pr.headers.emplace_back("Link", "<" + cfg_.acme.terms_of_service + ">;rel=\"terms-of-service\"");  // RFC 8555 7.3.3
      return unexpected<problem>(std::move(pr));
    }
    auto contact = contacts_of(p);
    if (!contact) return unexpected<problem>(std::move(contact.error()));
    if (!p.contains("externalAccountBinding")) {
      return refuse(problem_type::external_account_required,
                    "this CA binds every account to a member: ask an operator for an EAB key (wotca eab new "
                    "--member ...) and send it as externalAccountBinding");
    }
    if (!p["externalAccountBinding"].is_object()) {
      return refuse(problem_type::malformed, "externalAccountBinding must be a JWS object (RFC 8555 7.3.4)");
    }
    auto binding = parse_eab(p["externalAccountBinding"].dump(), url("/acme/new-account"), sr.key.get());
    if (!binding) {
      problem pr = from_jose(binding.error());
      if (pr.type == problem_type::bad_signature_algorithm || pr.type == problem_type::bad_public_key) {
        pr.type = problem_type::malformed;
      }
      return unexpected<problem>(std::move(pr));
    }

    const sys_seconds now = clock_.now();
    acme_account made;
    bool raced = false;
    auto w = write([&](transaction& tx) -> result<void> {
      auto key = tx.eab_keys().find(binding->kid);
      if (!key) return unexpected(key.error());
      if (!*key) return fail(errc::denied, "eab", "the EAB key id " + binding->kid.substr(0, 64) + " is not known");
      if ((*key)->used_at) {
        return fail(errc::denied, "eab",
                    "the EAB key " + binding->kid + " was used at " + format_time(*(*key)->used_at) +
                        "; a key binds one account; ask for a new one");
      }
      if ((*key)->expires_at <= now) {
        return fail(errc::denied, "eab",
                    "the EAB key " + binding->kid + " expired at " + format_time((*key)->expires_at) + "; ask for a new one");
      }
      if ((*key)->mac_key.empty() || !verify_eab_mac(*binding, (*key)->mac_key)) {
        return fail(errc::denied, "eab", "the externalAccountBinding MAC does not verify with the key of " + binding->kid);
      }
      auto m = tx.members().find((*key)->member);
      if (!m) return unexpected(m.error());
      if (!*m) return fail(errc::denied, "eab", "the member of this EAB key no longer exists");
      if ((*m)->locked) return fail(errc::denied, "R-LOCKED", fmt::format("member {} is locked", (*m)->id));
      auto again = tx.acme().find_account_by_thumbprint(*thumbprint);
      if (!again) return unexpected(again.error());
      if (*again) {  // another request made it meanwhile
        made = **again;
        raced = true;
        return {};
      }
      if (auto u = tx.eab_keys().mark_used(binding->kid, now); !u) return u;
      made.member = (*key)->member;
      made.thumbprint = *thumbprint;
      made.jwk = *canonical;
      made.contact = *contact;
      made.status = acme_account_status::valid;
      made.eab_kid = binding->kid;
      made.created_at = now;
      auto id = tx.acme().add_account(made);
      if (!id) return unexpected(id.error());
      made.id = *id;
      json detail = {{"kid", made.eab_kid}, {"thumbprint", made.thumbprint}, {"contact", made.contact}};
      auto a = tx.audit().append(audit_entry{0, now, actor(made.id), "acme.account.new",
                                             "member:" + std::to_string(made.member), detail.dump()});
      if (!a) return unexpected(a.error());
      return {};
    });
    if (!w) {
      if (w.error().code == errc::denied) {
        return refuse(problem_type::unauthorized, w.error().where == "R-LOCKED" ? "R-LOCKED: " + w.error().message
                                                                                 : w.error().message);
      }
      return unexpected<problem>(store_problem(w.error()));
    }
    metrics_.add("wotca_acme_accounts_created_total");
    return account_response(raced ? 200 : 201, made);
  }

  static std::string actor(std::int64_t account) { return "acme:account:" + std::to_string(account); }

  outcome account(const signed_request& sr, std::string_view id_text) {
    auto id = parse_int(id_text);
    if (!id || !sr.account || sr.account->id != *id) {
      return refuse(problem_type::unauthorized, "the request is not signed by the key of this account");
    }
    acme_account a = *sr.account;
    if (sr.post_as_get()) return account_response(200, a);
    const json& p = sr.payload;
    std::string action;
    bool deactivate = false;
    std::optional<std::vector<std::string>> new_contact;
    if (p.contains("status")) {
      if (p["status"] != "deactivated") {
        return refuse(problem_type::malformed, "an account's status can only be set to \"deactivated\"");
      }
      deactivate = true;
      action = "acme.account.deactivate";
    }
    if (p.contains("contact")) {
      auto contact = contacts_of(p);
      if (!contact) return unexpected<problem>(std::move(contact.error()));
      new_contact = std::move(*contact);
      if (action.empty()) action = "acme.account.update";
    }
    if (action.empty()) return account_response(200, a);
    const sys_seconds now = clock_.now();
    auto w = write([&](transaction& tx) -> result<void> {
      // The account as it is now: a concurrent keyChange or update stays.
      auto fresh = tx.acme().find_account(a.id);
      if (!fresh) return unexpected(fresh.error());
      if (!*fresh || (*fresh)->status != acme_account_status::valid) {
        return fail(errc::denied, "acme_account", "the account " + account_url(a.id) + " is no longer valid");
      }
      a = **fresh;
      if (deactivate) a.status = acme_account_status::deactivated;
      if (new_contact) a.contact = *new_contact;
      if (auto u = tx.acme().update_account(a); !u) return u;
      json detail = {{"status", to_string(a.status)}, {"contact", a.contact}};
      auto e = tx.audit().append(
          audit_entry{0, now, actor(a.id), action, "member:" + std::to_string(a.member), detail.dump()});
      if (!e) return unexpected(e.error());
      return {};
    });
    if (!w) {
      if (w.error().code == errc::denied) return refuse(problem_type::unauthorized, w.error().message);
      return unexpected<problem>(store_problem(w.error()));
    }
    return account_response(200, a);
  }

  // RFC 8555 7.3.5: the payload is a JWS signed by the new key, carrying the
  // account URL and the old key. Its "nonce" may be absent, so it is read
  // here rather than by parse_jws.
  outcome key_change(const signed_request& sr, const http_exchange_request& req) {
    if (!sr.account) return refuse(problem_type::malformed, "keyChange is signed with the account's kid");
    const json& inner = sr.payload;
    if (!inner.is_object() || inner.size() != 3 || !inner.contains("protected") || !inner.contains("payload") ||
        !inner.contains("signature") || !inner["protected"].is_string() || !inner["payload"].is_string() ||
        !inner["signature"].is_string()) {
      return refuse(problem_type::malformed, "the keyChange payload must be a flattened JWS (protected, payload, signature)");
    }
    jws in;
    in.protected_b64 = inner["protected"].get<std::string>();
    in.payload_b64 = inner["payload"].get<std::string>();
    auto header_bytes = base64url_decode(in.protected_b64);
    auto payload_bytes = base64url_decode(in.payload_b64);
    auto signature = base64url_decode(inner["signature"].get<std::string>());
    if (!header_bytes || !payload_bytes || !signature) {
      return refuse(problem_type::malformed, "the inner JWS of keyChange is not base64url");
    }
    in.signature = std::move(*signature);
    in.payload.assign(payload_bytes->begin(), payload_bytes->end());
    json header = json::parse(header_bytes->begin(), header_bytes->end(), nullptr, false);
    if (header.is_discarded() || !header.is_object() || !header.contains("alg") || !header["alg"].is_string() ||
        !header.contains("jwk") || !header["jwk"].is_object() || header.contains("kid") || !header.contains("url") ||
        !header["url"].is_string()) {
      return refuse(problem_type::malformed, "the inner JWS of keyChange needs alg, jwk and url, and no kid");
    }
    if (header["url"] != sr.j.url) {
      return refuse(problem_type::malformed, "the inner JWS's url must equal the outer one (" + origin_ + req.target + ")");
    }
    bool known_alg = false;
    for (auto a : {jws_algorithm::es256, jws_algorithm::es384, jws_algorithm::rs256, jws_algorithm::eddsa}) {
      if (to_string(a) == header["alg"].get<std::string>()) {
        in.alg = a;
        known_alg = true;
      }
    }
    if (!known_alg) {
      // With the "algorithms" member (RFC 8555 6.2), as for the outer JWS.
      return unexpected<problem>(from_jose(jose_error{jose_problem::bad_signature_algorithm,
                                                      "the inner JWS's alg must be ES256, ES384, RS256 or EdDSA"}));
    }
    auto new_key = parse_jwk(header["jwk"].dump());
    if (!new_key) return unexpected<problem>(from_jose(new_key.error()));
    if (auto a = check_algorithm(new_key->get(), in.alg); !a) return unexpected<problem>(from_jose(a.error()));
    if (auto v = verify_jws(in, new_key->get()); !v) {
      return refuse(problem_type::unauthorized, "the inner JWS of keyChange is not signed by the new key");
    }
    json body = json::parse(in.payload, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("account") || !body.contains("oldKey") ||
        !body["oldKey"].is_object()) {
      return refuse(problem_type::malformed, "the inner payload of keyChange needs \"account\" and \"oldKey\"");
    }
    if (body["account"] != account_url(sr.account->id)) {
      return refuse(problem_type::unauthorized, "the inner payload names another account than the one signing");
    }
    auto old_key = parse_jwk(body["oldKey"].dump());
    if (!old_key) return unexpected<problem>(from_jose(old_key.error()));
    auto old_tp = jwk_thumbprint(old_key->get());
    auto new_tp = jwk_thumbprint(new_key->get());
    auto new_jwk = canonical_jwk(new_key->get());
    if (!old_tp || !new_tp || !new_jwk) return refuse(problem_type::bad_public_key, "a key cannot be encoded as a JWK");
    if (*old_tp != sr.account->thumbprint) {
      return refuse(problem_type::unauthorized, "oldKey is not the account's current key");
    }
    acme_account a = *sr.account;
    a.thumbprint = *new_tp;
    a.jwk = *new_jwk;
    const sys_seconds now = clock_.now();
    std::optional<std::int64_t> holder;
    auto w = write([&](transaction& tx) -> result<void> {
      auto fresh = tx.acme().find_account(a.id);
      if (!fresh) return unexpected(fresh.error());
      if (!*fresh || (*fresh)->status != acme_account_status::valid || (*fresh)->thumbprint != *old_tp) {
        return fail(errc::denied, "acme_account", "oldKey is no longer the account's current key");
      }
      a = **fresh;
      a.thumbprint = *new_tp;
      a.jwk = *new_jwk;
      auto other = tx.acme().find_account_by_thumbprint(*new_tp);
      if (!other) return unexpected(other.error());
      if (*other) {
        holder = (*other)->id;
        return {};
      }
      if (auto u = tx.acme().update_account(a); !u) return u;
      json detail = {{"old_thumbprint", *old_tp}, {"new_thumbprint", *new_tp}};
      auto e = tx.audit().append(audit_entry{0, now, actor(a.id), "acme.account.key-change",
                                             "member:" + std::to_string(a.member), detail.dump()});
      if (!e) return unexpected(e.error());
      return {};
    });
    if (!w) {
      if (w.error().code == errc::denied) return refuse(problem_type::unauthorized, w.error().message);
      return unexpected<problem>(store_problem(w.error()));
    }
    if (holder) {
      problem pr(problem_type::malformed, "the new key belongs to another account already", 409);
      pr.headers.emplace_back("Location", account_url(*holder));
      return unexpected<problem>(std::move(pr));
    }
    return account_response(200, a);
  }

  // --- orders (RFC 8555 7.4) -----------------------------------------------------------------

  [[nodiscard]] static acme_order_status shown(const acme_order& o, sys_seconds now) {
    // As expire() will write it (a processing order past its expiry lost its finalize).
    if ((o.status == acme_order_status::pending || o.status == acme_order_status::ready ||
         o.status == acme_order_status::processing) &&
        o.expires_at <= now) {
      return acme_order_status::invalid;
    }
    return o.status;
  }
  [[nodiscard]] static acme_authz_status shown(const acme_authz& a, sys_seconds now) {
    if ((a.status == acme_authz_status::pending || a.status == acme_authz_status::valid) && a.expires_at <= now) {
      return acme_authz_status::expired;
    }
    return a.status;
  }

  json order_json(const acme_order& o, const std::vector<acme_authz>& authzs) const {
    const sys_seconds now = clock_.now();
    json ids = json::array();
    for (const auto& i : o.identifiers) ids.push_back({{"type", "dns"}, {"value", i}});
    json links = json::array();
    for (const auto& a : authzs) links.push_back(authz_url(a.public_id));
    json j = {{"status", to_string(shown(o, now))},
              {"expires", format_time(o.expires_at)},
              {"identifiers", ids},
              {"authorizations", links},
              {"finalize", order_url(o.public_id) + "/finalize"}};
    if (o.certificate_serial) j["certificate"] = cert_url(*o.certificate_serial);
    if (o.error) {
      j["error"] = json::parse(*o.error, nullptr, false);
    } else if (shown(o, now) == acme_order_status::invalid) {
      j["error"] = problem(problem_type::malformed, "the order expired before it was finalized").to_json();
    }
    if (o.replaces) j["replaces"] = *o.replaces;
    return j;
  }

  expected<std::pair<acme_order, std::vector<acme_authz>>, problem> load_order(const signed_request& sr,
                                                                              std::string_view id) {
    std::optional<acme_order> o;
    std::vector<acme_authz> authzs;
    auto r = db().read([&](transaction& tx) -> result<void> {
      auto found = tx.acme().find_order(id);
      if (!found) return unexpected(found.error());
      o = std::move(*found);
      if (!o) return {};
      auto l = tx.acme().authzs_of_order(o->id);
      if (!l) return unexpected(l.error());
      authzs = std::move(*l);
      return {};
    });
    if (!r) return unexpected<problem>(store_problem(r.error()));
    if (!o) return refuse(problem_type::malformed, "there is no order " + std::string(id.substr(0, 64)), 404);
    if (!sr.account || o->account != sr.account->id) {
      return refuse(problem_type::unauthorized, "the order belongs to another account");
    }
    return std::make_pair(std::move(*o), std::move(authzs));
  }

  // An order with its Location. While it is processing, Retry-After: 1
  // (RFC 8555 7.4): issuance takes milliseconds here, and 1 is the least a
  // header of whole seconds can say. Pending authorizations get none: a
  // validation usually ends within tens of milliseconds, and a client
  // that honours a hint of 1 s would then wait far longer than needed.
  http_exchange_response order_response(const acme_order& o, const std::vector<acme_authz>& authzs) const {
    auto r = json_response(200, order_json(o, authzs));
    r.set("Location", order_url(o.public_id));
    if (o.status == acme_order_status::processing) r.set("Retry-After", "1");
    return r;
  }

  outcome order(const signed_request& sr, std::string_view id) {
    auto loaded = load_order(sr, id);
    if (!loaded) return unexpected<problem>(std::move(loaded.error()));
    auto r = json_response(200, order_json(loaded->first, loaded->second));
    if (loaded->first.status == acme_order_status::processing) r.set("Retry-After", "1");
    return r;
  }

  // RFC 8555 7.1.2.1: the account's orders, newest first, a page at a
  // time; "?cursor=N" (from the Link rel="next" of the page before) goes on
  // after order row N. Invalid orders are left out (SHOULD NOT include).
  outcome orders_list(const signed_request& sr, std::string_view id_text, std::string_view query) {
    auto id = parse_int(id_text);
    if (!id || !sr.account || sr.account->id != *id) {
      return refuse(problem_type::unauthorized, "an account's orders are listed only for that account");
    }
    std::int64_t cursor = 0;
    if (!query.empty()) {
      auto n = starts_with(query, "cursor=") ? parse_int(query.substr(7)) : std::nullopt;
      if (!n || *n <= 0) {
        return refuse(problem_type::malformed,
                      "an orders list takes only \"cursor=N\", as its Link rel=\"next\" gives it", 400);
      }
      cursor = *n;
    }
    std::vector<acme_order> orders;
    auto page = [&](transaction& tx) { return tx.acme().orders_of_account(*id, orders_per_page + 1, cursor); };
    if (auto r = read_into(orders, page); !r) {
      return unexpected(std::move(r.error()));
    }
    const bool more = orders.size() > orders_per_page;
    if (more) orders.resize(orders_per_page);
    const sys_seconds now = clock_.now();
    json urls = json::array();
    for (const auto& o : orders) {
      if (shown(o, now) != acme_order_status::invalid) urls.push_back(order_url(o.public_id));
    }
    auto resp = json_response(200, json{{"orders", urls}});
    if (more) {
      resp.set("Link", "<" + account_url(*id) + "/orders?cursor=" + std::to_string(orders.back().id) + ">;rel=\"next\"");
    }
    return resp;
  }

  // The domains of other members at `name` or above it (R-OWNERSHIP).
  static result<std::optional<std::string>> owned_by_other(transaction& tx, std::string_view name, member_id who) {
    std::string_view at = name;
    for (;;) {
      auto d = tx.domains().find(at);
      if (!d) return unexpected(d.error());
      if (*d && (*d)->member != who) return std::optional<std::string>((*d)->name);
      auto dot = at.find('.');
      if (dot == std::string_view::npos) return std::optional<std::string>();
      at = at.substr(dot + 1);
      if (at.find('.') == std::string_view::npos) return std::optional<std::string>();  // a TLD is nobody's
    }
  }

  // RFC 8555 6.6: the orders of the last hour, per account and per member.
  // Each count stops at its limit; at the limit, the next order is allowed
  // once the limit-th newest order is an hour old.
  result<std::optional<problem>> rate_limit(transaction& tx, const acme_account& acct, sys_seconds now) const {
    // An order exactly an hour old has left the window, so Retry-After
    // (when the counted order turns an hour old) is the first good moment.
    const sys_seconds hour_ago = now - std::chrono::hours(1) + std::chrono::seconds(1);
    std::optional<problem> limited;
    auto limit = [&](const acme_order_count& c, int most, std::string_view who) {
      if (c.count < most) return;
      const auto wait = std::max<std::int64_t>(1, ((c.oldest ? *c.oldest : now) + std::chrono::hours(1) - now).count());
      problem pr(problem_type::rate_limited,
                 fmt::format("{} created {} orders in the last hour, as many as are allowed; retry in {} seconds",
                             who, most, wait));
      pr.headers.emplace_back("Retry-After", std::to_string(wait));
      limited = std::move(pr);
    };
    auto by_account = tx.acme().orders_since_by_account(acct.id, hour_ago, cfg_.acme.orders_per_account_hour);
    if (!by_account) return unexpected(by_account.error());
    limit(*by_account, cfg_.acme.orders_per_account_hour, "this account");
    if (limited) return limited;
    auto by_member = tx.acme().orders_since_by_member(acct.member, hour_ago, cfg_.acme.orders_per_member_hour);
    if (!by_member) return unexpected(by_member.error());
    limit(*by_member, cfg_.acme.orders_per_member_hour, fmt::format("member {}", acct.member));
    return limited;
  }

  outcome new_order(const signed_request& sr) {
    if (!sr.account) return refuse(problem_type::malformed, "newOrder is signed with the account's kid");
    const acme_account& acct = *sr.account;
    const json& p = sr.payload;
    if (!p.is_object() || !p.contains("identifiers") || !p["identifiers"].is_array() || p["identifiers"].empty()) {
      return refuse(problem_type::malformed, "newOrder needs a non-empty \"identifiers\" array (RFC 8555 7.4)");
    }
    if (p.contains("notBefore") || p.contains("notAfter")) {
      return refuse(problem_type::malformed,
                    "notBefore and notAfter are not supported: the validity follows the CA's policy (ACME default "
                    "90 days)");
    }
    const json& list = p["identifiers"];
    if (list.size() > static_cast<std::size_t>(cfg_.acme.max_identifiers)) {
      return refuse(problem_type::rejected_identifier,
                    fmt::format("the order has {} identifiers; at most {} are accepted", list.size(),
                                cfg_.acme.max_identifiers));
    }
    std::vector<std::string> names;
    std::vector<subproblem> subs;
    bool all_unsupported = true;
    for (const auto& item : list) {
      if (!item.is_object() || !item.contains("type") || !item.contains("value") || !item["type"].is_string() ||
          !item["value"].is_string()) {
        return refuse(problem_type::malformed, "each identifier is an object with string \"type\" and \"value\"");
      }
      const auto value = item["value"].get<std::string>();
      auto n = normalize_identifier(item["type"].get<std::string>(), value);
      if (!n) {
        const bool unsupported = n.error().where == "unsupportedIdentifier";
        all_unsupported = all_unsupported && unsupported;
        subs.push_back({urn(unsupported ? problem_type::unsupported_identifier : problem_type::rejected_identifier),
                        n.error().message, value.substr(0, 260)});
        continue;
      }
      if (std::find(names.begin(), names.end(), *n) == names.end()) names.push_back(*n);
    }
    if (!subs.empty()) {
      problem pr(all_unsupported ? problem_type::unsupported_identifier : problem_type::rejected_identifier,
                 fmt::format("{} of the order's identifiers cannot be issued for; see subproblems", subs.size()));
      pr.subproblems = std::move(subs);
      return unexpected<problem>(std::move(pr));
    }
    std::optional<std::string> replaces;
    std::optional<ari_cert_id_parts> replaces_parts;
    if (p.contains("replaces")) {
      if (p["replaces"].is_string()) replaces_parts = parse_ari_cert_id(p["replaces"].get<std::string>());
      if (!replaces_parts) {
        return refuse(problem_type::malformed, "\"replaces\" must be an ARI certificate id (RFC 9773 5)");
      }
      replaces = p["replaces"].get<std::string>();
    }

    const sys_seconds now = clock_.now();
    // The rate limits (RFC 8555 6.6) are counted once, in the transaction
    // that adds the order, where requests at once (here or at another
    // replica) cannot all pass them.
    std::optional<problem> limited;
    std::optional<problem> owned;
    std::optional<problem> bad_renewal;
    auto checked = db().read([&](transaction& tx) -> result<void> {
      if (replaces) {
        auto checked = check_replaces(tx, *replaces, *replaces_parts, acct, names);
        if (!checked) return unexpected(checked.error());
        bad_renewal = std::move(*checked);
        if (bad_renewal) return {};
      }
      std::vector<subproblem> taken;
      for (const auto& n : names) {
        auto other = owned_by_other(tx, base_of(n), acct.member);
        if (!other) return unexpected(other.error());
        if (*other) {
          taken.push_back({urn(problem_type::rejected_identifier),
                           "R-OWNERSHIP: the domain " + **other + " belongs to another member", n});
        }
      }
      if (!taken.empty()) {
        problem pr(problem_type::rejected_identifier,
                   "R-OWNERSHIP: a domain belongs to at most one member; see subproblems");
        pr.subproblems = std::move(taken);
        owned = std::move(pr);
      }
      return {};
    });
    if (!checked) return unexpected<problem>(store_problem(checked.error()));
    if (bad_renewal) return unexpected<problem>(std::move(*bad_renewal));

    // The policy now (R-SERVER-50 and the rest). R-NAME-COVERAGE is what
    // the challenges are about to prove, so it is left to finalize.
    certificate_request creq;
    creq.profile = cert_profile::server;
    creq.dns_names = names;
    creq.via = request_path::acme;
    auto decided = ca().preview(acct.member, creq);
    if (!decided) return unexpected<problem>(store_problem(decided.error()));
    if (const auto* no = std::get_if<denial>(&*decided); no != nullptr && no->rule != "R-NAME-COVERAGE") {
      metrics_.add("wotca_acme_orders_refused_total");
      return refuse(problem_type::unauthorized, no->rule + ": " + no->reason);
    }
    if (owned) return unexpected<problem>(std::move(*owned));

    acme_order o;
    o.public_id = opaque_id(rng_);
    o.account = acct.id;
    o.member = acct.member;
    o.identifiers = names;
    o.created_at = now;
    o.expires_at = now + std::chrono::hours(cfg_.acme.order_hours);
    o.replaces = replaces;
    std::vector<acme_authz> authzs;
    auto w = write([&](transaction& tx) -> result<void> {
      auto l = rate_limit(tx, acct, now);
      if (!l) return unexpected(l.error());
      if (*l) {
        limited = std::move(*l);
        return fail(errc::denied, "acme_order", "rate limited");  // rolls back
      }
      std::vector<std::int64_t> links;
      bool all_valid = true;
      for (const auto& n : names) {
        const bool wildcard = starts_with(n, "*.");
        const std::string base(base_of(n));
        auto reuse = tx.acme().reusable_authz(acct.id, base, wildcard, now);
        if (!reuse) return unexpected(reuse.error());
        if (*reuse) {
          all_valid = all_valid && (*reuse)->status == acme_authz_status::valid;
          if (std::find(links.begin(), links.end(), (*reuse)->id) == links.end()) {
            links.push_back((*reuse)->id);
            authzs.push_back(**reuse);
          }
          continue;
        }
        all_valid = false;
        acme_authz a;
        a.public_id = opaque_id(rng_);
        a.account = acct.id;
        a.identifier = base;
        a.wildcard = wildcard;
        a.status = acme_authz_status::pending;
        a.expires_at = o.expires_at;
        a.created_at = now;
        auto id = tx.acme().add_authz(a);
        if (!id) return unexpected(id.error());
        a.id = *id;
        // A wildcard is proven in DNS only (RFC 8555 7.1.3).
        std::vector<std::string> types = {"dns-01"};
        if (!wildcard) types = {"http-01", "dns-01", "tls-alpn-01"};
        for (const auto& type : types) {
          std::uint8_t token[32];
          rng_.fill(token);
          acme_challenge c;
          c.public_id = opaque_id(rng_);
          c.authz = a.id;
          c.type = type;
          c.token = base64url_encode(token);
          if (auto cid = tx.acme().add_challenge(c); !cid) return unexpected(cid.error());
        }
        links.push_back(a.id);
        authzs.push_back(a);
      }
      o.status = all_valid ? acme_order_status::ready : acme_order_status::pending;
      auto id = tx.acme().add_order(o, links);
      if (!id) return unexpected(id.error());
      o.id = *id;
      json detail = {{"order", o.public_id}, {"identifiers", o.identifiers}};
      auto e = tx.audit().append(audit_entry{0, now, actor(acct.id), "acme.order.new",
                                             "member:" + std::to_string(acct.member), detail.dump()});
      if (!e) return unexpected(e.error());
      return {};
    }, durability::relaxed);  // a step of an order: see write()
    if (!w && limited) {
      metrics_.add("wotca_acme_rate_limited_total");
      return unexpected<problem>(std::move(*limited));
    }
    if (!w) return unexpected<problem>(store_problem(w.error()));
    metrics_.add("wotca_acme_orders_created_total");
    auto r = json_response(201, order_json(o, authzs));
    r.set("Location", order_url(o.public_id));
    return r;
  }

  // --- authorizations and challenges (RFC 8555 7.5) ------------------------------------------

  json challenge_json(const acme_challenge& c) const {
    json j = {{"type", c.type}, {"url", challenge_url(c.public_id)}, {"token", c.token}, {"status", to_string(c.status)}};
    if (c.validated_at) j["validated"] = format_time(*c.validated_at);
    if (c.error) j["error"] = json::parse(*c.error, nullptr, false);
    if (c.validation_record) j["validationRecord"] = json::parse(*c.validation_record, nullptr, false);
    return j;
  }

  json authz_json(const acme_authz& a, const std::vector<acme_challenge>& challenges) const {
    json list = json::array();
    for (const auto& c : challenges) list.push_back(challenge_json(c));
    json j = {{"identifier", {{"type", "dns"}, {"value", a.identifier}}},
              {"status", to_string(shown(a, clock_.now()))},
              {"expires", format_time(a.expires_at)},
              {"challenges", list}};
    if (a.wildcard) j["wildcard"] = true;
    return j;
  }

  outcome authz(const signed_request& sr, std::string_view id) {
    std::optional<acme_authz> a;
    std::vector<acme_challenge> challenges;
    auto load = [&](transaction& tx) -> result<void> {
      auto found = tx.acme().find_authz(id);
      if (!found) return unexpected(found.error());
      a = std::move(*found);
      if (!a) return {};
      auto l = tx.acme().challenges_of_authz(a->id);
      if (!l) return unexpected(l.error());
      challenges = std::move(*l);
      return {};
    };
    if (auto r = db().read(load); !r) return unexpected<problem>(store_problem(r.error()));
    if (!a) return refuse(problem_type::malformed, "there is no authorization " + std::string(id.substr(0, 64)), 404);
    if (!sr.account || a->account != sr.account->id) {
      return refuse(problem_type::unauthorized, "the authorization belongs to another account");
    }
    if (!sr.post_as_get() && sr.payload.contains("status")) {
      if (sr.payload["status"] != "deactivated") {
        return refuse(problem_type::malformed, "an authorization's status can only be set to \"deactivated\"");
      }
      const sys_seconds now = clock_.now();
      auto w = write([&](transaction& tx) -> result<void> {
        auto fresh = tx.acme().find_authz_by_id(a->id);
        if (!fresh) return unexpected(fresh.error());
        if (!*fresh) return fail(errc::not_found, "acme_authz", "the authorization vanished");
        a = **fresh;
        if (a->status != acme_authz_status::pending && a->status != acme_authz_status::valid) return {};
        a->status = acme_authz_status::deactivated;
        if (auto u = tx.acme().update_authz(*a); !u) return u;
        auto orders = tx.acme().orders_of_authz(a->id);
        if (!orders) return unexpected(orders.error());
        for (auto o : *orders) {
          if (o.status != acme_order_status::pending && o.status != acme_order_status::ready) continue;
          o.status = acme_order_status::invalid;
          o.error = problem(problem_type::unauthorized, "the authorization for " + a->identifier + " was deactivated")
                        .to_json()
                        .dump();
          if (auto u = tx.acme().update_order(o); !u) return u;
        }
        json detail = {{"authz", a->public_id}, {"identifier", a->identifier}};
        auto e = tx.audit().append(audit_entry{0, now, actor(a->account), "acme.authz.deactivate",
                                               "member:" + std::to_string(sr.account->member), detail.dump()});
        if (!e) return unexpected(e.error());
        return {};
      });
      if (!w) return unexpected<problem>(store_problem(w.error()));
    }
    return json_response(200, authz_json(*a, challenges));
  }

  outcome challenge(const signed_request& sr, std::string_view id, std::vector<validation_start>& starts) {
    std::optional<acme_challenge> c;
    std::optional<acme_authz> a;
    const sys_seconds now = clock_.now();
    // Moving to processing and reading the state happen in one write
    // transaction: of two concurrent POSTs (here or at another replica),
    // one starts the validation and both answer with the same state.
    auto w = write([&](transaction& tx) -> result<void> {
      auto found = tx.acme().find_challenge(id);
      if (!found) return unexpected(found.error());
      c = std::move(*found);
      if (!c) return {};
      auto az = tx.acme().find_authz_by_id(c->authz);
      if (!az) return unexpected(az.error());
      a = std::move(*az);
      if (!a || !sr.account || a->account != sr.account->id) return {};
      if (sr.post_as_get()) return {};
      if (c->status != acme_challenge_status::pending || shown(*a, now) != acme_authz_status::pending) return {};
      auto siblings = tx.acme().challenges_of_authz(a->id);
      if (!siblings) return unexpected(siblings.error());
      for (const auto& s : *siblings) {
        if (s.status == acme_challenge_status::processing) return {};  // one validation per authorization at a time
      }
      c->status = acme_challenge_status::processing;
      c->processing_since = now;
      if (auto u = tx.acme().update_challenge(*c); !u) return u;
      starts.push_back({job_of(*c, *a, *sr.account)});
      return {};
    },
    // A step of an order (see write()): a power loss that undoes the move
    // to processing leaves the challenge pending, and the client POSTs again.
    durability::relaxed);
    if (!w) {
      starts.clear();
      return unexpected<problem>(store_problem(w.error()));
    }
    if (!c) return refuse(problem_type::malformed, "there is no challenge " + std::string(id.substr(0, 64)), 404);
    if (!a || !sr.account || a->account != sr.account->id) {
      return refuse(problem_type::unauthorized, "the challenge belongs to another account");
    }
    return challenge_response(*c, *a);
  }

  // The validation of challenge `c` of `a`, an authorization of `account`.
  static validation_job job_of(const acme_challenge& c, const acme_authz& a, const acme_account& account) {
    validation_job job;
    job.challenge_id = c.id;
    job.type = challenge_type_of(c.type);
    job.domain = a.identifier;
    job.token = c.token;
    job.key_authorization = c.token + "." + account.thumbprint;
    return job;
  }
  static result<validation_job> job_of(transaction& tx, const acme_challenge& c) {
    auto a = tx.acme().find_authz_by_id(c.authz);
    if (!a) return unexpected(a.error());
    if (!*a) return fail(errc::internal, "acme_challenge", "the challenge's authorization is missing");
    auto account = tx.acme().find_account((*a)->account);
    if (!account) return unexpected(account.error());
    if (!*account) return fail(errc::internal, "acme_authz", "the authorization's account is missing");
    return job_of(c, **a, **account);
  }

  // A challenge as its resource shows it, linked up to its authorization.
  http_exchange_response challenge_response(const acme_challenge& c, const acme_authz& a) {
    auto r = json_response(200, challenge_json(c));
    r.set("Link", "<" + authz_url(a.public_id) + ">;rel=\"up\"");
    return r;
  }

  // `then`, if set, is called with the challenge's id once the outcome is
  // recorded (or recording it failed).
  void start_validation(validation_job job, std::function<void(std::int64_t)> then) {
    const std::int64_t id = job.challenge_id;
    metrics_.add("wotca_acme_validations_started_total");
    try {
      validator_.validate(std::move(job), [this, id, then](validation_outcome done) {
        complete_validation(id, done);
        if (then) then(id);
      });
    } catch (const std::exception& e) {
      validation_outcome failed;
      failed.problem_type = urn(problem_type::server_internal);
      failed.detail = std::string("the validation could not be started: ") + e.what();
      complete_validation(id, failed);
      if (then) then(id);
    }
  }

  // A validation the validator gave up undecided (it stopped): the challenge
  // stays processing, but since no time, so that the next sweep of any
  // replica (the first request after a restart) claims and validates it
  // again. Relaxed: if a power loss undoes this, the claim comes when the
  // validation counts as lost by its age instead.
  void release_validation(std::int64_t challenge_id) {
    auto w = write(
        [&](transaction& tx) -> result<void> {
          auto found = tx.acme().find_challenge_by_id(challenge_id);
          if (!found) return unexpected(found.error());
          if (!*found || (*found)->status != acme_challenge_status::processing) return {};
          acme_challenge c = **found;
          c.processing_since.reset();
          return tx.acme().update_challenge(c);
        },
        durability::relaxed);
    metrics_.add(w ? "wotca_acme_validations_total{result=\"released\"}" : "wotca_acme_validations_total{result=\"error\"}");
  }

  // The end of one validation, in ONE transaction: challenge, authorization,
  // the orders waiting on it, the domain verified for the member
  // (R-DOMAIN-CONTROL, R-DOMAIN-REUSE) and the audit row. A second call for
  // the same challenge changes nothing.
  void complete_validation(std::int64_t challenge_id, const validation_outcome& reported) {
    request_context ctx;
    context_scope scope(ctx);
    const sys_seconds now = clock_.now();
    if (reported.abandoned) {
      release_validation(challenge_id);
      return;
    }
    bool counted_valid = false;
    auto w = write([&](transaction& tx) -> result<void> {
      auto found = tx.acme().find_challenge_by_id(challenge_id);
      if (!found) return unexpected(found.error());
      if (!*found || (*found)->status != acme_challenge_status::processing) return {};
      acme_challenge c = **found;
      auto az = tx.acme().find_authz_by_id(c.authz);
      if (!az) return unexpected(az.error());
      if (!*az) return fail(errc::internal, "acme_challenge", "the challenge's authorization is missing");
      acme_authz a = **az;
      auto acct = tx.acme().find_account(a.account);
      if (!acct) return unexpected(acct.error());
      if (!*acct) return fail(errc::internal, "acme_authz", "the authorization's account is missing");
      const member_id who = (*acct)->member;
      c.processing_since.reset();

      // The authorization was deactivated or expired while the validation
      // ran: those states are final (RFC 8555 7.1.6), so the result closes
      // the challenge and nothing else; no domain is recorded.
      if (const auto now_shown = shown(a, now); now_shown != acme_authz_status::pending) {
        problem pr(problem_type::malformed, "the authorization became " + std::string(to_string(now_shown)) +
                                                " while it was validated; the result was not applied");
        c.status = acme_challenge_status::invalid;
        c.error = pr.to_json().dump();
        if (auto u = tx.acme().update_challenge(c); !u) return u;
        json detail = {{"domain", a.identifier}, {"challenge", c.type}, {"authz", a.public_id},
                       {"error", pr.detail}, {"via", "acme"}};
        auto e = tx.audit().append(audit_entry{0, now, actor(a.account), "acme.challenge.invalid",
                                               "member:" + std::to_string(who), detail.dump()});
        if (!e) return unexpected(e.error());
        return {};
      }

      validation_outcome out = reported;
      if (out.valid) {
        auto other = owned_by_other(tx, a.identifier, who);
        if (!other) return unexpected(other.error());
        if (*other) {
          out.valid = false;
          out.problem_type = urn(problem_type::rejected_identifier);
          out.detail = "R-OWNERSHIP: the domain " + **other + " belongs to another member";
        }
      }
      json record = json::array();
      record.push_back({{"hostname", a.identifier}, {"addressesUsed", out.addresses_used}});
      c.validation_record = record.dump();
      auto orders = tx.acme().orders_of_authz(a.id);
      if (!orders) return unexpected(orders.error());
      std::string action;
      json detail = {{"domain", a.identifier}, {"challenge", c.type}, {"authz", a.public_id}};
      if (out.valid) {
        c.status = acme_challenge_status::valid;
        c.validated_at = now;
        a.status = acme_authz_status::valid;
        a.expires_at = now + std::chrono::days(cfg_.wot.acme_authz_reuse_days);
        // R-DOMAIN-CONTROL: the domain is now verified for the member.
        auto d = tx.domains().find(a.identifier);
        if (!d) return unexpected(d.error());
        domain_name dn;
        if (*d) dn = **d;
        dn.member = who;
        dn.name = a.identifier;
        dn.method = method_of(c.type);
        dn.verified_at = now;
        dn.valid_until = now + std::chrono::days(cfg_.wot.domain_reuse_days);
        if (*d) {
          if (auto u = tx.domains().update(dn); !u) return u;
        } else if (auto added = tx.domains().add(dn); !added) {
          return unexpected(added.error());
        }
        for (auto o : *orders) {
          if (o.status != acme_order_status::pending) continue;
          auto all = tx.acme().authzs_of_order(o.id);
          if (!all) return unexpected(all.error());
          bool ready = true;
          for (const auto& other : *all) {
            const bool valid = other.id == a.id || (other.status == acme_authz_status::valid && other.expires_at > now);
            ready = ready && valid;
          }
          if (!ready) continue;
          o.status = acme_order_status::ready;
          if (auto u = tx.acme().update_order(o); !u) return u;
        }
        action = "domain.verify";
        detail["method"] = to_string(dn.method);
        detail["valid_until"] = format_time(*dn.valid_until);
        counted_valid = true;
      } else {
        problem pr(problem_type::incorrect_response, out.detail.empty() ? "the validation failed" : out.detail);
        json err = pr.to_json();
        if (!out.problem_type.empty()) err["type"] = out.problem_type;
        c.status = acme_challenge_status::invalid;
        c.error = err.dump();
        a.status = acme_authz_status::invalid;
        for (auto o : *orders) {
          if (o.status != acme_order_status::pending && o.status != acme_order_status::ready) continue;
          o.status = acme_order_status::invalid;
          json oerr = err;
          oerr["detail"] = "the authorization for " + a.identifier + " failed: " + err.value("detail", "");
          o.error = oerr.dump();
          if (auto u = tx.acme().update_order(o); !u) return u;
        }
        action = "acme.challenge.invalid";
        detail["error"] = err;
      }
      if (auto u = tx.acme().update_challenge(c); !u) return u;
      if (auto u = tx.acme().update_authz(a); !u) return u;
      detail["via"] = "acme";
      auto e = tx.audit().append(audit_entry{0, now, actor(a.account), action, "member:" + std::to_string(who),
                                             detail.dump()});
      if (!e) return unexpected(e.error());
      return {};
    }, durability::relaxed);  // a step of an order: see write()
    if (!w) {
      metrics_.add("wotca_acme_validations_total{result=\"error\"}");
      return;
    }
    metrics_.add(counted_valid ? "wotca_acme_validations_total{result=\"valid\"}"
                               : "wotca_acme_validations_total{result=\"invalid\"}");
  }

  // --- finalize and certificates (RFC 8555 7.4, 7.4.2) -------------------------------------------

  outcome finalize(const signed_request& sr, std::string_view id) {
    const auto started = std::chrono::steady_clock::now();
    auto loaded = load_order(sr, id);
    if (!loaded) return unexpected<problem>(std::move(loaded.error()));
    acme_order o = std::move(loaded->first);
    const auto authzs = std::move(loaded->second);
    const sys_seconds now = clock_.now();
    // RFC 8555 7.4: an order not "ready" MUST be refused with 403
    // orderNotReady, also one finalized already (a second finalize, or one
    // racing the first): the client reads the order at its URL.
    auto not_ready = [&]() -> outcome {
      const auto status = shown(o, now);
      if (status == acme_order_status::valid || status == acme_order_status::processing) {
        return refuse(problem_type::order_not_ready,
                      "the order is " + std::string(to_string(status)) + " already; read it at " +
                          order_url(o.public_id));
      }
      return refuse(problem_type::order_not_ready,
                    "the order is " + std::string(to_string(status)) +
                        "; finalize it once every authorization is valid (status \"ready\")");
    };
    if (shown(o, now) != acme_order_status::ready) return not_ready();
    if (sr.post_as_get() || !sr.payload.contains("csr") || !sr.payload["csr"].is_string()) {
      return refuse(problem_type::malformed, "finalize needs {\"csr\": base64url DER}");
    }
    auto csr = check_finalize_csr(sr.payload["csr"].get<std::string>(), o.identifiers);
    if (!csr) return refuse(problem_type::bad_csr, describe(csr.error()));

    // ready -> processing, decided on the order as it is inside the write
    // transaction: of two finalize requests at once (here or at another
    // replica) one issues, the other answers with the order as it is.
    // Relaxed durability: every way on from here ends in a full commit
    // (issue()'s reservation before anything is signed, or the final
    // write below), whose sync makes this one durable too; a power loss
    // before it finds the order ready again with nothing signed.
    bool mine = false;
    auto claimed = write(
        [&](transaction& tx) -> result<void> {
          auto fresh = tx.acme().find_order(o.public_id);
          if (!fresh) return unexpected(fresh.error());
          if (!*fresh) return fail(errc::not_found, "acme_order", "the order vanished");
          o = **fresh;
          if (shown(o, now) != acme_order_status::ready) return {};
          o.status = acme_order_status::processing;
          mine = true;
          return tx.acme().update_order(o);
        },
        durability::relaxed);
    if (!claimed) return unexpected<problem>(store_problem(claimed.error()));
    if (!mine) return not_ready();
    // R-RECHECK: issue() decides again on the facts inside its own
    // transaction. The order becomes valid in the transaction that records
    // the certificate: one commit, one disk flush, and no moment at which
    // the certificate exists while its order is still processing.
    const sys_seconds recorded_at = clock_.now();
    auto order_valid = [&](transaction& tx, const certificate_record& rec) -> result<void> {
      acme_order done = o;
      done.status = acme_order_status::valid;
      done.certificate_serial = rec.serial;
      if (auto u = tx.acme().update_order(done); !u) return u;
      auto e = tx.audit().append(audit_entry{0, recorded_at, actor(o.account), "acme.order.valid",
                                             "member:" + std::to_string(o.member),
                                             json{{"order", o.public_id}, {"serial", rec.serial}}.dump()});
      if (!e) return unexpected(e.error());
      return {};
    };
    auto issued = ca().issue(o.member, *csr, cert_profile::server, std::nullopt, request_path::acme,
                             actor(o.account), order_valid);
    std::optional<problem> failed;
    if (!issued) {
      failed = problem(problem_type::server_internal, "the certificate could not be issued: " + describe(issued.error()));
      metrics_.add("wotca_acme_issuances_total{result=\"failed\"}");
    } else if (const auto* no = std::get_if<denial>(&*issued)) {
      failed = problem(problem_type::unauthorized,
                       "R-RECHECK: the policy was decided again at finalize and refused: " + no->rule + ": " + no->reason);
      metrics_.add("wotca_acme_issuances_total{result=\"denied\"}");
    }
    if (failed) {
      const sys_seconds done_at = clock_.now();
      auto w = write([&](transaction& tx) -> result<void> {
        o.status = acme_order_status::invalid;
        o.error = failed->to_json().dump();
        if (auto u = tx.acme().update_order(o); !u) return u;
        auto e = tx.audit().append(audit_entry{0, done_at, actor(o.account), "acme.order.invalid",
                                               "member:" + std::to_string(o.member),
                                               json{{"order", o.public_id}, {"error", failed->detail}}.dump()});
        if (!e) return unexpected(e.error());
        return {};
      });
      if (!w) return unexpected<problem>(store_problem(w.error()));
      metrics_.observe_finalize(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      return unexpected<problem>(std::move(*failed));
    }
    o.status = acme_order_status::valid;
    o.certificate_serial = std::get<issued_certificate>(*issued).record.serial;
    metrics_.observe_finalize(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    metrics_.add("wotca_acme_issuances_total{result=\"issued\"}");
    auto r = json_response(200, order_json(o, authzs));
    r.set("Location", order_url(o.public_id));
    return r;
  }

  outcome certificate(const signed_request& sr, std::string_view rest) {
    std::string_view serial = rest;
    int alternate = 0;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
      serial = rest.substr(0, slash);
      if (rest.substr(slash + 1) != "1") return refuse(problem_type::malformed, "no such certificate chain", 404);
      alternate = 1;
    }
    std::optional<certificate_record> rec;
    if (auto r = read_into(rec, [&](transaction& tx) { return tx.certificates().find(serial); }); !r) {
      return unexpected(std::move(r.error()));
    }
    if (!rec || rec->status == cert_status::reserved || rec->der.empty()) {
      return refuse(problem_type::malformed, "there is no certificate " + std::string(serial.substr(0, 64)), 404);
    }
    if (!sr.account || rec->member != sr.account->member) {
      return refuse(problem_type::unauthorized, "the certificate belongs to another member");
    }
    // The stored DER is what this CA signed: served as it is, not parsed.
    http_exchange_response resp;
    resp.set("Content-Type", "application/pem-certificate-chain");
    resp.body = certificate_pem(rec->der);
    switch (rec->issuer) {
      case issuer_class::class3: resp.body += class3_pem_; break;
      case issuer_class::class1: resp.body += class1_pem_; break;
      case issuer_class::root: resp.body += root_pem_; break;
    }
    if (alternate == 1) {
      resp.body += root_pem_;
      resp.set("Link", "<" + cert_url(rec->serial) + ">;rel=\"alternate\"");
    } else {
      resp.set("Link", "<" + cert_url(rec->serial) + "/1>;rel=\"alternate\"");
    }
    resp.set("Link", "<" + url("/acme/issuer/" + std::string(to_string(rec->issuer))) + ">;rel=\"up\"");
    return resp;
  }

  // RFC 8555 7.6, R-REVOKE-WHO: by an account of the certificate's member,
  // or signed with the certificate's own key.
  outcome revoke_cert(const signed_request& sr) {
    const json& p = sr.payload;
    if (!p.is_object() || !p.contains("certificate") || !p["certificate"].is_string()) {
      return refuse(problem_type::malformed, "revokeCert needs {\"certificate\": base64url DER}");
    }
    int reason_code = 0;
    if (p.contains("reason")) {
      if (!p["reason"].is_number_integer()) return refuse(problem_type::bad_revocation_reason, "\"reason\" must be an integer");
      const auto code = p["reason"].get<std::int64_t>();
      if (code < 0 || code > 5) {
        return refuse(problem_type::bad_revocation_reason,
                      fmt::format("reason {} is not accepted; use 0 (unspecified), 1 (keyCompromise), 2 "
                                  "(cACompromise), 3 (affiliationChanged), 4 (superseded) or 5 "
                                  "(cessationOfOperation); certificateHold (6) is never used",
                                  code));
      }
      reason_code = static_cast<int>(code);
    }
    auto der = base64url_decode(p["certificate"].get<std::string>());
    if (!der || der->size() > 65536) return refuse(problem_type::malformed, "\"certificate\" is not base64url DER");
    auto cert = certificate_from_der(*der);
    if (!cert) return refuse(problem_type::malformed, "\"certificate\" is not a DER certificate: " + cert.error().message);
    const ASN1_INTEGER* serial_int = X509_get0_serialNumber(cert->get());
    bignum_ptr bn(ASN1_INTEGER_to_BN(serial_int, nullptr));
    if (!bn || BN_num_bytes(bn.get()) > 20) return refuse(problem_type::malformed, "the certificate's serial is not one of ours", 404);
    std::vector<std::uint8_t> serial_bytes(20);
    BN_bn2binpad(bn.get(), serial_bytes.data(), 20);
    const std::string serial = to_hex(serial_bytes);

    std::optional<certificate_record> rec;
    if (auto r = read_into(rec, [&](transaction& tx) { return tx.certificates().find(serial); }); !r) {
      return unexpected(std::move(r.error()));
    }
    if (!rec || rec->der != *der) {
      return refuse(problem_type::malformed, "this CA did not issue the certificate " + serial, 404);
    }
    std::string how;
    if (sr.account) {
      if (rec->member != sr.account->member) {
        return refuse(problem_type::unauthorized,
                      "R-REVOKE-WHO: the certificate belongs to another member; sign with its key or an account of "
                      "its member");
      }
      how = "the account key";
    } else {
      if (EVP_PKEY_eq(X509_get0_pubkey(cert->get()), sr.key.get()) != 1) {
        return refuse(problem_type::unauthorized,
                      "R-REVOKE-WHO: the request is signed neither by the certificate's key nor by an account of its "
                      "member");
      }
      how = "the certificate's key";
    }
    if (rec->status == cert_status::revoked) {
      return refuse(problem_type::already_revoked, "the certificate " + serial + " is revoked already");
    }
    auto reason = static_cast<revocation_reason>(reason_code);
    const std::string who = sr.account ? actor(sr.account->id) : "acme:certificate-key";
    // The nonce first, so a replay cannot reach the revocation.
    if (auto n = redeem_alone(); !n) {
      if (current_->replayed) return refuse(problem_type::bad_nonce, "protected.nonce was used already");
      return unexpected<problem>(store_problem(n.error()));
    }
    auto done = ca().revoke(serial, reason, who, "ACME revokeCert signed with " + how);
    if (!done) {
      if (done.error().code == errc::conflict) {
        return refuse(problem_type::already_revoked, "the certificate " + serial + " is revoked already");
      }
      return unexpected<problem>(store_problem(done.error()));
    }
    metrics_.add("wotca_acme_revocations_total");
    http_exchange_response resp;
    resp.status = 200;
    return resp;
  }

  // --- ARI (RFC 9773) ------------------------------------------------------------------------------

  // The certificate an ARI certificate id names, if this CA issued it: the
  // serial finds the row, and the id must match the certificate's own
  // (its authority key identifier too), as RFC 9773 4.1 builds it.
  // `parts` is parse_ari_cert_id(id).
  result<std::optional<certificate_record>> certificate_by_ari_id(transaction& tx, std::string_view id,
                                                                  const ari_cert_id_parts& parts) {
    std::vector<std::uint8_t> serial = parts.serial;
    if (serial.size() == 21 && serial.front() == 0) serial.erase(serial.begin());
    if (serial.size() != 20) return std::optional<certificate_record>();
    auto found = tx.certificates().find(to_hex(serial));
    if (!found) return unexpected(found.error());
    if (!*found || (*found)->der.empty()) return std::optional<certificate_record>();
    auto cert = certificate_from_der((*found)->der);
    if (!cert) return unexpected(cert.error());
    auto expected_id = ari_cert_id(**cert);
    if (!expected_id || *expected_id != id) return std::optional<certificate_record>();
    return found;
  }

  // RFC 9773 5: a new order that "replaces" a certificate must name one of
  // this CA's, of the account's member (the member owns certificates here,
  // whichever account or path got them), sharing an identifier with the
  // order, and not yet replaced by another finalized order (409
  // alreadyReplaced). The refusal, or nullopt if the order may go on.
  result<std::optional<problem>> check_replaces(transaction& tx, const std::string& id,
                                                const ari_cert_id_parts& parts, const acme_account& acct,
                                                const std::vector<std::string>& names) {
    auto rec = certificate_by_ari_id(tx, id, parts);
    if (!rec) return unexpected(rec.error());
    if (!*rec) {
      return problem(problem_type::malformed, "\"replaces\" names no certificate of this CA (RFC 9773 5)");
    }
    if ((*rec)->member != acct.member) {
      return problem(problem_type::unauthorized,
                     "\"replaces\" names a certificate of another member; an order can only renew its member's own");
    }
    bool shared = false;
    for (const auto& san : (*rec)->sans) {
      if (!starts_with(san, "DNS:")) continue;
      const std::string name = ascii_lower(std::string_view(san).substr(4));
      shared = shared || std::find(names.begin(), names.end(), name) != names.end();
    }
    if (!shared) {
      return problem(problem_type::malformed, "the certificate that \"replaces\" names (serial " + (*rec)->serial +
                                                  ") shares no identifier with this order (RFC 9773 5)");
    }
    auto by = tx.acme().replacement_of(id);
    if (!by) return unexpected(by.error());
    if (*by) {
      return problem(problem_type::already_replaced, "the certificate " + (*rec)->serial +
                                                         " was already replaced by order " + order_url((*by)->public_id));
    }
    return std::optional<problem>();
  }

  outcome renewal_info(std::string_view id) {
    auto parts = parse_ari_cert_id(id);
    if (!parts) return refuse(problem_type::malformed, "the path does not end in an ARI certificate id (RFC 9773 4.1)");
    std::optional<certificate_record> rec;
    if (auto r = read_into(rec, [&](transaction& tx) { return certificate_by_ari_id(tx, id, *parts); }); !r) {
      return unexpected(std::move(r.error()));
    }
    if (!rec) return refuse(problem_type::malformed, "no certificate of this CA has that id", 404);
    const auto window = suggested_window(rec->not_before, rec->not_after, rec->revoked_at);
    auto resp = json_response(200, json{{"suggestedWindow", {{"start", format_time(window.start)},
                                                             {"end", format_time(window.end)}}}});
    resp.set("Retry-After", std::to_string(ari_retry_after_seconds));
    return resp;
  }

  const config& cfg_;
  std::string base_;
  std::string origin_;
  std::string prefix_;
  const ca_material& material_;
  challenge_validator& validator_;
  const clock& clock_;
  random_source& rng_;
  nonce_codec nonces_;
  jwk_cache account_keys_;  // the stored JWK of each account that signs, parsed once
  std::string class1_pem_, class3_pem_, root_pem_;  // the chain's other links, written once
  jws_limits limits_;
  // The store connections and issuing services, one per request in flight.
  worker_pool pool_;
  static thread_local request_context* current_;
  std::atomic<std::int64_t> last_sweep_{0};  // unix seconds of the last sweep of used nonces
  counters metrics_;
};

thread_local request_context* service_impl::current_ = nullptr;

}  // namespace

result<std::unique_ptr<service>> service::make(const config& cfg, std::string base_url, store& db,
                                               certificate_authority& ca, const ca_material& material,
                                               challenge_validator& validator, const clock& clk, random_source& rng,
                                               const service_options& options) {
  (void)ca;  // each connection gets its own, made like it (see service.h)
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  if (!starts_with(base_url, "https://") && !starts_with(base_url, "http://")) {
    return fail(errc::config, "acme.base_url", "'" + base_url + "' is not an http(s) URL");
  }
  if (cfg.acme.nonce_seconds <= 0 || cfg.acme.max_request_bytes <= 0 || cfg.acme.order_hours <= 0) {
    return fail(errc::config, "acme", "nonce_seconds, order_hours and max_request_bytes must be positive");
  }
  auto key = load_or_make_nonce_key(cfg.keys_dir() / "acme-nonce.key", rng);
  if (!key) return unexpected(key.error());
  return std::unique_ptr<service>(
      new service_impl(cfg, std::move(base_url), db, material, validator, clk, rng, *key, options.connections));
}

}  // namespace wotca::acme
