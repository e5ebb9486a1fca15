// The OCSP responder and its refresher as values (STYLE.md 1, 2): a CA made
// by init_ca in a temporary folder under a fixed clock (as
// tests/unit/ca/authority_test.cpp does), the responder fed from its store
// by ocsp_refresher, and requests made with OpenSSL's OCSP API and handed to
// respond() as hand-built http_request values: no socket, no daemon.
// Answers are parsed and verified with OpenSSL as a relying party would:
// the root trusted, the issuing CA an untrusted intermediate, verification
// time the fixed clock's.
#include <catch2/catch.hpp>
#include <stdlib.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ca/authority.h"
#include "core/ca/registry.h"
#include "core/pki/issuer.h"
#include "core/pki/key.h"
#include "core/store/sqlite_store.h"
#include "ocsp/refresher.h"
#include "ocsp/responder.h"

using namespace wotca;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using bytes = std::vector<std::uint8_t>;

// init_ca runs at t0; every service's clock starts there.
constexpr sys_seconds t0{std::chrono::seconds{1795000000}};  // Wed, 18 Nov 2026 11:06:40 GMT
constexpr std::chrono::seconds validity{96h};                 // ocsp_settings' default

// RFC 6960 4.2.1: OCSPResponse without responseBytes, exact DER.
const bytes malformed_der = {0x30, 0x03, 0x0a, 0x01, 0x01};
const bytes unauthorized_der = {0x30, 0x03, 0x0a, 0x01, 0x06};

// ---------------------------------------------------------------- the CA --

// A CA made by init_ca at t0 with one member, alice, whose email is verified.
struct world {
  fs::path dir;
  fixed_clock clk{t0};
  system_random rng;
  config cfg;
  std::unique_ptr<sqlite_store> db;
  std::optional<ca_material> ca;
  member_id alice = 0;

  struct leaf {
    std::string serial;  // lower-case hex, as the store keeps it
    x509_ptr cert;
  };

  world() {
    std::string pattern = (fs::temp_directory_path() / "wotca-ocsp-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir = fs::path(pattern) / "data";
    std::string text = render_config(dir);
    // RSA-2048 for the SCEP RA: its key generation is most of init's time.
    const std::string slow = "scep_ra_key_algorithm: rsa-3072";
    auto at = text.find(slow);
    REQUIRE(at != std::string::npos);
    text.replace(at, slow.size(), "scep_ra_key_algorithm: rsa-2048");
    auto c = parse_config(text, dir);
    REQUIRE(c);
    cfg = *c;
    auto made = init_ca(cfg, dir / "wotca.yaml", text, clk, rng);
    INFO((made ? std::string() : describe(made.error())));
    REQUIRE(made);
    auto s = sqlite_store::open(cfg.database, open_mode::existing);
    REQUIRE(s);
    db = std::move(*s);
    auto m = load_ca(cfg);
    REQUIRE(m);
    ca = std::move(*m);

    registry reg(cfg, *db, clk, rng);
    const std::string email = "alice@example.org";
    auto added = reg.add_member(new_member{member_kind::person, "Alice Example", "1980-01-01", email, true}, "test");
    REQUIRE(added);
    REQUIRE(reg.verify_email_by_operator(added->id, email, "test", "test"));
    alice = added->id;
  }
  world(const world&) = delete;
  world& operator=(const world&) = delete;
  ~world() {
    std::error_code ec;
    fs::remove_all(dir.parent_path(), ec);
  }

  parsed_csr csr_for(const std::string& san) {
    auto key = generate_key(key_algorithm::ec_p256);
    REQUIRE(key);
    x509_req_ptr req(X509_REQ_new());
    X509_REQ_set_pubkey(req.get(), key->get());
    x509_extension_stack_ptr exts(sk_X509_EXTENSION_new_null());
    sk_X509_EXTENSION_push(exts.get(), X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
    X509_REQ_add_extensions(req.get(), exts.get());
    REQUIRE(X509_REQ_sign(req.get(), key->get(), EVP_sha256()) > 0);
    int len = i2d_X509_REQ(req.get(), nullptr);
    REQUIRE(len > 0);
    bytes der(static_cast<std::size_t>(len));
    unsigned char* p = der.data();
    i2d_X509_REQ(req.get(), &p);
    auto parsed = parse_csr(der);
    REQUIRE(parsed);
    return std::move(*parsed);
  }

  // A client-email certificate for alice, issued by the Class 1 CA.
  leaf issue() {
    certificate_authority authority(cfg, *db, *ca, clk, rng);
    parsed_csr csr = csr_for("email:alice@example.org");
    auto out = authority.issue(alice, csr, cert_profile::client_email, 30, request_path::cli, "test");
    INFO((out ? std::string() : describe(out.error())));
    REQUIRE(out);
    const auto* issued = std::get_if<issued_certificate>(&*out);
    REQUIRE(issued != nullptr);
    REQUIRE(issued->record.issuer == issuer_class::class1);
    const unsigned char* p = issued->record.der.data();
    x509_ptr cert(d2i_X509(nullptr, &p, static_cast<long>(issued->record.der.size())));
    REQUIRE(cert);
    return leaf{issued->record.serial, std::move(cert)};
  }

  // A Class 1 row reserved through the store and never completed.
  std::string reserve() {
    certificate_record rec;
    rec.serial = to_hex(random_serial(rng));
    rec.issuer = issuer_class::class1;
    rec.member = alice;
    rec.profile = cert_profile::client_email;
    rec.subject = "CN=WoTCA Member";
    rec.sans = {"email:alice@example.org"};
    rec.not_before = clk.now();
    rec.not_after = clk.now() + std::chrono::days(30);
    rec.created_at = clk.now();
    REQUIRE(db->write([&](transaction& tx) { return tx.certificates().reserve(rec); }));
    return rec.serial;
  }

  [[nodiscard]] X509* root() const { return ca->root.cert.get(); }
  [[nodiscard]] X509* class1() const { return ca->class1.cert.get(); }
};

// ------------------------------------------------------------- requests --

ocsp_certid_ptr id_of(X509* subject, X509* issuer, const EVP_MD* md = EVP_sha1()) {
  ocsp_certid_ptr id(OCSP_cert_to_id(md, subject, issuer));
  REQUIRE(id);
  return id;
}

ocsp_certid_ptr id_of_serial(const std::string& serial_hex, X509* issuer, const EVP_MD* md = EVP_sha1()) {
  BIGNUM* raw = nullptr;
  REQUIRE(BN_hex2bn(&raw, serial_hex.c_str()) == static_cast<int>(serial_hex.size()));
  bignum_ptr bn(raw);
  asn1_integer_ptr sn(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  REQUIRE(sn);
  ocsp_certid_ptr id(
      OCSP_cert_id_new(md, X509_get_subject_name(issuer), X509_get0_pubkey_bitstr(issuer), sn.get()));
  REQUIRE(id);
  return id;
}

// An OCSPRequest and its DER; the request owns copies of the CertIDs.
struct query {
  ocsp_request_ptr req;
  bytes der;
};

query make_query(const std::vector<const OCSP_CERTID*>& ids, bytes nonce = {}) {
  query q{ocsp_request_ptr(OCSP_REQUEST_new()), {}};
  REQUIRE(q.req);
  for (const OCSP_CERTID* id : ids) {
    ocsp_certid_ptr copy(OCSP_CERTID_dup(id));
    REQUIRE(copy);
    REQUIRE(OCSP_request_add0_id(q.req.get(), copy.get()) != nullptr);
    (void)copy.release();  // the request owns it now
  }
  if (!nonce.empty()) {
    REQUIRE(OCSP_request_add1_nonce(q.req.get(), nonce.data(), static_cast<int>(nonce.size())) == 1);
  }
  int len = i2d_OCSP_REQUEST(q.req.get(), nullptr);
  REQUIRE(len > 0);
  q.der.resize(static_cast<std::size_t>(len));
  unsigned char* p = q.der.data();
  REQUIRE(i2d_OCSP_REQUEST(q.req.get(), &p) == len);
  return q;
}

// A request for `id` whose base64 ends in '=' padding: a plain SHA-1
// request is 87 bytes (no padding), so a short nonce is added.
query padded_query(const OCSP_CERTID* id) {
  for (std::size_t n = 1; n <= 3; ++n) {
    query q = make_query({id}, bytes(n, 0x5a));
    if (q.der.size() % 3 != 0) return q;
  }
  FAIL("no nonce length gives a padded base64");
  return {};
}

bytes nonce_of(std::size_t n) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(0xa0 + i);
  return b;
}

std::string base64(const bytes& b) {
  std::string out(4 * ((b.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), b.data(), static_cast<int>(b.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// How a client may spell the GET path (core/status/request_path.h).
enum class path_form { plain, double_slash, escaped_upper, escaped_lower, all_escaped, base64url };

std::string path_for(const bytes& der, path_form form) {
  const std::string b64 = base64(der);
  std::string out = "/";
  if (form == path_form::double_slash) out = "//";
  const char* hex = form == path_form::escaped_lower ? "0123456789abcdef" : "0123456789ABCDEF";
  for (char c : b64) {
    const bool special = c == '+' || c == '/' || c == '=';
    if (form == path_form::all_escaped || ((form == path_form::escaped_upper || form == path_form::escaped_lower) &&
                                           special)) {
      const auto u = static_cast<unsigned char>(c);
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0x0f];
    } else if (form == path_form::base64url) {
      if (c == '+') out += '-';
      else if (c == '/') out += '_';
      else if (c != '=') out += c;
    } else {
      out += c;
    }
  }
  return out;
}

// An http_request that owns its bytes; view() is valid while this lives
// and is not modified.
struct request_value {
  std::string method;
  std::string path;
  std::string body;
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<http_header> views;

  [[nodiscard]] http_request view() {
    views.clear();
    for (const auto& [name, value] : fields) views.push_back(http_header{name, value});
    return http_request{.method = method, .raw_path = path, .query = {}, .body = body, .headers = views};
  }
};

request_value get_of(const bytes& der, path_form form = path_form::plain) {
  return request_value{"GET", path_for(der, form), "", {}, {}};
}

request_value post_of(const bytes& der, const std::string& content_type = "application/ocsp-request") {
  request_value r{"POST", "/", std::string(der.begin(), der.end()), {}, {}};
  if (!content_type.empty()) r.fields.emplace_back("Content-Type", content_type);
  return r;
}

// ------------------------------------------------------------ responses --

std::string_view body_of(const http_response& r) {
  if (const auto* s = std::get_if<std::string>(&r.body)) return *s;
  if (const auto* p = std::get_if<std::shared_ptr<const std::string>>(&r.body)) {
    return *p ? std::string_view(**p) : std::string_view();
  }
  FAIL("the OCSP responder answered with a file body");
  return {};
}

bytes body_bytes(const http_response& r) {
  std::string_view b = body_of(r);
  return bytes(b.begin(), b.end());
}

// The value of the one header field `name`; nullopt when absent.
std::optional<std::string> header_of(const http_response& r, std::string_view name) {
  std::optional<std::string> out;
  int seen = 0;
  for (const auto& [k, v] : r.headers) {
    if (k == name) {
      out = v;
      ++seen;
    }
  }
  CHECK(seen <= 1);
  return out;
}

// RFC 5019 6.2 as this responder sends it.
std::string cache_control(std::chrono::seconds max_age) {
  return "max-age=" + std::to_string(max_age.count()) + ", public, no-transform, must-revalidate";
}

// The ETag the responder promises: the first 16 bytes of SHA-256 of the body, quoted.
std::string etag_of(std::string_view body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  REQUIRE(EVP_Digest(body.data(), body.size(), md, &n, EVP_sha256(), nullptr) == 1);
  REQUIRE(n == 32);
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned int i = 0; i < 16; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0x0f];
  }
  return out + "\"";
}

struct parsed {
  int status = -1;  // OCSPResponseStatus
  ocsp_response_ptr resp;
  ocsp_basicresp_ptr basic;  // set only when successful
};

parsed parse(const http_response& r) {
  std::string_view b = body_of(r);
  const auto* begin = reinterpret_cast<const unsigned char*>(b.data());
  const unsigned char* p = begin;
  parsed out;
  out.resp.reset(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(b.size())));
  REQUIRE(out.resp);
  REQUIRE(p == begin + b.size());
  out.status = OCSP_response_status(out.resp.get());
  if (out.status == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    out.basic.reset(OCSP_response_get1_basic(out.resp.get()));
    REQUIRE(out.basic);
  }
  return out;
}

// OCSP_basic_verify at `at`: the root the only trust anchor, the Class 1 CA
// an untrusted intermediate.
// `intermediate` instead of the Class 1 CA when given.
bool verifies(OCSP_BASICRESP* basic, const world& w, sys_seconds at, X509* intermediate = nullptr) {
  x509_store_ptr store(X509_STORE_new());
  REQUIRE(X509_STORE_add_cert(store.get(), w.root()) == 1);
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store.get()), static_cast<time_t>(at.time_since_epoch().count()));
  x509_stack_ptr untrusted(sk_X509_new_null());
  if (intermediate == nullptr) intermediate = w.class1();
  REQUIRE(X509_up_ref(intermediate) == 1);
  REQUIRE(sk_X509_push(untrusted.get(), intermediate) == 1);
  const int ok = OCSP_basic_verify(basic, untrusted.get(), store.get(), 0);
  if (ok != 1) UNSCOPED_INFO("OCSP_basic_verify: " << drain_openssl_errors());
  ERR_clear_error();
  return ok == 1;
}

