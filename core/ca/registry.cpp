#include "core/ca/registry.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/ca/authority.h"
#include "core/net/dns.h"
#include "core/net/http_fetch.h"
#include "core/pki/csr.h"
#include "core/util/encoding.h"
#include "core/wot/assurance_check.h"

namespace wotca {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::sys_days;

namespace {

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Text a person typed that ends up in certificates, mail or the audit log:
// printable, no control characters.
result<std::string> clean_text(std::string_view text, std::string_view flag, std::size_t max_len) {
  std::string t = trim(text);
  if (t.empty()) return fail(errc::invalid_input, std::string(flag), "must not be empty");
  if (t.size() > max_len) {
    return fail(errc::invalid_input, std::string(flag),
                "is " + std::to_string(t.size()) + " characters long; at most " + std::to_string(max_len));
  }
  for (unsigned char c : t) {
    if (c < 0x20 || c == 0x7f) {
      return fail(errc::invalid_input, std::string(flag), "contains a control character");
    }
  }
  return t;
}

audit_entry audit_row(sys_seconds at, std::string_view actor, std::string_view action, std::string object,
                      const json& detail) {
  return audit_entry{0, at, std::string(actor), std::string(action), std::move(object), detail.dump()};
}

result<void> append(transaction& tx, const audit_entry& e) {
  auto r = tx.audit().append(e);
  if (!r) return unexpected(r.error());
  return {};
}

std::string member_ref(member_id id) { return "member:" + std::to_string(id); }

constexpr std::string_view domain_mailboxes[] = {"root", "hostmaster", "postmaster", "admin", "webmaster"};

}  // namespace

registry::registry(const config& cfg, store& db, const clock& clk, random_source& rng)
    : cfg_(cfg), db_(db), clock_(clk), rng_(rng) {}

result<std::string> send_mail(const config& cfg, std::string_view to, std::string_view subject,
                              std::string_view body, sys_seconds now) {
  std::string message = "To: " + std::string(to) + "\nSubject: " + std::string(subject) +
                        "\nContent-Type: text/plain; charset=utf-8\n\n" + std::string(body) + "\n";
  if (!cfg.mail.sendmail.empty()) {
    FILE* pipe = ::popen(cfg.mail.sendmail.c_str(), "w");
    if (pipe == nullptr) return fail(errc::io, "mail.sendmail", "cannot start '" + cfg.mail.sendmail + "'");
    std::fwrite(message.data(), 1, message.size(), pipe);
    int status = ::pclose(pipe);
    if (status != 0) {
      return fail(errc::io, "mail.sendmail",
                  "'" + cfg.mail.sendmail + "' failed (status " + std::to_string(status) + ")");
    }
    return "sent with " + cfg.mail.sendmail;
  }
  std::error_code ec;
  fs::create_directories(cfg.outbox_dir(), ec);
  std::string stamp = format_time(now);
  std::replace(stamp.begin(), stamp.end(), ':', '-');
  std::string safe_to;
  for (char c : to) safe_to.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '@' || c == '.' ? c : '_');
  fs::path file = cfg.outbox_dir() / (stamp + "-" + safe_to + ".eml");
  for (int i = 1; fs::exists(file, ec); ++i) {
    file = cfg.outbox_dir() / (stamp + "-" + safe_to + "-" + std::to_string(i) + ".eml");
  }
  std::ofstream out(file, std::ios::binary);
  out << message;
  out.close();
  if (!out) return fail(errc::io, file.string(), "cannot write the message to the outbox");
  ::chmod(file.c_str(), 0600);
  return file.string();
}

result<void> registry::send_probe(transaction& tx, std::string_view to, std::string_view what,
                                  std::string& token_out) {
  std::uint8_t raw[16];
  rng_.fill(raw);
  token_out = base64url_encode(raw);
  const sys_seconds now = clock_.now();
  const sys_seconds expires = now + std::chrono::hours(cfg_.wot.email_probe_hours);
  if (auto r = tx.emails().set_probe(to, sha256(token_out), expires); !r) return r;
  std::string body = "Someone asked the CA to confirm that " + std::string(what) +
                     ".\nIf that was you, confirm with this token (valid until " + format_time(expires) +
                     "):\n\n    " + token_out + "\n\nIf it was not you, ignore this message.";
  auto sent = send_mail(cfg_, to, "Confirm " + std::string(what), body, now);
  if (!sent) return unexpected(sent.error());
  return {};
}

result<member> registry::find_member(std::string_view id_or_email, std::string_view flag) {
  std::optional<member> found;
  std::string key = trim(id_or_email);
  auto r = db_.read([&](transaction& tx) -> result<void> {
    if (all_digits(key)) {
      auto m = tx.members().find(std::stoll(key));
      if (!m) return unexpected(m.error());
      found = std::move(*m);
      return {};
    }
    const std::string lower = ascii_lower(key);
    auto m = tx.members().find_by_email(lower);
    if (!m) return unexpected(m.error());
    if (*m) {
      found = std::move(*m);
      return {};
    }
    auto e = tx.emails().find(lower);
    if (!e) return unexpected(e.error());
    if (*e) {
      auto owner = tx.members().find((*e)->member);
      if (!owner) return unexpected(owner.error());
      found = std::move(*owner);
    }
    return {};
  });
  if (!r) return unexpected(r.error());
  if (!found) {
    return fail(errc::not_found, std::string(flag), "no member has id or email '" + key + "'");
  }
  return std::move(*found);
}

