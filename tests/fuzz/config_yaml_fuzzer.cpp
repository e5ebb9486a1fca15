// Fuzzes the configuration loader with arbitrary text (STYLE.md 17).
// Invariant: parse_config never throws or crashes; it returns a config or an
// errc::config error that names where.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = wotca::parse_config(text, "/fuzz");
  if (!c) {
    if (c.error().code != wotca::errc::config || c.error().where.empty()) std::abort();
  } else {
    // A parsed configuration holds values inside their documented ranges.
    if (c->policy.server_days < 1 || c->policy.server_days > 398) std::abort();
    if (c->policy.acme_server_days > c->policy.server_days) std::abort();
    if (!c->data_dir.is_absolute()) std::abort();
  }
  (void)wotca::parse_listen_address(text, "fuzz");
  return 0;
}
