#include "ocsp/refresher.h"

#include <algorithm>
#include <optional>
#include <thread>
#include <vector>

namespace wotca {

namespace {

// The state a responder answers for a certificate's status columns; nullopt
// for a serial never handed out (reserved), which stays unknown.
std::optional<certificate_state> state_of(cert_status status, const std::optional<sys_seconds>& revoked_at,
                                          const std::optional<revocation_reason>& reason, sys_seconds now) {
  certificate_state st;
  switch (status) {
    case cert_status::reserved: return std::nullopt;
    case cert_status::valid: st.state = cert_state::good; break;
    case cert_status::revoked:
      st.state = cert_state::revoked;
      st.revoked_at = revoked_at.value_or(now);
      st.reason = reason ? static_cast<int>(*reason) : -1;
      break;
  }
  return st;
}

}  // namespace

result<bool> ocsp_refresher::apply(const certificate_record& c, sys_seconds now) {
  if (c.issuer == issuer_class::root) return false;  // the issuing CAs' status is the CRL's
  auto st = state_of(c.status, c.revoked_at, c.reason, now);
  if (!st) return false;
  auto r = r_.update(c.issuer, c.serial, *st, now);
  if (!r) {
    if (r.error().code != errc::not_found) return unexpected(r.error());
    return false;
  }
  return true;
}

result<ocsp_refresher::load_report> ocsp_refresher::load_all(unsigned threads) {
  const auto t0 = std::chrono::steady_clock::now();
  const sys_seconds now = clock_.now();
  std::vector<ocsp_preload> items;
  auto r = db_.read([&](transaction& tx) -> result<void> {
    auto head = tx.changes().head();
    if (!head) return unexpected(head.error());
    seq_ = *head;
    certificate_scan filter;
    filter.skip_reserved = true;
    auto n = tx.certificates().scan(filter, [&](const certificate_status_row& row) -> result<void> {
      // The issuing CAs' status (the root's certificates) is the CRL's.
      if (row.issuer == issuer_class::root || !r_.serves(row.issuer)) return {};
      auto st = state_of(row.status, row.revoked_at, row.reason, now);
      if (!st) return {};
      auto serial = serial_from_hex(row.serial);
      if (!serial) return unexpected(serial.error());
      items.push_back(ocsp_preload{*serial, row.issuer, *st});
      return {};
    });
    if (!n) return unexpected(n.error());
    return {};
  });
  if (!r) return unexpected(r.error());
  const auto t1 = std::chrono::steady_clock::now();
  load_report report;
  report.threads = threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : threads;
  auto loaded = r_.load(items, now, report.threads);
  if (!loaded) return unexpected(loaded.error());
  report.responses = *loaded;
  report.scan = t1 - t0;
  report.sign = std::chrono::steady_clock::now() - t1;
  return report;
}

result<std::size_t> ocsp_refresher::poll_once(std::size_t budget) {
  std::vector<certificate_record> changed;
  std::int64_t next = seq_;
  auto r = db_.read([&](transaction& tx) -> result<void> {
    auto events = tx.changes().after(seq_, 1000);
    if (!events) return unexpected(events.error());
    for (const auto& e : *events) {
      next = e.seq;
      auto c = tx.certificates().find(e.serial);
      if (!c) return unexpected(c.error());
      if (*c) changed.push_back(std::move(**c));
    }
    return {};
  });
  if (!r) return unexpected(r.error());
  const sys_seconds now = clock_.now();
  for (const auto& c : changed) {
    if (auto a = apply(c, now); !a) return unexpected(a.error());
  }
  seq_ = next;
  auto stale = r_.refresh_stale(now, budget);
  if (!stale) return unexpected(stale.error());
  return changed.size() + *stale;
}

}  // namespace wotca
