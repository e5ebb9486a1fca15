// The streaming CRL writer, checked three ways (STYLE.md 16): OpenSSL parses
// and verifies what it writes and reads back every entry, reason and date;
// exact bytes of the pieces we encode ourselves; and refusal of bad input.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "core/pki/issuer.h"
#include "core/pki/key.h"
#include "core/status/crl.h"

#include <openssl/pem.h>

namespace wotca {
namespace {

namespace fs = std::filesystem;

const sys_seconds t0{std::chrono::seconds(1'800'000'000)};  // 2027-01-15

struct test_ca {
  evp_pkey_ptr key;
  x509_ptr cert;
};

test_ca make_ca(key_algorithm alg = key_algorithm::ec_p256) {
  auto key = generate_key(alg);
  REQUIRE(key);
  serial_number serial{};
  serial[0] = 0x11;
  auto cert = make_root(**key, "CRL Test CA", "WoTCA Tests", serial, t0 - std::chrono::days(1),
                        t0 + std::chrono::days(3650));
  REQUIRE(cert);
  return test_ca{std::move(*key), std::move(*cert)};
}

std::string fmt_serial(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "1%07x", i);
  return buf;
}

struct entry {
  std::string serial;
  sys_seconds at;
  int reason;
};

crl_entry_source from(const std::vector<entry>& entries) {
  return [&entries](const crl_entry_sink& sink) -> result<void> {
    for (const auto& e : entries) {
      if (auto r = sink(crl_entry{e.serial, e.at, e.reason}); !r) return r;
    }
    return {};
  };
}

x509_crl_ptr parse(const std::vector<std::uint8_t>& der) {
  const unsigned char* p = der.data();
  x509_crl_ptr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(crl);
  CHECK(p == der.data() + der.size());  // every byte consumed
  return crl;
}

sys_seconds to_sys(const ASN1_TIME* t) {
  struct tm tm {};
  REQUIRE(ASN1_TIME_to_tm(t, &tm) == 1);
  return sys_seconds{std::chrono::seconds(timegm(&tm))};
}

std::string hex_of(const ASN1_INTEGER* i) {
  bignum_ptr bn(ASN1_INTEGER_to_BN(i, nullptr));
  openssl_string_ptr hex(BN_bn2hex(bn.get()));
  std::string s(hex.get());
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  s.erase(0, s.find_first_not_of('0'));  // BN_bn2hex pads to whole octets
  return s;
}

std::int64_t crl_number(X509_CRL* crl, int nid) {
  int crit = -1;
  asn1_integer_ptr n(static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, nid, &crit, nullptr)));
  REQUIRE(n);
  return ASN1_INTEGER_get(n.get());
}

std::vector<std::uint8_t> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_CASE("a CRL verifies under the issuer key and lists every entry as given", "[status][crl]") {
  auto alg = GENERATE(key_algorithm::ec_p256, key_algorithm::ec_p384, key_algorithm::rsa2048);
  auto ca = make_ca(alg);
  std::vector<entry> entries{
      {"0123456789abcdef0123456789abcdef01234567", t0 - std::chrono::hours(5), 1},  // keyCompromise
      {"7fffffffffffffffffffffffffffffffffffffff", t0 - std::chrono::hours(4), 0},  // unspecified: no extension
      {"80", t0 - std::chrono::hours(3), 4},                                        // high bit: a leading 0 octet
      {"00000abc", t0 - std::chrono::hours(2), 9},                                  // leading zeros dropped
      {"ABCDEF", sys_seconds{std::chrono::seconds(2'600'000'000)}, 5},             // 2052: GeneralizedTime
  };
  crl_params p;
  p.crl_number = 42;
  p.this_update = t0;
  p.next_update = t0 + std::chrono::days(7);
  auto der = build_crl(p, *ca.cert, *ca.key, from(entries));
  REQUIRE(der);
  auto crl = parse(*der);
  CHECK(X509_CRL_verify(crl.get(), ca.key.get()) == 1);
  CHECK(X509_CRL_get_version(crl.get()) == 1);  // v2
  CHECK(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca.cert.get())) == 0);
  CHECK(to_sys(X509_CRL_get0_lastUpdate(crl.get())) == t0);
  CHECK(to_sys(X509_CRL_get0_nextUpdate(crl.get())) == t0 + std::chrono::days(7));
  CHECK(crl_number(crl.get(), NID_crl_number) == 42);
  {
    authority_keyid_ptr aki(
        static_cast<AUTHORITY_KEYID*>(X509_CRL_get_ext_d2i(crl.get(), NID_authority_key_identifier, nullptr, nullptr)));
    REQUIRE(aki);
    REQUIRE(aki->keyid);
    CHECK(ASN1_OCTET_STRING_cmp(aki->keyid, X509_get0_subject_key_id(ca.cert.get())) == 0);
  }
  CHECK(X509_CRL_get_ext_by_NID(crl.get(), NID_delta_crl, -1) < 0);
  CHECK(X509_CRL_get_ext_by_NID(crl.get(), NID_freshest_crl, -1) < 0);

  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  REQUIRE(sk_X509_REVOKED_num(revoked) == static_cast<int>(entries.size()));
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
    const auto& want = entries[static_cast<std::size_t>(i)];
    std::string serial = want.serial;
    for (auto& c : serial) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    serial.erase(0, serial.find_first_not_of('0'));
    CHECK(hex_of(X509_REVOKED_get0_serialNumber(r)) == serial);
    CHECK(to_sys(X509_REVOKED_get0_revocationDate(r)) == want.at);
    int crit = -1;
    asn1_string_ptr reason(static_cast<ASN1_STRING*>(X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, nullptr)));
    if (want.reason == 0) {
      CHECK_FALSE(reason);
    } else {
      REQUIRE(reason);
      CHECK(ASN1_ENUMERATED_get(reason.get()) == want.reason);
      CHECK(crit == 0);
    }
  }
}