result<member> registry::add_member(const new_member& in, std::string_view actor) {
  // R-MEMBER-CCA
  if (!in.accept_cca) {
    return fail(errc::denied, "R-MEMBER-CCA",
                "a member exists only after accepting the Community Agreement (pass --accept-cca)");
  }
  auto name = clean_text(in.name, "--name", 128);
  if (!name) return unexpected(name.error());
  auto email = normalize_email(in.email);
  if (!email) return fail(errc::invalid_input, "--email", email.error().message);
  const sys_seconds now = clock_.now();
  member m;
  m.kind = in.kind;
  m.name = *name;
  m.primary_email = *email;
  m.cca_accepted_at = now;
  m.created_at = now;
  if (in.kind == member_kind::person) {
    auto dob = parse_date(in.date_of_birth, "--dob");
    if (!dob) return unexpected(dob.error());
    if (sys_days{*dob} > sys_days{day_of(now)}) {
      return fail(errc::invalid_input, "--dob", "'" + in.date_of_birth + "' is in the future");
    }
    m.date_of_birth = *dob;
  } else {
    m.date_of_birth = date{std::chrono::year{1900}, std::chrono::January, std::chrono::day{1}};
  }

  auto r = db_.write([&](transaction& tx) -> result<void> {
    // R-OWNERSHIP: the address may already be someone's secondary email.
    auto owned = tx.emails().find(m.primary_email);
    if (!owned) return unexpected(owned.error());
    if (*owned) {
      return fail(errc::conflict, "R-OWNERSHIP",
                  "the email " + m.primary_email + " already belongs to member " + std::to_string((*owned)->member));
    }
    auto id = tx.members().add(m);
    if (!id) {
      if (id.error().code == errc::conflict) {
        return fail(errc::conflict, "R-OWNERSHIP", "the email " + m.primary_email + " already belongs to a member");
      }
      return unexpected(id.error());
    }
    m.id = *id;
    email_address e;
    e.member = m.id;
    e.address = m.primary_email;
    if (auto eid = tx.emails().add(e); !eid) return unexpected(eid.error());
    if (auto a = append(tx, audit_row(now, actor, "member.add", member_ref(m.id),
                                      json{{"kind", to_string(m.kind)}, {"email", m.primary_email}}));
        !a) {
      return a;
    }
    std::string token;
    return send_probe(tx, m.primary_email, "the email address " + m.primary_email, token);
  });
  if (!r) return unexpected(r.error());
  return m;
}

result<std::vector<member>> registry::list_members() {
  std::vector<member> out;
  auto r = db_.read([&](transaction& tx) -> result<void> {
    auto l = tx.members().list();
    if (!l) return unexpected(l.error());
    out = std::move(*l);
    return {};
  });
  if (!r) return unexpected(r.error());
  return out;
}

result<int> registry::lock_member(member_id id, std::string_view reason, std::string_view actor) {
  auto why = clean_text(reason, "--reason", 1000);
  if (!why) return unexpected(why.error());
  int revoked = 0;
  const sys_seconds now = clock_.now();
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto m = tx.members().find(id);
    if (!m) return unexpected(m.error());
    if (!*m) return fail(errc::not_found, "--member", "there is no member " + std::to_string(id));
    if ((*m)->locked) return fail(errc::conflict, "--member", "member " + std::to_string(id) + " is already locked");
    (*m)->locked = true;
    if (auto u = tx.members().update(**m); !u) return u;
    // R-REVOKE-CASCADE: locking revokes all their certificates.
    auto n = revoke_certificates_of(tx, id, "", revocation_reason::privilege_withdrawn, actor, now);
    if (!n) return unexpected(n.error());
    revoked = *n;
    return append(tx, audit_row(now, actor, "member.lock", member_ref(id),
                                json{{"reason", *why}, {"certificates_revoked", revoked}}));
  });
  if (!r) return unexpected(r.error());
  return revoked;
}

result<void> registry::record_parental_consent(member_id id, std::string_view actor) {
  const sys_seconds now = clock_.now();
  return db_.write([&](transaction& tx) -> result<void> {
    auto m = tx.members().find(id);
    if (!m) return unexpected(m.error());
    if (!*m) return fail(errc::not_found, "--member", "there is no member " + std::to_string(id));
    (*m)->parental_consent_at = now;
    if (auto u = tx.members().update(**m); !u) return u;
    return append(tx, audit_row(now, actor, "member.parental-consent", member_ref(id), json::object()));
  });
}

