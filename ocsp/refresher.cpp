#include "ocsp/refresher.h"

#include <limits>
#include <vector>

namespace wotca {

result<bool> ocsp_refresher::apply(const certificate_record& c, sys_seconds now) {
  if (c.issuer == issuer_class::root) return false;  // the issuing CAs' status is the CRL's
  certificate_state st;
  if (c.status == cert_status::valid) st.state = cert_state::good;
  if (c.status == cert_status::revoked) {
    st.state = cert_state::revoked;
    st.revoked_at = c.revoked_at.value_or(now);
    st.reason = c.reason ? static_cast<int>(*c.reason) : -1;
  }
  // A reserved serial was never handed out: it stays unknown, never good.
  if (c.status == cert_status::reserved) return false;
  auto r = r_.update(c.issuer, c.serial, st, now);
  if (!r) {
    if (r.error().code != errc::not_found) return unexpected(r.error());
    return false;
  }
  return true;
}

result<std::size_t> ocsp_refresher::load_all() {
  std::vector<certificate_record> all;
  auto r = db_.read([&](transaction& tx) -> result<void> {
    auto head = tx.changes().head();
    if (!head) return unexpected(head.error());
    seq_ = *head;
    auto l = tx.certificates().list(std::numeric_limits<std::size_t>::max());
    if (!l) return unexpected(l.error());
    all = std::move(*l);
    return {};
  });
  if (!r) return unexpected(r.error());
  const sys_seconds now = clock_.now();
  std::size_t n = 0;
  for (auto& c : all) {
    c.der.clear();
    c.der.shrink_to_fit();
    auto a = apply(c, now);
    if (!a) return unexpected(a.error());
    n += *a ? 1 : 0;
  }
  return n;
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
