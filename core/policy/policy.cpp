#include "core/policy/policy.h"

#include <cctype>
#include <chrono>
#include <string>

#include "core/util/encoding.h"

namespace wotca {

namespace {

constexpr int assured_ap = 50;            // privilege table, R-SERVER-50, R-NAME-50
constexpr int assurer_ap = 100;           // R-ASSURER, R-CODESIGN
constexpr size_t max_cn_chars = 64;       // RFC 5280 ub-common-name

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// Lower-case letters and digits only, so that "Alice Example" is found in
// "alice.example-laptop". Bytes beyond ASCII are kept as they are.
std::string name_letters(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || std::isalnum(u)) out += ascii_lower(c);
  }
  return out;
}

std::vector<std::string_view> labels_of(std::string_view name) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) {
      out.push_back(name.substr(start));
      return out;
    }
    out.push_back(name.substr(start, dot - start));
    start = dot + 1;
  }
}

bool counts_now(const std::optional<sys_seconds>& verified_at,
                const std::optional<sys_seconds>& valid_until, sys_seconds now) {
  return verified_at.has_value() && (!valid_until.has_value() || *valid_until > now);
}

bool is_wildcard(std::string_view name) { return name.size() >= 2 && name.substr(0, 2) == "*."; }

struct context {
  const member_facts& facts;
  const certificate_request& req;
  std::vector<std::pair<std::string, std::string>> base_facts;

  [[nodiscard]] denial deny(std::string rule, std::string reason,
                            std::vector<std::pair<std::string, std::string>> extra = {}) const {
    denial d{std::move(rule), std::move(reason), base_facts};
    for (auto& f : extra) d.facts.push_back(std::move(f));
    return d;
  }
  [[nodiscard]] std::string member() const { return "member " + std::to_string(facts.who.id); }
  [[nodiscard]] int ap() const { return facts.points.ap; }
};

// R-EMAIL-PROBE: each email is one of the member's, verified and unexpired.
std::optional<denial> check_emails(const context& c) {
  for (const auto& wanted : c.req.emails) {
    const email_address* found = nullptr;
    for (const auto& e : c.facts.emails) {
      if (e.member == c.facts.who.id && equal_ignoring_case(e.address, wanted)) found = &e;
    }
    if (found == nullptr) {
      return c.deny("R-EMAIL-PROBE", "'" + wanted + "' is not an email address of " + c.member(),
                    {{"email", wanted}});
    }
    if (!found->verified_at) {
      return c.deny("R-EMAIL-PROBE",
                    "'" + wanted + "' has not been verified; confirm the probe sent to it first",
                    {{"email", wanted}});
    }
    if (!counts_now(found->verified_at, found->valid_until, c.facts.now)) {
      return c.deny("R-EMAIL-PROBE",
                    "the verification of '" + wanted + "' expired at " +
                        format_time(*found->valid_until) + "; verify it again",
                    {{"email", wanted}});
    }
  }
  return std::nullopt;
}

// R-NAME-COVERAGE: each DNS name lies within a verified, unexpired domain of
// the member; wildcards only from 50 AP.
std::optional<denial> check_dns_names(const context& c) {
  for (const auto& name : c.req.dns_names) {
    if (is_wildcard(name) && c.ap() < assured_ap) {
      return c.deny("R-NAME-COVERAGE",
                    c.member() + " holds " + std::to_string(c.ap()) + " AP; the wildcard '" + name +
                        "' needs 50 AP",
                    {{"dns_name", name}});
    }
    bool covered = false;
    const domain_name* lapsed = nullptr;
    for (const auto& d : c.facts.domains) {
      if (d.member != c.facts.who.id || !name_within(name, d.name)) continue;
      if (counts_now(d.verified_at, d.valid_until, c.facts.now)) {
        covered = true;
        break;
      }
      if (d.verified_at) lapsed = &d;
    }
    if (covered) continue;
    if (lapsed != nullptr) {
      return c.deny("R-NAME-COVERAGE",
                    "'" + name + "' lies under '" + lapsed->name + "', whose verification expired at " +
                        format_time(*lapsed->valid_until) + "; verify the domain again",
                    {{"dns_name", name}});
    }
    return c.deny("R-NAME-COVERAGE",
                  "'" + name + "' is not within a verified domain of " + c.member() +
                      "; add and verify the domain first",
                  {{"dns_name", name}});
  }
  return std::nullopt;
}