result<void> registry::set_code_signing(member_id id, bool enabled, std::string_view actor) {
  const sys_seconds now = clock_.now();
  return db_.write([&](transaction& tx) -> result<void> {
    auto m = tx.members().find(id);
    if (!m) return unexpected(m.error());
    if (!*m) return fail(errc::not_found, "--member", "there is no member " + std::to_string(id));
    (*m)->code_signing_enabled = enabled;
    if (auto u = tx.members().update(**m); !u) return u;
    return append(tx, audit_row(now, actor, "member.code-signing", member_ref(id), json{{"enabled", enabled}}));
  });
}

result<assurance> registry::appoint_founding_assurer(member_id id, std::string_view reason,
                                                     std::string_view actor) {
  const sys_seconds now = clock_.now();
  assurance a;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto record = gather_record(tx, id);
    if (!record) return unexpected(record.error());
    auto so_far = tx.assurances().count_founding();
    if (!so_far) return unexpected(so_far.error());
    if (auto ok = check_founding(*record, *so_far, reason, cfg_.wot); !ok) return ok;
    a.assuree = id;
    a.points = 100;
    a.met_on = day_of(now);
    a.place = "founding appointment";
    a.method = assurance_method::founding;
    a.appeared_in_person = false;
    a.reason = trim(reason);
    a.recorded_at = now;
    auto aid = tx.assurances().add(a);
    if (!aid) return unexpected(aid.error());
    a.id = *aid;
    return append(tx, audit_row(now, actor, "assurance.founding", member_ref(id),
                                json{{"assurance", a.id}, {"reason", a.reason}, {"rule", "R-BOOTSTRAP"}}));
  });
  if (!r) return unexpected(r.error());
  return a;
}

result<email_address> registry::add_email(member_id id, std::string_view address, std::string_view actor) {
  auto norm = normalize_email(address);
  if (!norm) return fail(errc::invalid_input, "--email", norm.error().message);
  const sys_seconds now = clock_.now();
  email_address e;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto m = tx.members().find(id);
    if (!m) return unexpected(m.error());
    if (!*m) return fail(errc::not_found, "--member", "there is no member " + std::to_string(id));
    auto owned = tx.emails().find(*norm);
    if (!owned) return unexpected(owned.error());
    if (*owned) {
      return fail(errc::conflict, "R-OWNERSHIP",
                  "the email " + *norm + " already belongs to member " + std::to_string((*owned)->member));
    }
    e.member = id;
    e.address = *norm;
    auto eid = tx.emails().add(e);
    if (!eid) return unexpected(eid.error());
    e.id = *eid;
    if (auto a = append(tx, audit_row(now, actor, "email.add", member_ref(id), json{{"email", e.address}})); !a) {
      return a;
    }
    std::string token;
    return send_probe(tx, e.address, "the email address " + e.address, token);
  });
  if (!r) return unexpected(r.error());
  return e;
}

result<email_address> registry::confirm_email(std::string_view address, std::string_view token,
                                              std::string_view actor) {
  auto norm = normalize_email(address);
  if (!norm) return fail(errc::invalid_input, "--email", norm.error().message);
  const sys_seconds now = clock_.now();
  email_address out;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto e = tx.emails().find(*norm);
    if (!e) return unexpected(e.error());
    if (!*e) return fail(errc::not_found, "--email", "no member has the email " + *norm);
    auto probe = tx.emails().probe(*norm);
    if (!probe) return unexpected(probe.error());
    if (!*probe) return fail(errc::not_found, "--token", "no probe is pending for " + *norm + " (send one again)");
    if ((*probe)->second <= now) {
      return fail(errc::denied, "R-EMAIL-PROBE",
                  "the probe for " + *norm + " expired at " + format_time((*probe)->second) + "; send one again");
    }
    if (!equal_constant_time(sha256(trim(token)), (*probe)->first)) {
      return fail(errc::denied, "R-EMAIL-PROBE", "the token does not match the probe sent to " + *norm);
    }
    (*e)->method = verification_method::email_probe;
    (*e)->verified_at = now;
    (*e)->valid_until.reset();
    if (auto u = tx.emails().update(**e); !u) return u;
    if (auto c = tx.emails().clear_probe(*norm); !c) return c;
    out = **e;
    return append(tx, audit_row(now, actor, "email.verify", member_ref(out.member),
                                json{{"email", out.address}, {"method", "email-probe"}}));
  });
  if (!r) return unexpected(r.error());
  return out;
}

result<email_address> registry::verify_email_by_operator(member_id id, std::string_view address,
                                                         std::string_view reason, std::string_view actor) {
  auto norm = normalize_email(address);
  if (!norm) return fail(errc::invalid_input, "--email", norm.error().message);
  auto why = clean_text(reason, "--operator-reason", 1000);
  if (!why) return unexpected(why.error());
  const sys_seconds now = clock_.now();
  email_address out;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto e = tx.emails().find(*norm);
    if (!e) return unexpected(e.error());
    if (!*e) return fail(errc::not_found, "--email", "no member has the email " + *norm + " (add it first)");
    if ((*e)->member != id) {
      return fail(errc::denied, "R-OWNERSHIP",
                  "the email " + *norm + " belongs to member " + std::to_string((*e)->member));
    }
    (*e)->method = verification_method::operator_override;
    (*e)->verified_at = now;
    if (auto u = tx.emails().update(**e); !u) return u;
    out = **e;
    return append(tx, audit_row(now, actor, "email.verify", member_ref(id),
                                json{{"email", out.address}, {"method", "operator"}, {"reason", *why}}));
  });
  if (!r) return unexpected(r.error());
  return out;
}

