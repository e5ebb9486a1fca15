#include "core/pki/key.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace wotca {

namespace fs = std::filesystem;

namespace {

// Key and certificate files are small; anything larger is not one of ours.
constexpr std::size_t max_file_bytes = 1 << 20;

std::string os_error(int err) { return std::generic_category().message(err); }

unexpected<error> crypto_failure(std::string what) {
  auto detail = drain_openssl_errors();
  if (!detail.empty()) what += " (" + detail + ")";
  return fail(errc::crypto, "", std::move(what));
}

// A file descriptor that closes itself.
class unique_fd {
 public:
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  // Closes now and reports the error close() saw (NFS reports late write
  // errors here).
  [[nodiscard]] int close_checked() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// Bytes that are wiped when they go (they may hold a private key).
struct wiped_bytes {
  std::vector<std::uint8_t> data;
  wiped_bytes() = default;
  wiped_bytes(const wiped_bytes&) = delete;
  wiped_bytes& operator=(const wiped_bytes&) = delete;
  wiped_bytes(wiped_bytes&&) = default;
  ~wiped_bytes() {
    if (!data.empty()) OPENSSL_cleanse(data.data(), data.size());
  }
};

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Reads a whole regular file of at most max_file_bytes. With
// `private_key`, refuses (errc::config) a file group or world may access;
// the mode is checked on the open descriptor, so the file checked is the
// file read.
result<wiped_bytes> read_file(const fs::path& path, bool private_key) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    return fail(errc::io, "", "cannot open " + path.string() + ": " + os_error(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return fail(errc::io, "", "cannot stat " + path.string() + ": " + os_error(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(errc::io, "", path.string() + " is not a regular file");
  }
  if (private_key && (st.st_mode & 077) != 0) {
    return fail(errc::config, "",
                path.string() + " has mode " + octal_mode(st.st_mode) +
                    "; a private key must be readable by its owner only (chmod 600)");
  }
  if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) > max_file_bytes) {
    return fail(errc::invalid_input, "",
                path.string() + " is " + std::to_string(st.st_size) + " bytes; at most " +
                    std::to_string(max_file_bytes) + " are read");
  }
  wiped_bytes out;
  // One allocation of the final size (plus one byte to notice growth), so no
  // unwiped copy of the contents is left behind by a reallocation.
  out.data.resize(static_cast<std::size_t>(st.st_size) + 1);
  std::size_t got = 0;
  while (got < out.data.size()) {
    ssize_t n = ::read(fd.get(), out.data.data() + got, out.data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errc::io, "", "cannot read " + path.string() + ": " + os_error(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > static_cast<std::size_t>(st.st_size)) {
    return fail(errc::io, "", path.string() + " changed while it was being read");
  }
  // Shrinking keeps the buffer; the wiped_bytes destructor wipes data()
  // only up to size(), so clear the tail byte now.
  out.data[got] = 0;
  out.data.resize(got);
  return out;
}

bool starts_with_pem(std::span<const std::uint8_t> bytes) {
  std::size_t i = 0;
  while (i < bytes.size() && (bytes[i] == ' ' || bytes[i] == '\t' || bytes[i] == '\r' || bytes[i] == '\n')) ++i;
  static constexpr std::string_view begin = "-----BEGIN ";
  if (bytes.size() - i < begin.size()) return false;
  return std::memcmp(bytes.data() + i, begin.data(), begin.size()) == 0;
}

// Creates `dir` (and its ancestors) if it does not exist; `dir` itself gets
// `mode` exactly, whatever the umask.
result<void> ensure_directory(const fs::path& dir, mode_t mode) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return {};
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec) {
      return fail(errc::io, "", "cannot create " + dir.parent_path().string() + ": " + ec.message());
    }
  }
  if (::mkdir(dir.c_str(), mode) != 0) {
    if (errno == EEXIST && fs::is_directory(dir, ec)) return {};  // made meanwhile by someone else
    return fail(errc::io, "", "cannot create " + dir.string() + ": " + os_error(errno));
  }
  if (::chmod(dir.c_str(), mode) != 0) {
    return fail(errc::io, "", "cannot set the mode of " + dir.string() + ": " + os_error(errno));
  }
  return {};
}

// Writes `bytes` to `path` through a temporary file in the same folder
// (created O_EXCL with `mode`), fsync, then an atomic move into place:
// rename() when overwriting, link() otherwise, which fails rather than
// replace a file that appeared meanwhile. The folder is created with
// `dir_mode` if missing. On failure the temporary file is gone and `path`
// is as it was.
result<void> write_file_atomically(const fs::path& path, std::span<const std::uint8_t> bytes, mode_t mode,
                                   mode_t dir_mode, bool overwrite) {
  if (path.filename().empty()) {
    return fail(errc::invalid_input, "", "'" + path.string() + "' does not name a file");
  }
  fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (auto made = ensure_directory(dir, dir_mode); !made) return made;

  struct stat st {};
  if (!overwrite && ::lstat(path.c_str(), &st) == 0) {
    return fail(errc::conflict, "", path.string() + " exists already; it is never overwritten");
  }

  static std::atomic<unsigned> counter{0};
  fs::path temp;
  int raw_fd = -1;
  for (int attempt = 0; attempt < 16 && raw_fd < 0; ++attempt) {
    temp = dir / ("." + path.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                  std::to_string(counter.fetch_add(1)));
    raw_fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (raw_fd < 0 && errno != EEXIST) break;
  }
  if (raw_fd < 0) {
    return fail(errc::io, "", "cannot create a temporary file in " + dir.string() + ": " + os_error(errno));
  }
  unique_fd fd(raw_fd);
  auto give_up = [&](std::string what, int err) {
    ::unlink(temp.c_str());
    return fail(errc::io, "", what + " " + path.string() + ": " + os_error(err));
  };
  // The umask may have taken bits away from `mode` (never added any).
  if (::fchmod(fd.get(), mode) != 0) return give_up("cannot set the mode of", errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return give_up("cannot write", errno);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return give_up("cannot sync", errno);
  if (int err = fd.close_checked(); err != 0) return give_up("cannot write", err);

  if (overwrite) {
    if (::rename(temp.c_str(), path.c_str()) != 0) return give_up("cannot move into place", errno);
  } else {
    if (::link(temp.c_str(), path.c_str()) != 0) {
      int err = errno;
      if (err == EEXIST) {
        ::unlink(temp.c_str());
        return fail(errc::conflict, "", path.string() + " exists already; it is never overwritten");
      }
      // Some file systems have no hard links; renameat2 refuses to replace too.
      if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
        int err2 = errno;
        ::unlink(temp.c_str());
        if (err2 == EEXIST) {
          return fail(errc::conflict, "", path.string() + " exists already; it is never overwritten");
        }
        return fail(errc::io, "", "cannot move into place " + path.string() + ": " + os_error(err));
      }
    } else {
      ::unlink(temp.c_str());
    }
  }
  // The new directory entry must survive a crash too.
  unique_fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
  return {};
}

std::string bits_of(const EVP_PKEY& key) { return std::to_string(EVP_PKEY_get_bits(&key)); }

// The curve as POLICY.md names it; empty for explicit parameters.
std::string curve_name(const EVP_PKEY& key) {
  char name[80] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(&key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) != 1) {
    ERR_clear_error();
    return {};
  }
  std::string_view n(name, len);
  if (n == "prime256v1" || n == "P-256") return "P-256";
  if (n == "secp384r1" || n == "P-384") return "P-384";
  if (n == "secp521r1" || n == "P-521") return "P-521";
  if (n == "secp224r1" || n == "P-224") return "P-224";
  if (n == "prime192v1" || n == "P-192") return "P-192";
  return std::string(n);
}

}  // namespace