sys_seconds to_time(const ASN1_GENERALIZEDTIME* t) {
  std::tm tm{};
  REQUIRE(ASN1_TIME_to_tm(t, &tm) == 1);
  return sys_seconds{std::chrono::seconds{timegm(&tm)}};
}

// One SingleResponse, found by the CertID the client sent.
struct single {
  int status = -1;  // V_OCSP_CERTSTATUS_*
  int reason = -1;  // OCSP_REVOKED_STATUS_*, -1 when none
  std::optional<sys_seconds> revoked_at;
  sys_seconds this_update{};
  sys_seconds next_update{};
};

single find(OCSP_BASICRESP* basic, OCSP_CERTID* id) {
  REQUIRE(basic != nullptr);
  single s;
  ASN1_GENERALIZEDTIME* rev = nullptr;
  ASN1_GENERALIZEDTIME* this_update = nullptr;
  ASN1_GENERALIZEDTIME* next_update = nullptr;
  REQUIRE(OCSP_resp_find_status(basic, id, &s.status, &s.reason, &rev, &this_update, &next_update) == 1);
  if (rev != nullptr) s.revoked_at = to_time(rev);
  REQUIRE(this_update != nullptr);
  REQUIRE(next_update != nullptr);
  s.this_update = to_time(this_update);
  s.next_update = to_time(next_update);
  return s;
}

// -------------------------------------------------------------- serving --

std::unique_ptr<ocsp_responder> responder_for(const config& cfg, const ocsp_settings& settings) {
  // As wotca-ocsp loads them (ocsp/main.cpp): both issuing CAs, each with
  // its delegated signer.
  std::vector<ocsp_issuer> issuers;
  for (auto cls : {issuer_class::class1, issuer_class::class3}) {
    const std::string name(to_string(cls));
    auto issuer = load_certificate(cert_path(cfg, name));
    REQUIRE(issuer);
    auto cert = load_certificate(cert_path(cfg, name + "-ocsp"));
    REQUIRE(cert);
    auto key = load_private_key(key_path(cfg, name + "-ocsp"));
    REQUIRE(key);
    issuers.push_back(ocsp_issuer{cls, ocsp_signer{std::move(*issuer), std::move(*cert), std::move(*key)}});
  }
  auto r = ocsp_responder::make(std::move(issuers), settings);
  REQUIRE(r);
  return std::move(*r);
}

// A responder fed from `w`'s store by its refresher at t0, with a clock of
// its own. The refresher borrows the clock and the responder: not movable.
struct service {
  fixed_clock clk{t0};
  std::unique_ptr<ocsp_responder> responder;
  std::unique_ptr<ocsp_refresher> refresher;
  std::size_t loaded = 0;