result<int> registry::remove_email(member_id id, std::string_view address, std::string_view actor) {
  auto norm = normalize_email(address);
  if (!norm) return fail(errc::invalid_input, "--email", norm.error().message);
  const sys_seconds now = clock_.now();
  int revoked = 0;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto e = tx.emails().find(*norm);
    if (!e) return unexpected(e.error());
    if (!*e || (*e)->member != id) {
      return fail(errc::not_found, "--email", "member " + std::to_string(id) + " has no email " + *norm);
    }
    auto m = tx.members().find(id);
    if (!m) return unexpected(m.error());
    if (*m && (*m)->primary_email == *norm) {
      return fail(errc::invalid_input, "--email", *norm + " is the member's primary email and cannot be removed");
    }
    auto n = revoke_certificates_of(tx, id, *norm, revocation_reason::affiliation_changed, actor, now);
    if (!n) return unexpected(n.error());
    revoked = *n;
    if (auto d = tx.emails().remove(*norm); !d) return d;
    return append(tx, audit_row(now, actor, "email.remove", member_ref(id),
                                json{{"email", *norm}, {"certificates_revoked", revoked}}));
  });
  if (!r) return unexpected(r.error());
  return revoked;
}

result<std::vector<email_address>> registry::emails_of(member_id id) {
  std::vector<email_address> out;
  auto r = db_.read([&](transaction& tx) -> result<void> {
    auto l = tx.emails().of_member(id);
    if (!l) return unexpected(l.error());
    out = std::move(*l);
    return {};
  });
  if (!r) return unexpected(r.error());
  return out;
}

result<domain_name> registry::add_domain(member_id id, std::string_view name, std::string_view actor) {
  auto norm = normalize_dns_name(name);
  if (!norm) return fail(errc::invalid_input, "--domain", norm.error().message);
  if (norm->rfind("*.", 0) == 0) {
    return fail(errc::invalid_input, "--domain", "add the domain itself (" + norm->substr(2) +
                                                     "); wildcards are asked for in certificate requests");
  }
  const sys_seconds now = clock_.now();
  domain_name d;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto m = tx.members().find(id);
    if (!m) return unexpected(m.error());
    if (!*m) return fail(errc::not_found, "--member", "there is no member " + std::to_string(id));
    auto owned = tx.domains().find(*norm);
    if (!owned) return unexpected(owned.error());
    if (*owned) {
      return fail(errc::conflict, "R-OWNERSHIP",
                  "the domain " + *norm + " already belongs to member " + std::to_string((*owned)->member));
    }
    d.member = id;
    d.name = *norm;
    auto did = tx.domains().add(d);
    if (!did) return unexpected(did.error());
    d.id = *did;
    return append(tx, audit_row(now, actor, "domain.add", member_ref(id), json{{"domain", d.name}}));
  });
  if (!r) return unexpected(r.error());
  return d;
}

namespace {

// Where the DNS server for verification is: the configured one, or the
// system's.
result<dns_server> verification_server(const config& cfg) {
  if (cfg.verification.resolver.empty()) return system_dns_server();
  return parse_dns_server(cfg.verification.resolver, "verification.resolver");
}

// Looks for `token` where `method` says it is published for `domain`.
// Returns nothing if found, else errc::denied R-DOMAIN-CONTROL naming what
// was found instead (or errc::io if the network failed).
result<void> find_token(const config& cfg, random_source& rng, std::string_view domain, std::string_view method,
                        std::string_view token) {
  auto server = verification_server(cfg);
  if (!server) return unexpected(server.error());
  const std::chrono::milliseconds timeout(cfg.verification.timeout_ms);
  if (method == "dns") {
    const std::string at = "_wotca-challenge." + std::string(domain);
    auto answer = dns_lookup(at, dns_type::txt, *server, timeout, rng);
    if (!answer) return unexpected(answer.error());
    std::string seen;
    for (const auto& r : answer->records) {
      if (r == token) return {};
      seen += (seen.empty() ? "'" : ", '") + r.substr(0, 80) + "'";
    }
    return fail(errc::denied, "R-DOMAIN-CONTROL",
                "no TXT record at " + at + " holds the token" + (seen.empty() ? " (none found)" : "; found " + seen));
  }
  // http: resolve the name with the same server, refuse private addresses
  // unless configured, fetch the token without following redirects.
  std::vector<std::string> addresses;
  for (auto type : {dns_type::a, dns_type::aaaa}) {
    auto answer = dns_lookup(domain, type, *server, timeout, rng);
    if (!answer) return unexpected(answer.error());
    for (auto& a : answer->records) addresses.push_back(std::move(a));
  }
  if (addresses.empty()) {
    return fail(errc::denied, "R-DOMAIN-CONTROL", std::string(domain) + " has no A or AAAA record");
  }
  const std::string path = "/.well-known/wotca-challenge/" + std::string(token);
  std::string last_problem;
  for (const auto& address : addresses) {
    if (!cfg.verification.allow_private_addresses && is_private_address(address)) {
      last_problem = std::string(domain) + " resolves to " + address +
                     ", a private or special-purpose address the CA does not connect to";
      continue;
    }
    fetch_limits limits;
    limits.timeout = timeout;
    limits.max_body_bytes = 1024;
    auto reply = http_get(address, static_cast<std::uint16_t>(cfg.verification.http_port), domain, path, limits);
    if (!reply) {
      last_problem = describe(reply.error());
      continue;
    }
    std::string body = trim(reply->body);
    if (reply->status == 200 && body == token) return {};
    last_problem = "http://" + std::string(domain) + path + " answered " + std::to_string(reply->status) +
                   (reply->status == 200 ? " with another body" : "");
  }
  return fail(errc::denied, "R-DOMAIN-CONTROL", last_problem);
}

}  // namespace

