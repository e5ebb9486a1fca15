#include "crl/publisher.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/pki/key.h"
#include "core/status/crl.h"

namespace wotca {

namespace fs = std::filesystem;

crl_publish_settings crl_settings_from(const config& c) {
  crl_publish_settings s;
  s.dir = c.crl_dir();
  s.validity = std::chrono::days(c.crl.validity_days);
  s.keep_expired_crls = c.crl.keep_expired_crls;
  s.delta = c.crl.delta;
  s.delta_validity = std::chrono::minutes(c.crl.delta_minutes);
  s.url_base = c.urls.crl_base;
  return s;
}

std::string crl_file_name(issuer_class issuer, bool delta) {
  return std::string(to_string(issuer)) + (delta ? "-delta.crl" : ".crl");
}

namespace {

// The scope holding the number sequence shared by an issuer's complete and
// delta CRLs (RFC 5280 5.2.4: one sequence for both), and the record of its
// last complete CRL (number, thisUpdate), the base of the next delta.
std::string number_scope(issuer_class issuer) { return std::string(to_string(issuer)); }
std::string base_scope(issuer_class issuer) { return std::string(to_string(issuer)) + ".full"; }

// Takes the next number of `issuer` in one write transaction with its audit row.
result<std::int64_t> take_number(store& db, issuer_class issuer, bool delta, sys_seconds now) {
  std::int64_t number = 0;
  auto r = db.write([&](transaction& tx) -> result<void> {
    auto s = tx.crl_states().advance(number_scope(issuer), now);
    if (!s) return unexpected(s.error());
    number = s->crl_number;
    audit_entry a{0, now, "wotca-crl", "crl.generate", fmt::format("crl:{}", to_string(issuer)),
                  fmt::format(R"({{"crl_number":{},"kind":"{}"}})", number, delta ? "delta" : "complete")};
    if (auto w = tx.audit().append(a); !w) return unexpected(w.error());
    return {};
  });
  if (!r) return unexpected(r.error());
  return number;
}

// Streams the revoked certificates of `filter` from one read snapshot,
// keeping those `keep` accepts.
template <class Keep>
crl_entry_source entries_from(store& db, certificate_scan filter, Keep keep) {
  return [&db, filter, keep](const crl_entry_sink& sink) -> result<void> {
    return db.read([&](transaction& tx) -> result<void> {
      auto n = tx.certificates().scan(filter, [&](const certificate_status_row& row) -> result<void> {
        if (row.status != cert_status::revoked || !row.revoked_at || !keep(row)) return {};
        crl_entry e;
        e.serial_hex = row.serial;
        e.revocation_date = *row.revoked_at;
        e.reason = static_cast<int>(row.reason.value_or(revocation_reason::unspecified));
        return sink(e);
      });
      if (!n) return unexpected(n.error());
      return {};
    });
  };
}

}  // namespace

crl_publisher::crl_publisher(store& db, const ca_material& ca, crl_publish_settings settings, const clock& clk)
    : db_(db), ca_(ca), settings_(std::move(settings)), clock_(clk) {}

result<published_crl> crl_publisher::publish_full(issuer_class issuer) {
  const auto started = std::chrono::steady_clock::now();
  const sys_seconds now = clock_.now();
  auto number = take_number(db_, issuer, false, now);
  if (!number) return unexpected(number.error());

  const ca_signer& signer = ca_.signer_for(issuer);
  if (!signer.cert || !signer.key) {
    return fail(errc::config, std::string(to_string(issuer)), "no CA certificate and key loaded to sign its CRL");
  }
  crl_params p;
  p.crl_number = *number;
  p.this_update = now;
  p.next_update = now + settings_.validity;
  if (settings_.delta) p.freshest_crl_url = settings_.url_base + crl_file_name(issuer, true);
  certificate_scan filter;
  filter.issuer = issuer;
  filter.revoked_only = true;
  filter.not_after_from = now - settings_.validity * std::max(settings_.keep_expired_crls, 0);
  published_crl out;
  out.issuer = issuer;
  out.number = *number;
  out.this_update = p.this_update;
  out.next_update = p.next_update;
  out.path = settings_.dir / crl_file_name(issuer, false);
  auto done = write_crl_file(out.path, p, *signer.cert, *signer.key,
                             entries_from(db_, filter, [](const certificate_status_row&) { return true; }),
                             settings_.pem);
  if (!done) return unexpected(done.error());
  out.entries = done->entries;
  out.bytes = done->der_bytes;

  // The base of the next delta CRLs. Recorded after the file is in place:
  // a crash before this only makes the next delta repeat more entries.
  // Without deltas there is nothing to base, and one commit (fsync) less.
  if (settings_.delta) {
    auto r = db_.write([&](transaction& tx) { return tx.crl_states().record(base_scope(issuer), *number, now); });
    if (!r) return unexpected(r.error());
  }
  out.took = std::chrono::steady_clock::now() - started;
  return out;
}

result<published_crl> crl_publisher::publish_delta(issuer_class issuer, std::int64_t base, sys_seconds base_time) {
  const auto started = std::chrono::steady_clock::now();
  const sys_seconds now = clock_.now();
  auto number = take_number(db_, issuer, true, now);
  if (!number) return unexpected(number.error());
  const ca_signer& signer = ca_.signer_for(issuer);
  if (!signer.cert || !signer.key) {
    return fail(errc::config, std::string(to_string(issuer)), "no CA certificate and key loaded to sign its CRL");
  }
  crl_params p;
  p.crl_number = *number;
  p.this_update = now;
  p.next_update = now + settings_.delta_validity;
  p.delta_base = base;
  certificate_scan filter;
  filter.issuer = issuer;
  filter.revoked_only = true;
  filter.not_after_from = now - settings_.validity * std::max(settings_.keep_expired_crls, 0);
  // Revocation times have one-second resolution: take the base's whole second.
  const sys_seconds since = base_time - std::chrono::seconds(1);
  published_crl out;
  out.issuer = issuer;
  out.delta = true;
  out.number = *number;
  out.base_number = base;
  out.this_update = p.this_update;
  out.next_update = p.next_update;
  out.path = settings_.dir / crl_file_name(issuer, true);
  auto done = write_crl_file(
      out.path, p, *signer.cert, *signer.key,
      entries_from(db_, filter, [since](const certificate_status_row& row) { return *row.revoked_at >= since; }),
      settings_.pem);
  if (!done) return unexpected(done.error());
  out.entries = done->entries;
  out.bytes = done->der_bytes;
  out.took = std::chrono::steady_clock::now() - started;
  return out;
}

result<std::vector<published_crl>> crl_publisher::publish(issuer_class issuer, bool full, bool delta) {
  std::vector<published_crl> out;
  delta = delta && settings_.delta;
  auto base_of = [&]() -> result<std::optional<crl_state>> {
    std::optional<crl_state> base;
    auto r = db_.read([&](transaction& tx) -> result<void> {
      auto s = tx.crl_states().get(base_scope(issuer));
      if (!s) return unexpected(s.error());
      base = *s;
      return {};
    });
    if (!r) return unexpected(r.error());
    return base;
  };
  bool delta_done = false;
  if (delta) {
    auto base = base_of();
    if (!base) return unexpected(base.error());
    if (*base) {
      auto d = publish_delta(issuer, (*base)->crl_number, (*base)->generated_at);
      if (!d) return unexpected(d.error());
      out.push_back(*d);
      delta_done = true;
    } else {
      full = true;  // a delta needs a complete CRL to be based on
    }
  }
  if (full) {
    auto f = publish_full(issuer);
    if (!f) return unexpected(f.error());
    out.push_back(*f);
  }
  if (delta && !delta_done) {
    auto base = base_of();
    if (!base) return unexpected(base.error());
    if (!*base) return fail(errc::internal, "crl", "no complete CRL recorded after publishing one");
    auto d = publish_delta(issuer, (*base)->crl_number, (*base)->generated_at);
    if (!d) return unexpected(d.error());
    out.push_back(*d);
  }
  return out;
}

result<void> crl_publisher::publish_certificates() {
  for (auto issuer : {issuer_class::root, issuer_class::class1, issuer_class::class3}) {
    const ca_signer& s = ca_.signer_for(issuer);
    if (!s.cert) continue;
    const auto der = to_der(*s.cert);
    const fs::path path = settings_.dir / (std::string(to_string(issuer)) + ".crt");
    {
      std::ifstream in(path, std::ios::binary);
      if (in) {
        std::vector<std::uint8_t> have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (have == der) continue;
      }
    }
    const fs::path temp = settings_.dir / (".wotca-tmp-" + path.filename().string() + ".cert");
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fail(errc::io, temp.string(), std::string("cannot create: ") + std::strerror(errno));
    const bool ok = ::write(fd, der.data(), der.size()) == static_cast<ssize_t>(der.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
      ::unlink(temp.c_str());
      return fail(errc::io, path.string(), std::string("cannot write the CA certificate: ") + std::strerror(errno));
    }
  }
  return {};
}

}  // namespace wotca
