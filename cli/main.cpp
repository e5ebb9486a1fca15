// wotca: the command line of operators and assurers. It parses arguments
// (CLI11), loads the configuration, opens the store and calls core/ca; it
// makes no decision of its own.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/output.h"
#include "core/ca/authority.h"
#include "core/ca/registry.h"
#include "core/pki/key.h"
#include "core/store/sqlite_store.h"
#include "core/util/encoding.h"
#include "crl/publisher.h"

namespace wotca::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Everything a command needs, opened on first use.
struct context {
  std::string config_flag;
  output out;
  system_clock clk;
  system_random rng;
  std::optional<config> cfg;
  std::unique_ptr<sqlite_store> db;
  std::optional<ca_material> ca;
  std::unique_ptr<registry> reg;

  result<void> open() {
    if (reg) return {};
    auto c = load_config(default_config_path(config_flag));
    if (!c) return unexpected(c.error());
    cfg = std::move(*c);
    auto s = sqlite_store::open(cfg->database, open_mode::existing);
    if (!s) return unexpected(s.error());
    db = std::move(*s);
    reg = std::make_unique<registry>(*cfg, *db, clk, rng);
    return {};
  }
  result<void> open_ca() {
    if (auto r = open(); !r) return r;
    if (ca) return {};
    auto m = load_ca(*cfg);
    if (!m) return unexpected(m.error());
    ca = std::move(*m);
    return {};
  }
  // Who is acting, for the audit log.
  static std::string operator_actor() {
    const char* user = std::getenv("SUDO_USER");
    if (user == nullptr || *user == '\0') user = std::getenv("USER");
    return user != nullptr && *user != '\0' ? std::string("operator:") + user : std::string("operator");
  }
};

std::string date_or_dash(const std::optional<sys_seconds>& t) { return t ? format_time(*t) : std::string("-"); }

json member_json(const member& m) {
  json j = {{"id", m.id},
            {"kind", to_string(m.kind)},
            {"name", m.name},
            {"primary_email", m.primary_email},
            {"cca_accepted_at", format_time(m.cca_accepted_at)},
            {"created_at", format_time(m.created_at)},
            {"locked", m.locked},
            {"code_signing_enabled", m.code_signing_enabled}};
  if (m.kind == member_kind::person) j["date_of_birth"] = format_date(m.date_of_birth);
  if (m.parental_consent_at) j["parental_consent_at"] = format_time(*m.parental_consent_at);
  return j;
}

std::string member_text(const member& m) {
  return fmt::format("member {}: {} <{}>{}\n  kind: {}\n  date of birth: {}\n  CCA accepted: {}\n", m.id, m.name,
                     m.primary_email, m.locked ? " (locked)" : "", to_string(m.kind), format_date(m.date_of_birth),
                     format_time(m.cca_accepted_at));
}

json email_json(const email_address& e) {
  json j = {{"address", e.address}, {"member", e.member}, {"verified", e.verified_at.has_value()},
            {"method", to_string(e.method)}};
  if (e.verified_at) j["verified_at"] = format_time(*e.verified_at);
  if (e.valid_until) j["valid_until"] = format_time(*e.valid_until);
  return j;
}

json domain_json(const domain_name& d) {
  json j = {{"domain", d.name}, {"member", d.member}, {"verified", d.verified_at.has_value()},
            {"method", to_string(d.method)}};
  if (d.verified_at) j["verified_at"] = format_time(*d.verified_at);
  if (d.valid_until) j["valid_until"] = format_time(*d.valid_until);
  return j;
}

json cert_json(const certificate_record& c) {
  json j = {{"serial", c.serial},
            {"issuer", to_string(c.issuer)},
            {"member", c.member},
            {"profile", to_string(c.profile)},
            {"subject", c.subject},
            {"sans", c.sans},
            {"not_before", format_time(c.not_before)},
            {"not_after", format_time(c.not_after)},
            {"status", to_string(c.status)},
            {"via", to_string(c.via)}};
  if (c.revoked_at) j["revoked_at"] = format_time(*c.revoked_at);
  if (c.reason) j["reason"] = to_string(*c.reason);
  return j;
}

std::string cert_text(const certificate_record& c) {
  std::string sans;
  for (const auto& s : c.sans) sans += (sans.empty() ? "" : ", ") + s;
  std::string text = fmt::format(
      "certificate {}\n  status: {}{}\n  issuer: {}\n  member: {}\n  profile: {}\n  subject: {}\n  names: {}\n"
      "  valid: {} to {}\n  requested via: {}\n",
      c.serial, to_string(c.status),
      c.revoked_at ? fmt::format(" at {} ({})", format_time(*c.revoked_at), to_string(c.reason.value_or(revocation_reason::unspecified))) : "",
      to_string(c.issuer), c.member, to_string(c.profile), c.subject.empty() ? "(empty)" : c.subject,
      sans.empty() ? "-" : sans, format_time(c.not_before), format_time(c.not_after), to_string(c.via));
  return text;
}