std::string_view to_string(key_algorithm a) {
  switch (a) {
    case key_algorithm::ec_p256: return "ecdsa-p256";
    case key_algorithm::ec_p384: return "ecdsa-p384";
    case key_algorithm::rsa2048: return "rsa-2048";
    case key_algorithm::rsa3072: return "rsa-3072";
    case key_algorithm::rsa4096: return "rsa-4096";
  }
  return "unknown";
}

std::optional<key_algorithm> key_algorithm_from(std::string_view s) {
  for (auto a : {key_algorithm::ec_p256, key_algorithm::ec_p384, key_algorithm::rsa2048, key_algorithm::rsa3072,
                 key_algorithm::rsa4096}) {
    if (to_string(a) == s) return a;
  }
  return std::nullopt;
}

result<evp_pkey_ptr> generate_key(key_algorithm a) {
  const bool ec = a == key_algorithm::ec_p256 || a == key_algorithm::ec_p384;
  evp_pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, ec ? "EC" : "RSA", nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return crypto_failure("cannot set up key generation");

  // RFC 5480 2.1.1: the parameters are a namedCurve (specifiedCurve MUST
  // NOT be used); 2.2: the uncompressed point form MUST be supported, and
  // is the one every peer reads.
  char p256[] = "P-256";
  char p384[] = "P-384";
  char named_curve[] = "named_curve";
  char uncompressed[] = "uncompressed";
  // RFC 8017 / R-KEYS: public exponent 65537.
  unsigned int exponent = 65537;
  std::size_t bits = a == key_algorithm::rsa4096 ? 4096 : a == key_algorithm::rsa3072 ? 3072 : 2048;
  OSSL_PARAM params[4];
  if (ec) {
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 a == key_algorithm::ec_p256 ? p256 : p384, 0);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, named_curve, 0);
    params[2] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, uncompressed, 0);
  } else {
    params[0] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    params[1] = OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_E, &exponent);
    params[2] = OSSL_PARAM_construct_end();
  }
  params[3] = OSSL_PARAM_construct_end();
  if (EVP_PKEY_CTX_set_params(ctx.get(), params) != 1) return crypto_failure("cannot set key parameters");

  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) != 1) {
    return crypto_failure(std::string("cannot generate a ") + std::string(to_string(a)) + " key");
  }
  evp_pkey_ptr key(raw);
  if (auto ok = check_key(*key); !ok) {
    return fail(errc::internal, "", "a generated key fails R-KEYS: " + ok.error().message);
  }
  return key;
}

