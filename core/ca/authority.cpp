#include "core/ca/authority.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/pki/key.h"

namespace wotca {

result<member_record> gather_record(transaction& tx, member_id id) {
  auto m = tx.members().find(id);
  if (!m) return unexpected(m.error());
  if (!*m) return fail(errc::not_found, "member", "there is no member " + std::to_string(id));
  member_record r;
  r.who = std::move(**m);
  auto received = tx.assurances().received_by(id);
  if (!received) return unexpected(received.error());
  auto given = tx.assurances().given_by(id);
  if (!given) return unexpected(given.error());
  auto cats = tx.assurances().cats_of(id);
  if (!cats) return unexpected(cats.error());
  r.received = std::move(*received);
  r.given = std::move(*given);
  r.cats = std::move(*cats);
  return r;
}

result<member_facts> gather_facts(transaction& tx, member_id id, sys_seconds now, const wot_rules& rules) {
  auto record = gather_record(tx, id);
  if (!record) return unexpected(record.error());
  auto emails = tx.emails().of_member(id);
  if (!emails) return unexpected(emails.error());
  auto domains = tx.domains().of_member(id);
  if (!domains) return unexpected(domains.error());
  member_facts f;
  f.points = summarize(*record, day_of(now), rules);
  f.who = std::move(record->who);
  f.emails = std::move(*emails);
  f.domains = std::move(*domains);
  f.now = now;
  return f;
}

certificate_request request_from(const parsed_csr& csr, cert_profile profile, std::optional<int> days,
                                 request_path via) {
  certificate_request req;
  req.profile = profile;
  req.dns_names = csr.dns_names;
  req.emails = csr.emails;
  req.common_name = csr.common_name;
  req.days = days;
  req.via = via;
  // A CN that is a DNS name or email counts as one of the names asked for
  // (clients put the first name there); it must be covered like a SAN.
  if (csr.common_name && profile == cert_profile::server) {
    if (auto n = normalize_dns_name(*csr.common_name);
        n && std::find(req.dns_names.begin(), req.dns_names.end(), *n) == req.dns_names.end()) {
      req.dns_names.insert(req.dns_names.begin(), *n);
    }
  }
  if (csr.common_name && (profile == cert_profile::client_email || profile == cert_profile::client_named)) {
    if (auto e = normalize_email(*csr.common_name);
        e && std::find(req.emails.begin(), req.emails.end(), *e) == req.emails.end()) {
      req.emails.insert(req.emails.begin(), *e);
    }
  }
  return req;
}

certificate_authority::certificate_authority(const config& cfg, store& db, const ca_material& ca,
                                             const clock& clk, random_source& rng)
    : cfg_(cfg), db_(db), ca_(ca), clock_(clk), rng_(rng) {}

result<decision> certificate_authority::preview(member_id who, const certificate_request& req) {
  std::optional<decision> out;
  auto r = db_.read([&](transaction& tx) -> result<void> {
    auto facts = gather_facts(tx, who, clock_.now(), cfg_.wot);
    if (!facts) return unexpected(facts.error());
    out = decide(*facts, req, cfg_.policy);
    return {};
  });
  if (!r) return unexpected(r.error());
  return std::move(*out);
}


result<issue_outcome> certificate_authority::issue(member_id who, const parsed_csr& csr, cert_profile profile,
                                                   std::optional<int> days, request_path via,
                                                   std::string_view actor) {
  const certificate_request req = request_from(csr, profile, days, via);
  std::optional<denial> refused;
  grant granted;
  certificate_record rec;

  // R-RECHECK: decide on the facts as they are in the transaction that
  // reserves the serial, so nothing can change between decision and
  // reservation.
  for (int attempt = 0;; ++attempt) {
    const sys_seconds now = clock_.now();
    rec = certificate_record{};
    auto reserved = db_.write([&](transaction& tx) -> result<void> {
      auto facts = gather_facts(tx, who, now, cfg_.wot);
      if (!facts) return unexpected(facts.error());
      decision d = decide(*facts, req, cfg_.policy);
      if (auto* no = std::get_if<denial>(&d)) {
        refused = *no;
        return {};
      }
      granted = std::get<grant>(std::move(d));
      rec.serial = to_hex(random_serial(rng_));
      rec.issuer = granted.issuer;
      rec.member = who;
      rec.profile = profile;
      rec.subject = granted.subject_cn.empty() ? std::string() : "CN=" + granted.subject_cn;
      for (const auto& e : granted.emails) rec.sans.push_back("email:" + e);
      for (const auto& n : granted.dns_names) rec.sans.push_back("DNS:" + n);
      rec.not_before = granted.not_before;
      rec.not_after = granted.not_after;
      rec.via = via;
      rec.created_at = now;
      return tx.certificates().reserve(rec);
    });
    if (refused) return issue_outcome{std::move(*refused)};
    if (reserved) break;
    // 159 random bits make a collision all but impossible; retry once anyway.
    if (reserved.error().code != errc::conflict || attempt > 0) return unexpected(reserved.error());
  }

  const ca_signer& signer = ca_.signer_for(granted.issuer);
  certificate_spec spec;
  auto serial = serial_from_hex(rec.serial);
  if (!serial) return unexpected(serial.error());
  spec.serial = *serial;
  spec.profile = profile;
  spec.subject_cn = granted.subject_cn;
  spec.emails = granted.emails;
  spec.dns_names = granted.dns_names;
  spec.not_before = granted.not_before;
  spec.not_after = std::min(granted.not_after, [&] {
    // Never beyond the issuing CA's own notAfter.
    const ASN1_TIME* na = X509_get0_notAfter(signer.cert.get());
    struct tm t {};
    if (ASN1_TIME_to_tm(na, &t) != 1) return granted.not_after;
    return sys_seconds{std::chrono::seconds{timegm(&t)}};
  }());
  spec.subject_key = csr.public_key();
  spec.urls = urls_for(cfg_, granted.issuer);
  auto cert = sign_certificate(spec, signer);
  if (!cert) return unexpected(cert.error());

  auto der = to_der(**cert);
  const sys_seconds now = clock_.now();
  auto recorded = db_.write([&](transaction& tx) -> result<void> {
    if (auto r = tx.certificates().complete(rec.serial, der); !r) return r;
    nlohmann::json detail = {{"member", who},
                             {"profile", to_string(profile)},
                             {"issuer", to_string(granted.issuer)},
                             {"subject", subject_line(**cert)},
                             {"sans", san_strings(**cert)},
                             {"not_after", format_time(spec.not_after)},
                             {"via", to_string(via)},
                             {"rules", granted.rules}};
    if (auto r = tx.audit().append(audit_entry{0, now, std::string(actor), "cert.issue", "cert:" + rec.serial,
                                               detail.dump()});
        !r) {
      return unexpected(r.error());
    }
    if (auto r = tx.changes().bump(change_event{0, "issue", rec.serial, granted.issuer, now}); !r) {
      return unexpected(r.error());
    }
    return {};
  });
  if (!recorded) return unexpected(recorded.error());

  issued_certificate out;
  rec.der = std::move(der);
  rec.status = cert_status::valid;
  rec.subject = subject_line(**cert);
  rec.sans = san_strings(**cert);
  rec.not_after = spec.not_after;
  out.record = std::move(rec);
  out.pem = to_pem(**cert);
  out.chain_pem = out.pem + to_pem(*signer.cert);
  out.granted = std::move(granted);
  return issue_outcome{std::move(out)};
}

result<certificate_record> certificate_authority::revoke(std::string_view serial, revocation_reason reason,
                                                         std::string_view actor, std::string_view note) {
  certificate_record out;
  const sys_seconds now = clock_.now();
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto found = tx.certificates().find(serial);
    if (!found) return unexpected(found.error());
    if (!*found) {
      return fail(errc::not_found, "--serial", "no certificate has serial " + std::string(serial));
    }
    if (auto rv = tx.certificates().revoke(serial, now, reason); !rv) return rv;
    nlohmann::json detail = {{"reason", to_string(reason)}, {"member", (*found)->member}};
    if (!note.empty()) detail["note"] = std::string(note);
    if (auto a = tx.audit().append(audit_entry{0, now, std::string(actor), "cert.revoke",
                                               "cert:" + std::string(serial), detail.dump()});
        !a) {
      return unexpected(a.error());
    }
    if (auto b = tx.changes().bump(change_event{0, "revoke", std::string(serial), (*found)->issuer, now}); !b) {
      return unexpected(b.error());
    }
    out = std::move(**found);
    out.status = cert_status::revoked;
    out.revoked_at = now;
    out.reason = reason;
    return {};
  });
  if (!r) return unexpected(r.error());
  return out;
}

