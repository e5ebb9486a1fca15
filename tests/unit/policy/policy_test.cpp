#include "core/policy/policy.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

using namespace wotca;
using namespace std::chrono_literals;

namespace {

const sys_seconds now = start_of(date{std::chrono::year{2025}, std::chrono::month{6}, std::chrono::day{1}}) + 12h;
constexpr std::chrono::hours day = 24h;

email_address email(std::string address, std::optional<sys_seconds> verified,
                    std::optional<sys_seconds> until = std::nullopt, member_id owner = 7) {
  email_address e;
  e.member = owner;
  e.address = std::move(address);
  e.method = verified ? verification_method::email_probe : verification_method::none;
  e.verified_at = verified;
  e.valid_until = until;
  return e;
}

domain_name domain(std::string name, std::optional<sys_seconds> verified,
                   std::optional<sys_seconds> until = std::nullopt, member_id owner = 7) {
  domain_name d;
  d.member = owner;
  d.name = std::move(name);
  d.method = verified ? verification_method::dns_txt : verification_method::none;
  d.verified_at = verified;
  d.valid_until = until;
  return d;
}

// Member 7, Alice Example, with `ap` AP; an Assurer at 100 AP.
member_facts alice(int ap, bool code_signing = false) {
  member_facts f;
  f.who.id = 7;
  f.who.name = "Alice Example";
  f.who.date_of_birth = date{std::chrono::year{1980}, std::chrono::month{1}, std::chrono::day{15}};
  f.who.cca_accepted_at = now - 400 * day;
  f.who.code_signing_enabled = code_signing;
  f.points.ap = ap;
  f.points.ap_awarded = ap;
  f.points.is_assurer = ap >= 100;
  f.points.cats_valid = ap >= 100;
  f.points.status = ap >= 100 ? member_status::assurer
                    : ap >= 50 ? member_status::assured_member
                               : member_status::member;
  f.now = now;
  f.emails = {
      email("alice@example.org", now - 10 * day),
      email("alice@work.example", now - 10 * day, now + 10 * day),
      email("pending@example.org", std::nullopt),
      email("old@example.org", now - 100 * day, now - 1 * day),
      email("bob@example.org", now - 10 * day, std::nullopt, 8),  // member 8's
  };
  f.domains = {
      domain("example.org", now - 10 * day, now + 300 * day),
      domain("forever.example", now - 10 * day),
      domain("expired.org", now - 400 * day, now - 1 * day),
      domain("unverified.net", std::nullopt),
      domain("b.example.net", now - 10 * day),
      domain("stolen.org", now - 10 * day, std::nullopt, 8),  // member 8's
  };
  return f;
}

certificate_request request(cert_profile p, std::vector<std::string> dns, std::vector<std::string> emails,
                            std::optional<std::string> cn = std::nullopt) {
  certificate_request r;
  r.profile = p;
  r.dns_names = std::move(dns);
  r.emails = std::move(emails);
  r.common_name = std::move(cn);
  return r;
}

std::string outcome(const decision& d) {
  if (const auto* n = std::get_if<denial>(&d)) return n->rule;
  return "";
}

std::string explain(const decision& d) {
  if (const auto* n = std::get_if<denial>(&d)) return n->rule + ": " + n->reason;
  return "granted";
}

constexpr auto server = cert_profile::server;
constexpr auto client_email = cert_profile::client_email;
constexpr auto client_named = cert_profile::client_named;
constexpr auto code_signing = cert_profile::code_signing;
constexpr auto device = cert_profile::device;

const std::vector<std::string> none;

}  // namespace