TEST_CASE("an empty CRL leaves revokedCertificates out and still verifies", "[status][crl]") {
  auto ca = make_ca();
  crl_params p;
  p.crl_number = 1;
  p.this_update = t0;
  p.next_update = t0 + std::chrono::days(7);
  std::vector<entry> none;
  auto der = build_crl(p, *ca.cert, *ca.key, from(none));
  REQUIRE(der);
  auto crl = parse(*der);
  CHECK(X509_CRL_verify(crl.get(), ca.key.get()) == 1);
  CHECK(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get())) <= 0);
}

TEST_CASE("delta CRLs carry a critical Delta CRL Indicator; complete CRLs point at them", "[status][crl]") {
  auto ca = make_ca();
  std::vector<entry> one{{"01", t0, 1}};
  crl_params p;
  p.crl_number = 8;
  p.this_update = t0;
  p.next_update = t0 + std::chrono::hours(1);
  p.delta_base = 7;
  auto der = build_crl(p, *ca.cert, *ca.key, from(one));
  REQUIRE(der);
  auto delta = parse(*der);
  CHECK(X509_CRL_verify(delta.get(), ca.key.get()) == 1);
  CHECK(crl_number(delta.get(), NID_delta_crl) == 7);
  const int at = X509_CRL_get_ext_by_NID(delta.get(), NID_delta_crl, -1);
  REQUIRE(at >= 0);
  CHECK(X509_EXTENSION_get_critical(X509_CRL_get_ext(delta.get(), at)) == 1);

  crl_params full;
  full.crl_number = 9;
  full.this_update = t0;
  full.next_update = t0 + std::chrono::days(7);
  full.freshest_crl_url = "http://crl.example/class1-delta.crl";
  full.issuing_distribution_point = "http://crl.example/class1-0.crl";
  auto der2 = build_crl(full, *ca.cert, *ca.key, from(one));
  REQUIRE(der2);
  auto complete = parse(*der2);
  CHECK(X509_CRL_verify(complete.get(), ca.key.get()) == 1);
  crl_dist_points_ptr fresh(
      static_cast<CRL_DIST_POINTS*>(X509_CRL_get_ext_d2i(complete.get(), NID_freshest_crl, nullptr, nullptr)));
  REQUIRE(fresh);
  REQUIRE(sk_DIST_POINT_num(fresh.get()) == 1);
  DIST_POINT* dp = sk_DIST_POINT_value(fresh.get(), 0);
  REQUIRE(dp->distpoint);
  REQUIRE(dp->distpoint->type == 0);
  GENERAL_NAME* gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
  REQUIRE(gn->type == GEN_URI);
  CHECK(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier))) ==
        "http://crl.example/class1-delta.crl");
  int crit = -1;
  std::unique_ptr<ISSUING_DIST_POINT, decltype(&ISSUING_DIST_POINT_free)> idp(
      static_cast<ISSUING_DIST_POINT*>(
          X509_CRL_get_ext_d2i(complete.get(), NID_issuing_distribution_point, &crit, nullptr)),
      ISSUING_DIST_POINT_free);
  REQUIRE(idp);
  CHECK(crit == 1);
}

TEST_CASE("known bytes: one entry with a reason, and the CRL number extension", "[status][crl]") {
  auto ca = make_ca();
  std::vector<entry> one{{"0a0b", sys_seconds{std::chrono::seconds(0)} + std::chrono::days(365 * 30 + 7), 1}};
  crl_params p;
  p.crl_number = 0x1234;
  p.this_update = t0;
  p.next_update = t0 + std::chrono::days(7);
  auto der = build_crl(p, *ca.cert, *ca.key, from(one));
  REQUIRE(der);
  std::string bytes(der->begin(), der->end());
  // SEQUENCE { INTEGER 0a0b, UTCTime 000101000000Z, SEQUENCE { SEQUENCE { reasonCode, OCTET STRING { ENUMERATED 1 } } } }
  const std::string entry_der("\x30\x21\x02\x02\x0a\x0b\x17\x0d"
                              "000101000000Z"
                              "\x30\x0c\x30\x0a\x06\x03\x55\x1d\x15\x04\x03\x0a\x01\x01",
                              35);
  CHECK(bytes.find(entry_der) != std::string::npos);
  // Extension { cRLNumber, OCTET STRING { INTEGER 0x1234 } }, minimal: no leading zero octet
  const std::string minimal_number("\x30\x0b\x06\x03\x55\x1d\x14\x04\x04\x02\x02\x12\x34", 13);
  CHECK(bytes.find(minimal_number) != std::string::npos);
}

