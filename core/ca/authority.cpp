#include "core/ca/authority.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <nlohmann/json.hpp>

#include "core/pki/key.h"
#include "core/util/encoding.h"

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

namespace {

result<member_facts> gather(transaction& tx, member_id id, sys_seconds now, const wot_rules& rules,
                            const std::span<const std::string>* dns_names) {
  auto record = gather_record(tx, id);
  if (!record) return unexpected(record.error());
  auto emails = tx.emails().of_member(id);
  if (!emails) return unexpected(emails.error());
  auto domains = dns_names != nullptr ? domains_covering(tx, id, *dns_names) : tx.domains().of_member(id);
  if (!domains) return unexpected(domains.error());
  member_facts f;
  f.points = summarize(*record, day_of(now), rules);
  f.who = std::move(record->who);
  f.emails = std::move(*emails);
  f.domains = std::move(*domains);
  f.now = now;
  return f;
}

}  // namespace

result<member_facts> gather_facts(transaction& tx, member_id id, sys_seconds now, const wot_rules& rules) {
  return gather(tx, id, now, rules, nullptr);
}

result<member_facts> gather_facts(transaction& tx, member_id id, sys_seconds now, const wot_rules& rules,
                                  std::span<const std::string> dns_names) {
  return gather(tx, id, now, rules, &dns_names);
}

result<std::vector<domain_name>> domains_covering(transaction& tx, member_id id,
                                                  std::span<const std::string> dns_names) {
  std::set<std::string> candidates;
  for (const auto& requested : dns_names) {
    std::string name = requested;
    if (!name.empty() && name.back() == '.') name.pop_back();
    if (name.starts_with("*.")) name.erase(0, 2);
    name = ascii_lower(name);
    // The name itself and every parent: "a.b.example" -> "b.example" -> "example".
    for (std::string_view rest = name; !rest.empty();) {
      candidates.emplace(rest);
      const auto dot = rest.find('.');
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
  }
  std::vector<domain_name> out;
  for (const auto& c : candidates) {
    auto found = tx.domains().find(c);
    if (!found) return unexpected(found.error());
    if (*found && (*found)->member == id) out.push_back(std::move(**found));
  }
  std::sort(out.begin(), out.end(), [](const domain_name& a, const domain_name& b) { return a.id < b.id; });
  return out;
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
    auto facts = gather_facts(tx, who, clock_.now(), cfg_.wot, req.dns_names);
    if (!facts) return unexpected(facts.error());
    out = decide(*facts, req, cfg_.policy);
    return {};
  });
  if (!r) return unexpected(r.error());
  return std::move(*out);
}


result<issue_outcome> certificate_authority::issue(member_id who, const parsed_csr& csr, cert_profile profile,
                                                   std::optional<int> days, request_path via,
                                                   std::string_view actor, const recording_step& also) {
  const request one{who, &csr, profile, days, via, std::string(actor)};
  auto results = issue_many(std::span<const request>(&one, 1), also);
  return std::move(results.front());
}

namespace {

// The not_after a grant may have under `signer`: never beyond the issuing
// CA's own notAfter.
sys_seconds capped_not_after(sys_seconds wanted, const ca_signer& signer) {
  const ASN1_TIME* na = X509_get0_notAfter(signer.cert.get());
  struct tm t {};
  if (ASN1_TIME_to_tm(na, &t) != 1) return wanted;
  return std::min(wanted, sys_seconds{std::chrono::seconds{timegm(&t)}});
}

}  // namespace