TEST_CASE("decide: facts -> allowed or denied by a rule", "[policy]") {
  // expected: "" when granted, else the rule of the denial.
  auto [name, ap, profile, dns, emails, cn, expected] = GENERATE(
      table<std::string, int, cert_profile, std::vector<std::string>, std::vector<std::string>,
            std::optional<std::string>, std::string>({
          {"R-SERVER-50 at 0", 0, server, {"www.example.org"}, none, std::nullopt, "R-SERVER-50"},
          {"R-SERVER-50 at 49", 49, server, {"www.example.org"}, none, std::nullopt, "R-SERVER-50"},
          {"R-SERVER-50 at 49 before name checks", 49, server, {"nobody.invalid"}, none, std::nullopt,
           "R-SERVER-50"},
          {"R-SERVER-50 at 50", 50, server, {"www.example.org"}, none, std::nullopt, ""},
          {"R-SERVER-50 at 100", 100, server, {"www.example.org"}, none, std::nullopt, ""},
          {"R-NAME-COVERAGE the domain itself", 50, server, {"example.org"}, none, std::nullopt, ""},
          {"R-NAME-COVERAGE deep subdomain", 50, server, {"a.b.c.example.org"}, none, std::nullopt, ""},
          {"R-NAME-COVERAGE subdomain of a verified subdomain", 50, server, {"a.b.example.net"}, none,
           std::nullopt, ""},
          {"R-NAME-COVERAGE sibling of a verified subdomain", 50, server, {"c.example.net"}, none,
           std::nullopt, "R-NAME-COVERAGE"},
          {"R-NAME-COVERAGE parent of a verified subdomain", 50, server, {"example.net"}, none, std::nullopt,
           "R-NAME-COVERAGE"},
          {"R-NAME-COVERAGE suffix is not a subdomain", 50, server, {"badexample.org"}, none, std::nullopt,
           "R-NAME-COVERAGE"},
          {"R-NAME-COVERAGE no expiry", 50, server, {"www.forever.example"}, none, std::nullopt, ""},
          {"R-NAME-COVERAGE expired domain", 50, server, {"www.expired.org"}, none, std::nullopt,
           "R-NAME-COVERAGE"},
          {"R-NAME-COVERAGE unverified domain", 50, server, {"unverified.net"}, none, std::nullopt,
           "R-NAME-COVERAGE"},
          {"R-OWNERSHIP another member's domain", 100, server, {"stolen.org"}, none, std::nullopt,
           "R-NAME-COVERAGE"},
          {"R-NAME-COVERAGE one name of two uncovered", 50, server, {"example.org", "evil.com"}, none,
           std::nullopt, "R-NAME-COVERAGE"},
          {"R-NAME-COVERAGE wildcard at 49", 49, server, {"*.example.org"}, none, std::nullopt, "R-SERVER-50"},
          {"R-NAME-COVERAGE wildcard at 50", 50, server, {"*.example.org"}, none, std::nullopt, ""},
          {"R-NAME-COVERAGE wildcard of a verified subdomain's parent", 50, server, {"*.example.net"}, none,
           std::nullopt, "R-NAME-COVERAGE"},
          {"R-PROFILE server without names", 50, server, none, none, std::nullopt, "R-PROFILE"},
          {"R-PROFILE server with an email", 50, server, {"example.org"}, {"alice@example.org"}, std::nullopt,
           "R-PROFILE"},
          {"R-EMAIL-PROBE verified at 0", 0, client_email, none, {"alice@example.org"}, std::nullopt, ""},
          {"R-EMAIL-PROBE verified, not yet expired", 0, client_email, none, {"alice@work.example"},
           std::nullopt, ""},
          {"R-EMAIL-PROBE several at 49", 49, client_email, none, {"alice@example.org", "alice@work.example"},
           std::nullopt, ""},
          {"R-EMAIL-PROBE unverified", 49, client_email, none, {"pending@example.org"}, std::nullopt,
           "R-EMAIL-PROBE"},
          {"R-EMAIL-PROBE expired", 100, client_email, none, {"old@example.org"}, std::nullopt, "R-EMAIL-PROBE"},
          {"R-EMAIL-PROBE unknown", 100, client_email, none, {"eve@example.org"}, std::nullopt, "R-EMAIL-PROBE"},
          {"R-OWNERSHIP another member's email", 100, client_email, none, {"bob@example.org"}, std::nullopt,
           "R-EMAIL-PROBE"},
          {"R-PROFILE client without emails", 10, client_email, none, none, std::nullopt, "R-PROFILE"},
          {"R-SERVER-50 DNS name in a client request at 49", 49, client_email, {"example.org"},
           {"alice@example.org"}, std::nullopt, "R-SERVER-50"},
          {"R-PROFILE DNS name in a client request at 50", 50, client_email, {"example.org"},
           {"alice@example.org"}, std::nullopt, "R-PROFILE"},
          {"R-NAME-50 named client at 49", 49, client_named, none, {"alice@example.org"}, std::nullopt,
           "R-NAME-50"},
          {"R-NAME-50 named client at 50", 50, client_named, none, {"alice@example.org"}, std::nullopt, ""},
          {"R-EMAIL-PROBE named client unverified", 50, client_named, none, {"pending@example.org"},
           std::nullopt, "R-EMAIL-PROBE"},
          {"R-CODESIGN at 50", 50, code_signing, none, none, std::nullopt, "R-CODESIGN"},
          {"R-CODESIGN Assurer not enabled", 100, code_signing, none, none, std::nullopt, "R-CODESIGN"},
          {"R-DEVICE-NAME device at 0", 0, device, none, none, "router-17", ""},
          {"R-DEVICE-NAME device without CN", 0, device, none, none, std::nullopt, "R-DEVICE-NAME"},
          {"R-DEVICE-NAME device with empty CN", 0, device, none, none, "", "R-DEVICE-NAME"},
          {"R-DEVICE-NAME device CN of 64", 0, device, none, none, std::string(64, 'd'), ""},
          {"R-DEVICE-NAME device CN of 65", 0, device, none, none, std::string(65, 'd'), "R-DEVICE-NAME"},
          {"R-NAME-50 device CN with the name at 49", 49, device, none, none, "ALICE EXAMPLE's laptop",
           "R-NAME-50"},
          {"R-NAME-50 device CN with the name respelled at 49", 49, device, none, none, "alice.example-laptop",
           "R-NAME-50"},
          {"R-NAME-50 device CN with the name at 50", 50, device, none, none, "Alice Example's laptop", ""},
          {"R-SERVER-50 device with a DNS name at 49", 49, device, {"example.org"}, none, "router",
           "R-SERVER-50"},
          {"R-PROFILE device with a DNS name at 50", 50, device, {"example.org"}, none, "router", "R-PROFILE"},
          {"R-EMAIL-PROBE device with a verified email", 0, device, none, {"alice@example.org"}, "phone", ""},
          {"R-EMAIL-PROBE device with an unverified email", 0, device, none, {"pending@example.org"}, "phone",
           "R-EMAIL-PROBE"},
          {"R-PROFILE ocsp signer", 100, cert_profile::ocsp_signer, none, none, std::nullopt, "R-PROFILE"},
          {"R-PROFILE sub CA", 100, cert_profile::sub_ca, none, none, std::nullopt, "R-PROFILE"},
      }));
  CAPTURE(name);
  const decision d = decide(alice(ap), request(profile, dns, emails, cn), policy_rules{});
  INFO(explain(d));
  CHECK(outcome(d) == expected);
  if (const auto* n = std::get_if<denial>(&d)) {
    CHECK_FALSE(n->reason.empty());
    REQUIRE(n->facts.size() >= 3);
    CHECK(n->facts[1] == std::pair<std::string, std::string>{"ap", std::to_string(ap)});
  }
}