result<domain_challenge> registry::check_published_token(member_id id, const std::string& domain,
                                                         std::string_view method, std::string_view actor) {
  const sys_seconds now = clock_.now();
  std::optional<domain_token> pending;
  auto r = db_.read([&](transaction& tx) -> result<void> {
    auto d = tx.domains().find(domain);
    if (!d) return unexpected(d.error());
    if (!*d || (*d)->member != id) {
      return fail(errc::not_found, "--domain", "member " + std::to_string(id) + " has no domain " + domain);
    }
    auto c = tx.domains().challenge(domain);
    if (!c) return unexpected(c.error());
    pending = std::move(*c);
    return {};
  });
  if (!r) return unexpected(r.error());

  domain_challenge out;
  out.method = std::string(method);
  auto where = [&](const std::string& token) {
    return method == "dns" ? "publish a TXT record at _wotca-challenge." + domain + " with the value " + token
                           : "serve " + token + " as the whole body of http://" + domain +
                                 "/.well-known/wotca-challenge/" + token;
  };
  if (!pending || pending->method != method || pending->expires_at <= now) {
    std::uint8_t raw[24];
    rng_.fill(raw);
    domain_token t{std::string(method), base64url_encode(raw), now + std::chrono::hours(cfg_.verification.challenge_hours)};
    auto w = db_.write([&](transaction& tx) -> result<void> {
      if (auto s = tx.domains().set_challenge(domain, t); !s) return s;
      return append(tx, audit_row(now, actor, "domain.challenge", member_ref(id),
                                  json{{"domain", domain}, {"method", t.method}, {"expires_at", format_time(t.expires_at)}}));
    });
    if (!w) return unexpected(w.error());
    out.token = t.token;
    out.instructions = where(t.token) + ", then run the same command again (before " + format_time(t.expires_at) + ")";
    return out;
  }

  // Outside any transaction: the network may take seconds.
  if (auto found = find_token(cfg_, rng_, domain, method, pending->token); !found) {
    out.token = pending->token;
    auto e = found.error();
    e.message += "; " + where(pending->token) + " and run the command again";
    return unexpected(std::move(e));
  }
  const sys_seconds verified_at = clock_.now();
  auto w = db_.write([&](transaction& tx) -> result<void> {
    auto d = tx.domains().find(domain);
    if (!d) return unexpected(d.error());
    auto c = tx.domains().challenge(domain);
    if (!c) return unexpected(c.error());
    // The facts may have changed while the network was asked.
    if (!*d || (*d)->member != id || !*c || (*c)->token != pending->token) {
      return fail(errc::conflict, "--domain", "the domain or its challenge changed meanwhile; run the command again");
    }
    (*d)->method = method == "dns" ? verification_method::dns_txt : verification_method::http_token;
    (*d)->verified_at = verified_at;
    (*d)->valid_until = verified_at + std::chrono::days(cfg_.wot.domain_reuse_days);
    if (auto u = tx.domains().update(**d); !u) return u;
    if (auto cl = tx.domains().clear_challenge(domain); !cl) return cl;
    out.verified = **d;
    return append(tx, audit_row(verified_at, actor, "domain.verify", member_ref(id),
                                json{{"domain", domain}, {"method", to_string((*d)->method)}}));
  });
  if (!w) return unexpected(w.error());
  out.instructions = domain + " is verified until " + format_time(*out.verified->valid_until);
  return out;
}

