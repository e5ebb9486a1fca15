// Feeds an ocsp_responder from the store: every certificate at start, then
// each change-feed event (issue, revoke) as it appears, and re-signs each
// response before half of its validity has passed.
#pragma once

#include <cstdint>

#include "core/store/store.h"
#include "ocsp/responder.h"

namespace wotca {

class ocsp_refresher {
 public:
  // Borrows all three; they must outlive this object. Use from one thread.
  ocsp_refresher(store& db, ocsp_responder& responder, const clock& clk) : db_(db), r_(responder), clock_(clk) {}

  // Signs a response for every certificate of the issuers served. Returns
  // how many. The feed position is taken first, so nothing that changes
  // during the load is missed.
  [[nodiscard]] result<std::size_t> load_all();
  // Applies new change-feed events and re-signs stale responses (at most
  // `budget`). Returns how many responses were signed.
  [[nodiscard]] result<std::size_t> poll_once(std::size_t budget = 1000);
  [[nodiscard]] std::int64_t position() const { return seq_; }

 private:
  // Signs c's response if this responder serves its issuer and c was ever
  // handed out; true when it signed one.
  [[nodiscard]] result<bool> apply(const certificate_record& c, sys_seconds now);
  store& db_;
  ocsp_responder& r_;
  const clock& clock_;
  std::int64_t seq_ = 0;
};

}  // namespace wotca
