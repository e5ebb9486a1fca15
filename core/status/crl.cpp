#include "core/status/crl.h"

#include "core/pki/key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <span>
#include <system_error>
#include <utility>

namespace wotca {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t io_chunk = 1 << 20;
constexpr std::string_view temp_prefix = ".wotca-tmp-";

// --- DER pieces (X.690) ------------------------------------------------------

void put_length(std::string& out, std::uint64_t len) {
  if (len < 0x80) {
    out.push_back(static_cast<char>(len));
    return;
  }
  int bytes = 0;
  for (std::uint64_t l = len; l != 0; l >>= 8) ++bytes;
  out.push_back(static_cast<char>(0x80 | bytes));
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
}

void put_header(std::string& out, std::uint8_t tag, std::uint64_t len) {
  out.push_back(static_cast<char>(tag));
  put_length(out, len);
}

void put_tlv(std::string& out, std::uint8_t tag, std::string_view contents) {
  put_header(out, tag, contents.size());
  out.append(contents);
}

std::string tlv(std::uint8_t tag, std::string_view contents) {
  std::string out;
  put_tlv(out, tag, contents);
  return out;
}

// A non-negative INTEGER in minimal two's complement.
std::string integer_contents(std::uint64_t v) {
  std::string out;
  do {
    out.insert(out.begin(), static_cast<char>(v & 0xff));
    v >>= 8;
  } while (v != 0);
  if (static_cast<unsigned char>(out.front()) & 0x80) out.insert(out.begin(), '\0');
  return out;
}

// Hex digit values, 0xff for anything else: one load per digit on the
// per-entry path instead of three range tests.
constexpr std::array<std::uint8_t, 256> hex_values = [] {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (int c = 0; c < 10; ++c) t[static_cast<std::size_t>('0' + c)] = static_cast<std::uint8_t>(c);
  for (int c = 0; c < 6; ++c) {
    t[static_cast<std::size_t>('a' + c)] = static_cast<std::uint8_t>(10 + c);
    t[static_cast<std::size_t>('A' + c)] = static_cast<std::uint8_t>(10 + c);
  }
  return t;
}();

std::uint8_t hex_value(char c) { return hex_values[static_cast<unsigned char>(c)]; }

// The INTEGER contents of a positive serial given in hex; false if it is
// not hex, zero, or longer than 20 octets (RFC 5280 4.1.2.2).
bool serial_contents(std::string_view hex, std::string& out) {
  while (!hex.empty() && hex.front() == '0') hex.remove_prefix(1);
  if (hex.empty() || hex.size() > 40) return false;
  // At most a leading 0 and 20 octets.
  char buf[21];
  char* p = buf + 1;
  std::size_t i = 0;
  std::uint8_t bad = 0;
  if (hex.size() % 2 == 1) {
    const std::uint8_t v = hex_value(hex[0]);
    bad |= v;
    *p++ = static_cast<char>(v);
    i = 1;
  }
  for (; i < hex.size(); i += 2) {
    const std::uint8_t hi = hex_value(hex[i]);
    const std::uint8_t lo = hex_value(hex[i + 1]);
    bad |= hi | lo;
    *p++ = static_cast<char>(hi << 4 | lo);
  }
  if (bad & 0xf0) return false;  // a non-hex character (0xff) was met
  char* first = buf + 1;
  if (static_cast<unsigned char>(*first) & 0x80) *--first = '\0';
  out.assign(first, p);
  return true;
}

// RFC 5280 5.1.2.4 / 4.1.2.5: UTCTime YYMMDDHHMMSSZ for 1950..2049,
// GeneralizedTime YYYYMMDDHHMMSSZ otherwise. false before year 1 or after 9999.
bool put_time(std::string& out, sys_seconds t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  const int y = static_cast<int>(ymd.year());
  if (y < 1 || y > 9999) return false;
  char buf[16];
  auto two = [&](char* p, unsigned v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  char* p = buf;
  const bool utc = y >= 1950 && y <= 2049;
  if (!utc) {
    two(p, static_cast<unsigned>(y / 100));
    p += 2;
  }
  two(p, static_cast<unsigned>(y % 100));
  two(p + 2, static_cast<unsigned>(ymd.month()));
  two(p + 4, static_cast<unsigned>(ymd.day()));
  two(p + 6, static_cast<unsigned>(hms.hours().count()));
  two(p + 8, static_cast<unsigned>(hms.minutes().count()));
  two(p + 10, static_cast<unsigned>(hms.seconds().count()));
  p[12] = 'Z';
  const std::size_t n = static_cast<std::size_t>(p + 13 - buf);
  put_tlv(out, utc ? 0x17 : 0x18, std::string_view(buf, n));
  return true;
}

// Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN
// DEFAULT FALSE, extnValue OCTET STRING }
void put_extension(std::string& out, std::string_view oid, bool critical, std::string_view value) {
  std::string body = tlv(0x06, oid);
  if (critical) body += std::string("\x01\x01\xff", 3);
  put_tlv(body, 0x04, value);
  put_tlv(out, 0x30, body);
}

// OID contents (X.690 8.19).
constexpr std::string_view oid_crl_number{"\x55\x1d\x14", 3};         // 2.5.29.20
constexpr std::string_view oid_delta_crl_indicator{"\x55\x1d\x1b", 3};  // 2.5.29.27
constexpr std::string_view oid_issuing_dp{"\x55\x1d\x1c", 3};         // 2.5.29.28
constexpr std::string_view oid_authority_key_id{"\x55\x1d\x23", 3};   // 2.5.29.35
constexpr std::string_view oid_freshest_crl{"\x55\x1d\x2e", 3};       // 2.5.29.46

// DistributionPointName ::= CHOICE { fullName [0] GeneralNames, ... } as
// the [0] of a DistributionPoint or IssuingDistributionPoint (a tagged
// CHOICE is explicit), holding one uniformResourceIdentifier [6].
std::string distribution_point_name(std::string_view uri) {
  return tlv(0xa0, tlv(0xa0, tlv(0x86, uri)));
}

// The one entry, as the whole of `out`:
//   SEQUENCE { userCertificate INTEGER, revocationDate Time,
//              crlEntryExtensions Extensions OPTIONAL }
// with reasonCode (5.3.1) ::= ENUMERATED when the reason is not 0. It is
// at most 2 + 23 + 17 + 14 bytes, so every length is one octet; `out` and
// `scratch` are reused from entry to entry: no allocation per entry.
result<void> put_entry(std::string& out, const crl_entry& e, std::string& scratch) {
  if (!serial_contents(e.serial_hex, scratch)) {
    return fail(errc::invalid_input, "crl.entry.serial",
                "'" + std::string(e.serial_hex.substr(0, 64)) +
                    "' is not a positive serial number of at most 20 octets in hex");
  }
  if (e.reason < 0 || e.reason > 10 || e.reason == 6 || e.reason == 7) {
    return fail(errc::invalid_input, "crl.entry.reason",
                "reason code " + std::to_string(e.reason) + " of " + std::string(e.serial_hex) +
                    " is not one a CRL of this CA may carry (certificateHold and 7 are never used)");
  }
  out.clear();
  out.push_back(0x30);
  out.push_back(0);  // the length, set below
  put_tlv(out, 0x02, scratch);
  if (!put_time(out, e.revocation_date)) {
    return fail(errc::invalid_input, "crl.entry.revocation_date",
                "the revocation date of " + std::string(e.serial_hex) + " is outside years 1..9999");
  }
  if (e.reason != 0) {
    // Extensions { Extension { reasonCode, OCTET STRING { ENUMERATED reason } } }
    const char ext[14] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01,
                          static_cast<char>(e.reason)};
    out.append(ext, sizeof ext);
  }
  out[1] = static_cast<char>(out.size() - 2);
  return {};
}

// --- bytes out: a memory buffer or a file ---------------------------------

unexpected<error> io_failure(const std::string& what, const fs::path& path, int err) {
  return fail(errc::io, path.string(), what + ": " + std::strerror(err));
}

result<void> write_all(int fd, const char* p, std::size_t n, const fs::path& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return io_failure("cannot write", path, errno);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

// Where the entries go while they are counted: memory for build_crl, an
// unlinked file beside the CRL for write_crl_file.
class spool {
 public:
  spool() = default;
  spool(const spool&) = delete;
  spool& operator=(const spool&) = delete;
  ~spool() {
    if (fd_ >= 0) ::close(fd_);
  }

  result<void> open_file(const fs::path& dir) {
    dir_ = dir;
    fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      // No O_TMPFILE on this file system: a named file, unlinked at once.
      std::string name = (dir / (std::string(temp_prefix) + "entries.XXXXXX")).string();
      fd_ = ::mkostemp(name.data(), O_CLOEXEC);
      if (fd_ < 0) return io_failure("cannot create a temporary file in the CRL folder", dir, errno);
      ::unlink(name.c_str());
    }
    return {};
  }

  // Appends; `buffer_` is flushed to the file when it grows past io_chunk.
  result<void> append(std::string_view bytes) {
    buffer_.append(bytes);
    size_ += bytes.size();
    if (fd_ >= 0 && buffer_.size() >= io_chunk) return flush();
    return {};
  }

  result<void> flush() {
    if (fd_ < 0 || buffer_.empty()) return {};
    if (auto r = write_all(fd_, buffer_.data(), buffer_.size(), dir_); !r) return r;
    buffer_.clear();
    return {};
  }

  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  [[nodiscard]] bool in_memory() const noexcept { return fd_ < 0; }
  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] const std::string& memory() const noexcept { return buffer_; }