TEST_CASE("R-SERVER-50: the refusal names the member and their AP", "[policy][R-SERVER-50]") {
  const decision d = decide(alice(45), request(server, {"www.example.org"}, none), policy_rules{});
  const auto* n = std::get_if<denial>(&d);
  REQUIRE(n != nullptr);
  CHECK(n->rule == "R-SERVER-50");
  CHECK(n->reason == "member 7 holds 45 AP; server certificates need 50 AP");
  CHECK(n->facts == std::vector<std::pair<std::string, std::string>>{
                        {"member", "7"}, {"ap", "45"}, {"profile", "server"}});
}

TEST_CASE("R-SERVER-50: no serverAuth grant below 50 AP, by any profile or path", "[policy][R-SERVER-50]") {
  const std::vector<std::vector<std::string>> dns_sets = {
      {}, {"www.example.org"}, {"*.example.org"}, {"example.org", "forever.example"}, {"nobody.invalid"}};
  const std::vector<std::vector<std::string>> email_sets = {{}, {"alice@example.org"}};
  const std::vector<std::optional<std::string>> cns = {std::nullopt, "router", "Alice Example"};
  int server_grants_from_50 = 0, grants_below_50 = 0;
  for (int ap = 0; ap <= 100; ++ap) {
    for (bool inconsistent_assurer : {false, true}) {
      member_facts f = alice(ap, true);
      // Facts that contradict themselves must not open the door either.
      if (inconsistent_assurer) f.points.is_assurer = true;
      for (auto p : {client_email, client_named, server, code_signing, device, cert_profile::ocsp_signer,
                     cert_profile::sub_ca}) {
        for (auto via : {request_path::cli, request_path::acme, request_path::scep}) {
          for (const auto& dns : dns_sets) {
            for (const auto& emails : email_sets) {
              for (const auto& cn : cns) {
                certificate_request r = request(p, dns, emails, cn);
                r.via = via;
                const decision d = decide(f, r, policy_rules{});
                const auto* g = std::get_if<grant>(&d);
                if (g == nullptr) continue;
                if (ap < 50) {
                  ++grants_below_50;
                  INFO("ap " << ap << " profile " << to_string(p) << " via " << to_string(via));
                  CHECK(p != server);
                  CHECK(g->dns_names.empty());
                  CHECK(g->issuer == issuer_class::class1);
                  CHECK(g->subject_cn.find("Alice") == std::string::npos);
                } else if (p == server) {
                  ++server_grants_from_50;
                  CHECK(g->issuer == issuer_class::class3);
                  CHECK_FALSE(g->dns_names.empty());
                }
              }
            }
          }
        }
      }
    }
  }
  // The sweep is not vacuous: both sides of the line were reached.
  CHECK(grants_below_50 > 0);
  // 51 AP values x 2 fact sets x 3 paths x 3 coverable name sets x 3 CNs.
  CHECK(server_grants_from_50 == 51 * 2 * 3 * 3 * 3);
}

