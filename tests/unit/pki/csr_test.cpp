// parse_csr over the CSRs of tests/data/pki (made by make.sh with the
// openssl command line; dump.txt shows what each holds), and the name
// syntax checks. Each row names the rule or field that decides it.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "core/pki/csr.h"

using namespace wotca;

namespace {

std::vector<std::uint8_t> data_file(const std::string& name) {
  std::ifstream in(std::string(WOTCA_TESTDATA) + "/pki/" + name, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

using names = std::vector<std::string>;

}  // namespace

TEST_CASE("parse_csr accepts R-KEYS keys and reads the names", "[pki][csr]") {
  // file, key description, CN ("" = none), DNS names, emails
  auto [file, key, cn, dns, emails] = GENERATE(table<std::string, std::string, std::string, names, names>({
      {"ec_p256.csr.pem", "ECDSA P-256", "ec256.example.org", {"ec256.example.org", "www.ec256.example.org"}, {}},
      {"ec_p256.csr.der", "ECDSA P-256", "ec256.example.org", {"ec256.example.org", "www.ec256.example.org"}, {}},
      {"whitespace.csr.pem", "ECDSA P-256", "ec256.example.org", {"ec256.example.org", "www.ec256.example.org"}, {}},
      {"ec_p384.csr.pem", "ECDSA P-384", "ec384.example.org", {"ec384.example.org"}, {}},
      {"ec_p384.csr.der", "ECDSA P-384", "ec384.example.org", {"ec384.example.org"}, {}},
      {"rsa2048.csr.pem", "RSA 2048", "rsa.example.org", {"rsa.example.org"}, {}},
      {"rsa2048.csr.der", "RSA 2048", "rsa.example.org", {"rsa.example.org"}, {}},
      {"rsa2048_sha512.csr.pem", "RSA 2048", "sha512.example.org", {}, {}},
      {"rsa2048_pss.csr.pem", "RSA 2048", "pss.example.org", {}, {}},
      // certbot's shape: no subject; mixed case and a trailing dot normalised
      {"dns_no_cn.csr.pem", "ECDSA P-256", "", {"a.example.org", "b.example.org", "c.example.org"}, {}},
      {"dns_no_cn.csr.der", "ECDSA P-256", "", {"a.example.org", "b.example.org", "c.example.org"}, {}},
      {"emails.csr.pem", "ECDSA P-256", "Zo\xc3\xab Example", {}, {"zoe@example.org", "zoe.two@example.org"}},
      {"emails.csr.der", "ECDSA P-256", "Zo\xc3\xab Example", {}, {"zoe@example.org", "zoe.two@example.org"}},
      {"wildcard.csr.pem", "ECDSA P-256", "*.example.org", {"*.example.org", "example.org"}, {}},
      {"newhdr.csr.pem", "ECDSA P-256", "newhdr.example.org", {}, {}},
      {"challenge.csr.pem", "ECDSA P-256", "device-17", {}, {}},
      {"challenge.csr.der", "ECDSA P-256", "device-17", {}, {}},
  }));
  CAPTURE(file);
  auto csr = parse_csr(data_file(file));
  if (!csr) FAIL(describe(csr.error()));
  CHECK(csr->req != nullptr);
  CHECK(csr->public_key() != nullptr);
  CHECK(csr->key_description == key);
  if (cn.empty()) {
    CHECK_FALSE(csr->common_name.has_value());
  } else {
    REQUIRE(csr->common_name.has_value());
    CHECK(*csr->common_name == cn);
  }
  CHECK(csr->dns_names == dns);
  CHECK(csr->emails == emails);
  if (file.starts_with("challenge")) {
    REQUIRE(csr->challenge_password.has_value());
    CHECK(*csr->challenge_password == "one-time-secret-42");
  } else {
    CHECK_FALSE(csr->challenge_password.has_value());
  }
}

TEST_CASE("parse_csr refuses, naming the rule or field and what it found", "[pki][csr]") {
  // file, code, where, a fragment of the message
  auto [file, code, where, fragment] = GENERATE(table<std::string, errc, std::string, std::string>({
      // R-KEYS: keys
      {"rsa1024.csr.pem", errc::denied, "R-KEYS", "RSA 1024 keys are not accepted"},
      {"rsa3072_e3.csr.pem", errc::denied, "R-KEYS", "RSA 3072 keys with public exponent 3 are not accepted"},
      {"secp256k1.csr.pem", errc::denied, "R-KEYS",
       "ECDSA secp256k1 keys are not accepted; use RSA 2048+ or ECDSA P-256/P-384"},
      {"ec_p521.csr.pem", errc::denied, "R-KEYS", "ECDSA P-521 keys are not accepted"},
      {"ec_explicit.csr.pem", errc::denied, "R-KEYS", "ECDSA P-256 keys with explicit curve parameters"},
      {"ed25519.csr.pem", errc::denied, "R-KEYS", "Ed25519 keys are not accepted"},
      {"ed25519.csr.der", errc::denied, "R-KEYS", "Ed25519 keys are not accepted"},
      // R-KEYS: signature hashes
      {"rsa2048_sha1.csr.pem", errc::denied, "R-KEYS", "sha1WithRSAEncryption (SHA-1)"},
      {"rsa2048_sha1.csr.der", errc::denied, "R-KEYS", "sha1WithRSAEncryption (SHA-1)"},
      {"rsa2048_md5.csr.pem", errc::denied, "R-KEYS", "md5WithRSAEncryption (MD5)"},
      {"ec_p256_sha224.csr.pem", errc::denied, "R-KEYS", "ecdsa-with-SHA224 (SHA-224)"},
      {"rsa2048_pss_sha1.csr.pem", errc::denied, "R-KEYS", "rsassaPss (SHA-1)"},
      // the signature itself
      {"bad_signature.csr.der", errc::invalid_input, "csr", "the CSR's signature does not verify"},
      {"bad_signature.csr.pem", errc::invalid_input, "csr", "the CSR's signature does not verify"},
      // names the CA does not issue
      {"ip_san.csr.pem", errc::invalid_input, "csr", "IP address SAN (192.0.2.1)"},
      {"uri_san.csr.pem", errc::invalid_input, "csr", "URI SAN (https://uri.example.org/)"},
      {"bad_wildcard.csr.pem", errc::invalid_input, "csr", "'www.*.example.org' is not a valid DNS name"},
      {"bad_dns.csr.pem", errc::invalid_input, "csr", "starts or ends with a hyphen"},
      {"single_label.csr.pem", errc::invalid_input, "csr", "'localhost' is not a valid DNS name"},
      {"bad_email.csr.pem", errc::invalid_input, "csr", "'mallory@@example.org' is not a valid email address"},
      {"two_cn.csr.pem", errc::invalid_input, "csr", "more than one common name"},
      // framing
      {"truncated.csr.der", errc::invalid_input, "csr", "not a DER or PEM PKCS#10"},
      {"trailing.csr.der", errc::invalid_input, "csr", "followed by 8 more bytes"},
      {"two_csrs.csr.pem", errc::invalid_input, "csr", "more than one block"},
      {"not_a_csr.cert.pem", errc::invalid_input, "csr", "is a 'CERTIFICATE'"},
  }));
  CAPTURE(file);
  auto csr = parse_csr(data_file(file));
  REQUIRE_FALSE(csr.has_value());
  CAPTURE(csr.error().message);
  CHECK(csr.error().code == code);
  CHECK(csr.error().where == where);
  CHECK(csr.error().message.find(fragment) != std::string::npos);
}

TEST_CASE("parse_csr bounds its input", "[pki][csr]") {
  SECTION("empty and blank") {
    CHECK(parse_csr({}).error().code == errc::invalid_input);
    CHECK(parse_csr(bytes_of(" \n\t ")).error().where == "csr");
  }
  SECTION("more than 64 KiB, even when it starts like a CSR") {
    auto der = data_file("ec_p256.csr.der");
    der.resize(64 * 1024 + 1, 0);
    auto r = parse_csr(der);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("65537 bytes") != std::string::npos);
  }
  SECTION("a PEM of exactly 64 KiB with whitespace padding is still read") {
    auto pem = data_file("ec_p256.csr.pem");
    pem.resize(64 * 1024, '\n');
    CHECK(parse_csr(pem).has_value());
  }
  SECTION("garbage") {
    CHECK_FALSE(parse_csr(bytes_of("hello, world")).has_value());
    CHECK_FALSE(parse_csr(bytes_of("-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n")));
    CHECK_FALSE(parse_csr(bytes_of("-----BEGIN ")).has_value());
    const std::uint8_t seq[] = {0x30, 0x80, 0x00, 0x00};  // BER indefinite length, empty
    CHECK_FALSE(parse_csr(seq).has_value());
  }
  SECTION("CRLF line ends") {
    auto body = data_file("ec_p256.csr.pem");
    std::string crlf;
    for (auto c : body) {
      if (c == '\n') crlf += '\r';
      crlf += static_cast<char>(c);
    }
    auto r = parse_csr(bytes_of(crlf));
    if (!r) FAIL(describe(r.error()));
    CHECK(r->dns_names.size() == 2);
  }
  SECTION("text before the PEM block") {
    std::string pem = "hello\n";
    auto body = data_file("ec_p256.csr.pem");
    pem.append(body.begin(), body.end());
    CHECK_FALSE(parse_csr(bytes_of(pem)).has_value());
  }
  SECTION("text after the PEM block") {
    auto body = data_file("ec_p256.csr.pem");
    std::string pem(body.begin(), body.end());
    pem += "trailer\n";
    auto r = parse_csr(bytes_of(pem));
    REQUIRE_FALSE(r);
    CHECK(r.error().where == "csr");
  }
}

TEST_CASE("normalize_dns_name: LDH labels, 253 characters, wildcard leftmost", "[pki][csr]") {
  const std::string label63(63, 'a');
  // 4 labels of 63 + 3 dots = 255; trimmed to 253 below.
  std::string long_name = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  REQUIRE(long_name.size() == 253);
  auto [input, expected] = GENERATE_COPY(table<std::string, std::string>({
      {"Example.ORG", "example.org"},
      {"www.example.org.", "www.example.org"},
      {"*.example.org", "*.example.org"},
      {"*.Sub.Example.org", "*.sub.example.org"},
      {"xn--bcher-kva.example", "xn--bcher-kva.example"},
      {"123.example.org", "123.example.org"},
      {"a-b.example.org", "a-b.example.org"},
      {label63 + ".example.org", label63 + ".example.org"},
      {long_name, long_name},
      {long_name + ".", long_name},
      // refused ("" = refused)
      {"", ""},
      {".", ""},
      {"localhost", ""},
      {"*.org", ""},
      {"*", ""},
      {"www.*.example.org", ""},
      {"*a.example.org", ""},
      {"a*.example.org", ""},
      {"**.example.org", ""},
      {"-a.example.org", ""},
      {"a-.example.org", ""},
      {"a..example.org", ""},
      {".example.org", ""},
      {"example.org..", ""},
      {"exa_mple.org", ""},
      {"exa mple.org", ""},
      {std::string("exa\0mple.org", 12), ""},
      {"b\xc3\xbc" "cher.example", ""},
      {"192.0.2.1", ""},
      {"::1", ""},
      {label63 + "a.example.org", ""},
      {long_name + "b", ""},
  }));
  CAPTURE(input);
  auto r = normalize_dns_name(input);
  if (expected.empty()) {
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::invalid_input);
    CHECK(r.error().where == "dns_name");
  } else {
    REQUIRE(r.has_value());
    CHECK(*r == expected);
  }
}

