// Fills the store of a CA made by `wotca init --data DIR` with N issued
// certificates, N2 of them revoked, for the scale benchmarks of wotca-ocsp
// (bench/ocsp_scale) and wotca-crl: millions of rows in well under a minute,
// written straight through core/store (reserve, complete, revoke) in large
// write transactions, without signing anything.
//
// Each row carries a placeholder DER (one byte sequence shared by every row,
// not a certificate): OCSP and CRL generation read only the status columns
// (certificate_repository::scan), never the DER, so signing a million real
// certificates would only make the fill slow. Do not serve these rows to
// anything that reads the DER (`wotca cert show`, ACME download).
//
// Serials are random_serial()'s, as the issuer makes them: 20 random bytes,
// positive (top bit clear), no leading zero octet, stored as lower-case hex.
// Validity: not_before spread over the last 400 days, 90 days each, so
// about three quarters have already expired (the CRL daemon drops them,
// the OCSP responder still answers for them). Revoked rows are picked at
// random among the filled ones, revoked at a random instant of their
// validity up to now.
//
// One audit row per transaction ("bench.fill"); no change-feed events: the
// daemons are meant to be started after the fill and read the whole store.
//
// usage: wotca-bench-fill --data DIR --count N [--revoked N2]
//                         [--issuer class1|class3|both] [--reason-spread]
//   --reason-spread: revocation reasons cycle over every code the store
//   accepts (0 1 2 3 4 5 9; never 6, certificateHold); without it every
//   revocation is `unspecified`, which a CRL encodes without a reasonCode.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <sys/resource.h>

#include "core/config/config.h"
#include "core/pki/issuer.h"
#include "core/store/sqlite_store.h"
#include "core/util/random.h"

using namespace wotca;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t rows_per_transaction = 50000;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "wotca-bench-fill: %s\n", why.c_str());
  std::exit(1);
}
[[noreturn]] void die(const error& e) { die(describe(e)); }

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: wotca-bench-fill --data DIR --count N [--revoked N2] [--issuer class1|class3|both] "
               "[--reason-spread]\n"
               "Fills DIR/wotca.db (a CA made by `wotca init --data DIR`) with N issued certificates, N2 of them "
               "revoked;\nplaceholder DER, status columns only (for the OCSP and CRL scale benchmarks).\n");
  std::exit(2);
}