TEST_CASE("decide: what a grant carries", "[policy]") {
  const policy_rules rules;
  SECTION("server via the command line: Class 3, CN the first name, 398 days") {
    const decision d = decide(alice(50), request(server, {"www.example.org", "*.example.org"}, none), rules);
    const auto* g = std::get_if<grant>(&d);
    REQUIRE(g != nullptr);
    CHECK(g->issuer == issuer_class::class3);
    CHECK(g->subject_cn == "www.example.org");
    CHECK(g->dns_names == std::vector<std::string>{"www.example.org", "*.example.org"});
    CHECK(g->emails.empty());
    CHECK(g->not_before == now);
    CHECK(g->not_after == now + 398 * day);
    CHECK(std::find(g->rules.begin(), g->rules.end(), "R-SERVER-50") != g->rules.end());
    CHECK(std::find(g->rules.begin(), g->rules.end(), "R-NAME-COVERAGE") != g->rules.end());
  }
  SECTION("server via ACME defaults to 90 days") {
    auto r = request(server, {"example.org"}, none);
    r.via = request_path::acme;
    const decision d = decide(alice(60), r, rules);
    const auto* g = std::get_if<grant>(&d);
    REQUIRE(g != nullptr);
    CHECK(g->not_after == now + 90 * day);
  }
  SECTION("a first name longer than 64 characters leaves the CN empty") {
    const std::string long_name = std::string(60, 'x') + ".example.org";
    const decision d = decide(alice(50), request(server, {long_name, "example.org"}, none), rules);
    const auto* g = std::get_if<grant>(&d);
    REQUIRE(g != nullptr);
    CHECK(g->subject_cn.empty());
    CHECK(g->dns_names.front() == long_name);
  }
  SECTION("client email under 50 AP: the pseudonym from Class 1, 180 days") {
    const decision d = decide(alice(49), request(client_email, none, {"alice@example.org"}), rules);
    const auto* g = std::get_if<grant>(&d);
    REQUIRE(g != nullptr);
    CHECK(g->issuer == issuer_class::class1);
    CHECK(g->subject_cn == "WoTCA Member");
    CHECK(g->emails == std::vector<std::string>{"alice@example.org"});
    CHECK(g->not_after == now + 180 * day);
  }
  SECTION("client email at 50 AP: the pseudonym from Class 3, 730 days") {
    policy_rules custom = rules;
    custom.pseudonym_cn = "Community Member";
    const decision d = decide(alice(50), request(client_email, none, {"alice@example.org"}), custom);
    const auto* g = std::get_if<grant>(&d);
    REQUIRE(g != nullptr);
    CHECK(g->issuer == issuer_class::class3);
    CHECK(g->subject_cn == "Community Member");
    CHECK(g->not_after == now + 730 * day);
  }
  SECTION("named client at 50 AP: the real name") {
    const decision d = decide(alice(50), request(client_named, none, {"alice@example.org"}), rules);
    const auto* g = std::get_if<grant>(&d);
    REQUIRE(g != nullptr);
    CHECK(g->issuer == issuer_class::class3);
    CHECK(g->subject_cn == "Alice Example");
    CHECK(g->not_after == now + 730 * day);
  }
  SECTION("code signing for an Assurer with code signing enabled") {
    const decision d = decide(alice(100, true), request(code_signing, none, {"alice@example.org"}), rules);
    const auto* g = std::get_if<grant>(&d);
    REQUIRE(g != nullptr);
    CHECK(g->issuer == issuer_class::class3);
    CHECK(g->subject_cn == "Alice Example");
    CHECK(g->not_after == now + 365 * day);
  }
  SECTION("device under 50 AP: Class 1, the device's CN") {
    const decision d = decide(alice(10), request(device, none, none, "router-17"), rules);
    const auto* g = std::get_if<grant>(&d);
    REQUIRE(g != nullptr);
    CHECK(g->issuer == issuer_class::class1);
    CHECK(g->subject_cn == "router-17");
    CHECK(g->dns_names.empty());
    CHECK(g->not_after == now + 365 * day);
  }
}