  // Calls fn(chunk) over everything appended, in order (after flush()).
  template <class Fn>
  result<void> replay(Fn&& fn) {
    if (fd_ < 0) return fn(std::string_view(buffer_));
    std::string chunk(io_chunk, '\0');
    std::uint64_t off = 0;
    while (off < size_) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(io_chunk, size_ - off));
      ssize_t got = ::pread(fd_, chunk.data(), want, static_cast<off_t>(off));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return io_failure("cannot read back the spooled CRL entries", dir_, got < 0 ? errno : EIO);
      if (auto r = fn(std::string_view(chunk.data(), static_cast<std::size_t>(got))); !r) return r;
      off += static_cast<std::uint64_t>(got);
    }
    return {};
  }

 private:
  fs::path dir_;
  int fd_ = -1;
  std::string buffer_;
  std::uint64_t size_ = 0;
};

unexpected<error> crypto_failure(std::string what) {
  auto detail = drain_openssl_errors();
  return fail(errc::crypto, "crl.signature", detail.empty() ? what : what + " (" + detail + ")");
}

// Everything of one CRL except the entries, which stay in the spool.
struct crl_parts {
  std::string tbs_head;   // TBSCertList header .. revokedCertificates header
  std::string tbs_tail;   // [0] crlExtensions
  std::string algorithm;  // AlgorithmIdentifier, as in the TBS
  std::string signature;  // BIT STRING
  std::uint64_t entries = 0;