  explicit service(world& w, const ocsp_settings& settings = {}) {
    responder = responder_for(w.cfg, settings);
    refresher = std::make_unique<ocsp_refresher>(*w.db, *responder, clk);
    auto n = refresher->load_all();
    INFO((n ? std::string() : describe(n.error())));
    REQUIRE(n);
    loaded = n->responses;
  }
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  http_response ask(request_value& r) { return responder->respond(r.view(), clk.now()); }
};

// The CA most tests share (init_ca is slow), only ever added to: its leaf is
// issued until the base64 of the leaf's SHA-1 request holds both '+' and
// '/', so that the escaped GET forms escape something real; one Class 1 row
// is reserved and never completed. The tests that revoke make their own.
struct shared_world {
  world w;
  world::leaf leaf;
  std::size_t leaves = 0;  // issued to alice, `leaf` the last
  std::string reserved;

  shared_world() {
    for (int attempt = 0; attempt < 256; ++attempt) {
      leaf = w.issue();
      ++leaves;
      auto id = id_of(leaf.cert.get(), w.class1());
      const std::string b64 = base64(make_query({id.get()}).der);
      if (b64.find('+') != std::string::npos && b64.find('/') != std::string::npos) break;
    }
    reserved = w.reserve();
  }
};

shared_world& shared() {
  static shared_world s;
  return s;
}

// Every counter, for comparing in one go.
struct tally {
  std::uint64_t good = 0, revoked = 0, unknown = 0, malformed = 0, unauthorized = 0, internal = 0;
  std::uint64_t cache_hits = 0, signed_on_demand = 0, not_modified = 0, signatures = 0;
};

tally tally_of(const ocsp_counters& c) {
  return tally{c.good,       c.revoked,          c.unknown,      c.malformed, c.unauthorized, c.internal,
               c.cache_hits, c.signed_on_demand, c.not_modified, c.signatures};
}

void check_tally(const ocsp_counters& got, const tally& want) {
  const tally t = tally_of(got);
  CHECK(t.good == want.good);
  CHECK(t.revoked == want.revoked);
  CHECK(t.unknown == want.unknown);
  CHECK(t.malformed == want.malformed);
  CHECK(t.unauthorized == want.unauthorized);
  CHECK(t.internal == want.internal);
  CHECK(t.cache_hits == want.cache_hits);
  CHECK(t.signed_on_demand == want.signed_on_demand);
  CHECK(t.not_modified == want.not_modified);
  CHECK(t.signatures == want.signatures);
}

}  // namespace

// ------------------------------------------------------------------ 1 --

TEST_CASE("load_all signs one response per certificate of a served issuer and says how many",
          "[ocsp][refresher]") {
  shared_world& s = shared();
  service svc(s.w);
  // Class 1 and 3 OCSP signers, the SCEP RA, ACME's TLS certificate and
  // alice's leaves; not the issuing CAs (the root's: their status is the
  // CRL's) nor the reserved row (never handed out).
  CHECK(svc.responder->size() == 4 + s.leaves);
  CHECK(svc.responder->counters().signatures == svc.responder->size());
  CHECK(svc.responder->oldest_this_update() == t0);
  // refresher.h: "Signs a response for every certificate of the issuers
  // served. Returns how many."; wotca-ocsp logs it as "pre-signed N".
  CHECK(svc.loaded == svc.responder->size());
}

TEST_CASE("GET, HEAD and POST answer good with the pre-signed bytes and RFC 5019 caching headers", "[ocsp]") {
  shared_world& s = shared();
  auto [name, method, form, padded] = GENERATE(table<std::string, std::string, path_form, bool>({
      {"GET /base64", "GET", path_form::plain, false},
      {"GET //base64 (an AIA URL ending in '/')", "GET", path_form::double_slash, false},
      {"GET with '+' '/' escaped as %2B %2F", "GET", path_form::escaped_upper, false},
      {"GET with '+' '/' escaped as %2b %2f", "GET", path_form::escaped_lower, false},
      {"GET with '=' escaped as %3D (padded by a nonce, which is ignored)", "GET", path_form::escaped_upper, true},
      {"GET with every character escaped", "GET", path_form::all_escaped, false},
      {"GET base64url without padding", "GET", path_form::base64url, true},
      {"HEAD /base64", "HEAD", path_form::plain, false},
      {"POST application/ocsp-request", "POST", path_form::plain, false},
      {"POST application/ocsp-request, padded by a nonce", "POST", path_form::plain, true},
  }));
  INFO(name);
  service svc(s.w);
  svc.clk.advance(1000s);

  auto id = id_of(s.leaf.cert.get(), s.w.class1());
  query plain = make_query({id.get()});
  query q = padded ? padded_query(id.get()) : make_query({id.get()});
  request_value req = method == "POST" ? post_of(q.der) : get_of(q.der, form);
  req.method = method;
  if (form == path_form::escaped_upper || form == path_form::escaped_lower) {
    // The row escapes something real (the shared leaf is chosen for it).
    const bool upper = form == path_form::escaped_upper;
    const std::vector<std::string> escapes =
        padded ? std::vector<std::string>{upper ? "%3D" : "%3d"}
               : std::vector<std::string>{upper ? "%2B" : "%2b", upper ? "%2F" : "%2f"};
    for (const auto& e : escapes) CHECK(req.path.find(e) != std::string::npos);
  }

  request_value reference = get_of(plain.der);
  const http_response first = svc.ask(reference);
  const http_response r = svc.ask(req);

  CHECK(r.status == 200);
  CHECK(header_of(r, "Content-Type") == "application/ocsp-response");
  CHECK(header_of(r, "Cache-Control") == cache_control(validity - 1000s));
  CHECK(header_of(r, "Last-Modified") == "Wed, 18 Nov 2026 11:06:40 GMT");
  CHECK(header_of(r, "Expires") == "Sun, 22 Nov 2026 11:06:40 GMT");
  CHECK(header_of(r, "ETag") == etag_of(body_of(r)));
  // Pre-signed: the same bytes each time, and no signature since the load
  // (the tally below).
  CHECK(body_of(r) == body_of(first));

  parsed p = parse(r);
  REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  CHECK(verifies(p.basic.get(), s.w, svc.clk.now()));
  CHECK(OCSP_resp_count(p.basic.get()) == 1);
  single one = find(p.basic.get(), id.get());
  CHECK(one.status == V_OCSP_CERTSTATUS_GOOD);
  CHECK(one.this_update == t0);
  CHECK(one.next_update == t0 + validity);
  CHECK(one.next_update - svc.clk.now() == validity - 1000s);  // max-age: nextUpdate - now
  CHECK(OCSP_check_nonce(q.req.get(), p.basic.get()) == (padded ? -1 : 2));  // never echoed from the cache

  check_tally(svc.responder->counters(), tally{.good = 2, .cache_hits = 2, .signatures = svc.responder->size()});
}

TEST_CASE("POST accepts application/ocsp-request with parameters and in any case", "[ocsp]") {
  shared_world& s = shared();
  // RFC 9110 8.3.1: type and subtype are case-insensitive; parameters follow ';'.
  auto type = GENERATE(as<std::string>{}, "application/ocsp-request", "application/ocsp-request; charset=binary",
                       "Application/OCSP-Request");
  INFO(type);
  service svc(s.w);
  auto id = id_of(s.leaf.cert.get(), s.w.class1());
  request_value req = post_of(make_query({id.get()}).der, type);
  const http_response r = svc.ask(req);
  parsed p = parse(r);
  REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  CHECK(find(p.basic.get(), id.get()).status == V_OCSP_CERTSTATUS_GOOD);
  CHECK(svc.responder->counters().cache_hits == 1);
}

// ------------------------------------------------------------------ 2 --