// A DNS name belongs only in a server certificate, the one that carries
// id-kp-serverAuth: below 50 AP that is R-SERVER-50's refusal.
std::optional<denial> refuse_dns_names(const context& c, std::string_view profile) {
  if (c.req.dns_names.empty()) return std::nullopt;
  const std::string& first = c.req.dns_names.front();
  if (c.ap() < assured_ap) {
    return c.deny("R-SERVER-50",
                  c.member() + " holds " + std::to_string(c.ap()) + " AP; DNS names such as '" + first +
                      "' belong in server certificates, which need 50 AP",
                  {{"dns_name", first}});
  }
  return c.deny("R-PROFILE",
                "a " + std::string(profile) + " certificate carries no DNS names; '" + first +
                    "' needs a server certificate",
                {{"dns_name", first}});
}

// The validity ceilings of the privilege table.
std::optional<denial> apply_validity(const context& c, grant& g, int max_days, int default_days) {
  int days = default_days;
  if (c.req.days) {
    days = *c.req.days;
    if (days <= 0) {
      return c.deny("R-VALIDITY",
                    std::to_string(days) + " days of validity were requested; ask for at least 1",
                    {{"days", std::to_string(days)}});
    }
    if (days > max_days) {
      return c.deny("R-VALIDITY",
                    std::to_string(days) + " days of validity were requested; a " +
                        std::string(to_string(c.req.profile)) + " certificate for " + c.member() +
                        " is valid at most " + std::to_string(max_days) + " days",
                    {{"days", std::to_string(days)}, {"max_days", std::to_string(max_days)}});
    }
  }
  g.not_before = c.facts.now;
  g.not_after = c.facts.now + std::chrono::hours{24} * days;
  g.rules.emplace_back("R-VALIDITY");
  return std::nullopt;
}

decision decide_server(const context& c, grant g, const policy_rules& rules) {
  // R-SERVER-50 comes before every name check: a member under 50 AP learns
  // the rule that actually stands in their way.
  if (c.ap() < assured_ap) {
    return c.deny("R-SERVER-50", c.member() + " holds " + std::to_string(c.ap()) +
                                     " AP; server certificates need 50 AP");
  }
  g.rules.emplace_back("R-SERVER-50");
  if (c.req.dns_names.empty()) {
    return c.deny("R-PROFILE", "a server certificate needs at least one DNS name; none was requested");
  }
  if (!c.req.emails.empty()) {
    return c.deny("R-PROFILE",
                  "a server certificate carries no email addresses; '" + c.req.emails.front() +
                      "' belongs in a client certificate",
                  {{"email", c.req.emails.front()}});
  }
  if (auto d = check_dns_names(c)) return *d;
  g.rules.emplace_back("R-NAME-COVERAGE");
  g.dns_names = c.req.dns_names;
  const std::string& first = c.req.dns_names.front();
  g.subject_cn = utf8_length(first) <= max_cn_chars ? first : std::string();
  g.issuer = issuer_class::class3;
  const int default_days = c.req.via == request_path::acme ? rules.acme_server_days : rules.server_days;
  if (auto d = apply_validity(c, g, rules.server_days, default_days)) return *d;
  return g;
}

decision decide_client_email(const context& c, grant g, const policy_rules& rules) {
  if (auto d = refuse_dns_names(c, "client-email")) return *d;
  if (c.req.emails.empty()) {
    return c.deny("R-PROFILE", "a client certificate needs at least one email address; none was requested");
  }
  if (auto d = check_emails(c)) return *d;
  g.rules.emplace_back("R-EMAIL-PROBE");
  g.emails = c.req.emails;
  // R-NAME-50: the client-email profile always names the pseudonym, so no
  // real name appears in it whatever the member's points.
  g.subject_cn = rules.pseudonym_cn;
  g.rules.emplace_back("R-NAME-50");
  const bool assured = c.ap() >= assured_ap;
  g.issuer = assured ? issuer_class::class3 : issuer_class::class1;
  const int max_days = assured ? rules.client_days_assured : rules.client_days_unassured;
  if (auto d = apply_validity(c, g, max_days, max_days)) return *d;
  return g;
}