result<void> write_private_key(const EVP_PKEY& key, const fs::path& path) {
  // RFC 5958 OneAsymmetricKey (PKCS#8) in the "PRIVATE KEY" PEM of RFC 7468
  // section 10; a secure-heap BIO wipes the encoding when it is freed.
  bio_ptr bio(BIO_new(BIO_s_secmem()));
  if (!bio) return crypto_failure("cannot allocate a buffer");
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return crypto_failure("cannot encode the private key for " + path.string());
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return crypto_failure("cannot encode the private key for " + path.string());
  return write_file_atomically(
      path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(len)),
      0600, 0700, false);
}

result<evp_pkey_ptr> load_private_key(const fs::path& path) {
  auto bytes = read_file(path, true);
  if (!bytes) return unexpected(std::move(bytes).error());
  const auto& d = bytes->data;
  EVP_PKEY* raw = nullptr;
  if (starts_with_pem(d)) {
    bio_ptr bio(BIO_new_mem_buf(d.data(), static_cast<int>(d.size())));
    if (!bio) return crypto_failure("cannot allocate a buffer");
    // No passphrase: an encrypted key is refused rather than prompted for.
    auto no_passphrase = [](char*, int, int, void*) -> int { return -1; };
    raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  } else {
    const unsigned char* p = d.data();
    raw = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(d.size()));
    if (raw != nullptr && p != d.data() + d.size()) {
      evp_pkey_ptr discard(raw);
      raw = nullptr;
    }
  }
  evp_pkey_ptr key(raw);
  if (!key) {
    ERR_clear_error();  // the details could quote the file; they say nothing more
    return fail(errc::invalid_input, "",
                path.string() + " does not hold an unencrypted private key (PEM or DER)");
  }
  return key;
}

result<x509_ptr> certificate_from_der(std::span<const std::uint8_t> der) {
  // RFC 5280 4.1: Certificate ::= SEQUENCE { ... }; every byte belongs to it.
  if (der.empty() || der.size() > max_file_bytes) {
    return fail(errc::invalid_input, "certificate", "a DER certificate of " + std::to_string(der.size()) +
                                                        " bytes is not accepted");
  }
  const unsigned char* p = der.data();
  x509_ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) {
    ERR_clear_error();
    return fail(errc::invalid_input, "certificate", "the bytes are not a DER certificate");
  }
  if (p != der.data() + der.size()) {
    return fail(errc::invalid_input, "certificate",
                "the DER certificate is followed by " + std::to_string(der.data() + der.size() - p) +
                    " more bytes");
  }
  return cert;
}

result<x509_ptr> load_certificate(const fs::path& path) {
  auto bytes = read_file(path, false);
  if (!bytes) return unexpected(std::move(bytes).error());
  const auto& d = bytes->data;
  if (!starts_with_pem(d)) {
    auto cert = certificate_from_der(d);
    if (!cert) return fail(errc::invalid_input, "", path.string() + ": " + cert.error().message);
    return cert;
  }
  bio_ptr bio(BIO_new_mem_buf(d.data(), static_cast<int>(d.size())));
  if (!bio) return crypto_failure("cannot allocate a buffer");
  x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return fail(errc::invalid_input, "", path.string() + " does not hold a PEM certificate");
  }
  return cert;
}

std::string to_pem(const X509& cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), &cert) != 1) {
    ERR_clear_error();
    return {};
  }
  return memory_bio_text(*bio);
}

void append_pem_lines(std::string& out, std::span<const std::uint8_t> der) {
  constexpr std::size_t line_bytes = 48;  // 64 base64 characters
  out.reserve(out.size() + (der.size() + 2) / 3 * 4 + der.size() / line_bytes + 1);
  std::array<unsigned char, 65> line{};
  for (std::size_t at = 0; at < der.size(); at += line_bytes) {
    const std::size_t n = std::min(line_bytes, der.size() - at);
    const int len = EVP_EncodeBlock(line.data(), der.data() + at, static_cast<int>(n));
    out.append(reinterpret_cast<const char*>(line.data()), static_cast<std::size_t>(len));
    out += '\n';
  }
}