TEST_CASE("conditional GET answers 304 while the client holds the cached response", "[ocsp]") {
  shared_world& s = shared();
  const std::string other = "\"0123456789abcdef0123456789abcdef\"";
  const std::string last_modified = "Wed, 18 Nov 2026 11:06:40 GMT";
  // "=" stands for the response's own ETag.
  auto [name, method, if_none_match, if_modified_since, want] =
      GENERATE_COPY(table<std::string, std::string, std::string, std::string, int>({
          {"no condition", "GET", "", "", 200},
          {"If-None-Match: its ETag", "GET", "=", "", 304},
          {"HEAD, If-None-Match: its ETag", "HEAD", "=", "", 304},
          {"If-None-Match: another ETag", "GET", other, "", 200},
          // RFC 9110 13.1.2: a list of entity tags, compared weakly.
          {"If-None-Match: a list holding its ETag", "GET", other + ", =", "", 304},
          {"If-None-Match: its ETag, weak", "GET", "W/=", "", 304},
          {"If-Modified-Since: its Last-Modified", "GET", "", last_modified, 304},
          {"If-Modified-Since: a second before", "GET", "", "Wed, 18 Nov 2026 11:06:39 GMT", 200},
          {"If-Modified-Since: after it, before now", "GET", "", "Wed, 18 Nov 2026 11:15:00 GMT", 304},
          {"If-Modified-Since: not a date", "GET", "", "yesterday", 200},
          {"another ETag, If-Modified-Since ignored (RFC 9110 13.2.2)", "GET", other, last_modified, 200},
      }));
  INFO(name);
  service svc(s.w);
  svc.clk.advance(1000s);
  auto id = id_of(s.leaf.cert.get(), s.w.class1());
  request_value plain = get_of(make_query({id.get()}).der);
  const http_response first = svc.ask(plain);
  const std::string etag = header_of(first, "ETag").value_or("");
  REQUIRE(etag.size() == 34);

  request_value req = get_of(make_query({id.get()}).der);
  req.method = method;
  if (!if_none_match.empty()) {
    std::string value = if_none_match;
    if (auto at = value.find('='); at != std::string::npos) value.replace(at, 1, etag);
    req.fields.emplace_back("If-None-Match", value);
  }
  if (!if_modified_since.empty()) req.fields.emplace_back("If-Modified-Since", if_modified_since);
  const http_response r = svc.ask(req);

  CHECK(r.status == want);
  CHECK(header_of(r, "ETag") == etag);
  CHECK(header_of(r, "Last-Modified") == last_modified);
  CHECK(header_of(r, "Cache-Control") == cache_control(validity - 1000s));
  if (want == 304) {
    CHECK(body_of(r).empty());
    CHECK_FALSE(header_of(r, "Content-Type"));
  } else {
    CHECK(body_of(r) == body_of(first));
  }
  CHECK(svc.responder->counters().not_modified == (want == 304 ? 1u : 0u));
  CHECK(svc.responder->counters().cache_hits == 2);
}

// ------------------------------------------------------------------ 3 --

TEST_CASE("a revocation reaches the responder through the change feed", "[ocsp][refresher]") {
  world w;
  world::leaf leaf = w.issue();
  service svc(w);
  auto id = id_of(leaf.cert.get(), w.class1());
  request_value req = get_of(make_query({id.get()}).der);
  const http_response before = svc.ask(req);
  CHECK(find(parse(before).basic.get(), id.get()).status == V_OCSP_CERTSTATUS_GOOD);

  svc.clk.advance(60s);
  certificate_authority authority(w.cfg, *w.db, *w.ca, svc.clk, w.rng);
  auto revoked = authority.revoke(leaf.serial, revocation_reason::key_compromise, "test", "");
  REQUIRE(revoked);
  const sys_seconds revoked_at = svc.clk.now();
  // Not yet polled: the cache still holds the good answer.
  CHECK(body_of(svc.ask(req)) == body_of(before));

  svc.clk.advance(1s);
  const std::int64_t position = svc.refresher->position();
  auto polled = svc.refresher->poll_once();
  REQUIRE(polled);
  CHECK(*polled == 1);
  CHECK(svc.refresher->position() == position + 1);

  const http_response after = svc.ask(req);
  CHECK(after.status == 200);
  CHECK(body_of(after) != body_of(before));
  CHECK(header_of(after, "ETag") == etag_of(body_of(after)));
  CHECK(header_of(after, "ETag") != header_of(before, "ETag"));
  CHECK(header_of(after, "Last-Modified") == "Wed, 18 Nov 2026 11:07:41 GMT");
  parsed p = parse(after);
  REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  CHECK(verifies(p.basic.get(), w, svc.clk.now()));
  single one = find(p.basic.get(), id.get());
  CHECK(one.status == V_OCSP_CERTSTATUS_REVOKED);
  CHECK(one.reason == OCSP_REVOKED_STATUS_KEYCOMPROMISE);
  CHECK(one.revoked_at == revoked_at);
  CHECK(one.this_update == revoked_at + 1s);
  CHECK(one.next_update == revoked_at + 1s + validity);
  CHECK(svc.responder->counters().revoked == 1);

  // Nothing more in the feed: nothing more signed.
  auto idle = svc.refresher->poll_once();
  REQUIRE(idle);
  CHECK(*idle == 0);
}

TEST_CASE("a serial never handed out is unknown, never good, and signed on demand", "[ocsp]") {
  shared_world& s = shared();
  auto [name, which] = GENERATE(table<std::string, int>({
      {"a serial never issued", 0},
      {"a serial reserved but never completed", 1},
  }));
  auto method = GENERATE(as<std::string>{}, "GET", "POST");
  INFO(name << ", " << method);
  service svc(s.w);
  svc.clk.advance(1000s);
  const std::string serial = which == 0 ? to_hex(random_serial(s.w.rng)) : s.reserved;
  auto id = id_of_serial(serial, s.w.class1());
  const bytes der = make_query({id.get()}).der;
  request_value req = method == "POST" ? post_of(der) : get_of(der);
  const http_response r = svc.ask(req);

  CHECK(r.status == 200);
  CHECK(svc.responder->counters().cache_hits == 0);
  CHECK(header_of(r, "Content-Type") == "application/ocsp-response");
  CHECK(header_of(r, "Cache-Control") == cache_control(validity));
  CHECK(header_of(r, "ETag") == etag_of(body_of(r)));
  parsed p = parse(r);
  REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  CHECK(verifies(p.basic.get(), s.w, svc.clk.now()));
  single one = find(p.basic.get(), id.get());
  CHECK(one.status == V_OCSP_CERTSTATUS_UNKNOWN);
  CHECK(one.this_update == svc.clk.now());
  CHECK(one.next_update == svc.clk.now() + validity);
  check_tally(svc.responder->counters(),
              tally{.unknown = 1, .signed_on_demand = 1, .signatures = svc.responder->size() + 1});
}

// ------------------------------------------------------------------ 4 --

TEST_CASE("the refresher re-signs every response at half its validity, at most `budget` per poll",
          "[ocsp][refresher]") {
  shared_world& s = shared();
  const std::size_t budget = GENERATE(as<std::size_t>{}, 1, 2, 1000);
  INFO("budget " << budget);
  service svc(s.w);
  const std::size_t n = svc.responder->size();
  REQUIRE(n >= 5);  // two OCSP signers, the SCEP RA, ACME's TLS certificate, the leaf(s)
  auto id = id_of(s.leaf.cert.get(), s.w.class1());
  request_value req = get_of(make_query({id.get()}).der);
  const http_response first = svc.ask(req);
  CHECK(svc.responder->oldest_this_update() == t0);

  for (auto at : {47h + 0s, 48h - 1s}) {
    svc.clk.set(t0 + at);
    auto polled = svc.refresher->poll_once(budget);
    REQUIRE(polled);
    CHECK(*polled == 0);
    const http_response r = svc.ask(req);
    CHECK(header_of(r, "ETag") == header_of(first, "ETag"));
    CHECK(body_of(r) == body_of(first));
    CHECK(header_of(r, "Cache-Control") == cache_control(validity - at));
  }
  CHECK(svc.responder->oldest_this_update() == t0);
  CHECK(svc.responder->counters().signatures == n);  // the load's only

  svc.clk.set(t0 + 48h);
  std::size_t left = n;
  while (left > 0) {
    auto polled = svc.refresher->poll_once(budget);
    REQUIRE(polled);
    REQUIRE(*polled == std::min(budget, left));
    left -= *polled;
    CHECK(svc.responder->oldest_this_update() == (left > 0 ? t0 : t0 + 48h));
  }
  auto idle = svc.refresher->poll_once(budget);
  REQUIRE(idle);
  CHECK(*idle == 0);
  CHECK(svc.responder->counters().signatures == 2 * n);
  CHECK(svc.responder->size() == n);

  const http_response renewed = svc.ask(req);
  CHECK(header_of(renewed, "ETag") == etag_of(body_of(renewed)));
  CHECK(header_of(renewed, "ETag") != header_of(first, "ETag"));
  CHECK(header_of(renewed, "Last-Modified") == "Fri, 20 Nov 2026 11:06:40 GMT");
  CHECK(header_of(renewed, "Expires") == "Tue, 24 Nov 2026 11:06:40 GMT");
  CHECK(header_of(renewed, "Cache-Control") == cache_control(validity));
  parsed p = parse(renewed);
  REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  CHECK(verifies(p.basic.get(), s.w, svc.clk.now()));
  single one = find(p.basic.get(), id.get());
  CHECK(one.status == V_OCSP_CERTSTATUS_GOOD);
  CHECK(one.this_update == t0 + 48h);
  CHECK(one.next_update == t0 + 48h + validity);
}