TEST_CASE("R-CODESIGN: only an Assurer with code signing enabled", "[policy][R-CODESIGN]") {
  auto [ap, is_assurer, enabled, allowed] = GENERATE(table<int, bool, bool, bool>({
      {99, false, true, false},
      {100, false, true, false},  // 100 AP without CATS
      {100, true, false, false},
      {100, true, true, true},
  }));
  member_facts f = alice(ap, enabled);
  f.points.is_assurer = is_assurer;
  const decision d = decide(f, request(code_signing, none, none), policy_rules{});
  CHECK(outcome(d) == (allowed ? "" : "R-CODESIGN"));
}

TEST_CASE("R-VALIDITY: requested days against the ceilings", "[policy][R-VALIDITY]") {
  auto [name, ap, profile, days, expected] = GENERATE(table<std::string, int, cert_profile, int, std::string>({
      {"server 398", 50, server, 398, ""},
      {"server 399", 50, server, 399, "R-VALIDITY"},
      {"server 1", 50, server, 1, ""},
      {"server 0", 50, server, 0, "R-VALIDITY"},
      {"server -5", 50, server, -5, "R-VALIDITY"},
      {"client 180 at 49", 49, client_email, 180, ""},
      {"client 181 at 49", 49, client_email, 181, "R-VALIDITY"},
      {"client 730 at 50", 50, client_email, 730, ""},
      {"client 731 at 50", 50, client_email, 731, "R-VALIDITY"},
      {"named 731", 50, client_named, 731, "R-VALIDITY"},
      {"code signing 366", 100, code_signing, 366, "R-VALIDITY"},
      {"device 365", 0, device, 365, ""},
      {"device 366", 0, device, 366, "R-VALIDITY"},
  }));
  CAPTURE(name);
  certificate_request r;
  r.profile = profile;
  if (profile == server) r.dns_names = {"example.org"};
  if (profile == client_email || profile == client_named) r.emails = {"alice@example.org"};
  if (profile == device) r.common_name = "router";
  r.days = days;
  const decision d = decide(alice(ap, true), r, policy_rules{});
  INFO(explain(d));
  CHECK(outcome(d) == expected);
  if (const auto* g = std::get_if<grant>(&d)) CHECK(g->not_after - g->not_before == days * day);
}