TEST_CASE("normalize_email: local@domain, lower-cased", "[pki][csr]") {
  const std::string local64(64, 'x');
  auto [input, expected] = GENERATE_COPY(table<std::string, std::string>({
      {"Alice@Example.ORG", "alice@example.org"},
      {"first.last+tag@example.org", "first.last+tag@example.org"},
      {"o'brien@mail.example.org", "o'brien@mail.example.org"},
      {local64 + "@example.org", local64 + "@example.org"},
      // refused
      {"", ""},
      {"alice", ""},
      {"@example.org", ""},
      {"alice@", ""},
      {"alice@@example.org", ""},
      {"a@b@example.org", ""},
      {"a b@example.org", ""},
      {"alice@localhost", ""},
      {"alice@*.example.org", ""},
      {"alice@example.org.", ""},
      {"alice@exa_mple.org", ""},
      {local64 + "x@example.org", ""},
      {"al\x01ice@example.org", ""},
      {"z\xc3\xb6" "e@example.org", ""},
  }));
  CAPTURE(input);
  auto r = normalize_email(input);
  if (expected.empty()) {
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::invalid_input);
    CHECK(r.error().where == "email");
  } else {
    REQUIRE(r.has_value());
    CHECK(*r == expected);
  }
}

TEST_CASE("messages quote peer values safely", "[pki][csr]") {
  auto r = normalize_dns_name(std::string("bad\n\x01name.example.org"));
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find('\n') == std::string::npos);
  CHECK(r.error().message.find("\\x0a\\x01") != std::string::npos);
  auto long_bad = normalize_dns_name(std::string(5000, '_'));
  REQUIRE_FALSE(long_bad);
  CHECK(long_bad.error().message.size() < 300);
}
