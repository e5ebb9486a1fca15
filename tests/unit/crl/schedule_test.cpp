// The CRL schedule as a value with a fake clock: debounce, refresh before
// nextUpdate, deltas, retries.
#include <catch2/catch.hpp>

#include <chrono>

#include "crl/schedule.h"

namespace wotca {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const sys_seconds t0{seconds(1'800'000'000)};

crl_schedule_settings settings(bool delta = false) {
  crl_schedule_settings s;
  s.debounce = seconds(60);
  s.validity = std::chrono::days(7);
  s.refresh_before = seconds(std::chrono::days(7)) / 2;
  s.delta = delta;
  s.delta_validity = hours(1);
  s.retry = seconds(10);
  return s;
}

// Publishes whatever is due at `now` as the daemon would, returning the jobs.
std::vector<crl_job> run_due(crl_schedule& s, sys_seconds now, const crl_schedule_settings& cfg) {
  auto jobs = s.due(now);
  for (const auto& j : jobs) {
    s.started(j);
    if (j.full) s.published(j.issuer, false, now + cfg.validity);
    if (j.delta) s.published(j.issuer, true, now + cfg.delta_validity);
  }
  return jobs;
}

TEST_CASE("everything is due at start, then nothing until a change or the refresh", "[crl][schedule]") {
  auto cfg = settings();
  crl_schedule s(cfg, {issuer_class::root, issuer_class::class1, issuer_class::class3});
  auto first = run_due(s, t0, cfg);
  REQUIRE(first.size() == 3);
  CHECK(first[0].issuer == issuer_class::root);
  CHECK(first[1].issuer == issuer_class::class1);
  CHECK(first[2].issuer == issuer_class::class3);
  for (const auto& j : first) {
    CHECK(j.full);
    CHECK_FALSE(j.delta);
  }
  CHECK(s.due(t0 + hours(1)).empty());
  // Re-signed half the validity before nextUpdate, with no change at all.
  CHECK(s.next_due() == t0 + hours(84));
  CHECK(s.due(t0 + hours(83) + minutes(59)).empty());
  auto refresh = s.due(t0 + hours(84));
  CHECK(refresh.size() == 3);
}

TEST_CASE("a burst of revocations makes one CRL at most a debounce after the first", "[crl][schedule]") {
  auto cfg = settings();
  crl_schedule s(cfg, {issuer_class::class1, issuer_class::class3});
  run_due(s, t0, cfg);
  // 10,000 revocations over 50 seconds.
  for (int i = 0; i < 10000; ++i) s.changed(issuer_class::class3, t0 + seconds(10) + seconds(i / 200));
  CHECK(s.next_due() == t0 + seconds(70));
  CHECK(s.due(t0 + seconds(69)).empty());
  auto jobs = run_due(s, t0 + seconds(70), cfg);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].issuer == issuer_class::class3);
  CHECK(jobs[0].full);
  // Nothing more for the burst: it was all seen before generation started.
  CHECK(s.due(t0 + seconds(200)).empty());
  // A later change is its own window.
  s.changed(issuer_class::class3, t0 + seconds(300));
  CHECK(s.due(t0 + seconds(359)).empty());
  CHECK(s.due(t0 + seconds(360)).size() == 1);
}

TEST_CASE("a change seen while a CRL is being generated makes another", "[crl][schedule]") {
  auto cfg = settings();
  crl_schedule s(cfg, {issuer_class::class1});
  run_due(s, t0, cfg);
  s.changed(issuer_class::class1, t0 + seconds(1));
  auto jobs = s.due(t0 + seconds(61));
  REQUIRE(jobs.size() == 1);
  s.started(jobs[0]);
  s.changed(issuer_class::class1, t0 + seconds(62));  // during generation
  s.published(issuer_class::class1, false, t0 + seconds(63) + cfg.validity);
  CHECK(s.due(t0 + seconds(121)).empty());
  CHECK(s.due(t0 + seconds(122)).size() == 1);
}

TEST_CASE("changes of issuers without a CRL here are ignored", "[crl][schedule]") {
  auto cfg = settings();
  crl_schedule s(cfg, {issuer_class::class1});
  run_due(s, t0, cfg);
  s.changed(issuer_class::class3, t0 + seconds(1));
  CHECK(s.due(t0 + hours(1)).empty());
}

TEST_CASE("delta CRLs: due with every change and half their validity before nextUpdate", "[crl][schedule]") {
  auto cfg = settings(true);
  crl_schedule s(cfg, {issuer_class::class1});
  auto first = run_due(s, t0, cfg);
  REQUIRE(first.size() == 1);
  CHECK(first[0].full);
  CHECK(first[0].delta);
  // The delta alone is re-signed every half hour.
  auto later = s.due(t0 + minutes(30));
  REQUIRE(later.size() == 1);
  CHECK_FALSE(later[0].full);
  CHECK(later[0].delta);
  s.started(later[0]);
  s.published(issuer_class::class1, true, t0 + minutes(90));
  // A change makes both due; a delta-only job does not clear it.
  s.changed(issuer_class::class1, t0 + minutes(31));
  s.started(crl_job{issuer_class::class1, false, true});
  auto both = s.due(t0 + minutes(32));
  REQUIRE(both.size() == 1);
  CHECK(both[0].full);
  CHECK(both[0].delta);
}

TEST_CASE("a failed generation is retried later, with its change", "[crl][schedule]") {
  auto cfg = settings();
  crl_schedule s(cfg, {issuer_class::root});
  auto first = s.due(t0);
  REQUIRE(first.size() == 1);
  s.started(first[0]);
  s.failed(first[0], t0);
  CHECK(s.due(t0 + seconds(9)).empty());
  CHECK(s.due(t0 + seconds(10)).size() == 1);
  run_due(s, t0 + seconds(10), cfg);
  s.changed(issuer_class::root, t0 + seconds(20));
  auto jobs = s.due(t0 + seconds(80));
  REQUIRE(jobs.size() == 1);
  s.started(jobs[0]);
  s.failed(jobs[0], t0 + seconds(81));
  CHECK(s.due(t0 + seconds(90)).empty());
  CHECK(s.due(t0 + seconds(91)).size() == 1);
}

}  // namespace
}  // namespace wotca