std::size_t count_of(std::string_view flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') die(fmt::format("{}: '{}' is not a count", flag, text));
  return static_cast<std::size_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
  fs::path data;
  std::size_t count = 0;
  std::size_t revoked = 0;
  bool have_count = false;
  bool reason_spread = false;
  std::vector<issuer_class> issuers{issuer_class::class1, issuer_class::class3};
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--data") {
      data = value();
    } else if (a == "--count") {
      count = count_of(a, value());
      have_count = true;
    } else if (a == "--revoked") {
      revoked = count_of(a, value());
    } else if (a == "--issuer") {
      std::string_view v = value();
      if (v == "class1") issuers = {issuer_class::class1};
      else if (v == "class3") issuers = {issuer_class::class3};
      else if (v == "both") issuers = {issuer_class::class1, issuer_class::class3};
      else die(fmt::format("--issuer: '{}' is none of class1, class3, both", v));
    } else if (a == "--reason-spread") {
      reason_spread = true;
    } else {
      usage();
    }
  }
  if (data.empty() || !have_count) usage();
  if (revoked > count) die(fmt::format("--revoked {} is more than --count {}", revoked, count));

  auto cfg = load_config(data / "wotca.yaml");
  if (!cfg) die(cfg.error());
  auto db = sqlite_store::open(cfg->database, open_mode::existing);
  if (!db) die(db.error());

  system_clock clk;
  system_random rng;
  const sys_seconds now = clk.now();
  // Placement only (validity offsets, which rows to revoke): not secret, so a
  // seeded generator; serials come from the CSPRNG like the issuer's.
  std::mt19937_64 place(std::random_device{}());
  const std::vector<std::uint8_t> placeholder_der = {0x30, 0x03, 0x02, 0x01, 0x00};  // not a certificate
  constexpr std::array<revocation_reason, 7> every_reason = {
      revocation_reason::unspecified,          revocation_reason::key_compromise,
      revocation_reason::ca_compromise,        revocation_reason::affiliation_changed,
      revocation_reason::superseded,           revocation_reason::cessation_of_operation,
      revocation_reason::privilege_withdrawn};

  // Which of the `count` rows are revoked: a random subset of size `revoked`.
  std::vector<bool> revoke_row(count, false);
  {
    std::vector<std::size_t> order(count);
    for (std::size_t i = 0; i < count; ++i) order[i] = i;
    for (std::size_t i = 0; i < revoked; ++i) {
      std::size_t j = i + static_cast<std::size_t>(place() % (count - i));
      std::swap(order[i], order[j]);
      revoke_row[order[i]] = true;
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  std::map<revocation_reason, std::size_t> by_reason;
  std::size_t done = 0;
  std::size_t revoked_done = 0;
  std::size_t expired = 0;
  std::size_t reason_turn = 0;
  certificate_record rec;
  rec.profile = cert_profile::client_email;
  rec.subject = "CN=WoTCA Bench";
  rec.via = request_path::cli;
  rec.created_at = now;
  while (done < count) {
    const std::size_t batch = std::min(rows_per_transaction, count - done);
    auto w = (*db)->write([&](transaction& tx) -> result<void> {
      auto& certs = tx.certificates();
      // Inserted in serial order within the transaction: the primary-key
      // B-tree is then written page after page instead of at random, which
      // keeps a fill of millions of rows out of SQLite's page misses.
      std::vector<std::string> serials(batch);
      for (auto& serial : serials) serial = to_hex(random_serial(rng));
      std::sort(serials.begin(), serials.end());
      for (std::size_t k = 0; k < batch; ++k) {
        const std::size_t row = done + k;
        rec.issuer = issuers[row % issuers.size()];
        rec.not_before = now - std::chrono::seconds(static_cast<std::int64_t>(place() % (400LL * 86400)));
        rec.not_after = rec.not_before + std::chrono::days(90);
        // A random serial collides with one in the store once in 2^159:
        // draw again rather than fail.
        rec.serial = std::move(serials[k]);
        for (;;) {
          auto r = certs.reserve(rec);
          if (r) break;
          if (r.error().code != errc::conflict) return unexpected(r.error());
          rec.serial = to_hex(random_serial(rng));
        }
        if (auto r = certs.complete(rec.serial, placeholder_der); !r) return unexpected(r.error());
        if (rec.not_after < now) ++expired;
        if (revoke_row[row]) {
          const revocation_reason reason =
              reason_spread ? every_reason[reason_turn++ % every_reason.size()] : revocation_reason::unspecified;
          const sys_seconds until = std::min(now, rec.not_after);
          const auto span = static_cast<std::uint64_t>((until - rec.not_before).count()) + 1;
          const sys_seconds at = rec.not_before + std::chrono::seconds(static_cast<std::int64_t>(place() % span));
          if (auto r = certs.revoke(rec.serial, at, reason); !r) return unexpected(r.error());
          ++by_reason[reason];
          ++revoked_done;
        }
      }
      audit_entry a;
      a.at = now;
      a.actor = "operator";
      a.action = "bench.fill";
      a.object = "certificate";
      a.detail = fmt::format(R"({{"rows":{},"placeholder_der":true}})", batch);
      auto appended = tx.audit().append(a);
      if (!appended) return unexpected(appended.error());
      return {};
    });
    if (!w) die(w.error());
    done += batch;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::string reasons;
  for (const auto& [r, n] : by_reason) reasons += fmt::format(" {}={}", to_string(r), n);
  // CPU time beside wall time: on a shared machine the wall time says more
  // about the neighbours than about the fill.
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const double cpu = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                     static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  std::printf("filled=%zu revoked=%zu expired=%zu issuers=%s seconds=%.2f cpu_seconds=%.2f rows_per_second=%.0f "
              "database=%s\n",
              done, revoked_done, expired, issuers.size() == 2 ? "both" : std::string(to_string(issuers[0])).c_str(),
              seconds, cpu, seconds > 0 ? static_cast<double>(done) / seconds : 0.0, cfg->database.c_str());
  if (!reasons.empty()) std::printf("reasons:%s\n", reasons.c_str());
  return 0;
}
