// Key generation, the R-KEYS check, and storing keys and certificates
// (0600 / 0644, never overwriting, refusing readable keys).
#include <catch2/catch.hpp>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/pki/issuer.h"
#include "core/pki/key.h"

using namespace wotca;
namespace fs = std::filesystem;

namespace {

// A fresh folder under $TMPDIR, removed with everything in it at the end.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "wotca-pki-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Only the files the test itself named are left: no temporaries.
std::size_t entries_in(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

// The public key of a CSR made by tests/data/pki/make.sh, read by OpenSSL
// directly (not by parse_csr, which would refuse most of these).
evp_pkey_ptr key_from_csr(const std::string& name) {
  bio_ptr bio(BIO_new_file((std::string(WOTCA_TESTDATA) + "/pki/" + name).c_str(), "r"));
  REQUIRE(bio);
  x509_req_ptr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(req);
  evp_pkey_ptr key(X509_REQ_get_pubkey(req.get()));
  REQUIRE(key);
  return key;
}

evp_pkey_ptr dsa_key() {
  bio_ptr bio(BIO_new_file((std::string(WOTCA_TESTDATA) + "/pki/dsa2048.pub.pem").c_str(), "r"));
  REQUIRE(bio);
  evp_pkey_ptr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(key);
  return key;
}

std::string utf8_param(const EVP_PKEY& key, const char* name) {
  char buf[64] = {};
  std::size_t len = 0;
  REQUIRE(EVP_PKEY_get_utf8_string_param(&key, name, buf, sizeof buf, &len) == 1);
  return std::string(buf, len);
}

x509_ptr small_root(const EVP_PKEY& key) {
  serial_number serial{};
  serial[0] = 0x42;
  auto root = make_root(key, "Key Test Root", "WoTCA", serial, sys_seconds{std::chrono::seconds{1735689600}},
                        sys_seconds{std::chrono::seconds{1893456000}});
  REQUIRE(root);
  return std::move(*root);
}

}  // namespace

TEST_CASE("key algorithm names round-trip", "[pki][key]") {
  for (auto a : {key_algorithm::ec_p256, key_algorithm::ec_p384, key_algorithm::rsa2048, key_algorithm::rsa3072,
                 key_algorithm::rsa4096}) {
    auto back = key_algorithm_from(to_string(a));
    REQUIRE(back.has_value());
    CHECK(*back == a);
  }
  CHECK(to_string(key_algorithm::ec_p256) == "ecdsa-p256");
  CHECK(to_string(key_algorithm::rsa3072) == "rsa-3072");
  CHECK_FALSE(key_algorithm_from("rsa-1024").has_value());
  CHECK_FALSE(key_algorithm_from("").has_value());
}

TEST_CASE("generate_key makes R-KEYS keys: named curves, uncompressed points, e = 65537", "[pki][key]") {
  auto [algorithm, description] = GENERATE(table<key_algorithm, std::string>({
      {key_algorithm::ec_p256, "ECDSA P-256"},
      {key_algorithm::ec_p384, "ECDSA P-384"},
      {key_algorithm::rsa2048, "RSA 2048"},
      {key_algorithm::rsa3072, "RSA 3072"},
      {key_algorithm::rsa4096, "RSA 4096"},
  }));
  CAPTURE(description);
  auto key = generate_key(algorithm);
  REQUIRE(key);
  REQUIRE(*key);
  CHECK(describe_key(**key) == description);
  CHECK(check_key(**key).has_value());
  if (description.starts_with("ECDSA")) {
    CHECK(utf8_param(**key, OSSL_PKEY_PARAM_EC_ENCODING) == "named_curve");
    CHECK(utf8_param(**key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT) == "uncompressed");
    // The encoded point is 04 || X || Y.
    unsigned char point[200];
    std::size_t len = 0;
    REQUIRE(EVP_PKEY_get_octet_string_param(key->get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len) == 1);
    CHECK(point[0] == 0x04);
    CHECK(len == (description == "ECDSA P-256" ? 65u : 97u));
  } else {
    BIGNUM* raw = nullptr;
    REQUIRE(EVP_PKEY_get_bn_param(key->get(), OSSL_PKEY_PARAM_RSA_E, &raw) == 1);
    bignum_ptr e(raw);
    CHECK(BN_get_word(e.get()) == 65537);
  }
}

TEST_CASE("describe_key and check_key follow R-KEYS, naming the key", "[pki][key]") {
  // CSR file (or "dsa"), description, accepted, message fragment when refused
  auto [source, description, accepted, fragment] = GENERATE(table<std::string, std::string, bool, std::string>({
      {"ec_p256.csr.pem", "ECDSA P-256", true, ""},
      {"ec_p384.csr.pem", "ECDSA P-384", true, ""},
      {"rsa2048.csr.pem", "RSA 2048", true, ""},
      {"rsa1024.csr.pem", "RSA 1024", false, "RSA 1024 keys are not accepted; use RSA 2048+ or ECDSA P-256/P-384"},
      {"rsa3072_e3.csr.pem", "RSA 3072", false,
       "RSA 3072 keys with public exponent 3 are not accepted; the exponent must be odd and at least 65537"},
      {"secp256k1.csr.pem", "ECDSA secp256k1", false,
       "ECDSA secp256k1 keys are not accepted; use RSA 2048+ or ECDSA P-256/P-384"},
      {"ec_p521.csr.pem", "ECDSA P-521", false, "ECDSA P-521 keys are not accepted"},
      {"ec_explicit.csr.pem", "ECDSA P-256", false, "ECDSA P-256 keys with explicit curve parameters are not accepted"},
      {"ed25519.csr.pem", "Ed25519", false, "Ed25519 keys are not accepted"},
      {"dsa", "DSA 2048", false, "DSA 2048 keys are not accepted"},
  }));
  CAPTURE(source);
  evp_pkey_ptr key = source == "dsa" ? dsa_key() : key_from_csr(source);
  CHECK(describe_key(*key) == description);
  auto ok = check_key(*key);
  CHECK(ok.has_value() == accepted);
  if (!accepted) {
    REQUIRE_FALSE(ok);
    CHECK(ok.error().code == errc::denied);
    CHECK(ok.error().where == "R-KEYS");
    CHECK(ok.error().message.find(fragment) != std::string::npos);
  }
}

TEST_CASE("private keys are stored 0600 under a 0700 folder, loaded back, never overwritten", "[pki][key]") {
  temp_dir tmp;
  auto key = generate_key(key_algorithm::ec_p256);
  REQUIRE(key);
  const fs::path keys = tmp.path() / "data" / "keys";
  const fs::path file = keys / "root.key";

  auto written = write_private_key(**key, file);
  if (!written) FAIL(describe(written.error()));
  CHECK(mode_of(keys) == 0700);
  CHECK(mode_of(file) == 0600);
  CHECK(entries_in(keys) == 1);
  const std::string pem = slurp(file);
  CHECK(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));  // PKCS#8, unencrypted