TEST_CASE("bad entries and parameters are refused, naming the field", "[status][crl]") {
  auto ca = make_ca();
  crl_params p;
  p.crl_number = 3;
  p.this_update = t0;
  p.next_update = t0 + std::chrono::days(7);
  using row = std::tuple<std::string, int, std::string>;
  auto [serial, reason, where] = GENERATE(table<std::string, int, std::string>({
      row{"", 1, "crl.entry.serial"},
      row{"00", 1, "crl.entry.serial"},
      row{"xyz", 1, "crl.entry.serial"},
      row{std::string(42, 'a'), 1, "crl.entry.serial"},
      // Each neighbour of the hex ranges, in the odd leading digit, a high
      // and a low nibble, and a NUL or a byte over 0x7f.
      row{"/1", 1, "crl.entry.serial"},
      row{"1:", 1, "crl.entry.serial"},
      row{"@12", 1, "crl.entry.serial"},
      row{"1G", 1, "crl.entry.serial"},
      row{"`1", 1, "crl.entry.serial"},
      row{"12g", 1, "crl.entry.serial"},
      row{std::string("1\0", 2), 1, "crl.entry.serial"},
      row{"1\xff", 1, "crl.entry.serial"},
      row{std::string(39, 'f') + "x", 1, "crl.entry.serial"},
      row{"01", 6, "crl.entry.reason"},   // certificateHold: never (R-REVOKE-PUBLISH)
      row{"01", 7, "crl.entry.reason"},
      row{"01", 11, "crl.entry.reason"},
      row{"01", -1, "crl.entry.reason"},
  }));
  std::vector<entry> bad{{serial, t0, reason}};
  auto der = build_crl(p, *ca.cert, *ca.key, from(bad));
  REQUIRE_FALSE(der);
  CHECK(der.error().code == errc::invalid_input);
  CHECK(der.error().where == where);

  std::vector<entry> none;
  crl_params q = p;
  q.next_update = t0;
  CHECK(build_crl(q, *ca.cert, *ca.key, from(none)).error().where == "crl.next_update");
  q = p;
  q.crl_number = 0;
  CHECK(build_crl(q, *ca.cert, *ca.key, from(none)).error().where == "crl.number");
  q = p;
  q.delta_base = 3;
  CHECK(build_crl(q, *ca.cert, *ca.key, from(none)).error().where == "crl.delta_base");
  auto other = make_ca();
  CHECK(build_crl(p, *ca.cert, *other.key, from(none)).error().code == errc::crypto);
}

TEST_CASE("the source's error passes through", "[status][crl]") {
  auto ca = make_ca();
  crl_params p;
  p.crl_number = 3;
  p.this_update = t0;
  p.next_update = t0 + std::chrono::days(7);
  auto failing = [](const crl_entry_sink&) -> result<void> { return fail(errc::busy, "store", "locked"); };
  auto r = build_crl(p, *ca.cert, *ca.key, failing);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::busy);
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "wotca-crl-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

TEST_CASE("a CRL file is replaced whole, with its PEM, and nothing else is left", "[status][crl]") {
  auto ca = make_ca();
  temp_dir dir;
  const fs::path path = dir.path / "class1.crl";
  std::vector<entry> many;
  for (int i = 1; i <= 30000; ++i) many.push_back({fmt_serial(i), t0 - std::chrono::seconds(i), i % 3 == 0 ? 1 : 0});
  crl_params p;
  p.crl_number = 5;
  p.this_update = t0;
  p.next_update = t0 + std::chrono::days(7);
  auto s = write_crl_file(path, p, *ca.cert, *ca.key, from(many));
  REQUIRE(s);
  CHECK(s->entries == many.size());
  auto der = read_all(path);
  CHECK(der.size() == s->der_bytes);
  auto crl = parse(der);
  CHECK(X509_CRL_verify(crl.get(), ca.key.get()) == 1);
  CHECK(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get())) == 30000);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);

  // The PEM holds the same bytes.
  auto pem = read_all(dir.path / "class1.crl.pem");
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  x509_crl_ptr from_pem(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(from_pem);
  CHECK(X509_CRL_cmp(from_pem.get(), crl.get()) == 0);
  CHECK(std::string(pem.begin(), pem.end()) == crl_pem(std::string_view(reinterpret_cast<const char*>(der.data()), der.size())));

  // A failing second build leaves the first in place and no temporary file.
  std::vector<entry> bad{{"01", t0, 6}};
  p.crl_number = 6;
  CHECK_FALSE(write_crl_file(path, p, *ca.cert, *ca.key, from(bad)));
  CHECK(read_all(path) == der);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    ++files;
    CHECK(e.path().filename().string().find("wotca-tmp") == std::string::npos);
  }
  CHECK(files == 2);
  CHECK(remove_stale_crl_temporaries(dir.path, std::chrono::seconds(0)) == 0);
}

}  // namespace
}  // namespace wotca