result<int> revoke_certificates_of(transaction& tx, member_id who, std::string_view name,
                                   revocation_reason reason, std::string_view actor, sys_seconds now) {
  auto certs = tx.certificates().of_member(who);
  if (!certs) return unexpected(certs.error());
  int count = 0;
  for (const auto& c : *certs) {
    if (c.status != cert_status::valid) continue;
    bool names_it = name.empty();
    for (const auto& san : c.sans) {
      auto colon = san.find(':');
      if (colon != std::string::npos && std::string_view(san).substr(colon + 1) == name) names_it = true;
    }
    if (!names_it) continue;
    if (auto r = tx.certificates().revoke(c.serial, now, reason); !r) return unexpected(r.error());
    nlohmann::json detail = {{"reason", to_string(reason)}, {"rule", "R-REVOKE-CASCADE"}};
    if (!name.empty()) detail["name"] = std::string(name);
    if (auto a = tx.audit().append(audit_entry{0, now, std::string(actor), "cert.revoke", "cert:" + c.serial,
                                               detail.dump()});
        !a) {
      return unexpected(a.error());
    }
    if (auto b = tx.changes().bump(change_event{0, "revoke", c.serial, c.issuer, now}); !b) {
      return unexpected(b.error());
    }
    ++count;
  }
  return count;
}

}  // namespace wotca