decision decide_client_named(const context& c, grant g, const policy_rules& rules) {
  // R-NAME-50
  if (c.ap() < assured_ap) {
    return c.deny("R-NAME-50", c.member() + " holds " + std::to_string(c.ap()) +
                                   " AP; a certificate with a real name needs 50 AP");
  }
  g.rules.emplace_back("R-NAME-50");
  if (auto d = refuse_dns_names(c, "client-named")) return *d;
  if (c.req.emails.empty()) {
    return c.deny("R-PROFILE", "a client certificate needs at least one email address; none was requested");
  }
  if (auto d = check_emails(c)) return *d;
  g.rules.emplace_back("R-EMAIL-PROBE");
  g.emails = c.req.emails;
  g.subject_cn = c.facts.who.name;
  g.issuer = issuer_class::class3;
  if (auto d = apply_validity(c, g, rules.client_days_assured, rules.client_days_assured)) return *d;
  return g;
}

decision decide_code_signing(const context& c, grant g, const policy_rules& rules) {
  // R-CODESIGN: an Assurer (which implies 100 AP) with code signing enabled.
  if (!c.facts.points.is_assurer || c.ap() < assurer_ap) {
    return c.deny("R-CODESIGN", c.member() + " holds " + std::to_string(c.ap()) +
                                    " AP and is not an Assurer; code signing needs an Assurer",
                  {{"is_assurer", c.facts.points.is_assurer ? "true" : "false"}});
  }
  if (!c.facts.who.code_signing_enabled) {
    return c.deny("R-CODESIGN",
                  c.member() + " is an Assurer but an operator has not enabled code signing for them",
                  {{"code_signing_enabled", "false"}});
  }
  g.rules.emplace_back("R-CODESIGN");
  if (auto d = refuse_dns_names(c, "code-signing")) return *d;
  if (auto d = check_emails(c)) return *d;
  if (!c.req.emails.empty()) g.rules.emplace_back("R-EMAIL-PROBE");
  g.emails = c.req.emails;
  g.subject_cn = c.facts.who.name;
  g.issuer = issuer_class::class3;
  if (auto d = apply_validity(c, g, rules.code_signing_days, rules.code_signing_days)) return *d;
  return g;
}

decision decide_device(const context& c, grant g, const policy_rules& rules) {
  // A device certificate is for TLS clients only (R-SERVER-50 below 50 AP).
  if (auto d = refuse_dns_names(c, "device")) return *d;
  const std::string cn = c.req.common_name.value_or("");
  const size_t cn_chars = utf8_length(cn);
  if (cn_chars < 1 || cn_chars > max_cn_chars) {
    return c.deny("R-DEVICE-NAME",
                  "a device certificate needs a common name of 1 to 64 characters; " +
                      (cn.empty() ? std::string("none was given") : std::to_string(cn_chars) + " were given"),
                  {{"common_name", cn}});
  }
  // R-NAME-50: no real name under 50 AP, however it is spelled.
  const bool assured = c.ap() >= assured_ap;
  const std::string name = name_letters(c.facts.who.name);
  if (!assured && !name.empty() && name_letters(cn).find(name) != std::string::npos) {
    return c.deny("R-NAME-50",
                  c.member() + " holds " + std::to_string(c.ap()) + " AP; the common name '" + cn +
                      "' contains their name, which needs 50 AP",
                  {{"common_name", cn}});
  }
  g.rules.emplace_back("R-NAME-50");
  if (auto d = check_emails(c)) return *d;
  if (!c.req.emails.empty()) g.rules.emplace_back("R-EMAIL-PROBE");
  g.emails = c.req.emails;
  g.subject_cn = cn;
  g.issuer = assured ? issuer_class::class3 : issuer_class::class1;
  if (auto d = apply_validity(c, g, rules.device_days, rules.device_days)) return *d;
  return g;
}

decision decide_profile(const context& c, const policy_rules& rules) {
  const member& who = c.facts.who;
  // R-LOCKED
  if (who.locked) return c.deny("R-LOCKED", c.member() + " is locked and can be issued nothing");
  // R-MEMBER-CCA
  if (who.cca_accepted_at == sys_seconds{}) {
    return c.deny("R-MEMBER-CCA",
                  c.member() + " has not accepted the Community Agreement; accept it first");
  }
  grant g;
  g.rules = {"R-LOCKED", "R-MEMBER-CCA"};
  switch (c.req.profile) {
    case cert_profile::server: return decide_server(c, std::move(g), rules);
    case cert_profile::client_email: return decide_client_email(c, std::move(g), rules);
    case cert_profile::client_named: return decide_client_named(c, std::move(g), rules);
    case cert_profile::code_signing: return decide_code_signing(c, std::move(g), rules);
    case cert_profile::device: return decide_device(c, std::move(g), rules);
    case cert_profile::ocsp_signer:
    case cert_profile::sub_ca: break;
  }
  return c.deny("R-PROFILE", "a " + std::string(to_string(c.req.profile)) +
                                 " certificate is issued by the operator, never to a member");
}

}  // namespace