TEST_CASE("a response at or past its nextUpdate is never served from the cache", "[ocsp]") {
  shared_world& s = shared();
  // The refresher stalled: nothing re-signed since the load at t0.
  auto late = GENERATE(as<std::chrono::seconds>{}, 96h, 100h);
  INFO("now t0 + " << late.count() << " s");
  service svc(s.w);
  auto id = id_of(s.leaf.cert.get(), s.w.class1());
  request_value req = get_of(make_query({id.get()}).der);
  svc.clk.set(t0 + late);
  const http_response r = svc.ask(req);
  CHECK(r.status == 200);
  CHECK(svc.responder->counters().cache_hits == 0);  // signed now, for this request
  CHECK(header_of(r, "Cache-Control") == cache_control(validity));
  parsed p = parse(r);
  REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  CHECK(verifies(p.basic.get(), s.w, svc.clk.now()));
  single one = find(p.basic.get(), id.get());
  CHECK(one.status == V_OCSP_CERTSTATUS_GOOD);  // the state is still known
  CHECK(one.this_update == t0 + late);
  CHECK(one.next_update == t0 + late + validity);
  check_tally(svc.responder->counters(),
              tally{.good = 1, .signed_on_demand = 1, .signatures = svc.responder->size() + 1});
}

// ------------------------------------------------------------------ 5 --

namespace {
// What a row of the error table sends.
enum class payload {
  literal,          // the row's path, no body
  valid,            // the leaf's request
  truncated,        // ... less its last byte
  trailing_byte,    // ... and one byte more
  garbage,          // "not an OCSP request"
  empty,            // no bytes at all
  foreign_issuer,   // a CertID for the Class 1 CA, whose issuer (the root) is not served
  md5_cert_id,      // the leaf's CertID hashed with MD5
  too_many_ids,     // max_ids + 1 CertIDs
  oversized,        // a valid request over max_request_bytes (a big nonce)
};
}  // namespace

TEST_CASE("requests it cannot answer get malformedRequest or unauthorized as exact DER", "[ocsp]") {
  shared_world& s = shared();
  const std::string ocsp = "application/ocsp-request";
  auto [name, method, content_type, what, path, want] =
      GENERATE_COPY(table<std::string, std::string, std::string, payload, std::string, bytes>({
          {"GET, CertID of an issuer not served", "GET", "", payload::foreign_issuer, "", unauthorized_der},
          {"POST, CertID of an issuer not served", "POST", ocsp, payload::foreign_issuer, "", unauthorized_der},
          {"POST, CertID hashed with MD5", "POST", ocsp, payload::md5_cert_id, "", unauthorized_der},
          {"POST, truncated", "POST", ocsp, payload::truncated, "", malformed_der},
          {"POST, a trailing byte", "POST", ocsp, payload::trailing_byte, "", malformed_der},
          {"POST, garbage", "POST", ocsp, payload::garbage, "", malformed_der},
          {"POST, empty body", "POST", ocsp, payload::empty, "", malformed_der},
          {"POST, more CertIDs than max_ids", "POST", ocsp, payload::too_many_ids, "", malformed_der},
          {"POST, over max_request_bytes", "POST", ocsp, payload::oversized, "", malformed_der},
          {"POST, Content-Type application/octet-stream", "POST", "application/octet-stream", payload::valid, "",
           malformed_der},
          {"POST, Content-Type text/plain", "POST", "text/plain", payload::valid, "", malformed_der},
          {"POST, no Content-Type", "POST", "", payload::valid, "", malformed_der},
          {"GET, truncated", "GET", "", payload::truncated, "", malformed_der},
          {"GET, a trailing byte", "GET", "", payload::trailing_byte, "", malformed_der},
          {"GET, garbage", "GET", "", payload::garbage, "", malformed_der},
          {"GET, over max_request_bytes", "GET", "", payload::oversized, "", malformed_der},
          {"GET /", "GET", "", payload::literal, "/", malformed_der},
          {"GET, empty path", "GET", "", payload::literal, "", malformed_der},
          {"GET, a bad escape", "GET", "", payload::literal, "/MEU%G0", malformed_der},
          {"GET, a space", "GET", "", payload::literal, "/MEU wQ==", malformed_der},
          {"GET, a character outside base64", "GET", "", payload::literal, "/MEU*", malformed_der},
          {"GET, padding in the middle", "GET", "", payload::literal, "/MA==MA==", malformed_der},
          {"GET, a length base64 cannot have", "GET", "", payload::literal, "/MEUwQ", malformed_der},
          {"HEAD, garbage", "HEAD", "", payload::garbage, "", malformed_der},
      }));
  INFO(name);
  ocsp_settings settings;
  settings.max_ids = 3;
  service svc(s.w, settings);

  auto id = id_of(s.leaf.cert.get(), s.w.class1());
  bytes der = make_query({id.get()}).der;
  switch (what) {
    case payload::literal: der.clear(); break;
    case payload::valid: break;
    case payload::truncated: der.pop_back(); break;
    case payload::trailing_byte: der.push_back(0x00); break;
    case payload::garbage: der = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'O', 'C', 'S', 'P', ' ', 'r', 'e', 'q'}; break;
    case payload::empty: der.clear(); break;
    case payload::foreign_issuer: {
      auto ca = id_of(s.w.class1(), s.w.root());
      der = make_query({ca.get()}).der;
      break;
    }
    case payload::md5_cert_id: {
      auto md5 = id_of(s.leaf.cert.get(), s.w.class1(), EVP_md5());
      der = make_query({md5.get()}).der;
      break;
    }
    case payload::too_many_ids: der = make_query({id.get(), id.get(), id.get(), id.get()}).der; break;
    case payload::oversized:
      der = make_query({id.get()}, nonce_of(settings.max_request_bytes)).der;
      REQUIRE(der.size() > settings.max_request_bytes);
      break;
  }
  request_value req = method == "POST" ? post_of(der, content_type) : get_of(der);
  req.method = method;
  if (what == payload::literal) req.path = path;

  const http_response r = svc.ask(req);
  CHECK(r.status == 200);
  CHECK(header_of(r, "Content-Type") == "application/ocsp-response");
  CHECK(body_bytes(r) == want);
  CHECK_FALSE(header_of(r, "ETag"));
  CHECK_FALSE(header_of(r, "Cache-Control"));
  // Round trip: OpenSSL reads the status and finds no responseBytes.
  parsed p = parse(r);
  CHECK(p.status == want[4]);
  CHECK_FALSE(p.basic);
  const bool refused = want == unauthorized_der;
  check_tally(svc.responder->counters(), tally{.malformed = refused ? 0u : 1u,
                                               .unauthorized = refused ? 1u : 0u,
                                               .signatures = svc.responder->size()});
}