result<domain_challenge> registry::start_domain_check(member_id id, std::string_view name, std::string_view method,
                                                      std::string_view mailbox, std::string_view actor) {
  auto norm = normalize_dns_name(name);
  if (!norm) return fail(errc::invalid_input, "--domain", norm.error().message);
  if (method != "email" && method != "dns" && method != "http") {
    return fail(errc::invalid_input, "--method", "'" + std::string(method) + "' is not one of dns, http, email");
  }
  if (method != "email") return check_published_token(id, *norm, method, actor);
  std::string box = mailbox.empty() ? std::string("hostmaster") : trim(mailbox);
  if (std::find(std::begin(domain_mailboxes), std::end(domain_mailboxes), box) == std::end(domain_mailboxes)) {
    return fail(errc::invalid_input, "--mailbox",
                "'" + box + "' is not one of root, hostmaster, postmaster, admin, webmaster (R-DOMAIN-CONTROL)");
  }
  const sys_seconds now = clock_.now();
  domain_challenge out;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto d = tx.domains().find(*norm);
    if (!d) return unexpected(d.error());
    if (!*d || (*d)->member != id) {
      return fail(errc::not_found, "--domain", "member " + std::to_string(id) + " has no domain " + *norm);
    }
    // The probe is stored against the mailbox address as an email row of
    // no member would be; instead it rides on the domain's own probe slot:
    // the address "box@domain" keyed in the email probe table.
    std::string to = box + "@" + *norm;
    auto existing = tx.emails().find(to);
    if (!existing) return unexpected(existing.error());
    if (*existing && (*existing)->member != id) {
      return fail(errc::conflict, "R-OWNERSHIP", to + " belongs to member " + std::to_string((*existing)->member));
    }
    if (!*existing) {
      email_address e;
      e.member = id;
      e.address = to;
      if (auto eid = tx.emails().add(e); !eid) return unexpected(eid.error());
    }
    if (auto p = send_probe(tx, to, "control of the domain " + *norm, out.token); !p) return p;
    out.method = "email";
    out.instructions = "a token was sent to " + to + "; confirm with: wotca domain confirm --domain " + *norm +
                       " --token TOKEN";
    return append(tx, audit_row(now, actor, "domain.probe", member_ref(id), json{{"domain", *norm}, {"to", to}}));
  });
  if (!r) return unexpected(r.error());
  out.token.clear();  // the token goes to the mailbox, not to whoever asked
  return out;
}

result<domain_name> registry::confirm_domain(std::string_view name, std::string_view token, std::string_view actor) {
  auto norm = normalize_dns_name(name);
  if (!norm) return fail(errc::invalid_input, "--domain", norm.error().message);
  const sys_seconds now = clock_.now();
  domain_name out;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto d = tx.domains().find(*norm);
    if (!d) return unexpected(d.error());
    if (!*d) return fail(errc::not_found, "--domain", "no member has the domain " + *norm);
    bool matched = false;
    for (auto box : domain_mailboxes) {
      std::string to = std::string(box) + "@" + *norm;
      auto probe = tx.emails().probe(to);
      if (!probe) return unexpected(probe.error());
      if (!*probe || (*probe)->second <= now) continue;
      if (equal_constant_time(sha256(trim(token)), (*probe)->first)) {
        matched = true;
        if (auto c = tx.emails().clear_probe(to); !c) return c;
        break;
      }
    }
    if (!matched) {
      return fail(errc::denied, "R-DOMAIN-CONTROL", "the token matches no pending probe for " + *norm);
    }
    (*d)->method = verification_method::email_probe;
    (*d)->verified_at = now;
    (*d)->valid_until = now + std::chrono::days(cfg_.wot.domain_reuse_days);
    if (auto u = tx.domains().update(**d); !u) return u;
    out = **d;
    return append(tx, audit_row(now, actor, "domain.verify", member_ref(out.member),
                                json{{"domain", out.name}, {"method", "email-probe"}}));
  });
  if (!r) return unexpected(r.error());
  return out;
}

result<domain_name> registry::verify_domain_by_operator(member_id id, std::string_view name,
                                                        std::string_view reason, std::string_view actor) {
  auto norm = normalize_dns_name(name);
  if (!norm) return fail(errc::invalid_input, "--domain", norm.error().message);
  auto why = clean_text(reason, "--operator-reason", 1000);
  if (!why) return unexpected(why.error());
  const sys_seconds now = clock_.now();
  domain_name out;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto d = tx.domains().find(*norm);
    if (!d) return unexpected(d.error());
    if (!*d) return fail(errc::not_found, "--domain", "no member has the domain " + *norm + " (add it first)");
    if ((*d)->member != id) {
      return fail(errc::denied, "R-OWNERSHIP", "the domain " + *norm + " belongs to member " +
                                                   std::to_string((*d)->member));
    }
    (*d)->method = verification_method::operator_override;
    (*d)->verified_at = now;
    (*d)->valid_until = now + std::chrono::days(cfg_.wot.domain_reuse_days);
    if (auto u = tx.domains().update(**d); !u) return u;
    out = **d;
    return append(tx, audit_row(now, actor, "domain.verify", member_ref(id),
                                json{{"domain", out.name}, {"method", "operator"}, {"reason", *why}}));
  });
  if (!r) return unexpected(r.error());
  return out;
}

