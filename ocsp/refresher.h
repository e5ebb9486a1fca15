// Feeds an ocsp_responder from the store: every certificate at start, then
// each change-feed event (issue, revoke) as it appears, and re-signs each
// response before half of its validity has passed.
#pragma once

#include <chrono>
#include <cstdint>

#include "core/store/store.h"
#include "ocsp/responder.h"

namespace wotca {

class ocsp_refresher {
 public:
  // Borrows all three; they must outlive this object. Use from one thread.
  ocsp_refresher(store& db, ocsp_responder& responder, const clock& clk) : db_(db), r_(responder), clock_(clk) {}

  // What load_all did, for the start-up log line.
  struct load_report {
    std::size_t responses = 0;  // signed and in the table
    unsigned threads = 0;       // that signed them
    std::chrono::nanoseconds scan{};  // reading the status rows
    std::chrono::nanoseconds sign{};  // signing them, on `threads` threads
  };
  // Signs a response for every issued certificate (valid or revoked, expired
  // or not) of the issuers served, on `threads` threads (0: one per core).
  // Streams the store's status rows (certificate_repository::scan): it holds
  // no DER nor record, only 48 bytes per certificate until they are signed.
  // The feed position is taken in the same read transaction, so nothing that
  // changes during the load is missed: poll_once() applies it afterwards.
  // Reserved serials are never loaded (they stay unknown, never good).
  [[nodiscard]] result<load_report> load_all(unsigned threads = 0);
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