TEST_CASE("methods other than GET, HEAD and POST get 405 with Allow", "[ocsp]") {
  shared_world& s = shared();
  auto method = GENERATE(as<std::string>{}, "PUT", "DELETE", "OPTIONS", "get");
  INFO(method);
  service svc(s.w);
  auto id = id_of(s.leaf.cert.get(), s.w.class1());
  request_value req = post_of(make_query({id.get()}).der);
  req.method = method;
  const http_response r = svc.ask(req);
  CHECK(r.status == 405);
  CHECK(header_of(r, "Allow") == "GET, HEAD, POST");
  CHECK(body_of(r).empty());
  check_tally(svc.responder->counters(), tally{.signatures = svc.responder->size()});
}

TEST_CASE("with nonces enabled a nonce of 1 to 32 bytes is echoed in a response signed on demand", "[ocsp]") {
  shared_world& s = shared();
  // RFC 8954 2.1: a nonce of 1 to 32 octets; a longer one is refused.
  auto [name, method, length, echoed] = GENERATE(table<std::string, std::string, std::size_t, bool>({
      {"POST, 1 byte", "POST", 1, true},
      {"POST, 8 bytes", "POST", 8, true},
      {"GET, 8 bytes", "GET", 8, true},
      {"POST, 32 bytes", "POST", 32, true},
      {"POST, 33 bytes", "POST", 33, false},
      {"GET, 33 bytes", "GET", 33, false},
  }));
  INFO(name);
  ocsp_settings settings;
  settings.nonces = true;
  service svc(s.w, settings);
  auto id = id_of(s.leaf.cert.get(), s.w.class1());
  query q = make_query({id.get()}, nonce_of(length));
  request_value req = method == "POST" ? post_of(q.der) : get_of(q.der);
  const http_response r = svc.ask(req);

  CHECK(r.status == 200);
  CHECK(header_of(r, "Content-Type") == "application/ocsp-response");
  if (!echoed) {
    CHECK(body_bytes(r) == malformed_der);
    check_tally(svc.responder->counters(), tally{.malformed = 1, .signatures = svc.responder->size()});
    return;
  }
  CHECK(svc.responder->counters().cache_hits == 0);  // made for this request
  CHECK(header_of(r, "Cache-Control") == "no-store");
  CHECK_FALSE(header_of(r, "ETag"));
  CHECK_FALSE(header_of(r, "Last-Modified"));
  parsed p = parse(r);
  REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  CHECK(OCSP_check_nonce(q.req.get(), p.basic.get()) == 1);
  CHECK(verifies(p.basic.get(), s.w, svc.clk.now()));
  single one = find(p.basic.get(), id.get());
  CHECK(one.status == V_OCSP_CERTSTATUS_GOOD);
  CHECK(one.this_update == svc.clk.now());
  check_tally(svc.responder->counters(),
              tally{.good = 1, .signed_on_demand = 1, .signatures = svc.responder->size() + 1});
}

TEST_CASE("with nonces disabled a nonce is ignored and the pre-signed bytes served", "[ocsp]") {
  shared_world& s = shared();
  auto method = GENERATE(as<std::string>{}, "GET", "POST");
  auto length = GENERATE(as<std::size_t>{}, 8, 33);
  INFO(method << ", a nonce of " << length << " bytes");
  service svc(s.w);
  REQUIRE_FALSE(svc.responder->settings().nonces);
  auto id = id_of(s.leaf.cert.get(), s.w.class1());
  request_value plain = get_of(make_query({id.get()}).der);
  const http_response first = svc.ask(plain);
  query q = make_query({id.get()}, nonce_of(length));
  request_value req = method == "POST" ? post_of(q.der) : get_of(q.der);
  const http_response r = svc.ask(req);

  CHECK(r.status == 200);
  CHECK(body_of(r) == body_of(first));
  CHECK(header_of(r, "Cache-Control") == cache_control(validity));
  parsed p = parse(r);
  REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  CHECK(OCSP_check_nonce(q.req.get(), p.basic.get()) == -1);  // in the request only
  check_tally(svc.responder->counters(),
              tally{.good = 2, .cache_hits = 2, .signatures = svc.responder->size()});
}

// ------------------------------------------------------------------ 6 --

TEST_CASE("several CertIDs, or one the cache does not key, get one response signed on demand", "[ocsp]") {
  shared_world& s = shared();
  auto [name, ids, statuses] = GENERATE(table<std::string, std::vector<std::string>, std::vector<int>>({
      {"the leaf and a serial never issued", {"leaf", "never"}, {V_OCSP_CERTSTATUS_GOOD, V_OCSP_CERTSTATUS_UNKNOWN}},
      {"a serial never issued, the leaf, a reserved serial",
       {"never", "leaf", "reserved"},
       {V_OCSP_CERTSTATUS_UNKNOWN, V_OCSP_CERTSTATUS_GOOD, V_OCSP_CERTSTATUS_UNKNOWN}},
      {"the leaf by a SHA-256 CertID", {"leaf-sha256"}, {V_OCSP_CERTSTATUS_GOOD}},
      {"the leaf by SHA-1 and by SHA-512", {"leaf", "leaf-sha512"}, {V_OCSP_CERTSTATUS_GOOD, V_OCSP_CERTSTATUS_GOOD}},
  }));
  auto method = GENERATE(as<std::string>{}, "GET", "POST");
  INFO(name << ", " << method);
  service svc(s.w);
  svc.clk.advance(1000s);

  std::vector<ocsp_certid_ptr> certids;
  for (const auto& which : ids) {
    if (which == "leaf") certids.push_back(id_of(s.leaf.cert.get(), s.w.class1()));
    if (which == "leaf-sha256") certids.push_back(id_of(s.leaf.cert.get(), s.w.class1(), EVP_sha256()));
    if (which == "leaf-sha512") certids.push_back(id_of(s.leaf.cert.get(), s.w.class1(), EVP_sha512()));
    if (which == "never") certids.push_back(id_of_serial(to_hex(random_serial(s.w.rng)), s.w.class1()));
    if (which == "reserved") certids.push_back(id_of_serial(s.reserved, s.w.class1()));
  }
  REQUIRE(certids.size() == ids.size());
  std::vector<const OCSP_CERTID*> raw;
  for (const auto& c : certids) raw.push_back(c.get());
  const bytes der = make_query(raw).der;
  request_value req = method == "POST" ? post_of(der) : get_of(der);
  const http_response r = svc.ask(req);

  CHECK(r.status == 200);
  CHECK(svc.responder->counters().cache_hits == 0);
  CHECK(header_of(r, "Cache-Control") == cache_control(validity));
  CHECK(header_of(r, "ETag") == etag_of(body_of(r)));
  parsed p = parse(r);
  REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  CHECK(verifies(p.basic.get(), s.w, svc.clk.now()));
  REQUIRE(OCSP_resp_count(p.basic.get()) == static_cast<int>(ids.size()));
  tally want{.signed_on_demand = 1, .signatures = svc.responder->size() + 1};
  for (std::size_t i = 0; i < certids.size(); ++i) {
    INFO("CertID " << i << ": " << ids[i]);
    // In request order, each under the CertID as sent.
    CHECK(OCSP_id_cmp(certids[i].get(), OCSP_SINGLERESP_get0_id(OCSP_resp_get0(p.basic.get(), static_cast<int>(i)))) ==
          0);
    single one = find(p.basic.get(), certids[i].get());
    CHECK(one.status == statuses[i]);
    CHECK(one.this_update == svc.clk.now());
    CHECK(one.next_update == svc.clk.now() + validity);
    (statuses[i] == V_OCSP_CERTSTATUS_GOOD ? want.good : want.unknown) += 1;
  }
  check_tally(svc.responder->counters(), want);
}

// ------------------------------------------------------------------ 7 --