TEST_CASE("R-VALIDITY: the refusal names the maximum", "[policy][R-VALIDITY]") {
  auto r = request(server, {"example.org"}, none);
  r.days = 400;
  const decision d = decide(alice(60), r, policy_rules{});
  const auto* n = std::get_if<denial>(&d);
  REQUIRE(n != nullptr);
  CHECK(n->reason == "400 days of validity were requested; a server certificate for member 7 is valid at most 398 days");
}

TEST_CASE("R-LOCKED and R-MEMBER-CCA come first", "[policy][R-LOCKED][R-MEMBER-CCA]") {
  member_facts locked = alice(100, true);
  locked.who.locked = true;
  member_facts no_cca = alice(100, true);
  no_cca.who.cca_accepted_at = sys_seconds{};
  for (auto p : {client_email, client_named, server, code_signing, device}) {
    const auto r = request(p, {"example.org"}, {"alice@example.org"}, "router");
    CHECK(outcome(decide(locked, r, policy_rules{})) == "R-LOCKED");
    CHECK(outcome(decide(no_cca, r, policy_rules{})) == "R-MEMBER-CCA");
  }
}

TEST_CASE("denials name the value at fault", "[policy]") {
  auto reason_of = [](const decision& d) {
    const auto* n = std::get_if<denial>(&d);
    return n == nullptr ? std::string() : n->reason;
  };
  CHECK(reason_of(decide(alice(50), request(server, {"example.org", "evil.com"}, none), policy_rules{}))
            .find("'evil.com'") != std::string::npos);
  CHECK(reason_of(decide(alice(50), request(server, {"www.expired.org"}, none), policy_rules{}))
            .find("expired") != std::string::npos);
  CHECK(reason_of(decide(alice(10), request(client_email, none, {"pending@example.org"}), policy_rules{}))
            .find("'pending@example.org' has not been verified") != std::string::npos);
}

TEST_CASE("name_within compares labels", "[policy][R-NAME-COVERAGE]") {
  auto [name, domain, within] = GENERATE(table<std::string, std::string, bool>({
      {"example.org", "example.org", true},
      {"EXAMPLE.org", "example.ORG", true},
      {"www.example.org", "example.org", true},
      {"a.b.example.org", "b.example.org", true},
      {"a.b.example.org", "example.org", true},
      {"*.example.org", "example.org", true},
      {"*.b.example.org", "example.org", true},
      {"*.example.org", "www.example.org", false},
      {"badexample.org", "example.org", false},
      {"example.org", "www.example.org", false},
      {"example.org.evil.com", "example.org", false},
      {"example.org.", "example.org", true},
      {"a..example.org", "example.org", false},
      {"www.*.example.org", "example.org", false},
      {"*", "example.org", false},
      {"*.", "example.org", false},
      {"", "example.org", false},
      {"example.org", "", false},
      {"org", "example.org", false},
  }));
  CAPTURE(name, domain);
  CHECK(name_within(name, domain) == within);
}

TEST_CASE("profile, issuer and path names round-trip", "[policy]") {
  for (auto p : {client_email, client_named, server, code_signing, device, cert_profile::ocsp_signer,
                 cert_profile::sub_ca}) {
    CHECK(cert_profile_from(to_string(p)) == p);
  }
  CHECK(to_string(server) == "server");
  CHECK(to_string(client_email) == "client-email");
  CHECK(cert_profile_from("code_signing") == code_signing);
  CHECK_FALSE(cert_profile_from("root").has_value());
  CHECK(issuer_class_from("class1") == issuer_class::class1);
  CHECK(issuer_class_from(to_string(issuer_class::class3)) == issuer_class::class3);
  CHECK_FALSE(issuer_class_from("class2").has_value());
  for (auto v : {request_path::cli, request_path::acme, request_path::scep}) {
    CHECK(request_path_from(to_string(v)) == v);
  }
  CHECK_FALSE(request_path_from("est").has_value());
}