  [[nodiscard]] std::string outer_head(std::uint64_t entries_bytes) const {
    const std::uint64_t tbs = tbs_head.size() + entries_bytes + tbs_tail.size();
    std::string out;
    put_header(out, 0x30, tbs + algorithm.size() + signature.size());
    return out;
  }
};

result<crl_parts> assemble(const crl_params& p, const X509& issuer, const EVP_PKEY& key,
                           const crl_entry_source& source, spool& entries) {
  if (p.crl_number <= 0) {
    return fail(errc::invalid_input, "crl.number", "a CRL number is positive (RFC 5280 5.2.3)");
  }
  if (p.delta_base && (*p.delta_base <= 0 || *p.delta_base >= p.crl_number)) {
    return fail(errc::invalid_input, "crl.delta_base",
                "a delta CRL's base CRL number is positive and below its own number");
  }
  if (p.next_update <= p.this_update) {
    return fail(errc::invalid_input, "crl.next_update", "nextUpdate must be later than thisUpdate");
  }
  if (X509_check_private_key(&issuer, &key) != 1) {
    return crypto_failure("the CRL signing key is not the issuer certificate's key");
  }

  // Pass over the entries: encode each into the spool, counting.
  crl_parts parts;
  std::string one;
  std::string scratch;
  one.reserve(96);
  scratch.reserve(32);
  auto sink = [&](const crl_entry& e) -> result<void> {
    if (auto r = put_entry(one, e, scratch); !r) return r;
    ++parts.entries;
    return entries.append(one);
  };
  if (auto r = source(sink); !r) return unexpected(r.error());
  if (auto r = entries.flush(); !r) return unexpected(r.error());

  // The signer, and from it the AlgorithmIdentifier that both the TBS and
  // the CertificateList carry (OpenSSL's provider names it, params included).
  evp_md_ctx_ptr md(EVP_MD_CTX_new());
  if (!md) return crypto_failure("out of memory");
  EVP_PKEY_CTX* pctx = nullptr;  // owned by `md`
  const bool p384 = EVP_PKEY_is_a(&key, "EC") && EVP_PKEY_get_bits(&key) == 384;
  if (EVP_DigestSignInit(md.get(), &pctx, p384 ? EVP_sha384() : EVP_sha256(), nullptr,
                         const_cast<EVP_PKEY*>(&key)) != 1) {
    return crypto_failure("the CRL signing key cannot sign");
  }
  std::array<unsigned char, 128> alg_buf{};
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, alg_buf.data(), alg_buf.size()),
      OSSL_PARAM_construct_end()};
  if (EVP_PKEY_CTX_get_params(pctx, params) != 1 || !OSSL_PARAM_modified(&params[0])) {
    return crypto_failure("OpenSSL gave no AlgorithmIdentifier for the CRL signature");
  }
  parts.algorithm.assign(reinterpret_cast<const char*>(alg_buf.data()), params[0].return_size);

  // The fields before the entries.
  std::string fields;
  put_tlv(fields, 0x02, std::string_view("\x01", 1));  // v2
  fields += parts.algorithm;
  {
    unsigned char* name = nullptr;
    const int n = i2d_X509_NAME(X509_get_subject_name(&issuer), &name);
    if (n <= 0) return crypto_failure("cannot encode the issuer's name");
    openssl_bytes_ptr owned(name);
    fields.append(reinterpret_cast<const char*>(name), static_cast<std::size_t>(n));
  }
  if (!put_time(fields, p.this_update) || !put_time(fields, p.next_update)) {
    return fail(errc::invalid_input, "crl.this_update", "thisUpdate and nextUpdate must lie in years 1..9999");
  }

  // crlExtensions: AKI, CRL number, then the optional ones.
  std::string exts;
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(const_cast<X509*>(&issuer));  // caches extensions; OpenSSL 3.0 takes non-const
  if (ski == nullptr) {
    return fail(errc::invalid_input, "crl.issuer",
                "the issuer certificate has no subjectKeyIdentifier to name in the Authority Key Identifier");
  }
  {
    // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] KeyIdentifier OPTIONAL, ... }
    std::string_view id(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                        static_cast<std::size_t>(ASN1_STRING_length(ski)));
    put_extension(exts, oid_authority_key_id, false, tlv(0x30, tlv(0x80, id)));
  }
  put_extension(exts, oid_crl_number, false, tlv(0x02, integer_contents(static_cast<std::uint64_t>(p.crl_number))));
  if (p.delta_base) {
    put_extension(exts, oid_delta_crl_indicator, true,
                  tlv(0x02, integer_contents(static_cast<std::uint64_t>(*p.delta_base))));
  }
  if (!p.issuing_distribution_point.empty()) {
    // IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName OPTIONAL, ... }
    put_extension(exts, oid_issuing_dp, true, tlv(0x30, distribution_point_name(p.issuing_distribution_point)));
  }
  if (!p.freshest_crl_url.empty()) {
    // FreshestCRL ::= CRLDistributionPoints ::= SEQUENCE OF DistributionPoint
    put_extension(exts, oid_freshest_crl, false, tlv(0x30, tlv(0x30, distribution_point_name(p.freshest_crl_url))));
  }
  put_tlv(parts.tbs_tail, 0xa0, tlv(0x30, exts));

  std::string revoked_head;
  if (parts.entries > 0) put_header(revoked_head, 0x30, entries.size());  // absent when empty (5.1.2.6)
  const std::uint64_t tbs_len = fields.size() + revoked_head.size() + entries.size() + parts.tbs_tail.size();
  put_header(parts.tbs_head, 0x30, tbs_len);
  parts.tbs_head += fields;
  parts.tbs_head += revoked_head;

  // Sign the TBSCertList as it will be written, streaming the entries.
  auto update = [&](std::string_view bytes) -> result<void> {
    if (EVP_DigestSignUpdate(md.get(), bytes.data(), bytes.size()) != 1) return crypto_failure("hashing the CRL failed");
    return {};
  };
  if (auto r = update(parts.tbs_head); !r) return unexpected(r.error());
  if (auto r = entries.replay(update); !r) return unexpected(r.error());
  if (auto r = update(parts.tbs_tail); !r) return unexpected(r.error());
  std::size_t sig_len = 0;
  if (EVP_DigestSignFinal(md.get(), nullptr, &sig_len) != 1) return crypto_failure("signing the CRL failed");
  std::string sig(sig_len + 1, '\0');  // a leading 0: no unused bits in the BIT STRING
  if (EVP_DigestSignFinal(md.get(), reinterpret_cast<unsigned char*>(sig.data() + 1), &sig_len) != 1) {
    return crypto_failure("signing the CRL failed");
  }
  sig.resize(sig_len + 1);
  put_tlv(parts.signature, 0x03, sig);
  return parts;
}

