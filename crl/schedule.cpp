#include "crl/schedule.h"

#include <algorithm>

namespace wotca {

namespace {
constexpr sys_seconds at_once = sys_seconds::min();
constexpr sys_seconds never = sys_seconds::max();
}  // namespace

crl_schedule::crl_schedule(const crl_schedule_settings& settings, std::vector<issuer_class> issuers)
    : settings_(settings), order_(std::move(issuers)) {
  for (auto i : order_) states_[i];
}

void crl_schedule::changed(issuer_class issuer, sys_seconds now) {
  auto it = states_.find(issuer);
  if (it == states_.end()) return;  // an issuer this daemon publishes no CRL for
  if (!it->second.pending_since || now < *it->second.pending_since) it->second.pending_since = now;
}

void crl_schedule::started(const crl_job& job) {
  auto it = states_.find(job.issuer);
  if (it == states_.end()) return;
  // A change makes every kind due at once; the job covers it only if it
  // regenerates each of them.
  if (job.full && (job.delta || !settings_.delta)) it->second.pending_since.reset();
}

void crl_schedule::published(issuer_class issuer, bool delta, sys_seconds next_update) {
  auto it = states_.find(issuer);
  if (it == states_.end()) return;
  if (delta) {
    it->second.delta_refresh_at = next_update - settings_.delta_validity / 2;
  } else {
    it->second.full_refresh_at = next_update - settings_.refresh_before;
  }
  it->second.retry_at.reset();
}

void crl_schedule::failed(const crl_job& job, sys_seconds now) {
  auto it = states_.find(job.issuer);
  if (it == states_.end()) return;
  it->second.retry_at = now + settings_.retry;
  const sys_seconds lost = now - settings_.debounce;
  if (!it->second.pending_since || lost < *it->second.pending_since) it->second.pending_since = lost;
}

std::pair<sys_seconds, sys_seconds> crl_schedule::due_times(const state& s) const {
  const sys_seconds on_change = s.pending_since ? *s.pending_since + settings_.debounce : never;
  sys_seconds full = std::min(s.full_refresh_at.value_or(at_once), on_change);
  sys_seconds delta = settings_.delta ? std::min(s.delta_refresh_at.value_or(at_once), on_change) : never;
  if (s.retry_at) {
    full = std::max(full, *s.retry_at);
    if (settings_.delta) delta = std::max(delta, *s.retry_at);
  }
  return {full, delta};
}

std::vector<crl_job> crl_schedule::due(sys_seconds now) const {
  std::vector<crl_job> jobs;
  for (auto i : order_) {
    auto [full, delta] = due_times(states_.at(i));
    crl_job j{i, full <= now, delta <= now};
    if (j.full || j.delta) jobs.push_back(j);
  }
  return jobs;
}

sys_seconds crl_schedule::next_due() const {
  sys_seconds next = never;
  for (const auto& [issuer, s] : states_) {
    auto [full, delta] = due_times(s);
    next = std::min({next, full, delta});
  }
  return next;
}

}  // namespace wotca