result<std::string> read_file(const std::string& path, std::string_view flag, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errc::invalid_input, std::string(flag), "cannot read '" + path + "'");
  std::string data;
  data.resize(limit + 1);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (data.size() > limit) {
    return fail(errc::invalid_input, std::string(flag), "'" + path + "' is larger than " + std::to_string(limit) + " bytes");
  }
  return data;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty() || !out.empty()) out.push_back(cur);
  return out;
}

}  // namespace

int run(int argc, char** argv) {
  context ctx;
  CLI::App app{"wotca: run a Web-of-Trust certificate authority (members, assurances, certificates)"};
  app.set_help_all_flag("--help-all", "Show help for every command");
  app.add_option("--config", ctx.config_flag,
                 "Configuration file (default: $WOTCA_CONFIG, else ./data/wotca.yaml)");
  app.add_flag("--json", ctx.out.json, "Print one JSON document instead of text");
  app.require_subcommand(1);
  int rc = 0;

  // Runs `body` with an opened context and turns its error into output.
  auto guarded = [&](auto body) {
    return [&ctx, &rc, body] {
      result<void> r = body();
      if (!r) rc = ctx.out.failed(r.error());
    };
  };
  auto need = [&](bool ca = false) { return ca ? ctx.open_ca() : ctx.open(); };
  auto member_of = [&](const std::string& ref, std::string_view flag = "--member") -> result<member> {
    if (auto o = ctx.open(); !o) return unexpected(o.error());
    return ctx.reg->find_member(ref, flag);
  };

  // ---- init ----
  std::string init_data = "data";
  auto* init = app.add_subcommand("init", "Create a CA: root, Class 1 and Class 3 issuers, OCSP signers, SCEP RA, "
                                          "ACME TLS certificate, database and DATA/wotca.yaml");
  init->add_option("--data", init_data, "Data folder to create the CA in (default ./data)");
  init->callback(guarded([&]() -> result<void> {
    fs::path dir = fs::absolute(fs::path(init_data)).lexically_normal();
    fs::path file = dir / "wotca.yaml";
    std::string text = render_config(dir);
    auto c = parse_config(text, dir);
    if (!c) return unexpected(c.error());
    if (auto r = init_ca(*c, file, text, ctx.clk, ctx.rng); !r) return r;
    json doc = {{"data_dir", dir.string()},
                {"config", file.string()},
                {"root", (c->public_dir() / "root.pem").string()},
                {"class1", (c->public_dir() / "class1.pem").string()},
                {"class3", (c->public_dir() / "class3.pem").string()}};
    ctx.out.done(doc, fmt::format("created a CA in {}\n  configuration: {}\n  root certificate: {}\n"
                                  "  issuers: {}, {}\nnext: export WOTCA_CONFIG={}\n",
                                  dir.string(), file.string(), doc["root"].get<std::string>(),
                                  doc["class1"].get<std::string>(), doc["class3"].get<std::string>(), file.string()));
    return {};
  }));

  // ---- member ----
  auto* member_cmd = app.add_subcommand("member", "Members of the community");
  member_cmd->require_subcommand(1);
  new_member nm;
  std::string kind_text = "person";
  auto* member_add = member_cmd->add_subcommand("add", "Add a member (R-MEMBER-CCA, R-OWNERSHIP); sends an email probe");
  member_add->add_option("--name", nm.name, "Name as on the photo ID (or the organisation's name)")->required();
  member_add->add_option("--dob", nm.date_of_birth, "Date of birth, YYYY-MM-DD (persons)");
  member_add->add_option("--email", nm.email, "Primary email")->required();
  member_add->add_option("--kind", kind_text, "person | organisation")->check(CLI::IsMember({"person", "organisation"}));
  member_add->add_flag("--accept-cca", nm.accept_cca, "The member accepts the Community Agreement");
  member_add->callback(guarded([&]() -> result<void> {
    if (auto o = need(); !o) return o;
    nm.kind = *member_kind_from(kind_text);
    if (nm.kind == member_kind::person && nm.date_of_birth.empty()) {
      return fail(errc::invalid_input, "--dob", "a person needs a date of birth (YYYY-MM-DD)");
    }
    auto m = ctx.reg->add_member(nm, context::operator_actor());
    if (!m) return unexpected(m.error());
    ctx.out.done(member_json(*m), fmt::format("added member {}: {} <{}>\n  a probe was sent to {} (R-EMAIL-PROBE)\n",
                                              m->id, m->name, m->primary_email, m->primary_email));
    return {};
  }));

  std::string member_ref;
  auto* member_show = member_cmd->add_subcommand("show", "Show a member, their emails and domains");
  member_show->add_option("--member", member_ref, "Member id or primary email")->required();
  member_show->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto emails = ctx.reg->emails_of(m->id);
    if (!emails) return unexpected(emails.error());
    auto domains = ctx.reg->domains_of(m->id);
    if (!domains) return unexpected(domains.error());
    json doc = member_json(*m);
    doc["emails"] = json::array();
    doc["domains"] = json::array();
    std::string text = member_text(*m);
    for (const auto& e : *emails) {
      doc["emails"].push_back(email_json(e));
      text += fmt::format("  email {} ({})\n", e.address, e.verified_at ? "verified " + format_time(*e.verified_at) : "unverified");
    }
    for (const auto& d : *domains) {
      doc["domains"].push_back(domain_json(d));
      text += fmt::format("  domain {} ({})\n", d.name,
                          d.verified_at ? "verified until " + date_or_dash(d.valid_until) : "unverified");
    }
    ctx.out.done(doc, text);
    return {};
  }));

  auto* member_list = member_cmd->add_subcommand("list", "List all members");
  member_list->callback(guarded([&]() -> result<void> {
    if (auto o = need(); !o) return o;
    auto l = ctx.reg->list_members();
    if (!l) return unexpected(l.error());
    json doc = json::array();
    std::string text;
    for (const auto& m : *l) {
      doc.push_back(member_json(m));
      text += fmt::format("{:>6}  {:<30}  {}{}\n", m.id, m.primary_email, m.name, m.locked ? " (locked)" : "");
    }
    ctx.out.done(doc, text.empty() ? "no members\n" : text);
    return {};
  }));

  std::string reason;
  auto* member_lock = member_cmd->add_subcommand("lock", "Lock a member and revoke all their certificates (R-LOCKED)");
  member_lock->add_option("--member", member_ref, "Member id or primary email")->required();
  member_lock->add_option("--reason", reason, "Why (recorded in the audit log)")->required();
  member_lock->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto n = ctx.reg->lock_member(m->id, reason, context::operator_actor());
    if (!n) return unexpected(n.error());
    ctx.out.done(json{{"member", m->id}, {"locked", true}, {"certificates_revoked", *n}},
                 fmt::format("locked member {}; {} certificate(s) revoked (R-REVOKE-CASCADE)\n", m->id, *n));
    return {};
  }));

  auto* member_consent = member_cmd->add_subcommand("consent", "Record parental consent for a member under 18");
  member_consent->add_option("--member", member_ref, "Member id or primary email")->required();
  member_consent->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    if (auto r = ctx.reg->record_parental_consent(m->id, context::operator_actor()); !r) return r;
    ctx.out.done(json{{"member", m->id}, {"parental_consent", true}}, fmt::format("recorded parental consent for member {}\n", m->id));
    return {};
  }));

  bool codesign_on = false, codesign_off = false;
  auto* member_codesign = member_cmd->add_subcommand("code-signing", "Enable or disable code signing for an Assurer (R-CODESIGN)");
  member_codesign->add_option("--member", member_ref, "Member id or primary email")->required();
  auto* on_flag = member_codesign->add_flag("--enable", codesign_on, "Enable");
  member_codesign->add_flag("--disable", codesign_off, "Disable")->excludes(on_flag);
  member_codesign->callback(guarded([&]() -> result<void> {
    if (!codesign_on && !codesign_off) return fail(errc::invalid_input, "--enable", "give --enable or --disable");
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    if (auto r = ctx.reg->set_code_signing(m->id, codesign_on, context::operator_actor()); !r) return r;
    ctx.out.done(json{{"member", m->id}, {"code_signing_enabled", codesign_on}},
                 fmt::format("code signing {} for member {}\n", codesign_on ? "enabled" : "disabled", m->id));
    return {};
  }));

  auto* member_found = member_cmd->add_subcommand("found", "Appoint a founding Assurer (R-BOOTSTRAP)");
  member_found->add_option("--member", member_ref, "Member id or primary email")->required();
  member_found->add_option("--reason", reason, "The operator's written reason")->required();
  member_found->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto a = ctx.reg->appoint_founding_assurer(m->id, reason, context::operator_actor());
    if (!a) return unexpected(a.error());
    ctx.out.done(json{{"member", m->id}, {"assurance", a->id}, {"points", a->points}, {"method", "founding"}},
                 fmt::format("member {} appointed a founding Assurer: 100 AP and 50 EP (R-BOOTSTRAP); "
                             "they still need a CATS pass to assure\n", m->id));
    return {};
  }));

  // ---- email ----
  auto* email_cmd = app.add_subcommand("email", "Members' email addresses (R-EMAIL-PROBE)");
  email_cmd->require_subcommand(1);
  std::string email, token, operator_reason;
  auto* email_add = email_cmd->add_subcommand("add", "Add an email to a member and send it a probe");
  email_add->add_option("--member", member_ref, "Member id or primary email")->required();
  email_add->add_option("--email", email, "The address")->required();
  email_add->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto e = ctx.reg->add_email(m->id, email, context::operator_actor());
    if (!e) return unexpected(e.error());
    ctx.out.done(email_json(*e), fmt::format("added {} to member {}; a probe was sent to it\n", e->address, m->id));
    return {};
  }));
  auto* email_confirm = email_cmd->add_subcommand("confirm", "Confirm an email with the token from its probe");
  email_confirm->add_option("--email", email, "The address")->required();
  email_confirm->add_option("--token", token, "The token from the probe message")->required();
  email_confirm->callback(guarded([&]() -> result<void> {
    if (auto o = need(); !o) return o;
    auto e = ctx.reg->confirm_email(email, token, "email:" + email);
    if (!e) return unexpected(e.error());
    ctx.out.done(email_json(*e), fmt::format("{} is verified\n", e->address));
    return {};
  }));
  auto* email_verify = email_cmd->add_subcommand("verify", "Mark an email verified by operator override (audited)");
  email_verify->add_option("--member", member_ref, "Member id or primary email")->required();
  email_verify->add_option("--email", email, "The address")->required();
  email_verify->add_option("--operator-reason", operator_reason, "The written reason for the override")->required();
  email_verify->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto e = ctx.reg->verify_email_by_operator(m->id, email, operator_reason, context::operator_actor());
    if (!e) return unexpected(e.error());
    ctx.out.done(email_json(*e), fmt::format("{} is verified (operator override)\n", e->address));
    return {};
  }));
  auto* email_remove = email_cmd->add_subcommand("remove", "Remove an email; revokes certificates naming it (R-REVOKE-CASCADE)");
  email_remove->add_option("--member", member_ref, "Member id or primary email")->required();
  email_remove->add_option("--email", email, "The address")->required();
  email_remove->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto n = ctx.reg->remove_email(m->id, email, context::operator_actor());
    if (!n) return unexpected(n.error());
    ctx.out.done(json{{"removed", email}, {"certificates_revoked", *n}},
                 fmt::format("removed {}; {} certificate(s) revoked\n", email, *n));
    return {};
  }));

  // ---- domain ----
  auto* domain_cmd = app.add_subcommand("domain", "Members' domains (R-DOMAIN-CONTROL)");
  domain_cmd->require_subcommand(1);
  std::string domain, method, mailbox;
  auto* domain_add = domain_cmd->add_subcommand("add", "Add a domain to a member (unverified)");
  domain_add->add_option("--member", member_ref, "Member id or primary email")->required();
  domain_add->add_option("--domain", domain, "The domain")->required();
  domain_add->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto d = ctx.reg->add_domain(m->id, domain, context::operator_actor());
    if (!d) return unexpected(d.error());
    ctx.out.done(domain_json(*d), fmt::format("added {} to member {} (unverified)\n", d->name, m->id));
    return {};
  }));
  auto* domain_verify = domain_cmd->add_subcommand(
      "verify", "Prove control of a domain: --method email (probe to a domain mailbox), or --operator-reason");
  domain_verify->add_option("--member", member_ref, "Member id or primary email")->required();
  domain_verify->add_option("--domain", domain, "The domain")->required();
  auto* method_opt = domain_verify->add_option(
      "--method", method,
      "dns (TXT record at _wotca-challenge.DOMAIN) | http (token at /.well-known/wotca-challenge/) | email (probe "
      "to a domain mailbox); dns and http: run once for the token, again once it is published");
  domain_verify->add_option("--mailbox", mailbox, "root | hostmaster | postmaster | admin | webmaster (default hostmaster)");
  domain_verify->add_option("--operator-reason", operator_reason, "Operator override with a written reason (audited)")
      ->excludes(method_opt);
  domain_verify->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    if (!operator_reason.empty()) {
      auto d = ctx.reg->verify_domain_by_operator(m->id, domain, operator_reason, context::operator_actor());
      if (!d) return unexpected(d.error());
      ctx.out.done(domain_json(*d), fmt::format("{} is verified until {} (operator override)\n", d->name,
                                                date_or_dash(d->valid_until)));
      return {};
    }
    if (method.empty()) return fail(errc::invalid_input, "--method", "give --method email or --operator-reason TEXT");
    auto c = ctx.reg->start_domain_check(m->id, domain, method, mailbox, context::operator_actor());
    if (!c) return unexpected(c.error());
    json doc = {{"method", c->method}, {"instructions", c->instructions}, {"verified", c->verified.has_value()}};
    if (!c->token.empty()) doc["token"] = c->token;
    if (c->verified) doc["domain"] = domain_json(*c->verified);
    ctx.out.done(doc, c->instructions + "\n");
    return {};
  }));
  auto* domain_confirm = domain_cmd->add_subcommand("confirm", "Confirm a domain with the token sent to its mailbox");
  domain_confirm->add_option("--domain", domain, "The domain")->required();
  domain_confirm->add_option("--token", token, "The token from the probe message")->required();
  domain_confirm->callback(guarded([&]() -> result<void> {
    if (auto o = need(); !o) return o;
    auto d = ctx.reg->confirm_domain(domain, token, "domain:" + domain);
    if (!d) return unexpected(d.error());
    ctx.out.done(domain_json(*d), fmt::format("{} is verified until {}\n", d->name, date_or_dash(d->valid_until)));
    return {};
  }));
  auto* domain_remove = domain_cmd->add_subcommand("remove", "Remove a domain; revokes certificates naming it");
  domain_remove->add_option("--member", member_ref, "Member id or primary email")->required();
  domain_remove->add_option("--domain", domain, "The domain")->required();
  domain_remove->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto n = ctx.reg->remove_domain(m->id, domain, context::operator_actor());
    if (!n) return unexpected(n.error());
    ctx.out.done(json{{"removed", domain}, {"certificates_revoked", *n}},
                 fmt::format("removed {}; {} certificate(s) revoked\n", domain, *n));
    return {};
  }));

  // ---- cats ----
  auto* cats_cmd = app.add_subcommand("cats", "Assurer Challenge (CATS) results");
  cats_cmd->require_subcommand(1);
  std::string cats_date, cats_version;
  auto* cats_pass_cmd = cats_cmd->add_subcommand("pass", "Record a passed Assurer Challenge");
  cats_pass_cmd->add_option("--member", member_ref, "Member id or primary email")->required();
  cats_pass_cmd->add_option("--date", cats_date, "YYYY-MM-DD (default today)");
  cats_pass_cmd->add_option("--test-version", cats_version, "Which version of the challenge");
  cats_pass_cmd->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    if (auto r = ctx.reg->record_cats_pass(m->id, cats_date, cats_version, context::operator_actor()); !r) return r;
    ctx.out.done(json{{"member", m->id}, {"cats_pass", true}}, fmt::format("recorded a CATS pass for member {}\n", m->id));
    return {};
  }));

  // ---- assure ----
  new_assurance na;
  std::string documents;
  auto* assure = app.add_subcommand(
      "assure", "Record an assurance (R-ASSURE-*). Running it is the Assurer's statement that the member appeared "
                "in person (except --method ttp) and that the documents listed were checked.");
  assure->add_option("--assurer", na.assurer, "The Assurer: id or primary email")->required();
  assure->add_option("--member", na.assuree, "The member assured: id or primary email")->required();
  assure->add_option("--points", na.points, "Assurance Points awarded")->required();
  assure->add_option("--date", na.date, "Date of the meeting, YYYY-MM-DD")->required();
  assure->add_option("--place", na.place, "Where the meeting took place")->required();
  assure->add_option("--dob", na.date_of_birth, "The member's date of birth as read from the ID")->required();
  assure->add_option("--documents", documents, "Documents checked, comma-separated (passport,id-card,...)")->required();
  assure->add_option("--method", na.method, "face-to-face | ttp | topup")->check(CLI::IsMember({"face-to-face", "ttp", "topup"}));
  assure->add_flag("--mass-event", na.mass_event, "The assurance took place at a mass event (R-EP)");
  assure->callback(guarded([&]() -> result<void> {
    if (auto o = need(); !o) return o;
    na.documents = split_list(documents);
    na.appeared_in_person = na.method != "ttp";
    auto a = ctx.reg->assure(na, "member:" + na.assurer);
    if (!a) return unexpected(a.error());
    auto p = ctx.reg->points(a->assuree);
    if (!p) return unexpected(p.error());
    json doc = {{"assurance", a->id}, {"assurer", *a->assurer}, {"member", a->assuree}, {"points", a->points},
                {"member_ap", p->summary.ap}, {"member_status", to_string(p->summary.status)}};
    ctx.out.done(doc, fmt::format("recorded assurance {}: member {} awarded {} AP by {}; member {} now holds {} AP ({})\n",
                                  a->id, a->assuree, a->points, *a->assurer, a->assuree, p->summary.ap,
                                  to_string(p->summary.status)));
    return {};
  }));

  std::int64_t assurance_id = 0;
  std::string case_number;
  auto* assurance_cmd = app.add_subcommand("assurance", "Assurances after the fact");
  assurance_cmd->require_subcommand(1);
  auto* withdraw = assurance_cmd->add_subcommand("withdraw", "Withdraw an assurance by arbitration ruling (R-ARBITRATION)");
  withdraw->add_option("--id", assurance_id, "The assurance id")->required();
  withdraw->add_option("--case", case_number, "The arbitration case number")->required();
  withdraw->callback(guarded([&]() -> result<void> {
    if (auto o = need(); !o) return o;
    if (auto r = ctx.reg->withdraw_assurance(assurance_id, case_number, context::operator_actor()); !r) return r;
    ctx.out.done(json{{"assurance", assurance_id}, {"withdrawn", true}, {"case", case_number}},
                 fmt::format("assurance {} withdrawn (case {}); points recomputed\n", assurance_id, case_number));
    return {};
  }));

  // ---- points ----
  auto* points = app.add_subcommand("points", "A member's AP, EP, status and privileges, each with its rule");
  points->add_option("--member", member_ref, "Member id or primary email")->required();
  points->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto p = ctx.reg->points(m->id);
    if (!p) return unexpected(p.error());
    const auto& s = p->summary;
    json doc = {{"member", m->id}, {"ap", s.ap}, {"ap_awarded", s.ap_awarded}, {"ep", s.ep}, {"total", s.total},
                {"status", to_string(s.status)}, {"is_assurer", s.is_assurer}, {"cats_valid", s.cats_valid},
                {"max_award", p->max_award}, {"notes", json::array()}, {"privileges", json::array()}};
    std::string text = fmt::format("member {} ({})\n  AP: {} (awarded {})\n  EP: {}\n  total: {}\n  status: {}\n",
                                   m->id, m->name, s.ap, s.ap_awarded, s.ep, s.total, to_string(s.status));
    if (s.is_assurer) text += fmt::format("  may award up to {} AP per assurance (R-ASSURE-MAX)\n", p->max_award);
    for (const auto& n : s.notes) {
      doc["notes"].push_back({{"rule", n.rule}, {"message", n.message}});
      text += fmt::format("  {}: {}\n", n.rule, n.message);
    }
    text += "privileges:\n";
    for (const auto& pr : p->privileges) {
      doc["privileges"].push_back({{"name", pr.name}, {"granted", pr.granted}, {"rule", pr.rule}, {"why", pr.why}});
      text += fmt::format("  [{}] {} ({}: {})\n", pr.granted ? "yes" : "no ", pr.name, pr.rule, pr.why);
    }
    ctx.out.done(doc, text);
    return {};
  }));

  // ---- cert ----
  auto* cert_cmd = app.add_subcommand("cert", "Certificates");
  cert_cmd->require_subcommand(1);
  std::string profile_text, csr_file, out_file, serial, reason_text = "unspecified", note;
  std::optional<int> days;
  auto* cert_issue = cert_cmd->add_subcommand("issue", "Issue a certificate from a CSR, if the policy allows it");
  cert_issue->add_option("--member", member_ref, "Member id or primary email")->required();
  cert_issue->add_option("--profile", profile_text, "client-email | client-named | server | code-signing | device")
      ->required()
      ->check(CLI::IsMember({"client-email", "client-named", "server", "code-signing", "device"}));
  cert_issue->add_option("--csr", csr_file, "The CSR, PEM or DER")->required();
  cert_issue->add_option("--days", days, "Validity in days (default: the profile's maximum)");
  cert_issue->add_option("--out", out_file, "Write the certificate chain (PEM) here instead of standard output");
  cert_issue->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    if (auto o = need(true); !o) return o;
    auto bytes = read_file(csr_file, "--csr", 64 * 1024);
    if (!bytes) return unexpected(bytes.error());
    auto csr = parse_csr(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size()));
    if (!csr) return unexpected(csr.error());
    if (!out_file.empty() && fs::exists(out_file)) {
      return fail(errc::invalid_input, "--out", "'" + out_file + "' exists; refusing to overwrite it");
    }
    certificate_authority authority(*ctx.cfg, *ctx.db, *ctx.ca, ctx.clk, ctx.rng);
    auto outcome = authority.issue(m->id, *csr, *cert_profile_from(profile_text), days, request_path::cli,
                                   context::operator_actor());
    if (!outcome) return unexpected(outcome.error());
    if (auto* no = std::get_if<denial>(&*outcome)) {
      json facts = json::object();
      for (const auto& [k, v] : no->facts) facts[k] = v;
      if (ctx.out.json) {
        ctx.out.done(json{{"error", {{"code", "denied"}, {"where", no->rule}, {"message", no->reason}, {"facts", facts}}}}, "");
      } else {
        std::string line = "wotca: refused by " + no->rule + ": " + no->reason + "\n";
        std::fwrite(line.data(), 1, line.size(), stderr);
      }
      rc = 1;
      return {};
    }
    const auto& issued = std::get<issued_certificate>(*outcome);
    if (!out_file.empty()) {
      std::ofstream f(out_file, std::ios::binary);
      f << issued.chain_pem;
      f.close();
      if (!f) {
        return fail(errc::io, "--out",
                    "cannot write '" + out_file + "'; the certificate " + issued.record.serial +
                        " was issued and is recorded: get it with `wotca cert show --serial " + issued.record.serial + " --pem`");
      }
    }
    json doc = cert_json(issued.record);
    doc["rules"] = issued.granted.rules;
    if (out_file.empty()) doc["pem"] = issued.chain_pem;
    std::string text = out_file.empty() ? issued.chain_pem
                                        : fmt::format("issued {} ({}, {}), written to {}\n", issued.record.serial,
                                                      to_string(issued.record.profile), to_string(issued.record.issuer),
                                                      out_file);
    ctx.out.done(doc, text);
    return {};
  }));

  auto* cert_revoke = cert_cmd->add_subcommand("revoke", "Revoke a certificate (R-REVOKE-WHO: the member's request or an emergency)");
  cert_revoke->add_option("--serial", serial, "Serial number, hex")->required();
  cert_revoke->add_option("--reason", reason_text,
                          "unspecified | keyCompromise | affiliationChanged | superseded | cessationOfOperation | privilegeWithdrawn");
  cert_revoke->add_option("--note", note, "Context for the audit log (e.g. an arbitration case)");
  cert_revoke->callback(guarded([&]() -> result<void> {
    if (auto o = need(); !o) return o;
    auto why = revocation_reason_from(reason_text);
    if (!why || *why == revocation_reason::ca_compromise) {
      return fail(errc::invalid_input, "--reason", "'" + reason_text + "' is not a revocation reason this CA uses");
    }
    std::string s = ascii_lower(serial);
    s.erase(std::remove(s.begin(), s.end(), ':'), s.end());
    // Revocation needs no CA key: the status daemons sign.
    ca_material none;
    certificate_authority authority(*ctx.cfg, *ctx.db, none, ctx.clk, ctx.rng);
    auto r = authority.revoke(s, *why, context::operator_actor(), note);
    if (!r) return unexpected(r.error());
    ctx.out.done(cert_json(*r), fmt::format("revoked {} ({})\n", r->serial, to_string(*why)));
    return {};
  }));

  bool want_pem = false;
  auto* cert_show = cert_cmd->add_subcommand("show", "Show a certificate");
  cert_show->add_option("--serial", serial, "Serial number, hex")->required();
  cert_show->add_flag("--pem", want_pem, "Print the certificate as PEM");
  cert_show->callback(guarded([&]() -> result<void> {
    if (auto o = need(); !o) return o;
    std::optional<certificate_record> found;
    auto r = ctx.db->read([&](transaction& tx) -> result<void> {
      auto f = tx.certificates().find(serial);
      if (!f) return unexpected(f.error());
      found = std::move(*f);
      return {};
    });
    if (!r) return r;
    if (!found) return fail(errc::not_found, "--serial", "no certificate has serial " + serial);
    json doc = cert_json(*found);
    std::string pem;
    if (!found->der.empty()) {
      auto x = certificate_from_der(found->der);
      if (x) pem = to_pem(**x);
    }
    if (want_pem) doc["pem"] = pem;
    ctx.out.done(doc, want_pem ? pem : cert_text(*found));
    return {};
  }));

  std::size_t limit = 100;
  auto* cert_list = cert_cmd->add_subcommand("list", "List certificates, newest first");
  cert_list->add_option("--member", member_ref, "Only this member's");
  cert_list->add_option("--limit", limit, "At most this many (default 100)");
  cert_list->callback(guarded([&]() -> result<void> {
    if (auto o = need(); !o) return o;
    std::optional<member_id> who;
    if (!member_ref.empty()) {
      auto m = member_of(member_ref);
      if (!m) return unexpected(m.error());
      who = m->id;
    }
    std::vector<certificate_record> list;
    auto r = ctx.db->read([&](transaction& tx) -> result<void> {
      auto l = who ? tx.certificates().of_member(*who) : tx.certificates().list(limit);
      if (!l) return unexpected(l.error());
      list = std::move(*l);
      return {};
    });
    if (!r) return r;
    json doc = json::array();
    std::string text;
    for (const auto& c : list) {
      doc.push_back(cert_json(c));
      text += fmt::format("{}  {:<8} {:<12} {:<6} {}  {}\n", c.serial, to_string(c.status), to_string(c.profile),
                          to_string(c.issuer), format_date(day_of(c.not_after)), c.subject);
    }
    ctx.out.done(doc, text.empty() ? "no certificates\n" : text);
    return {};
  }));

  // ---- eab / scep ----
  auto* eab_cmd = app.add_subcommand("eab", "ACME External Account Binding keys");
  eab_cmd->require_subcommand(1);
  auto* eab_new = eab_cmd->add_subcommand("new", "Make a single-use EAB key binding an ACME account to a member");
  eab_new->add_option("--member", member_ref, "Member id or primary email")->required();
  eab_new->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto k = ctx.reg->new_eab_key(m->id, context::operator_actor());
    if (!k) return unexpected(k.error());
    ctx.out.done(json{{"kid", k->id}, {"hmac_key", k->secret}, {"member", m->id}, {"expires_at", format_time(k->expires_at)}},
                 fmt::format("kid: {}\nhmac_key: {}\nexpires: {}\n(certbot: --eab-kid {} --eab-hmac-key {})\n", k->id,
                             k->secret, format_time(k->expires_at), k->id, k->secret));
    return {};
  }));
  auto* scep_cmd = app.add_subcommand("scep", "SCEP enrolment");
  scep_cmd->require_subcommand(1);
  auto* scep_challenge_cmd = scep_cmd->add_subcommand("challenge", "One-time SCEP challenges");
  scep_challenge_cmd->require_subcommand(1);
  std::string scep_profile = "device";
  auto* scep_new = scep_challenge_cmd->add_subcommand("new", "Make a one-time challenge password for a member's device");
  scep_new->add_option("--member", member_ref, "Member id or primary email")->required();
  scep_new->add_option("--profile", scep_profile, "device | client-email | client-named")
      ->check(CLI::IsMember({"device", "client-email", "client-named"}));
  scep_new->callback(guarded([&]() -> result<void> {
    auto m = member_of(member_ref);
    if (!m) return unexpected(m.error());
    auto c = ctx.reg->new_scep_challenge(m->id, *cert_profile_from(scep_profile), context::operator_actor());
    if (!c) return unexpected(c.error());
    ctx.out.done(json{{"id", c->id}, {"challenge", c->secret}, {"member", m->id}, {"profile", scep_profile},
                      {"expires_at", format_time(c->expires_at)}},
                 fmt::format("challenge: {}\nexpires: {}\n", c->secret, format_time(c->expires_at)));
    return {};
  }));

  // ---- crl ----
  auto* crl_cmd = app.add_subcommand("crl", "Certificate revocation lists (RFC 5280), as wotca-crl publishes them");
  crl_cmd->require_subcommand(1);
  std::string crl_issuer;
  auto* crl_generate = crl_cmd->add_subcommand(
      "generate", "Write the CRLs (and delta CRLs, if enabled) into DATA/crl/ now, each with a new CRL number");
  crl_generate->add_option("--issuer", crl_issuer, "root | class1 | class3 (default: all three)")
      ->check(CLI::IsMember({"root", "class1", "class3"}));
  crl_generate->callback(guarded([&]() -> result<void> {
    if (auto o = need(true); !o) return o;
    crl_publisher publisher(*ctx.db, *ctx.ca, crl_settings_from(*ctx.cfg), ctx.clk);
    if (auto r = publisher.publish_certificates(); !r) return r;
    std::vector<issuer_class> which{issuer_class::root, issuer_class::class1, issuer_class::class3};
    if (!crl_issuer.empty()) which = {*issuer_class_from(crl_issuer)};
    json doc = json::array();
    std::string text;
    for (auto issuer : which) {
      auto done = publisher.publish(issuer, true, ctx.cfg->crl.delta);
      if (!done) return unexpected(done.error());
      for (const auto& p : *done) {
        doc.push_back({{"issuer", to_string(p.issuer)}, {"kind", p.delta ? "delta" : "complete"},
                       {"crl_number", p.number}, {"entries", p.entries}, {"bytes", p.bytes},
                       {"this_update", format_time(p.this_update)}, {"next_update", format_time(p.next_update)},
                       {"path", p.path.string()}});
        text += fmt::format("{}: CRL number {}, {} entries, {} bytes, next update {}\n", p.path.string(), p.number,
                            p.entries, p.bytes, format_time(p.next_update));
      }
    }
    ctx.out.done(doc, text);
    return {};
  }));

  // ---- audit ----
  std::string since_text;
  auto* audit = app.add_subcommand("audit", "The audit log, oldest first");
  audit->add_option("--since", since_text, "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (default: everything)");
  audit->callback(guarded([&]() -> result<void> {
    if (auto o = need(); !o) return o;
    sys_seconds since{};
    if (!since_text.empty()) {
      auto t = parse_time(since_text, "--since");
      if (!t) return unexpected(t.error());
      since = *t;
    }
    std::vector<audit_entry> rows;
    auto r = ctx.db->read([&](transaction& tx) -> result<void> {
      auto l = tx.audit().since(since);
      if (!l) return unexpected(l.error());
      rows = std::move(*l);
      return {};
    });
    if (!r) return r;
    json doc = json::array();
    std::string text;
    for (const auto& e : rows) {
      doc.push_back({{"id", e.id}, {"at", format_time(e.at)}, {"actor", e.actor}, {"action", e.action},
                     {"object", e.object}, {"detail", json::parse(e.detail, nullptr, false)}});
      text += fmt::format("{}  {:<20} {:<20} {:<22} {}\n", format_time(e.at), e.actor, e.action, e.object, e.detail);
    }
    ctx.out.done(doc, text.empty() ? "no entries\n" : text);
    return {};
  }));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return rc;
}

}  // namespace wotca::cli

int main(int argc, char** argv) {
  try {
    return wotca::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wotca: internal error: %s\n", e.what());
    return 3;
  }
}