// A temporary file beside `path` that becomes `path` on commit() and is
// removed otherwise.
class atomic_file {
 public:
  explicit atomic_file(fs::path path) : path_(std::move(path)) {}
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!temp_.empty()) ::unlink(temp_.c_str());
  }

  result<void> open() {
    std::string name = (path_.parent_path() / (std::string(temp_prefix) + path_.filename().string() + ".XXXXXX")).string();
    fd_ = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd_ < 0) return io_failure("cannot create a temporary file beside", path_, errno);
    temp_ = name;
    if (::fchmod(fd_, 0644) != 0) return io_failure("cannot set the mode of a temporary file beside", path_, errno);
    return {};
  }

  [[nodiscard]] int fd() const noexcept { return fd_; }

  result<void> write(std::string_view bytes) {
    pending_.append(bytes);
    if (pending_.size() >= io_chunk) return flush();
    return {};
  }

  result<void> flush() {
    if (pending_.empty()) return {};
    if (auto r = write_all(fd_, pending_.data(), pending_.size(), path_); !r) return r;
    pending_.clear();
    return {};
  }

  // Copies the spooled entries in the kernel where it can (copy_file_range),
  // through user space otherwise.
  result<void> copy_from(spool& s) {
    if (auto r = flush(); !r) return r;
    if (s.in_memory()) return write(s.memory());
    loff_t in_off = 0;
    const auto total = static_cast<loff_t>(s.size());
    while (in_off < total) {
      ssize_t n = ::copy_file_range(s.fd(), &in_off, fd_, nullptr, static_cast<std::size_t>(total - in_off), 0);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) break;
      return io_failure("cannot copy the CRL entries into", path_, errno);
    }
    if (in_off == total) return {};
    std::string chunk(io_chunk, '\0');
    while (in_off < total) {
      ssize_t got = ::pread(s.fd(), chunk.data(), chunk.size(), in_off);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return io_failure("cannot read back the spooled CRL entries for", path_, got < 0 ? errno : EIO);
      if (auto r = write_all(fd_, chunk.data(), static_cast<std::size_t>(got), path_); !r) return r;
      in_off += got;
    }
    return {};
  }

  // Writes what is pending and asks the kernel to start writing the file
  // back now, without waiting, so that the fsync of sync() overlaps the
  // work done meanwhile (the PEM) and the other file's writeback.
  result<void> start_writeback() {
    if (auto r = flush(); !r) return r;
    (void)::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);  // a hint: sync() is what guarantees
    return {};
  }

  // The whole temporary file is on stable storage.
  result<void> sync() {
    if (auto r = flush(); !r) return r;
    if (::fsync(fd_) != 0) return io_failure("cannot fsync", temp_, errno);
    return {};
  }

  // Renames the synced temporary file over `path`. The folder is not
  // synced: sync_folder() does that once for every file renamed in it.
  result<void> rename_into_place() {
    ::close(fd_);
    fd_ = -1;
    if (::rename(temp_.c_str(), path_.c_str()) != 0) return io_failure("cannot rename a temporary file to", path_, errno);
    temp_.clear();
    return {};
  }

  // Makes the renames in the folder of `path` durable.
  static void sync_folder(const fs::path& path) {
    const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      (void)::fsync(dir);
      ::close(dir);
    }
  }

  result<void> commit() {
    if (auto r = sync(); !r) return r;
    if (auto r = rename_into_place(); !r) return r;
    sync_folder(path_);
    return {};
  }

 private:
  fs::path path_;
  std::string temp_;
  int fd_ = -1;
  std::string pending_;
};

