// The publisher over a real store and CA keys made here: numbers that only
// go up, the files it writes, expired certificates dropping off, deltas.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "core/pki/issuer.h"
#include "core/pki/key.h"
#include "core/store/sqlite_store.h"
#include "crl/publisher.h"

namespace wotca {
namespace {

namespace fs = std::filesystem;
using std::chrono::days;
using std::chrono::hours;
using std::chrono::seconds;

const sys_seconds t0{seconds(1'800'000'000)};

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "wotca-crlpub-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

ca_signer make_signer(std::uint8_t tag) {
  auto key = generate_key(key_algorithm::ec_p256);
  REQUIRE(key);
  serial_number serial{};
  serial[0] = tag;
  auto cert = make_root(**key, "Publisher Test " + std::to_string(tag), "WoTCA Tests", serial, t0 - days(1),
                        t0 + days(3650));
  REQUIRE(cert);
  return ca_signer{std::move(*cert), std::move(*key)};
}

struct fixture {
  temp_dir dir;
  std::unique_ptr<sqlite_store> db;
  ca_material ca;
  fixed_clock clk{t0};

  fixture() {
    auto s = sqlite_store::open(dir.path / "wotca.db", open_mode::create);
    REQUIRE(s);
    db = std::move(*s);
    ca.root = make_signer(1);
    ca.class1 = make_signer(2);
    ca.class3 = make_signer(3);
  }

  // A certificate of `issuer`, valid until `not_after`, revoked at `revoked` (if set).
  void add(const std::string& serial, issuer_class issuer, sys_seconds not_after, std::optional<sys_seconds> revoked,
           revocation_reason reason = revocation_reason::key_compromise) {
    auto r = db->write([&](transaction& tx) -> result<void> {
      certificate_record c;
      c.serial = serial;
      c.issuer = issuer;
      c.subject = "CN=x";
      c.not_before = t0 - days(30);
      c.not_after = not_after;
      c.created_at = t0 - days(30);
      if (auto a = tx.certificates().reserve(c); !a) return a;
      if (auto a = tx.certificates().complete(serial, {0x30, 0x00}); !a) return a;
      if (revoked) return tx.certificates().revoke(serial, *revoked, reason);
      return {};
    });
    REQUIRE(r);
  }

  crl_publish_settings settings(bool delta = false) const {
    crl_publish_settings s;
    s.dir = dir.path;
    s.validity = days(7);
    s.keep_expired_crls = 1;
    s.delta = delta;
    s.delta_validity = hours(1);
    s.url_base = "http://crl.test/";
    return s;
  }
};

x509_crl_ptr read_crl(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<unsigned char> der((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const unsigned char* ptr = der.data();
  x509_crl_ptr crl(d2i_X509_CRL(nullptr, &ptr, static_cast<long>(der.size())));
  REQUIRE(crl);
  return crl;
}

std::set<std::string> serials(X509_CRL* crl) {
  std::set<std::string> out;
  STACK_OF(X509_REVOKED)* rs = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(rs); ++i) {
    bignum_ptr bn(ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rs, i)), nullptr));
    openssl_string_ptr hex(BN_bn2hex(bn.get()));
    std::string s(hex.get());
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    s.erase(0, s.find_first_not_of('0'));  // BN_bn2hex pads to whole octets
    out.insert(s);
  }
  return out;
}

std::int64_t ext_number(X509_CRL* crl, int nid) {
  asn1_integer_ptr n(static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, nid, nullptr, nullptr)));
  REQUIRE(n);
  return ASN1_INTEGER_get(n.get());
}

TEST_CASE("each issuer's CRL lists its own revoked certificates, signed by its key", "[crl][publisher]") {
  fixture f;
  f.add("0a01", issuer_class::class1, t0 + days(100), t0 - hours(1));
  f.add("0a02", issuer_class::class1, t0 + days(100), std::nullopt);  // valid: not listed
  f.add("0b01", issuer_class::class3, t0 + days(100), t0 - hours(2), revocation_reason::superseded);
  f.add("0c01", issuer_class::root, t0 + days(100), t0 - hours(3), revocation_reason::ca_compromise);
  crl_publisher p(*f.db, f.ca, f.settings(), f.clk);
  for (auto [issuer, want] : {std::pair{issuer_class::class1, "a01"}, std::pair{issuer_class::class3, "b01"},
                              std::pair{issuer_class::root, "c01"}}) {
    auto done = p.publish(issuer, true, false);
    REQUIRE(done);
    REQUIRE(done->size() == 1);
    CHECK((*done)[0].entries == 1);
    auto crl = read_crl(f.dir.path / crl_file_name(issuer, false));
    CHECK(X509_CRL_verify(crl.get(), f.ca.signer_for(issuer).key.get()) == 1);
    CHECK(serials(crl.get()) == std::set<std::string>{want});
    CHECK(ext_number(crl.get(), NID_crl_number) == 1);
    CHECK(fs::exists(f.dir.path / (crl_file_name(issuer, false) + ".pem")));
  }
  REQUIRE(p.publish_certificates());
  CHECK(fs::file_size(f.dir.path / "class3.crt") == to_der(*f.ca.class3.cert).size());
  // The audit log has one row per CRL number taken.
  auto r = f.db->read([&](transaction& tx) -> result<void> {
    auto rows = tx.audit().since(t0 - days(1));
    REQUIRE(rows);
    CHECK(std::count_if(rows->begin(), rows->end(), [](const audit_entry& a) { return a.action == "crl.generate"; }) == 3);
    return {};
  });
  REQUIRE(r);
}