TEST_CASE("counters count each answer once under its heading", "[ocsp]") {
  shared_world& s = shared();
  service svc(s.w);
  auto leaf = id_of(s.leaf.cert.get(), s.w.class1());
  auto never = id_of_serial(to_hex(random_serial(s.w.rng)), s.w.class1());
  auto foreign = id_of(s.w.class1(), s.w.root());
  const bytes leaf_der = make_query({leaf.get()}).der;
  const std::string etag = header_of(svc.responder->respond(get_of(leaf_der).view(), t0), "ETag").value_or("");

  request_value conditional = get_of(leaf_der);
  conditional.fields.emplace_back("If-None-Match", etag);
  request_value put = post_of(leaf_der);
  put.method = "PUT";
  request_value bad_path{"GET", "/%%%", "", {}, {}};

  // Cumulative, after the first cached GET above; signatures start at the load's.
  const std::uint64_t n = svc.responder->size();
  struct step {
    const char* what;
    request_value req;
    tally after;
  };
  std::vector<step> steps;
  steps.push_back({"cached GET", get_of(leaf_der), {.good = 2, .cache_hits = 2, .signatures = n}});
  steps.push_back({"cached POST", post_of(leaf_der), {.good = 3, .cache_hits = 3, .signatures = n}});
  steps.push_back({"304", conditional, {.good = 4, .cache_hits = 4, .not_modified = 1, .signatures = n}});
  steps.push_back({"unknown serial",
                   post_of(make_query({never.get()}).der),
                   {.good = 4, .unknown = 1, .cache_hits = 4, .signed_on_demand = 1, .not_modified = 1,
                    .signatures = n + 1}});
  steps.push_back({"two CertIDs",
                   post_of(make_query({leaf.get(), never.get()}).der),
                   {.good = 5, .unknown = 2, .cache_hits = 4, .signed_on_demand = 2, .not_modified = 1,
                    .signatures = n + 2}});
  steps.push_back({"issuer not served",
                   post_of(make_query({foreign.get()}).der),
                   {.good = 5, .unknown = 2, .unauthorized = 1, .cache_hits = 4, .signed_on_demand = 2,
                    .not_modified = 1, .signatures = n + 2}});
  steps.push_back({"garbage POST",
                   post_of({0x30, 0x00}),
                   {.good = 5, .unknown = 2, .malformed = 1, .unauthorized = 1, .cache_hits = 4,
                    .signed_on_demand = 2, .not_modified = 1, .signatures = n + 2}});
  steps.push_back({"bad GET path",
                   bad_path,
                   {.good = 5, .unknown = 2, .malformed = 2, .unauthorized = 1, .cache_hits = 4,
                    .signed_on_demand = 2, .not_modified = 1, .signatures = n + 2}});
  steps.push_back({"PUT",
                   put,
                   {.good = 5, .unknown = 2, .malformed = 2, .unauthorized = 1, .cache_hits = 4,
                    .signed_on_demand = 2, .not_modified = 1, .signatures = n + 2}});
  for (auto& st : steps) {
    INFO("after " << st.what);
    (void)svc.ask(st.req);
    check_tally(svc.responder->counters(), st.after);
  }
  CHECK(svc.responder->counters().sign_nanoseconds > 0);
}

// ------------------------------------------------------------------ 8 --
// The start-up load: the store's status rows streamed (scan) and signed on
// several threads give the table that signing each record one by one did.

namespace {

// What a relying party reads from an answer for one serial, to compare two
// responders certificate by certificate.
struct answer_seen {
  int response_status = -1;
  int cert_status = -1;
  int reason = -1;
  std::optional<sys_seconds> revoked_at;
  sys_seconds this_update{};
  bool operator==(const answer_seen&) const = default;
};

answer_seen ask_serial(ocsp_responder& r, const world& w, X509* issuer, const std::string& serial, sys_seconds now) {
  auto id = id_of_serial(serial, issuer);
  request_value req = get_of(make_query({id.get()}).der);
  parsed p = parse(r.respond(req.view(), now));
  answer_seen seen;
  seen.response_status = p.status;
  if (p.status != OCSP_RESPONSE_STATUS_SUCCESSFUL) return seen;
  CHECK(verifies(p.basic.get(), w, now, issuer));
  single one = find(p.basic.get(), id.get());
  seen.cert_status = one.status;
  seen.reason = one.reason;
  seen.revoked_at = one.revoked_at;
  seen.this_update = one.this_update;
  return seen;
}

}  // namespace