// The PEM of the DER at `der_fd`, written to `out` in 64-column lines.
result<void> write_pem_from(int der_fd, std::uint64_t size, atomic_file& out, const fs::path& path) {
  if (auto r = out.write("-----BEGIN X509 CRL-----\n"); !r) return r;
  constexpr std::size_t line_in = 48;  // every read but the last a whole number of PEM lines
  std::string in(line_in * 16384, '\0');
  std::string lines;
  lines.reserve(in.size() / line_in * 65 + 65);
  std::uint64_t off = 0;
  while (off < size) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), size - off));
    ssize_t got = ::pread(der_fd, in.data(), want, static_cast<off_t>(off));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0 || static_cast<std::size_t>(got) != want) {
      return io_failure("cannot read back the CRL to write its PEM", path, got < 0 ? errno : EIO);
    }
    lines.clear();
    append_pem_lines(lines, {reinterpret_cast<const std::uint8_t*>(in.data()), want});
    if (auto r = out.write(lines); !r) return r;
    off += want;
  }
  return out.write("-----END X509 CRL-----\n");
}

}  // namespace

result<crl_summary> write_crl_file(const fs::path& path, const crl_params& params, const X509& issuer,
                                   const EVP_PKEY& key, const crl_entry_source& entries, bool also_pem) {
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  spool s;
  if (auto r = s.open_file(dir); !r) return unexpected(r.error());
  auto parts = assemble(params, issuer, key, entries, s);
  if (!parts) return unexpected(parts.error());

  atomic_file out(path);
  if (auto r = out.open(); !r) return unexpected(r.error());
  const std::string head = parts->outer_head(s.size());
  if (auto r = out.write(head); !r) return unexpected(r.error());
  if (auto r = out.write(parts->tbs_head); !r) return unexpected(r.error());
  if (auto r = out.copy_from(s); !r) return unexpected(r.error());
  if (auto r = out.write(parts->tbs_tail); !r) return unexpected(r.error());
  if (auto r = out.write(parts->algorithm); !r) return unexpected(r.error());
  if (auto r = out.write(parts->signature); !r) return unexpected(r.error());
  if (auto r = out.flush(); !r) return unexpected(r.error());
  const std::uint64_t der_bytes = head.size() + parts->tbs_head.size() + s.size() + parts->tbs_tail.size() +
                                  parts->algorithm.size() + parts->signature.size();

  if (also_pem) {
    // From the DER just written, before it is renamed: both files carry the
    // same CRL. Each is whole on stable storage before it replaces the
    // previous one (so a crash leaves an old or a new whole file under each
    // name); their writebacks overlap, and one folder fsync covers both
    // renames: two file fsyncs and one folder fsync instead of 2 + 2.
    if (auto r = out.start_writeback(); !r) return unexpected(r.error());
    fs::path pem_path = path;
    pem_path += ".pem";
    atomic_file pem(pem_path);
    if (auto r = pem.open(); !r) return unexpected(r.error());
    if (auto r = write_pem_from(out.fd(), der_bytes, pem, path); !r) return unexpected(r.error());
    if (auto r = pem.start_writeback(); !r) return unexpected(r.error());
    if (auto r = out.sync(); !r) return unexpected(r.error());
    if (auto r = pem.sync(); !r) return unexpected(r.error());
    if (auto r = out.rename_into_place(); !r) return unexpected(r.error());
    if (auto r = pem.rename_into_place(); !r) return unexpected(r.error());
    atomic_file::sync_folder(path);
  } else if (auto r = out.commit(); !r) {
    return unexpected(r.error());
  }
  return crl_summary{parts->entries, der_bytes};
}

result<std::vector<std::uint8_t>> build_crl(const crl_params& params, const X509& issuer, const EVP_PKEY& key,
                                            const crl_entry_source& entries) {
  spool s;
  auto parts = assemble(params, issuer, key, entries, s);
  if (!parts) return unexpected(parts.error());
  std::string all = parts->outer_head(s.size());
  all += parts->tbs_head;
  all += s.memory();
  all += parts->tbs_tail;
  all += parts->algorithm;
  all += parts->signature;
  return std::vector<std::uint8_t>(all.begin(), all.end());
}

std::string crl_pem(std::string_view der) {
  return pem_of_der("X509 CRL", {reinterpret_cast<const std::uint8_t*>(der.data()), der.size()});
}

std::size_t remove_stale_crl_temporaries(const fs::path& dir, std::chrono::seconds older_than) {
  std::size_t removed = 0;
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (!name.starts_with(temp_prefix)) continue;
    std::error_code e2;
    const auto when = fs::last_write_time(it->path(), e2);
    if (e2 || now - when < older_than) continue;
    if (fs::remove(it->path(), e2)) ++removed;
  }
  return removed;
}

}  // namespace wotca