TEST_CASE("CRL numbers increase across publishers (restarts) and a failed write never reuses one", "[crl][publisher]") {
  fixture f;
  f.add("0a01", issuer_class::class1, t0 + days(100), t0 - hours(1));
  {
    crl_publisher p(*f.db, f.ca, f.settings(), f.clk);
    REQUIRE(p.publish(issuer_class::class1, true, false));
    REQUIRE(p.publish(issuer_class::class1, true, false));
  }
  // A publisher whose folder is gone fails after taking number 3.
  auto broken = f.settings();
  broken.dir = f.dir.path / "missing";
  crl_publisher bad(*f.db, f.ca, broken, f.clk);
  auto failed = bad.publish(issuer_class::class1, true, false);
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code == errc::io);
  crl_publisher again(*f.db, f.ca, f.settings(), f.clk);
  auto done = again.publish(issuer_class::class1, true, false);
  REQUIRE(done);
  CHECK((*done)[0].number == 4);
  CHECK(ext_number(read_crl(f.dir.path / "class1.crl").get(), NID_crl_number) == 4);
}

TEST_CASE("an expired certificate stays one CRL validity after its notAfter, then drops off", "[crl][publisher]") {
  fixture f;
  f.add("0a01", issuer_class::class1, t0 + days(1), t0 - hours(1));
  f.add("0a02", issuer_class::class1, t0 + days(100), t0 - hours(1));
  crl_publisher p(*f.db, f.ca, f.settings(), f.clk);
  REQUIRE(p.publish(issuer_class::class1, true, false));
  CHECK(serials(read_crl(f.dir.path / "class1.crl").get()) == std::set<std::string>{"a01", "a02"});
  f.clk.set(t0 + days(2));  // expired, kept
  REQUIRE(p.publish(issuer_class::class1, true, false));
  CHECK(serials(read_crl(f.dir.path / "class1.crl").get()) == std::set<std::string>{"a01", "a02"});
  f.clk.set(t0 + days(8) + seconds(1));  // more than one validity after notAfter
  REQUIRE(p.publish(issuer_class::class1, true, false));
  CHECK(serials(read_crl(f.dir.path / "class1.crl").get()) == std::set<std::string>{"a02"});
}

TEST_CASE("delta CRLs list what was revoked since their base and share its number sequence", "[crl][publisher]") {
  fixture f;
  f.add("0a01", issuer_class::class1, t0 + days(100), t0 - days(2));
  crl_publisher p(*f.db, f.ca, f.settings(true), f.clk);
  auto first = p.publish(issuer_class::class1, true, true);
  REQUIRE(first);
  REQUIRE(first->size() == 2);  // no base yet: the complete CRL first, then its delta
  CHECK_FALSE((*first)[0].delta);
  CHECK((*first)[1].delta);
  CHECK((*first)[1].base_number == (*first)[0].number);
  auto full = read_crl(f.dir.path / "class1.crl");
  CHECK(X509_CRL_get_ext_by_NID(full.get(), NID_freshest_crl, -1) >= 0);

  f.clk.set(t0 + hours(1));
  f.add("0a02", issuer_class::class1, t0 + days(100), t0 + hours(1));
  auto next = p.publish(issuer_class::class1, true, true);
  REQUIRE(next);
  REQUIRE(next->size() == 2);
  CHECK((*next)[0].delta);  // the delta against the previous complete CRL comes first
  auto delta = read_crl(f.dir.path / "class1-delta.crl");
  CHECK(X509_CRL_verify(delta.get(), f.ca.class1.key.get()) == 1);
  CHECK(ext_number(delta.get(), NID_delta_crl) == (*first)[0].number);
  CHECK(ext_number(delta.get(), NID_crl_number) == 3);
  CHECK(serials(delta.get()) == std::set<std::string>{"a02"});
  auto complete = read_crl(f.dir.path / "class1.crl");
  CHECK(ext_number(complete.get(), NID_crl_number) == 4);
  CHECK(serials(complete.get()) == std::set<std::string>{"a01", "a02"});
}

}  // namespace
}  // namespace wotca