TEST_CASE("the streaming load gives the table that signing each record did: good, revoked, unknown",
          "[ocsp][refresher]") {
  const unsigned threads = GENERATE(1u, 2u, 3u);
  INFO(threads << " signing threads");
  world w;
  std::vector<world::leaf> leaves;
  for (int i = 0; i < 5; ++i) leaves.push_back(w.issue());
  const std::string reserved = w.reserve();
  certificate_authority authority(w.cfg, *w.db, *w.ca, w.clk, w.rng);
  REQUIRE(authority.revoke(leaves[1].serial, revocation_reason::key_compromise, "test", ""));
  w.clk.advance(30s);
  REQUIRE(authority.revoke(leaves[3].serial, revocation_reason::superseded, "test", ""));

  // The load as wotca-ocsp does it, at t0 + 1000 s.
  fixed_clock clk{t0 + 1000s};
  auto loaded = responder_for(w.cfg, {});
  ocsp_refresher refresher(*w.db, *loaded, clk);
  auto report = refresher.load_all(threads);
  INFO((report ? std::string() : describe(report.error())));
  REQUIRE(report);
  CHECK(report->threads == threads);

  // The reference: every record read whole and signed one at a time, as
  // load_all did before it streamed (root-issued and reserved rows skipped).
  auto reference = responder_for(w.cfg, {});
  std::vector<certificate_record> all;
  REQUIRE(w.db->read([&](transaction& tx) -> result<void> {
    auto l = tx.certificates().list(1000);
    if (!l) return unexpected(l.error());
    all = std::move(*l);
    return {};
  }));
  std::size_t signed_one_by_one = 0;
  for (const auto& c : all) {
    if (c.issuer == issuer_class::root || c.status == cert_status::reserved) continue;
    certificate_state st;
    st.state = c.status == cert_status::revoked ? cert_state::revoked : cert_state::good;
    if (c.revoked_at) st.revoked_at = *c.revoked_at;
    if (c.reason) st.reason = static_cast<int>(*c.reason);
    REQUIRE(reference->update(c.issuer, c.serial, st, clk.now()));
    ++signed_one_by_one;
  }
  CHECK(report->responses == signed_one_by_one);
  CHECK(loaded->size() == reference->size());
  CHECK(loaded->counters().signatures == signed_one_by_one);
  CHECK(loaded->oldest_this_update() == clk.now());
  CHECK(refresher.position() > 0);  // the feed head, taken in the same snapshot

  std::size_t good = 0, revoked = 0;
  for (const auto& c : all) {
    if (c.issuer == issuer_class::root) continue;
    INFO("certificate " << c.serial << " (" << to_string(c.status) << ")");
    X509* issuer = c.issuer == issuer_class::class1 ? w.class1() : w.ca->class3.cert.get();
    const answer_seen got = ask_serial(*loaded, w, issuer, c.serial, clk.now());
    CHECK(got == ask_serial(*reference, w, issuer, c.serial, clk.now()));
    REQUIRE(got.response_status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
    if (c.status == cert_status::reserved) {
      CHECK(got.cert_status == V_OCSP_CERTSTATUS_UNKNOWN);  // never handed out: never good
    } else {
      CHECK(got.this_update == clk.now());
      CHECK(got.cert_status == (c.status == cert_status::valid ? V_OCSP_CERTSTATUS_GOOD : V_OCSP_CERTSTATUS_REVOKED));
      (c.status == cert_status::valid ? good : revoked) += 1;
    }
  }
  CHECK(revoked == 2);
  CHECK(good == signed_one_by_one - 2);
  const answer_seen first = ask_serial(*loaded, w, w.class1(), leaves[1].serial, clk.now());
  CHECK(first.reason == OCSP_REVOKED_STATUS_KEYCOMPROMISE);
  CHECK(first.revoked_at == t0);
  const answer_seen second = ask_serial(*loaded, w, w.class1(), leaves[3].serial, clk.now());
  CHECK(second.reason == OCSP_REVOKED_STATUS_SUPERSEDED);
  CHECK(second.revoked_at == t0 + 30s);
  CHECK(ask_serial(*loaded, w, w.class1(), reserved, clk.now()).cert_status == V_OCSP_CERTSTATUS_UNKNOWN);
  CHECK(ask_serial(*loaded, w, w.class1(), to_hex(random_serial(w.rng)), clk.now()).cert_status ==
        V_OCSP_CERTSTATUS_UNKNOWN);
}

TEST_CASE("load signs every item once on any number of threads and skips issuers it does not serve",
          "[ocsp][refresher]") {
  shared_world& s = shared();
  const unsigned threads = GENERATE(1u, 2u, 4u, 7u);
  INFO(threads << " threads");
  auto r = responder_for(s.w.cfg, {});
  // 1500 certificates over both issuing CAs, a third revoked, and 100 of
  // the root (not served: the CRL's), in no particular order.
  std::vector<ocsp_preload> items;
  std::size_t served = 0;
  for (int i = 0; i < 1600; ++i) {
    ocsp_preload p;
    p.serial = random_serial(s.w.rng);
    p.issuer = i % 16 == 15 ? issuer_class::root : (i % 2 == 0 ? issuer_class::class1 : issuer_class::class3);
    p.state.state = i % 3 == 0 ? cert_state::revoked : cert_state::good;
    if (p.state.state == cert_state::revoked) {
      p.state.revoked_at = t0 - std::chrono::seconds(i);
      p.state.reason = static_cast<int>(revocation_reason::cessation_of_operation);
    }
    served += p.issuer == issuer_class::root ? 0 : 1;
    items.push_back(p);
  }
  REQUIRE(served == 1500);
  auto n = r->load(items, t0, threads);
  INFO((n ? std::string() : describe(n.error())));
  REQUIRE(n);
  CHECK(*n == served);
  CHECK(r->size() == served);
  CHECK(r->counters().signatures == served);
  CHECK(r->oldest_this_update() == t0);

  // Every served item answers from the cache with its own state; a sample
  // is parsed and verified like a relying party would.
  std::size_t checked = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const ocsp_preload& p = items[i];
    if (p.issuer == issuer_class::root) continue;
    X509* issuer = p.issuer == issuer_class::class1 ? s.w.class1() : s.w.ca->class3.cert.get();
    auto id = id_of_serial(to_hex(p.serial), issuer);
    request_value req = get_of(make_query({id.get()}).der);
    const http_response resp = r->respond(req.view(), t0 + 1s);
    if (i % 50 != 0) continue;
    INFO("item " << i);
    parsed pr = parse(resp);
    REQUIRE(pr.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
    CHECK(verifies(pr.basic.get(), s.w, t0 + 1s, issuer));
    single one = find(pr.basic.get(), id.get());
    CHECK(one.status == (p.state.state == cert_state::good ? V_OCSP_CERTSTATUS_GOOD : V_OCSP_CERTSTATUS_REVOKED));
    CHECK(one.this_update == t0);
    if (p.state.state == cert_state::revoked) {
      CHECK(one.revoked_at == p.state.revoked_at);
      CHECK(one.reason == OCSP_REVOKED_STATUS_CESSATIONOFOPERATION);
    }
    ++checked;
  }
  CHECK(checked == 32);  // i = 0, 50, ..., 1550: none of them a root item
  // All answered from the table: nothing signed since the load.
  CHECK(r->counters().cache_hits == served);
  CHECK(r->counters().signed_on_demand == 0);
  CHECK(r->counters().signatures == served);
}

TEST_CASE("a cached response is the signed bytes whole, the signer's certificate included", "[ocsp]") {
  shared_world& s = shared();
  service svc(s.w);
  auto id = id_of(s.leaf.cert.get(), s.w.class1());
  request_value req = get_of(make_query({id.get()}).der);
  const http_response r = svc.ask(req);
  REQUIRE(svc.responder->counters().cache_hits == 1);
  parsed p = parse(r);  // every byte consumed
  REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  // RFC 6960 4.2.1 certs: exactly the Class 1 delegated signer.
  const STACK_OF(X509)* certs = OCSP_resp_get0_certs(p.basic.get());
  REQUIRE(sk_X509_num(certs) == 1);
  auto signer = load_certificate(cert_path(s.w.cfg, "class1-ocsp"));
  REQUIRE(signer);
  CHECK(X509_cmp(sk_X509_value(certs, 0), signer->get()) == 0);
  // The signature covers the bytes served: verification with the signer
  // found only in the response itself.
  CHECK(verifies(p.basic.get(), s.w, svc.clk.now()));
  CHECK(header_of(r, "ETag") == etag_of(body_of(r)));
}

// ------------------------------------------------------------------ 9 --

TEST_CASE("serials the table does not hold are signed at most unknown_signatures_per_second, then tryLater",
          "[ocsp]") {
  shared_world& s = shared();
  ocsp_settings settings;
  settings.unknown_signatures_per_second = 3;
  service svc(s.w, settings);
  const std::uint64_t loaded = svc.responder->size();
  const bytes try_later_der = {0x30, 0x03, 0x0a, 0x01, 0x03};  // RFC 6960 4.2.1 tryLater
  auto unknown_request = [&](bool with_leaf) {
    auto never = id_of_serial(to_hex(random_serial(s.w.rng)), s.w.class1());
    auto leaf = id_of(s.leaf.cert.get(), s.w.class1());
    return post_of(with_leaf ? make_query({leaf.get(), never.get()}).der : make_query({never.get()}).der);
  };
  auto leaf_id = id_of(s.leaf.cert.get(), s.w.class1());
  request_value leaf_get = get_of(make_query({leaf_id.get()}).der);
  auto leaf_sha256 = id_of(s.leaf.cert.get(), s.w.class1(), EVP_sha256());
  request_value leaf_on_demand = post_of(make_query({leaf_sha256.get()}).der);

  // Three a second, a request naming a held certificate beside a never-issued
  // one counting like one that names only the latter.
  for (int i = 0; i < 3; ++i) {
    INFO("unknown request " << i);
    request_value req = unknown_request(i == 2);
    parsed p = parse(svc.ask(req));
    REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
    CHECK(verifies(p.basic.get(), s.w, svc.clk.now()));
  }
  for (bool with_leaf : {false, true}) {
    request_value req = unknown_request(with_leaf);
    const http_response r = svc.ask(req);
    CHECK(r.status == 200);
    CHECK(body_bytes(r) == try_later_der);
    CHECK_FALSE(header_of(r, "Cache-Control"));
  }
  CHECK(svc.responder->counters().unknown_limited == 2);
  // Certificates the table holds are never limited: from the cache, or
  // signed on demand (a SHA-256 CertID).
  CHECK(find(parse(svc.ask(leaf_get)).basic.get(), leaf_id.get()).status == V_OCSP_CERTSTATUS_GOOD);
  CHECK(find(parse(svc.ask(leaf_on_demand)).basic.get(), leaf_sha256.get()).status == V_OCSP_CERTSTATUS_GOOD);
  CHECK(svc.responder->counters().signatures == loaded + 4);

  // The next second: three more.
  svc.clk.advance(1s);
  for (int i = 0; i < 3; ++i) {
    request_value req = unknown_request(false);
    CHECK(parse(svc.ask(req)).status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
  }
  request_value over = unknown_request(false);
  CHECK(body_bytes(svc.ask(over)) == try_later_der);
  CHECK(svc.responder->counters().unknown_limited == 3);
  CHECK(svc.responder->counters().signatures == loaded + 7);
  // tryLater is no answer about any certificate: not counted as unknown.
  CHECK(svc.responder->counters().unknown == 6);
}

TEST_CASE("with unknown_signatures_per_second 0 every unknown serial is signed", "[ocsp]") {
  shared_world& s = shared();
  ocsp_settings settings;
  settings.unknown_signatures_per_second = 0;
  service svc(s.w, settings);
  for (int i = 0; i < 5; ++i) {
    auto never = id_of_serial(to_hex(random_serial(s.w.rng)), s.w.class1());
    request_value req = post_of(make_query({never.get()}).der);
    parsed p = parse(svc.ask(req));
    REQUIRE(p.status == OCSP_RESPONSE_STATUS_SUCCESSFUL);
    CHECK(find(p.basic.get(), never.get()).status == V_OCSP_CERTSTATUS_UNKNOWN);
  }
  CHECK(svc.responder->counters().unknown_limited == 0);
  CHECK(svc.responder->counters().signed_on_demand == 5);
}
