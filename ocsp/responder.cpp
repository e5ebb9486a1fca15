#include "ocsp/responder.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

#include "core/pki/issuer.h"
#include "core/status/request_path.h"
#include "core/util/encoding.h"

namespace wotca {

namespace {

// RFC 9110 5.6.7 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(sys_seconds t) {
  std::time_t tt = static_cast<std::time_t>(t.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::optional<sys_seconds> parse_http_date(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return sys_seconds{std::chrono::seconds{timegm(&tm)}};
}

template <std::size_t N>
void set_text(std::array<char, N>& out, std::string_view text) {
  std::fill(out.begin(), out.end(), ' ');
  std::copy_n(text.begin(), std::min(text.size(), N), out.begin());
}

template <std::size_t N>
std::string_view view_of(const std::array<char, N>& a) {
  return std::string_view(a.data(), a.size());
}

std::string etag_of(std::span<const std::uint8_t> der) {
  auto digest = sha256(der);
  return "\"" + to_hex(std::span<const std::uint8_t>(digest).first(16)) + "\"";
}

// The table's key for a CertID's serial (INTEGER contents): only 20 octets
// can name a certificate this CA issued.
std::optional<serial_number> key_of(std::span<const std::uint8_t> serial) {
  serial_number key{};
  if (serial.size() != key.size()) return std::nullopt;
  std::copy(serial.begin(), serial.end(), key.begin());
  return key;
}

char lower_ascii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 8.3.1: the media type, parameters dropped, compared without case.
bool is_media_type(std::string_view header, std::string_view want) {
  std::string_view type = trim_ows(header.substr(0, header.find(';')));
  if (type.size() != want.size()) return false;
  for (std::size_t i = 0; i < type.size(); ++i) {
    if (lower_ascii(type[i]) != want[i]) return false;
  }
  return true;
}

// RFC 9110 13.1.2 If-None-Match: "*" or a list of entity tags, compared
// weakly (a W/ prefix on either side does not matter).
bool none_match_hits(std::string_view header, std::string_view etag) {
  auto strip_weak = [](std::string_view t) { return t.substr(0, 2) == "W/" ? t.substr(2) : t; };
  etag = strip_weak(etag);
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view item = trim_ows(header.substr(0, comma));
    if (item == "*" || strip_weak(item) == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

http_response ocsp_bytes(std::span<const std::uint8_t> der) {
  http_response r;
  r.headers.emplace_back("Content-Type", "application/ocsp-response");
  r.body = std::string(reinterpret_cast<const char*>(der.data()), der.size());
  return r;
}

http_response unsuccessful(ocsp_response_status s) { return ocsp_bytes(unsuccessful_response(s)); }

// RFC 5019 6: caching headers of a response valid from this_update to
// next_update; max-age never runs past nextUpdate.
void cache_headers(http_response& r, sys_seconds next_update, sys_seconds now, std::string_view last_modified,
                   std::string_view expires, std::string_view etag) {
  auto max_age = std::chrono::duration_cast<std::chrono::seconds>(next_update - now).count();
  if (max_age < 0) max_age = 0;
  r.headers.reserve(r.headers.size() + 4);
  r.headers.emplace_back("Cache-Control",
                         "max-age=" + std::to_string(max_age) + ", public, no-transform, must-revalidate");
  r.headers.emplace_back("Last-Modified", std::string(last_modified));
  r.headers.emplace_back("Expires", std::string(expires));
  r.headers.emplace_back("ETag", std::string(etag));
}

}  // namespace

const issuer_hashes& ocsp_responder::served_issuer::hashes(hash_algorithm a) const {
  switch (a) {
    case hash_algorithm::sha256: return sha256;
    case hash_algorithm::sha384: return sha384;
    case hash_algorithm::sha512: return sha512;
    default: return sha1;
  }
}

result<std::unique_ptr<ocsp_responder>> ocsp_responder::make(std::vector<ocsp_issuer> issuers,
                                                             const ocsp_settings& settings) {
  std::vector<served_issuer> served;
  for (auto& i : issuers) {
    served_issuer s;
    for (auto [alg, out] : {std::pair{hash_algorithm::sha1, &s.sha1}, std::pair{hash_algorithm::sha256, &s.sha256},
                            std::pair{hash_algorithm::sha384, &s.sha384}, std::pair{hash_algorithm::sha512, &s.sha512}}) {
      auto h = hashes_of(*i.signer.issuer, alg);
      if (!h) return unexpected(h.error());
      *out = std::move(*h);
    }
    // certs [0] EXPLICIT SEQUENCE OF Certificate (RFC 6960 4.2.1), as
    // OCSP_basic_sign writes it for the one signer certificate.
    int len = i2d_X509(i.signer.cert.get(), nullptr);
    if (len <= 0) return fail(errc::crypto, "ocsp signer", "cannot encode the responder certificate");
    std::string cert(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(cert.data());
    i2d_X509(i.signer.cert.get(), &p);
    auto wrap = [](std::uint8_t tag, const std::string& content) {
      std::string out(1, static_cast<char>(tag));
      const std::size_t n = content.size();
      if (n < 0x80) {
        out += static_cast<char>(n);
      } else if (n < 0x100) {
        out += '\x81';
        out += static_cast<char>(n);
      } else if (n < 0x10000) {
        out += '\x82';
        out += static_cast<char>(n >> 8);
        out += static_cast<char>(n & 0xff);
      } else {
        out += '\x83';
        out += static_cast<char>(n >> 16);
        out += static_cast<char>((n >> 8) & 0xff);
        out += static_cast<char>(n & 0xff);
      }
      return out + content;
    };
    s.tail = wrap(0xa0, wrap(0x30, cert));
    s.info = std::move(i);
    served.push_back(std::move(s));
  }
  return std::unique_ptr<ocsp_responder>(new ocsp_responder(std::move(served), settings));
}

result<std::shared_ptr<const ocsp_responder::entry>> ocsp_responder::sign_entry(const served_issuer& s,
                                                                                 const serial_number& serial,
                                                                                 const certificate_state& st,
                                                                                 sys_seconds now) {
  single_response one;
  one.alg = hash_algorithm::sha1;
  one.serial = serial;
  one.state = st;
  one.this_update = now;
  one.next_update = now + settings_.validity;
  auto t0 = std::chrono::steady_clock::now();
  auto der = sign_ocsp_response(s.info.signer, std::span<const single_response>(&one, 1), std::nullopt);
  counters_.sign_nanoseconds += static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  ++counters_.signatures;
  if (!der) return unexpected(der.error());
  auto e = std::make_shared<entry>();
  e->state = st;
  e->this_update = one.this_update;
  e->next_update = one.next_update;
  set_text(e->etag, etag_of(*der));
  set_text(e->last_modified, http_date(e->this_update));
  set_text(e->expires, http_date(e->next_update));
  const auto* bytes = reinterpret_cast<const char*>(der->data());
  const std::string_view all(bytes, der->size());
  e->whole = all.size() <= s.tail.size() || all.substr(all.size() - s.tail.size()) != s.tail;
  e->head.assign(bytes, e->whole ? all.size() : all.size() - s.tail.size());
  return std::shared_ptr<const entry>(std::move(e));
}

result<void> ocsp_responder::update(issuer_class issuer, std::string_view serial_hex, const certificate_state& state,
                                    sys_seconds now) {
  auto serial = serial_from_hex(serial_hex);
  if (!serial) return unexpected(serial.error());
  for (auto& s : issuers_) {
    if (s.info.issuer != issuer) continue;
    // Sign outside the lock: readers keep being served the old bytes.
    auto made = sign_entry(s, *serial, state, now);
    if (!made) return unexpected(made.error());
    std::unique_lock lock(mutex_);
    s.entries[*serial] = std::move(*made);
    return {};
  }
  return fail(errc::not_found, "issuer", "this responder does not serve " + std::string(to_string(issuer)));
}

bool ocsp_responder::serves(issuer_class issuer) const {
  return std::any_of(issuers_.begin(), issuers_.end(), [&](const served_issuer& s) { return s.info.issuer == issuer; });
}

result<std::size_t> ocsp_responder::load(std::span<const ocsp_preload> items, sys_seconds now, unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  {
    // Room for every item up front: no rehash while the threads insert.
    std::unique_lock lock(mutex_);
    for (auto& s : issuers_) {
      const std::size_t mine = static_cast<std::size_t>(std::count_if(
          items.begin(), items.end(), [&](const ocsp_preload& p) { return p.issuer == s.info.issuer; }));
      s.entries.reserve(s.entries.size() + mine);
    }
  }
  // Each thread takes the next `chunk` items, signs them without a lock
  // (OpenSSL 3 signs with one EVP_PKEY from several threads; every call
  // makes its own contexts), then inserts them under one exclusive lock.
  constexpr std::size_t chunk = 256;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> signed_count{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::optional<error> first_error;
  auto work = [&] {
    std::vector<std::pair<served_issuer*, std::pair<serial_number, std::shared_ptr<const entry>>>> done;
    done.reserve(chunk);
    while (!failed.load(std::memory_order_relaxed)) {
      const std::size_t begin = next.fetch_add(chunk);
      if (begin >= items.size()) break;
      const std::size_t end = std::min(items.size(), begin + chunk);
      done.clear();
      for (std::size_t i = begin; i < end; ++i) {
        const ocsp_preload& p = items[i];
        auto s = std::find_if(issuers_.begin(), issuers_.end(),
                              [&](const served_issuer& x) { return x.info.issuer == p.issuer; });
        if (s == issuers_.end()) continue;
        auto made = sign_entry(*s, p.serial, p.state, now);
        if (!made) {
          std::lock_guard g(error_mutex);
          if (!first_error) first_error = made.error();
          failed = true;
          return;
        }
        done.emplace_back(&*s, std::pair{p.serial, std::move(*made)});
      }
      std::unique_lock lock(mutex_);
      for (auto& [s, kv] : done) s->entries.insert_or_assign(kv.first, std::move(kv.second));
      lock.unlock();
      signed_count += done.size();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();  // this thread is one of them
  for (auto& t : pool) t.join();
  if (first_error) return unexpected(*first_error);
  return signed_count.load();
}

result<std::size_t> ocsp_responder::refresh_stale(sys_seconds now, std::size_t budget) {
  const std::int64_t now_s = now.time_since_epoch().count();
  if (now_s < refresh_due_.load()) return std::size_t{0};
  const auto half = std::chrono::duration_cast<std::chrono::seconds>(settings_.validity / 2);
  std::vector<std::tuple<served_issuer*, serial_number, certificate_state>> stale;
  // The earliest thisUpdate among the responses left as they are.
  sys_seconds oldest_kept = now;
  bool more = false;
  {
    std::shared_lock lock(mutex_);
    for (auto& s : issuers_) {
      for (const auto& [key, e] : s.entries) {
        // Re-signed before half of its validity has passed.
        if (now - e->this_update >= half) {
          if (stale.size() < budget) {
            stale.emplace_back(&s, key, e->state);
          } else {
            more = true;
          }
        } else {
          oldest_kept = std::min(oldest_kept, e->this_update);
        }
      }
    }
  }
  for (auto& [s, key, st] : stale) {
    auto made = sign_entry(*s, key, st, now);
    if (!made) return unexpected(made.error());
    std::unique_lock lock(mutex_);
    s->entries[key] = std::move(*made);
  }
  // Past the budget: look again at the next poll. Otherwise nothing is due
  // before the oldest response kept reaches half its validity.
  refresh_due_.store(more ? now_s : (oldest_kept + half).time_since_epoch().count());
  return stale.size();
}

std::size_t ocsp_responder::size() const {
  std::shared_lock lock(mutex_);
  std::size_t n = 0;
  for (const auto& s : issuers_) n += s.entries.size();
  return n;
}

sys_seconds ocsp_responder::oldest_this_update() const {
  std::shared_lock lock(mutex_);
  sys_seconds oldest = sys_seconds::max();
  for (const auto& s : issuers_) {
    for (const auto& [key, e] : s.entries) oldest = std::min(oldest, e->this_update);
  }
  return oldest == sys_seconds::max() ? sys_seconds{} : oldest;
}

http_response ocsp_responder::respond(const http_request& req, sys_seconds now) {
  if (req.method == "GET" || req.method == "HEAD") {
    auto der = decode_get_path(req.raw_path, settings_.max_request_bytes);
    if (!der) {
      ++counters_.malformed;
      return unsuccessful(ocsp_response_status::malformed_request);
    }
    return answer(*der, true, req, now);
  }
  if (req.method == "POST") {
    // RFC 6960 A.1.1: Content-Type application/ocsp-request.
    std::string_view type = req.header("Content-Type");
    if (!is_media_type(type, "application/ocsp-request") || req.body.empty() ||
        req.body.size() > settings_.max_request_bytes) {
      ++counters_.malformed;
      return unsuccessful(ocsp_response_status::malformed_request);
    }
    std::vector<std::uint8_t> der(req.body.begin(), req.body.end());
    return answer(der, false, req, now);
  }
  http_response r;
  r.status = 405;
  r.headers.emplace_back("Allow", "GET, HEAD, POST");
  return r;
}

http_response ocsp_responder::answer(const std::vector<std::uint8_t>& der, bool is_get, const http_request& req,
                                     sys_seconds now) {
  request_limits limits;
  limits.max_ids = settings_.max_ids;
  auto decoded = decode_ocsp_request(der, limits);
  if (!decoded) {
    ++counters_.malformed;
    return unsuccessful(ocsp_response_status::malformed_request);
  }
  // RFC 8954 2.1: a nonce of 1 to 32 octets, else the request is refused.
  const bool use_nonce = settings_.nonces && decoded->nonce.has_value();
  if (use_nonce && (decoded->nonce->empty() || decoded->nonce->size() > 32)) {
    ++counters_.malformed;
    return unsuccessful(ocsp_response_status::malformed_request);
  }

  // Every CertID must name an issuer we serve (RFC 6960 2.3: unauthorized).
  std::vector<const served_issuer*> owners;
  for (const auto& id : decoded->ids) {
    const served_issuer* owner = nullptr;
    for (const auto& s : issuers_) {
      const auto& h = s.hashes(id.alg);
      if (id.alg != hash_algorithm::unknown && std::equal(id.issuer_key_hash.begin(), id.issuer_key_hash.end(),
                                                          h.key_hash.begin(), h.key_hash.end()) &&
          std::equal(id.issuer_name_hash.begin(), id.issuer_name_hash.end(), h.name_hash.begin(), h.name_hash.end())) {
        owner = &s;
      }
    }
    if (owner == nullptr) {
      ++counters_.unauthorized;
      return unsuccessful(ocsp_response_status::unauthorized);
    }
    owners.push_back(owner);
  }

  auto count_state = [&](cert_state s) {
    if (s == cert_state::good) ++counters_.good;
    else if (s == cert_state::revoked) ++counters_.revoked;
    else ++counters_.unknown;
  };

  // The fast path (RFC 5019): one SHA-1 CertID, no nonce to echo: the
  // pre-signed bytes as they are.
  if (decoded->ids.size() == 1 && decoded->ids[0].alg == hash_algorithm::sha1 && !use_nonce) {
    auto key = key_of(decoded->ids[0].serial);
    std::shared_ptr<const entry> found;
    if (key) {
      std::shared_lock lock(mutex_);
      auto it = owners[0]->entries.find(*key);
      if (it != owners[0]->entries.end() && it->second->next_update > now) found = it->second;
    }
    if (found) {
      const entry& hit = *found;
      ++counters_.cache_hits;
      count_state(hit.state.state);
      http_response r;
      if (is_get) {
        std::string_view inm = req.header("If-None-Match");
        std::string_view ims = req.header("If-Modified-Since");
        auto since = ims.empty() ? std::nullopt : parse_http_date(ims);
        // RFC 9110 13.1.3: If-Modified-Since counts only without If-None-Match.
        if ((!inm.empty() && none_match_hits(inm, view_of(hit.etag))) ||
            (inm.empty() && since && *since >= hit.this_update)) {
          ++counters_.not_modified;
          r.status = 304;
          cache_headers(r, hit.next_update, now, view_of(hit.last_modified), view_of(hit.expires), view_of(hit.etag));
          return r;
        }
      }
      r.headers.emplace_back("Content-Type", "application/ocsp-response");
      cache_headers(r, hit.next_update, now, view_of(hit.last_modified), view_of(hit.expires), view_of(hit.etag));
      // The pre-signed bytes, joined with the signer's tail every response
      // of this issuer shares (see the header's "Memory").
      std::string body;
      const std::string_view tail = hit.whole ? std::string_view() : std::string_view(owners[0]->tail);
      body.reserve(hit.head.size() + tail.size());
      body.append(hit.head).append(tail);
      r.body = std::move(body);
      return r;
    }
  }

  // Signed on demand: several CertIDs, another hash, a nonce, or a serial
  // this CA never issued (never `good`: its state is unknown).
  std::vector<single_response> singles;
  bool names_unknown = false;
  {
    std::shared_lock lock(mutex_);
    for (std::size_t i = 0; i < decoded->ids.size(); ++i) {
      const auto& id = decoded->ids[i];
      single_response one;
      one.alg = id.alg;
      one.serial = id.serial;
      if (auto key = key_of(id.serial)) {
        auto it = owners[i]->entries.find(*key);
        if (it != owners[i]->entries.end()) one.state = it->second->state;
      }
      one.this_update = now;
      one.next_update = now + settings_.validity;
      names_unknown = names_unknown || one.state.state == cert_state::unknown;
      singles.push_back(one);
    }
  }
  if (names_unknown && settings_.unknown_signatures_per_second > 0) {
    std::lock_guard lock(unknown_mutex_);
    const std::int64_t second = now.time_since_epoch().count();
    if (second != unknown_second_) {
      unknown_second_ = second;
      unknown_in_second_ = 0;
    }
    if (unknown_in_second_ >= settings_.unknown_signatures_per_second) {
      ++counters_.unknown_limited;
      return unsuccessful(ocsp_response_status::try_later);
    }
    ++unknown_in_second_;
  }
  for (const auto& one : singles) count_state(one.state.state);
  // One signer signs a response: CertIDs of both issuers in one request are
  // answered by the first's responder, which clients accept only for its own
  // issuer; such mixed requests do not occur in practice.
  auto t0 = std::chrono::steady_clock::now();
  auto signed_der = sign_ocsp_response(owners[0]->info.signer, singles,
                                       use_nonce ? decoded->nonce : std::nullopt, decoded->nonce_unwrapped);
  counters_.sign_nanoseconds += static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  ++counters_.signatures;
  ++counters_.signed_on_demand;
  if (!signed_der) {
    ++counters_.internal;
    return unsuccessful(ocsp_response_status::internal_error);
  }
  http_response r = ocsp_bytes(*signed_der);
  if (!use_nonce) {
    // Without a nonce the answer is as cacheable as a pre-signed one.
    cache_headers(r, now + settings_.validity, now, http_date(now), http_date(now + settings_.validity),
                  etag_of(*signed_der));
  } else {
    r.headers.emplace_back("Cache-Control", "no-store");
  }
  return r;
}

}  // namespace wotca