std::string pem_of_der(std::string_view label, std::span<const std::uint8_t> der) {
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  append_pem_lines(out, der);
  out += "-----END " + std::string(label) + "-----\n";
  return out;
}

std::string certificate_pem(std::span<const std::uint8_t> der) { return pem_of_der("CERTIFICATE", der); }

std::vector<std::uint8_t> to_der(const X509& cert) {
  int len = i2d_X509(&cert, nullptr);
  if (len <= 0) {
    ERR_clear_error();
    return {};
  }
  std::vector<std::uint8_t> out(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  if (i2d_X509(&cert, &p) != len) {
    ERR_clear_error();
    return {};
  }
  return out;
}

result<void> write_certificate(const X509& cert, const fs::path& path, bool overwrite) {
  std::string pem = to_pem(cert);
  if (pem.empty()) return crypto_failure("cannot encode the certificate for " + path.string());
  return write_file_atomically(
      path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()), 0644,
      0755, overwrite);
}

std::string describe_key(const EVP_PKEY& key) {
  if (EVP_PKEY_is_a(&key, "RSA")) return "RSA " + bits_of(key);
  if (EVP_PKEY_is_a(&key, "RSA-PSS")) return "RSA-PSS " + bits_of(key);
  if (EVP_PKEY_is_a(&key, "SM2")) return "SM2";
  if (EVP_PKEY_is_a(&key, "EC")) {
    std::string curve = curve_name(key);
    if (curve.empty()) return "ECDSA with explicit curve parameters";
    return "ECDSA " + curve;
  }
  if (EVP_PKEY_is_a(&key, "ED25519")) return "Ed25519";
  if (EVP_PKEY_is_a(&key, "ED448")) return "Ed448";
  if (EVP_PKEY_is_a(&key, "X25519")) return "X25519";
  if (EVP_PKEY_is_a(&key, "X448")) return "X448";
  if (EVP_PKEY_is_a(&key, "DSA")) return "DSA " + bits_of(key);
  if (EVP_PKEY_is_a(&key, "DH") || EVP_PKEY_is_a(&key, "DHX")) return "DH " + bits_of(key);
  if (const char* name = EVP_PKEY_get0_type_name(&key)) return name;
  return "an unknown key type";
}

result<void> check_key(const EVP_PKEY& key) {
  const std::string described = describe_key(key);
  auto refuse = [&] {
    return fail(errc::denied, "R-KEYS", described + " keys are not accepted; use RSA 2048+ or ECDSA P-256/P-384");
  };
  if (EVP_PKEY_is_a(&key, "RSA")) {
    if (EVP_PKEY_get_bits(&key) < 2048) return refuse();
    BIGNUM* raw_e = nullptr;
    if (EVP_PKEY_get_bn_param(&key, OSSL_PKEY_PARAM_RSA_E, &raw_e) != 1) {
      ERR_clear_error();
      return fail(errc::denied, "R-KEYS", described + " key without a readable public exponent");
    }
    bignum_ptr e(raw_e);
    bignum_ptr f4(BN_new());
    if (!f4 || BN_set_word(f4.get(), 65537) != 1) return crypto_failure("cannot compare the RSA exponent");
    if (!BN_is_odd(e.get()) || BN_cmp(e.get(), f4.get()) < 0) {
      std::string shown;
      if (BN_num_bits(e.get()) <= 64) {
        openssl_string_ptr dec(BN_bn2dec(e.get()));
        shown = dec ? std::string(dec.get()) : std::string("?");
      } else {
        shown = "of " + std::to_string(BN_num_bits(e.get())) + " bits";
      }
      return fail(errc::denied, "R-KEYS",
                  described + " keys with public exponent " + shown +
                      " are not accepted; the exponent must be odd and at least 65537");
    }
    return {};
  }
  if (EVP_PKEY_is_a(&key, "EC") && !EVP_PKEY_is_a(&key, "SM2")) {
    if (described != "ECDSA P-256" && described != "ECDSA P-384") return refuse();
    // RFC 5480 2.1.1: "specifiedCurve ... MUST NOT be used"; OpenSSL
    // recognises explicit parameters equal to P-256 as P-256, so the
    // encoding is checked on its own.
    char encoding[32] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(&key, OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof encoding, &len) != 1 ||
        std::string_view(encoding, len) != OSSL_PKEY_EC_ENCODING_GROUP) {
      ERR_clear_error();
      return fail(errc::denied, "R-KEYS",
                  described + " keys with explicit curve parameters are not accepted; use the named curve (RFC 5480)");
    }
    return {};
  }
  return refuse();
}

}  // namespace wotca
