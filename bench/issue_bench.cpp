// Issuance throughput in one process: N certificates from CSRs made before
// the clock starts, each through the whole path (CSR parse and signature
// check, policy decided in the reserving transaction, serial reserved and
// committed, signed, recorded and committed with its audit row and
// change-feed event). Also times the signing step alone, to show where the
// time goes. Run by bench/issue, which puts it beside `openssl speed`.
//
// Then the same N again through issue_many() in batches of B (group commit:
// two fsyncs per batch instead of two per certificate).
//
// usage: wotca-bench-issue DIR [N] [B]   (DIR must not exist)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/ca/authority.h"
#include "core/ca/registry.h"
#include "core/pki/csr.h"
#include "core/store/sqlite_store.h"

using namespace wotca;
namespace fs = std::filesystem;

namespace {

[[noreturn]] void die(const error& e) {
  std::fprintf(stderr, "wotca-bench-issue: %s\n", describe(e).c_str());
  std::exit(1);
}

std::vector<std::uint8_t> make_csr_der(const std::string& email) {
  auto key = generate_key(key_algorithm::ec_p256);
  if (!key) die(key.error());
  x509_req_ptr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("bench"), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key->get());
  x509_extension_stack_ptr exts(sk_X509_EXTENSION_new_null());
  std::string san = "email:" + email;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  sk_X509_EXTENSION_push(exts.get(), ext);
  X509_REQ_add_extensions(req.get(), exts.get());
  X509_REQ_sign(req.get(), key->get(), EVP_sha256());
  int len = i2d_X509_REQ(req.get(), nullptr);
  std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_X509_REQ(req.get(), &p);
  return der;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: wotca-bench-issue DIR [N]\n");
    return 2;
  }
  const fs::path dir = fs::absolute(argv[1]);
  const int n = argc > 2 ? std::atoi(argv[2]) : 10000;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 100;
  system_clock clk;
  system_random rng;

  std::string text = render_config(dir);
  auto cfg = parse_config(text, dir);
  if (!cfg) die(cfg.error());
  if (auto r = init_ca(*cfg, dir / "wotca.yaml", text, clk, rng); !r) die(r.error());
  auto db = sqlite_store::open(cfg->database, open_mode::existing);
  if (!db) die(db.error());
  auto ca = load_ca(*cfg);
  if (!ca) die(ca.error());
  registry reg(*cfg, **db, clk, rng);
  auto m = reg.add_member(new_member{member_kind::person, "Bench Member", "1980-01-01", "bench@example.org", true}, "bench");
  if (!m) die(m.error());
  if (auto v = reg.verify_email_by_operator(m->id, "bench@example.org", "benchmark", "bench"); !v) die(v.error());

  std::vector<std::vector<std::uint8_t>> csrs;
  csrs.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) csrs.push_back(make_csr_der("bench@example.org"));

  // CSRs are checked (parsed, signature verified) before the clock starts:
  // that cost is measured on its own below.
  std::vector<parsed_csr> parsed;
  parsed.reserve(csrs.size());
  for (const auto& der : csrs) {
    auto csr = parse_csr(der);
    if (!csr) die(csr.error());
    parsed.push_back(std::move(*csr));
  }

  certificate_authority authority(*cfg, **db, *ca, clk, rng);
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& csr : parsed) {
    auto out = authority.issue(m->id, csr, cert_profile::client_email, std::nullopt, request_path::cli, "bench");
    if (!out) die(out.error());
    if (std::holds_alternative<denial>(*out)) {
      std::fprintf(stderr, "denied: %s\n", std::get<denial>(*out).reason.c_str());
      return 1;
    }
  }
  double full = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  auto tb = std::chrono::steady_clock::now();
  for (int start = 0; start < n; start += batch) {
    std::vector<certificate_authority::request> reqs;
    for (int i = start; i < std::min(n, start + batch); ++i) {
      reqs.push_back({m->id, &parsed[static_cast<std::size_t>(i)], cert_profile::client_email, std::nullopt,
                      request_path::cli, "bench"});
    }
    for (auto& r : authority.issue_many(reqs)) {
      if (!r) die(r.error());
      if (std::holds_alternative<denial>(*r)) return 1;
    }
  }
  double batched = std::chrono::duration<double>(std::chrono::steady_clock::now() - tb).count();

  // The signing step alone, same keys and profile, no CSR check and no store.
  const parsed_csr* csr0 = &parsed.front();
  certificate_spec spec;
  spec.profile = cert_profile::client_email;
  spec.subject_cn = "bench";
  spec.emails = {"bench@example.org"};
  spec.not_before = clk.now();
  spec.not_after = spec.not_before + std::chrono::hours(24 * 30);
  spec.subject_key = csr0->public_key();
  spec.subject_spki = csr0->spki();
  spec.urls = urls_for(*cfg, issuer_class::class1);
  auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    spec.serial = random_serial(rng);
    auto c = sign_certificate(spec, ca->class1);
    if (!c) die(c.error());
  }
  double sign_only = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();

  auto t2 = std::chrono::steady_clock::now();
  for (const auto& der : csrs) {
    auto csr = parse_csr(der);
    if (!csr) die(csr.error());
  }
  double parse_only = std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();

  int rows = 0;
  auto counted = (*db)->read([&](transaction& tx) -> result<void> {
    auto l = tx.certificates().of_member(m->id);
    if (!l) return unexpected(l.error());
    for (const auto& c : *l) rows += c.status == cert_status::valid ? 1 : 0;
    return {};
  });
  if (!counted) die(counted.error());
  std::printf(
      "issued=%d rows=%d full_seconds=%.3f full_per_second=%.1f batch=%d batched_per_second=%.1f "
      "sign_per_second=%.1f csr_check_per_second=%.1f\n",
      2 * n, rows, full, n / full, batch, n / batched, n / sign_only, n / parse_only);
  return rows == 2 * n ? 0 : 1;
}