result<int> registry::remove_domain(member_id id, std::string_view name, std::string_view actor) {
  auto norm = normalize_dns_name(name);
  if (!norm) return fail(errc::invalid_input, "--domain", norm.error().message);
  const sys_seconds now = clock_.now();
  int revoked = 0;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto d = tx.domains().find(*norm);
    if (!d) return unexpected(d.error());
    if (!*d || (*d)->member != id) {
      return fail(errc::not_found, "--domain", "member " + std::to_string(id) + " has no domain " + *norm);
    }
    // R-REVOKE-CASCADE: every certificate naming the domain or a name under it.
    auto certs = tx.certificates().of_member(id);
    if (!certs) return unexpected(certs.error());
    for (const auto& c : *certs) {
      if (c.status != cert_status::valid) continue;
      for (const auto& san : c.sans) {
        if (san.rfind("DNS:", 0) == 0 && name_within(std::string_view(san).substr(4), *norm)) {
          auto n = revoke_certificates_of(tx, id, std::string_view(san).substr(4),
                                          revocation_reason::affiliation_changed, actor, now);
          if (!n) return unexpected(n.error());
          revoked += *n;
          break;
        }
      }
    }
    if (auto rm = tx.domains().remove(*norm); !rm) return rm;
    return append(tx, audit_row(now, actor, "domain.remove", member_ref(id),
                                json{{"domain", *norm}, {"certificates_revoked", revoked}}));
  });
  if (!r) return unexpected(r.error());
  return revoked;
}

result<std::vector<domain_name>> registry::domains_of(member_id id) {
  std::vector<domain_name> out;
  auto r = db_.read([&](transaction& tx) -> result<void> {
    auto l = tx.domains().of_member(id);
    if (!l) return unexpected(l.error());
    out = std::move(*l);
    return {};
  });
  if (!r) return unexpected(r.error());
  return out;
}

result<assurance> registry::assure(const new_assurance& in, std::string_view actor) {
  auto assurer = find_member(in.assurer, "--assurer");
  if (!assurer) return unexpected(assurer.error());
  auto assuree = find_member(in.assuree, "--member");
  if (!assuree) return unexpected(assuree.error());
  auto met = parse_date(in.date, "--date");
  if (!met) return unexpected(met.error());
  auto dob = parse_date(in.date_of_birth, "--dob");
  if (!dob) return unexpected(dob.error());
  auto method = assurance_method_from(in.method);
  if (!method || *method == assurance_method::founding) {
    return fail(errc::invalid_input, "--method", "'" + in.method + "' is not one of face-to-face, ttp, topup");
  }
  if (in.documents.size() > 10) return fail(errc::invalid_input, "--documents", "lists more than 10 documents");
  std::vector<std::string> docs;
  for (const auto& d : in.documents) {
    auto t = clean_text(d, "--documents", 64);
    if (!t) return unexpected(t.error());
    docs.push_back(*t);
  }
  std::string place = trim(in.place);
  if (place.size() > 200) return fail(errc::invalid_input, "--place", "is longer than 200 characters");

  const sys_seconds now = clock_.now();
  assurance a;
  a.assurer = assurer->id;
  a.assuree = assuree->id;
  a.points = in.points;
  a.met_on = *met;
  a.place = place;
  a.documents = docs;
  a.method = *method;
  a.appeared_in_person = in.appeared_in_person;
  a.mass_event = in.mass_event;
  a.recorded_at = now;
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto giver = gather_record(tx, a.assurer.value());
    if (!giver) return unexpected(giver.error());
    auto taker = gather_record(tx, a.assuree);
    if (!taker) return unexpected(taker.error());
    auto emails = tx.emails().of_member(a.assuree);
    if (!emails) return unexpected(emails.error());
    bool verified = std::any_of(emails->begin(), emails->end(), [](const email_address& e) {
      return e.verified_at.has_value();
    });
    const date today = day_of(now);
    const points_summary giver_points = summarize(*giver, today, cfg_.wot);
    const points_summary taker_points = summarize(*taker, today, cfg_.wot);
    assurance_context ctx{*giver, giver_points, *taker, taker_points, verified, *dob, today, cfg_.wot};
    if (auto ok = check_assurance(ctx, a); !ok) return ok;
    auto id = tx.assurances().add(a);
    if (!id) {
      if (id.error().code == errc::conflict) {
        return fail(errc::denied, "R-ASSURE-ONCE", "member " + std::to_string(*a.assurer) + " has already assured member " +
                                                       std::to_string(a.assuree));
      }
      return unexpected(id.error());
    }
    a.id = *id;
    return append(tx, audit_row(now, actor, "assurance.add", member_ref(a.assuree),
                                json{{"assurance", a.id},
                                     {"assurer", *a.assurer},
                                     {"points", a.points},
                                     {"method", to_string(a.method)},
                                     {"date", format_date(a.met_on)},
                                     {"place", a.place},
                                     {"documents", a.documents}}));
  });
  if (!r) return unexpected(r.error());
  return a;
}

result<void> registry::withdraw_assurance(std::int64_t id, std::string_view case_number, std::string_view actor) {
  auto c = clean_text(case_number, "--case", 64);
  if (!c) return unexpected(c.error());
  const sys_seconds now = clock_.now();
  return db_.write([&](transaction& tx) -> result<void> {
    if (auto w = tx.assurances().withdraw(id, *c); !w) return w;
    return append(tx, audit_row(now, actor, "assurance.withdraw", "assurance:" + std::to_string(id),
                                json{{"case", *c}, {"rule", "R-ARBITRATION"}}));
  });
}