  auto loaded = load_private_key(file);
  if (!loaded) FAIL(describe(loaded.error()));
  CHECK(EVP_PKEY_eq(loaded->get(), key->get()) == 1);

  SECTION("an existing file is never overwritten") {
    auto other = generate_key(key_algorithm::ec_p256);
    REQUIRE(other);
    auto again = write_private_key(**other, file);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == errc::conflict);
    CHECK(slurp(file) == pem);
    CHECK(entries_in(keys) == 1);
  }
  SECTION("a key group or world can read is refused, naming path and mode") {
    for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
      REQUIRE(::chmod(file.c_str(), mode) == 0);
      auto refused = load_private_key(file);
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == errc::config);
      CAPTURE(refused.error().message);
      CHECK(refused.error().message.find(file.string()) != std::string::npos);
      char octal[8];
      std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
      CHECK(refused.error().message.find(std::string("has mode ") + octal) != std::string::npos);
      CHECK(refused.error().message.find("chmod 600") != std::string::npos);
    }
    REQUIRE(::chmod(file.c_str(), 0400) == 0);
    CHECK(load_private_key(file).has_value());
  }
  SECTION("the exact message for a 0644 key") {
    REQUIRE(::chmod(file.c_str(), 0644) == 0);
    auto refused = load_private_key(file);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message ==
          file.string() + " has mode 0644; a private key must be readable by its owner only (chmod 600)");
  }
  SECTION("an existing folder keeps its mode") {
    const fs::path elsewhere = tmp.path() / "plain";
    fs::create_directory(elsewhere);
    ::chmod(elsewhere.c_str(), 0750);
    REQUIRE(write_private_key(**key, elsewhere / "k.pem"));
    CHECK(mode_of(elsewhere) == 0750);
    CHECK(mode_of(elsewhere / "k.pem") == 0600);
  }
}

TEST_CASE("an RSA key round-trips too", "[pki][key]") {
  temp_dir tmp;
  auto key = generate_key(key_algorithm::rsa2048);
  REQUIRE(key);
  REQUIRE(write_private_key(**key, tmp.path() / "rsa.key"));
  auto loaded = load_private_key(tmp.path() / "rsa.key");
  REQUIRE(loaded);
  CHECK(EVP_PKEY_eq(loaded->get(), key->get()) == 1);
  CHECK(describe_key(**loaded) == "RSA 2048");
}