std::vector<result<issue_outcome>> certificate_authority::issue_many(std::span<const request> requests,
                                                                    const recording_step& also) {
  // Each request moves through: decided (denial or grant + reserved row),
  // signed, recorded. `state` holds what is known so far.
  struct state {
    certificate_request req;
    std::optional<denial> refused;
    grant granted;
    certificate_record rec;
    x509_ptr cert;
    std::string subject;             // as signed, for the audit row and the result
    std::vector<std::string> sans;
    std::optional<error> failed;
  };
  std::vector<state> work(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    work[i].req = request_from(*requests[i].csr, requests[i].profile, requests[i].days, requests[i].via);
  }
  auto all_failed = [&](const error& e) {
    std::vector<result<issue_outcome>> out;
    out.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) out.push_back(unexpected(e));
    return out;
  };

  // R-RECHECK: the policy is decided on the facts as they are in the
  // transaction that reserves the serials, so nothing changes in between.
  const sys_seconds decided_at = clock_.now();
  auto reserved = db_.write([&](transaction& tx) -> result<void> {
    std::vector<std::pair<member_id, member_facts>> facts_cache;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      state& w = work[i];
      w.refused.reset();
      member_facts* facts = nullptr;
      for (auto& [id, f] : facts_cache) {
        if (id == requests[i].who) facts = &f;
      }
      if (facts == nullptr) {
        auto f = gather_facts(tx, requests[i].who, decided_at, cfg_.wot, w.req.dns_names);
        if (!f) {
          if (f.error().code != errc::not_found) return unexpected(f.error());
          w.failed = f.error();
          continue;
        }
        facts_cache.emplace_back(requests[i].who, std::move(*f));
        facts = &facts_cache.back().second;
      } else {
        // Same member, other names: only the domains differ.
        auto domains = domains_covering(tx, requests[i].who, w.req.dns_names);
        if (!domains) return unexpected(domains.error());
        facts->domains = std::move(*domains);
      }
      decision d = decide(*facts, w.req, cfg_.policy);
      if (auto* no = std::get_if<denial>(&d)) {
        w.refused = std::move(*no);
        continue;
      }
      w.granted = std::get<grant>(std::move(d));
      w.granted.not_after = capped_not_after(w.granted.not_after, ca_.signer_for(w.granted.issuer));
      w.rec = certificate_record{};
      w.rec.issuer = w.granted.issuer;
      w.rec.member = requests[i].who;
      w.rec.profile = requests[i].profile;
      w.rec.subject = w.granted.subject_cn.empty() ? std::string() : "CN=" + w.granted.subject_cn;
      for (const auto& e : w.granted.emails) w.rec.sans.push_back("email:" + e);
      for (const auto& n : w.granted.dns_names) w.rec.sans.push_back("DNS:" + n);
      w.rec.not_before = w.granted.not_before;
      w.rec.not_after = w.granted.not_after;
      w.rec.via = requests[i].via;
      w.rec.created_at = decided_at;
      // 159 random bits make a collision all but impossible; draw again if one happens.
      for (int attempt = 0;; ++attempt) {
        w.rec.serial = to_hex(random_serial(rng_));
        auto r = tx.certificates().reserve(w.rec);
        if (r) break;
        if (r.error().code != errc::conflict || attempt > 2) return r;
      }
    }
    return {};
  }, durability::relaxed);  // made durable by the recording's flush, before any certificate leaves
  if (!reserved) return all_failed(reserved.error());

  // Sign outside any transaction: the rows are reserved and committed.
  for (std::size_t i = 0; i < requests.size(); ++i) {
    state& w = work[i];
    if (w.refused || w.failed) continue;
    const ca_signer& signer = ca_.signer_for(w.granted.issuer);
    certificate_spec spec;
    auto serial = serial_from_hex(w.rec.serial);
    if (!serial) {
      w.failed = serial.error();
      continue;
    }
    spec.serial = *serial;
    spec.profile = requests[i].profile;
    spec.subject_cn = w.granted.subject_cn;
    spec.emails = w.granted.emails;
    spec.dns_names = w.granted.dns_names;
    spec.not_before = w.granted.not_before;
    spec.not_after = w.granted.not_after;
    spec.subject_key = requests[i].csr->public_key();
    spec.subject_spki = requests[i].csr->spki();
    spec.urls = urls_for(cfg_, w.granted.issuer);
    auto cert = sign_certificate(spec, signer);
    if (!cert) {
      w.failed = cert.error();
      continue;
    }
    w.cert = std::move(*cert);
  }

  const sys_seconds now = clock_.now();
  std::vector<std::vector<std::uint8_t>> ders(requests.size());
  auto recorded = db_.write([&](transaction& tx) -> result<void> {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      state& w = work[i];
      if (!w.cert) continue;
      ders[i] = to_der(*w.cert);
      w.subject = subject_line(*w.cert);
      w.sans = san_strings(*w.cert);
      if (auto r = tx.certificates().complete(w.rec.serial, ders[i]); !r) return r;
      nlohmann::json detail = {{"member", requests[i].who},
                               {"profile", to_string(requests[i].profile)},
                               {"issuer", to_string(w.granted.issuer)},
                               {"subject", w.subject},
                               {"sans", w.sans},
                               {"not_after", format_time(w.granted.not_after)},
                               {"via", to_string(requests[i].via)},
                               {"rules", w.granted.rules}};
      if (auto r = tx.audit().append(audit_entry{0, now, requests[i].actor, "cert.issue", "cert:" + w.rec.serial,
                                                 detail.dump()});
          !r) {
        return unexpected(r.error());
      }
      if (auto r = tx.changes().bump(change_event{0, "issue", w.rec.serial, w.granted.issuer, now}); !r) {
        return unexpected(r.error());
      }
      if (also) {
        certificate_record stored = w.rec;
        stored.der = ders[i];
        stored.status = cert_status::valid;
        stored.subject = w.subject;
        stored.sans = w.sans;
        if (auto r = also(tx, stored); !r) return r;
      }
    }
    return {};
  });

  std::vector<result<issue_outcome>> out;
  out.reserve(requests.size());
  std::string issuer_pem[3];  // by issuer_class, made once per batch
  for (std::size_t i = 0; i < requests.size(); ++i) {
    state& w = work[i];
    if (w.refused) {
      out.push_back(issue_outcome{std::move(*w.refused)});
    } else if (w.failed) {
      out.push_back(unexpected(std::move(*w.failed)));
    } else if (!recorded) {
      // Signed but not recorded: the row stays reserved, the certificate is
      // dropped here and never handed out.
      out.push_back(unexpected(recorded.error()));
    } else {
      issued_certificate issued;
      w.rec.der = std::move(ders[i]);
      w.rec.status = cert_status::valid;
      w.rec.subject = std::move(w.subject);
      w.rec.sans = std::move(w.sans);
      issued.record = std::move(w.rec);
      issued.pem = to_pem(*w.cert);
      std::string& chain = issuer_pem[static_cast<int>(w.granted.issuer)];
      if (chain.empty()) chain = to_pem(*ca_.signer_for(w.granted.issuer).cert);
      issued.chain_pem = issued.pem + chain;
      issued.granted = std::move(w.granted);
      out.push_back(issue_outcome{std::move(issued)});
    }
  }
  return out;
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