result<void> registry::record_cats_pass(member_id id, std::string_view date_text, std::string_view version,
                                        std::string_view actor) {
  const sys_seconds now = clock_.now();
  date passed = day_of(now);
  if (!date_text.empty()) {
    auto d = parse_date(date_text, "--date");
    if (!d) return unexpected(d.error());
    if (sys_days{*d} > sys_days{day_of(now)}) {
      return fail(errc::invalid_input, "--date", "'" + std::string(date_text) + "' is in the future");
    }
    passed = *d;
  }
  auto v = clean_text(version.empty() ? std::string_view("CATS") : version, "--test-version", 64);
  if (!v) return unexpected(v.error());
  return db_.write([&](transaction& tx) -> result<void> {
    auto m = tx.members().find(id);
    if (!m) return unexpected(m.error());
    if (!*m) return fail(errc::not_found, "--member", "there is no member " + std::to_string(id));
    if (auto a = tx.assurances().add_cats_pass(cats_pass{id, passed, *v}); !a) return a;
    return append(tx, audit_row(now, actor, "cats.pass", member_ref(id),
                                json{{"date", format_date(passed)}, {"version", *v}}));
  });
}

result<points_report> registry::points(member_id id) {
  points_report out;
  const sys_seconds now = clock_.now();
  auto r = db_.read([&](transaction& tx) -> result<void> {
    auto record = gather_record(tx, id);
    if (!record) return unexpected(record.error());
    out.summary = summarize(*record, day_of(now), cfg_.wot);
    out.max_award = max_award(*record, out.summary, day_of(now));
    out.who = record->who;
    out.privileges = privileges_for(out.who, out.summary, cfg_.policy);
    return {};
  });
  if (!r) return unexpected(r.error());
  return out;
}

result<issued_secret> registry::new_eab_key(member_id id, std::string_view actor) {
  std::uint8_t kid_raw[12], key_raw[32];
  rng_.fill(kid_raw);
  rng_.fill(key_raw);
  issued_secret out;
  out.id = base64url_encode(kid_raw);
  out.secret = base64url_encode(key_raw);
  const sys_seconds now = clock_.now();
  out.expires_at = now + std::chrono::days(cfg_.enrolment.eab_key_days);
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto m = tx.members().find(id);
    if (!m) return unexpected(m.error());
    if (!*m) return fail(errc::not_found, "--member", "there is no member " + std::to_string(id));
    if ((*m)->locked) return fail(errc::denied, "R-LOCKED", "member " + std::to_string(id) + " is locked");
    eab_key k{out.id, sha256(std::span<const std::uint8_t>(key_raw)), id, now, out.expires_at, std::nullopt};
    k.mac_key.assign(std::begin(key_raw), std::end(key_raw));
    if (auto a = tx.eab_keys().add(k); !a) return a;
    return append(tx, audit_row(now, actor, "eab.new", member_ref(id),
                                json{{"kid", out.id}, {"expires_at", format_time(out.expires_at)}}));
  });
  if (!r) return unexpected(r.error());
  return out;
}

result<issued_secret> registry::new_scep_challenge(member_id id, cert_profile profile, std::string_view actor) {
  if (profile != cert_profile::device && profile != cert_profile::client_email &&
      profile != cert_profile::client_named) {
    return fail(errc::invalid_input, "--profile",
                std::string(to_string(profile)) + " is not enrolled through SCEP (device, client-email, client-named)");
  }
  std::uint8_t id_raw[9], secret_raw[18];
  rng_.fill(id_raw);
  rng_.fill(secret_raw);
  issued_secret out;
  // The device is given one string, "ID.SECRET": the id finds the row, the
  // whole string's hash is what is stored and compared.
  out.id = base64url_encode(id_raw);
  out.secret = out.id + "." + base64url_encode(secret_raw);
  const sys_seconds now = clock_.now();
  out.expires_at = now + std::chrono::hours(cfg_.enrolment.scep_challenge_hours);
  auto r = db_.write([&](transaction& tx) -> result<void> {
    auto m = tx.members().find(id);
    if (!m) return unexpected(m.error());
    if (!*m) return fail(errc::not_found, "--member", "there is no member " + std::to_string(id));
    if ((*m)->locked) return fail(errc::denied, "R-LOCKED", "member " + std::to_string(id) + " is locked");
    scep_challenge c{out.id, sha256(out.secret), id, profile, now, out.expires_at, std::nullopt};
    if (auto a = tx.scep_challenges().add(c); !a) return a;
    return append(tx, audit_row(now, actor, "scep.challenge", member_ref(id),
                                json{{"id", out.id}, {"profile", to_string(profile)},
                                     {"expires_at", format_time(out.expires_at)}}));
  });
  if (!r) return unexpected(r.error());
  return out;
}

}  // namespace wotca