std::string_view to_string(cert_profile p) {
  switch (p) {
    case cert_profile::client_email: return "client-email";
    case cert_profile::client_named: return "client-named";
    case cert_profile::server: return "server";
    case cert_profile::code_signing: return "code-signing";
    case cert_profile::device: return "device";
    case cert_profile::ocsp_signer: return "ocsp-signer";
    case cert_profile::sub_ca: return "sub-ca";
  }
  return "client-email";
}

std::string_view to_string(issuer_class c) {
  switch (c) {
    case issuer_class::root: return "root";
    case issuer_class::class1: return "class1";
    case issuer_class::class3: return "class3";
  }
  return "class1";
}

std::string_view to_string(request_path p) {
  switch (p) {
    case request_path::cli: return "cli";
    case request_path::acme: return "acme";
    case request_path::scep: return "scep";
  }
  return "cli";
}

// Accepts the hyphenated names to_string gives and their snake_case twins.
std::optional<cert_profile> cert_profile_from(std::string_view s) {
  std::string norm = ascii_lower(s);
  for (auto& c : norm) {
    if (c == '_') c = '-';
  }
  for (auto p : {cert_profile::client_email, cert_profile::client_named, cert_profile::server,
                 cert_profile::code_signing, cert_profile::device, cert_profile::ocsp_signer,
                 cert_profile::sub_ca}) {
    if (to_string(p) == norm) return p;
  }
  return std::nullopt;
}

std::optional<issuer_class> issuer_class_from(std::string_view s) {
  std::string norm = ascii_lower(s);
  if (norm == "root") return issuer_class::root;
  if (norm == "class1") return issuer_class::class1;
  if (norm == "class3") return issuer_class::class3;
  return std::nullopt;
}

std::optional<request_path> request_path_from(std::string_view s) {
  std::string norm = ascii_lower(s);
  for (auto p : {request_path::cli, request_path::acme, request_path::scep}) {
    if (to_string(p) == norm) return p;
  }
  return std::nullopt;
}

bool name_within(std::string_view name, std::string_view domain) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  // "*.rest" stands for any label under rest, so it lies within `domain`
  // exactly when rest does; a "*" anywhere else is not a name.
  if (is_wildcard(name)) name.remove_prefix(2);
  if (name.empty() || domain.empty()) return false;
  const auto n = labels_of(name);
  const auto d = labels_of(domain);
  for (const auto& l : n) {
    if (l.empty() || l.find('*') != std::string_view::npos) return false;
  }
  for (const auto& l : d) {
    if (l.empty() || l.find('*') != std::string_view::npos) return false;
  }
  if (n.size() < d.size()) return false;
  const size_t skip = n.size() - d.size();
  for (size_t i = 0; i < d.size(); ++i) {
    if (!equal_ignoring_case(n[skip + i], d[i])) return false;
  }
  return true;
}

decision decide(const member_facts& facts, const certificate_request& req, const policy_rules& rules) {
  context c{facts, req,
            {{"member", std::to_string(facts.who.id)},
             {"ap", std::to_string(facts.points.ap)},
             {"profile", std::string(to_string(req.profile))}}};
  decision d = decide_profile(c, rules);
  // R-SERVER-50, the invariant the CA is judged by: whatever the branches
  // above do, no grant for a server certificate, and none with a DNS name,
  // leaves here for a member under 50 AP.
  if (const grant* g = std::get_if<grant>(&d)) {
    if ((req.profile == cert_profile::server || !g->dns_names.empty()) && facts.points.ap < assured_ap) {
      return c.deny("R-SERVER-50", c.member() + " holds " + std::to_string(facts.points.ap) +
                                       " AP; server certificates need 50 AP");
    }
  }
  return d;
}

}  // namespace wotca
