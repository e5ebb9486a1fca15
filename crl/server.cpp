#include "crl/server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace wotca {

namespace {

// A DER header (X.690 8.1): tag and definite length, without requiring the
// contents to be present (the caller reads a prefix of a large file).
struct header {
  std::uint8_t tag = 0;
  std::uint64_t length = 0;
  std::size_t size = 0;  // bytes of tag and length
};

std::optional<header> read_header(std::span<const std::uint8_t> in) {
  if (in.size() < 2) return std::nullopt;
  header h;
  h.tag = in[0];
  if ((h.tag & 0x1f) == 0x1f) return std::nullopt;  // high tag numbers: no CRL field uses them
  const std::uint8_t first = in[1];
  if (first < 0x80) {
    h.length = first;
    h.size = 2;
    return h;
  }
  const std::size_t n = first & 0x7f;
  if (n == 0 || n > 8 || in.size() < 2 + n) return std::nullopt;  // indefinite, reserved, truncated
  if (in[2] == 0) return std::nullopt;                              // not minimal
  for (std::size_t i = 0; i < n; ++i) h.length = h.length << 8 | in[2 + i];
  if (h.length < 0x80) return std::nullopt;
  h.size = 2 + n;
  return h;
}

unexpected<error> bad_head(std::string_view what) {
  return fail(errc::invalid_input, "crl", "not the start of a CRL: " + std::string(what));
}

int digits(std::string_view s, std::size_t at, std::size_t n) {
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280 4.1.2.5).
std::optional<sys_seconds> der_time(std::uint8_t tag, std::string_view s) {
  int year = 0;
  std::size_t at = 0;
  if (tag == 0x17 && s.size() == 13) {
    year = digits(s, 0, 2);
    if (year < 0) return std::nullopt;
    year += year < 50 ? 2000 : 1900;
    at = 2;
  } else if (tag == 0x18 && s.size() == 15) {
    year = digits(s, 0, 4);
    at = 4;
  } else {
    return std::nullopt;
  }
  if (year < 0 || s.back() != 'Z') return std::nullopt;
  const int mon = digits(s, at, 2), day = digits(s, at + 2, 2), h = digits(s, at + 4, 2),
            m = digits(s, at + 6, 2), sec = digits(s, at + 8, 2);
  if (mon < 1 || mon > 12 || day < 1 || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year{year}, month{static_cast<unsigned>(mon)}, std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_seconds{sys_days{ymd}.time_since_epoch()} + hours{h} + minutes{m} + seconds{sec};
}

constexpr std::array<const char*, 7> weekdays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// The DER bytes at the start of a PEM CRL file's prefix.
std::vector<std::uint8_t> pem_prefix_der(std::string_view text) {
  constexpr std::string_view begin = "-----BEGIN X509 CRL-----";
  std::vector<std::uint8_t> out;
  auto at = text.find(begin);
  if (at == std::string_view::npos) return out;
  text.remove_prefix(at + begin.size());
  std::string b64;
  for (char c : text) {
    if (c == '\n' || c == '\r') continue;
    if (c == '-') break;
    b64.push_back(c);
  }
  b64.resize(b64.size() / 4 * 4);
  out.resize(b64.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

std::string quoted_etag(std::uint64_t ino, std::uint64_t size, std::int64_t mtime_ns) {
  char buf[80];
  std::snprintf(buf, sizeof buf, "\"%llx-%llx-%llx\"", static_cast<unsigned long long>(mtime_ns),
                static_cast<unsigned long long>(size), static_cast<unsigned long long>(ino));
  return buf;
}

// RFC 9110 13.1.2: If-None-Match is "*" or a list of entity tags, compared
// weakly (a W/ prefix is ignored).
bool etag_matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    while (!header.empty() && (header.front() == ' ' || header.front() == '\t' || header.front() == ',')) {
      header.remove_prefix(1);
    }
    if (header.empty()) break;
    if (header.front() == '*') return true;
    if (header.starts_with("W/")) header.remove_prefix(2);
    auto end = header.find(',');
    std::string_view one = header.substr(0, end);
    while (!one.empty() && (one.back() == ' ' || one.back() == '\t')) one.remove_suffix(1);
    if (one == etag) return true;
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return false;
}

}  // namespace

result<crl_head> read_crl_head(std::span<const std::uint8_t> in) {
  // CertificateList ::= SEQUENCE { tbsCertList TBSCertList, ... }
  auto outer = read_header(in);
  if (!outer || outer->tag != 0x30) return bad_head("no outer SEQUENCE");
  in = in.subspan(outer->size);
  auto tbs = read_header(in);
  if (!tbs || tbs->tag != 0x30 || tbs->length + tbs->size > outer->length) return bad_head("no TBSCertList");
  in = in.subspan(tbs->size);
  if (in.size() > tbs->length) in = in.first(static_cast<std::size_t>(tbs->length));
  // The small fields up to nextUpdate, each of which must be whole here.
  auto next = [&](std::string_view what) -> result<std::pair<header, std::span<const std::uint8_t>>> {
    auto h = read_header(in);
    if (!h || h->length > in.size() - h->size) return bad_head(std::string(what) + " is truncated or malformed");
    auto contents = in.subspan(h->size, static_cast<std::size_t>(h->length));
    in = in.subspan(h->size + static_cast<std::size_t>(h->length));
    return std::pair{*h, contents};
  };
  auto first = next("version or signature");
  if (!first) return unexpected(first.error());
  if (first->first.tag == 0x02) {  // version (v2); then the AlgorithmIdentifier
    first = next("signature");
    if (!first) return unexpected(first.error());
  }
  if (first->first.tag != 0x30) return bad_head("no signature AlgorithmIdentifier");
  auto issuer = next("issuer");
  if (!issuer) return unexpected(issuer.error());
  if (issuer->first.tag != 0x30) return bad_head("no issuer Name");
  auto this_update = next("thisUpdate");
  if (!this_update) return unexpected(this_update.error());
  std::string_view text(reinterpret_cast<const char*>(this_update->second.data()), this_update->second.size());
  auto t = der_time(this_update->first.tag, text);
  if (!t) return bad_head("thisUpdate is not a UTCTime or GeneralizedTime");
  crl_head out{*t, std::nullopt};
  if (!in.empty() && (in[0] == 0x17 || in[0] == 0x18)) {
    auto next_update = next("nextUpdate");
    if (!next_update) return unexpected(next_update.error());
    std::string_view nt(reinterpret_cast<const char*>(next_update->second.data()), next_update->second.size());
    auto n = der_time(next_update->first.tag, nt);
    if (!n) return bad_head("nextUpdate is not a UTCTime or GeneralizedTime");
    out.next_update = *n;
  }
  return out;
}

std::string http_date(sys_seconds t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  const weekday wd{day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d GMT", weekdays[wd.c_encoding()],
                static_cast<unsigned>(ymd.day()), months[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return buf;
}

std::optional<sys_seconds> parse_http_date(std::string_view s) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": 29 characters.
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  int mon = -1;
  for (int i = 0; i < 12; ++i) {
    if (s.substr(8, 3) == months[static_cast<std::size_t>(i)]) mon = i + 1;
  }
  const int day = digits(s, 5, 2), year = digits(s, 12, 4), h = digits(s, 17, 2), m = digits(s, 20, 2),
            sec = digits(s, 23, 2);
  if (mon < 0 || day < 1 || year < 0 || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year{year}, month{static_cast<unsigned>(mon)}, std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_seconds{sys_days{ymd}.time_since_epoch()} + hours{h} + minutes{m} + seconds{std::min(sec, 59)};
}

crl_files::crl_files(std::filesystem::path dir, std::vector<std::string> names, std::uint64_t memory_limit)
    : dir_(std::move(dir)), memory_limit_(memory_limit) {
  for (auto& n : names) {
    if (ends_with(n, ".crl")) names_.push_back(n + ".pem");
    names_.push_back(std::move(n));
  }
}

namespace {

// All `size` bytes of `fd` from offset 0, or nullopt when the file no longer
// has them (it was truncated in place: the next refresh looks again).
std::optional<std::string> read_whole(int fd, std::uint64_t size) {
  std::string out(static_cast<std::size_t>(size), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t got = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return std::nullopt;
    done += static_cast<std::size_t>(got);
  }
  return out;
}

}  // namespace

std::vector<std::string> crl_files::refresh() {
  std::vector<std::string> changed;
  for (const auto& name : names_) {
    const auto path = (dir_ / name).string();
    struct stat st {};
    std::shared_ptr<const served> old;
    {
      std::lock_guard lock(mutex_);
      auto it = files_.find(name);
      if (it != files_.end()) old = it->second;
    }
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      if (old) {
        std::lock_guard lock(mutex_);
        files_.erase(name);
      }
      continue;
    }
    const std::int64_t mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (old && old->inode == st.st_ino && old->mtime_ns == mtime_ns &&
        old->size == static_cast<std::uint64_t>(st.st_size)) {
      continue;
    }
    auto file = open_file::open(path);
    if (!file) continue;  // replaced again meanwhile: the next refresh takes it
    // Identity of what was opened, not of what stat saw before.
    struct stat opened {};
    if (::fstat((*file)->fd(), &opened) != 0) continue;
    auto s = std::make_shared<served>();
    s->inode = opened.st_ino;
    s->size = (*file)->size();
    s->mtime_ns = static_cast<std::int64_t>(opened.st_mtim.tv_sec) * 1'000'000'000 + opened.st_mtim.tv_nsec;
    if (s->size <= memory_limit_) {
      auto bytes = read_whole((*file)->fd(), s->size);
      if (!bytes) continue;
      s->bytes = std::make_shared<const std::string>(std::move(*bytes));
    } else {
      s->file = *file;
    }
    s->etag = quoted_etag(s->inode, s->size, s->mtime_ns);
    s->modified = sys_seconds{std::chrono::seconds(opened.st_mtim.tv_sec)};
    const bool pem = ends_with(name, ".pem");
    if (ends_with(name, ".crt")) {
      s->content_type = "application/pkix-cert";
    } else {
      s->content_type = pem ? "application/x-pem-file" : "application/pkix-crl";
      std::array<std::uint8_t, 8192> head{};
      std::size_t got = 0;
      if (s->bytes) {
        got = std::min(head.size(), s->bytes->size());
        std::memcpy(head.data(), s->bytes->data(), got);
      } else if (const ssize_t n = ::pread((*file)->fd(), head.data(), head.size(), 0); n > 0) {
        got = static_cast<std::size_t>(n);
      }
      if (got > 0) {
        std::span<const std::uint8_t> bytes(head.data(), got);
        std::vector<std::uint8_t> decoded;
        if (pem) {
          decoded = pem_prefix_der(std::string_view(reinterpret_cast<const char*>(head.data()), bytes.size()));
          bytes = decoded;
        }
        if (auto h = read_crl_head(bytes)) {
          s->modified = h->this_update;
          s->next_update = h->next_update;
        }
      }
    }
    s->last_modified = http_date(s->modified);
    if (s->next_update) s->expires = http_date(*s->next_update);
    {
      std::lock_guard lock(mutex_);
      files_[name] = std::move(s);
    }
    changed.push_back(name);
  }
  return changed;
}

http_response crl_files::respond(const http_request& req, sys_seconds now) const {
  http_response r;
  auto plain = [&](int status, std::string body) {
    r.status = status;
    r.headers.emplace_back("Content-Type", "text/plain");
    r.body = std::move(body);
    return r;
  };
  if (req.method != "GET" && req.method != "HEAD") {
    r.headers.emplace_back("Allow", "GET, HEAD");
    return plain(405, "only GET and HEAD\n");
  }
  std::string_view path = req.raw_path;
  if (!path.starts_with('/')) return plain(404, "not found\n");
  path.remove_prefix(1);
  std::shared_ptr<const served> s;
  {
    std::lock_guard lock(mutex_);
    auto it = files_.find(path);
    if (it != files_.end()) s = it->second;
  }
  if (!s) return plain(404, "not found\n");

  r.headers.reserve(5);
  r.headers.emplace_back("ETag", s->etag);
  r.headers.emplace_back("Last-Modified", s->last_modified);
  std::int64_t max_age = 86400;
  if (s->next_update) {
    r.headers.emplace_back("Expires", s->expires);
    max_age = std::max<std::int64_t>(0, (*s->next_update - now).count());
  }
  // Only max-age changes from one request to the next.
  constexpr std::string_view cache_tail = ", public, no-transform, must-revalidate";
  char digits_buf[24];
  const auto end = std::to_chars(digits_buf, digits_buf + sizeof digits_buf, max_age).ptr;
  std::string cache_control;
  cache_control.reserve(8 + static_cast<std::size_t>(end - digits_buf) + cache_tail.size());
  cache_control.append("max-age=").append(digits_buf, end).append(cache_tail);
  r.headers.emplace_back("Cache-Control", std::move(cache_control));
  // RFC 9110 13.2.2: If-None-Match first; If-Modified-Since only without it.
  const auto inm = req.header("If-None-Match");
  bool not_modified = false;
  if (!inm.empty()) {
    not_modified = etag_matches(inm, s->etag);
  } else if (const auto ims_text = req.header("If-Modified-Since"); !ims_text.empty()) {
    const auto ims = parse_http_date(ims_text);
    not_modified = ims && s->modified <= *ims;
  }
  if (not_modified) {
    r.status = 304;
    return r;
  }
  r.headers.emplace_back("Content-Type", s->content_type);
  if (s->bytes) {
    r.body = s->bytes;
  } else {
    r.body = file_body{s->file, 0, s->file->size()};
  }
  return r;
}

}  // namespace wotca