TEST_CASE("load_private_key refuses what is not a plain private key", "[pki][key]") {
  temp_dir tmp;
  auto write = [&](const std::string& name, const std::string& text) {
    const fs::path p = tmp.path() / name;
    std::ofstream(p, std::ios::binary) << text;
    REQUIRE(::chmod(p.c_str(), 0600) == 0);
    return p;
  };
  SECTION("missing") {
    auto r = load_private_key(tmp.path() / "nope.key");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::io);
  }
  SECTION("a folder") {
    REQUIRE(::chmod(tmp.path().c_str(), 0700) == 0);
    auto r = load_private_key(tmp.path());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::io);
  }
  SECTION("garbage") {
    auto r = load_private_key(write("garbage.key", "not a key\n"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_input);
  }
  SECTION("a certificate") {
    auto key = generate_key(key_algorithm::ec_p256);
    REQUIRE(key);
    auto r = load_private_key(write("cert.pem", to_pem(*small_root(**key))));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_input);
  }
  SECTION("an encrypted key is refused, not prompted for") {
    auto key = generate_key(key_algorithm::ec_p256);
    REQUIRE(key);
    bio_ptr bio(BIO_new(BIO_s_mem()));
    char pass[] = "secret";
    REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), key->get(), EVP_aes_256_cbc(), pass, 6, nullptr, nullptr) == 1);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    auto r = load_private_key(write("enc.key", std::string(data, static_cast<std::size_t>(len))));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_input);
  }
  SECTION("a DER PKCS#8 key is read; with trailing bytes it is not") {
    auto key = generate_key(key_algorithm::ec_p384);
    REQUIRE(key);
    unsigned char* raw = nullptr;
    int len = i2d_PrivateKey(key->get(), &raw);
    REQUIRE(len > 0);
    openssl_bytes_ptr der(raw);
    std::string bytes(reinterpret_cast<char*>(raw), static_cast<std::size_t>(len));
    auto ok = load_private_key(write("k.der", bytes));
    REQUIRE(ok);
    CHECK(EVP_PKEY_eq(ok->get(), key->get()) == 1);
    CHECK_FALSE(load_private_key(write("k2.der", bytes + "x")).has_value());
  }
}

TEST_CASE("certificates are stored 0644, PEM, atomically; loaded as PEM or DER", "[pki][key]") {
  temp_dir tmp;
  auto key = generate_key(key_algorithm::ec_p256);
  REQUIRE(key);
  auto cert = small_root(**key);
  const fs::path file = tmp.path() / "certs" / "root.crt";

  REQUIRE(write_certificate(*cert, file));
  CHECK(mode_of(file) == 0644);
  CHECK(slurp(file) == to_pem(*cert));
  auto loaded = load_certificate(file);
  REQUIRE(loaded);
  CHECK(X509_cmp(loaded->get(), cert.get()) == 0);

  auto again = write_certificate(*cert, file);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == errc::conflict);
  CHECK(write_certificate(*cert, file, true).has_value());
  CHECK(entries_in(file.parent_path()) == 1);

  const auto der = to_der(*cert);
  REQUIRE_FALSE(der.empty());
  std::ofstream(tmp.path() / "root.der", std::ios::binary)
      .write(reinterpret_cast<const char*>(der.data()), static_cast<std::streamsize>(der.size()));
  auto from_der = load_certificate(tmp.path() / "root.der");
  REQUIRE(from_der);
  CHECK(X509_cmp(from_der->get(), cert.get()) == 0);

  auto direct = certificate_from_der(der);
  REQUIRE(direct);
  CHECK(to_der(**direct) == der);
  // certificate_pem writes what OpenSSL writes, byte for byte, without parsing.
  CHECK(certificate_pem(der) == to_pem(*cert));
  for (std::size_t n : {1u, 47u, 48u, 49u, 96u}) {
    std::vector<std::uint8_t> bytes(n, 0xA5);
    const std::string pem = certificate_pem(bytes);
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    REQUIRE(PEM_read_bio(bio.get(), &name, &header, &data, &len) == 1);
    openssl_string_ptr owned_name(name), owned_header(header);
    openssl_bytes_ptr owned_data(data);
    CHECK(std::string(name) == "CERTIFICATE");
    CHECK(std::vector<std::uint8_t>(data, data + len) == bytes);
  }
  auto longer = der;
  longer.push_back(0);
  CHECK(certificate_from_der(longer).error().code == errc::invalid_input);
  CHECK_FALSE(certificate_from_der(std::span(der).first(der.size() - 1)).has_value());
  CHECK_FALSE(certificate_from_der({}).has_value());
  CHECK(load_certificate(tmp.path() / "missing.crt").error().code == errc::io);
}
