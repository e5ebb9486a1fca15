#include "core/policy/privileges.h"

#include <string>

namespace wotca {

std::vector<privilege> privileges_for(const member& who, const points_summary& s, const policy_rules& rules) {
  std::vector<privilege> out;
  const std::string ap = std::to_string(s.ap);
  if (who.locked) {
    for (auto name : {"client-email-certificates", "client-named-certificates", "server-certificates",
                      "wildcard-certificates", "device-certificates", "assure-others", "code-signing"}) {
      out.push_back({name, false, "R-LOCKED", "the account is locked"});
    }
    return out;
  }
  const bool assured = s.ap >= 50;
  out.push_back({"client-email-certificates", true, "R-NAME-50",
                 assured ? "for verified emails, Class 3, up to " + std::to_string(rules.client_days_assured) + " days"
                         : "for verified emails, CN \"" + rules.pseudonym_cn + "\", Class 1, up to " +
                               std::to_string(rules.client_days_unassured) + " days"});
  out.push_back({"client-named-certificates", assured, "R-NAME-50",
                 assured ? "real name, Class 3, up to " + std::to_string(rules.client_days_assured) + " days"
                         : "holds " + ap + " AP; a real name needs 50"});
  out.push_back({"server-certificates", assured, "R-SERVER-50",
                 assured ? "for verified domains, up to " + std::to_string(rules.server_days) + " days"
                         : "holds " + ap + " AP; server certificates need 50"});
  out.push_back({"wildcard-certificates", assured, "R-NAME-COVERAGE",
                 assured ? "for verified domains" : "holds " + ap + " AP; wildcards need 50"});
  out.push_back({"device-certificates", true, "R-SERVER-50",
                 "TLS client only, up to " + std::to_string(rules.device_days) + " days"});
  std::string assurer_why;
  if (s.is_assurer) {
    assurer_why = "an Assurer";
  } else {
    assurer_why = "needs 100 AP (holds " + ap + ")";
    if (!s.cats_valid) assurer_why += ", a passed Assurer Challenge";
    assurer_why += " and an age of 14 or more";
  }
  out.push_back({"assure-others", s.is_assurer, "R-ASSURER", assurer_why});
  const bool codesign = s.is_assurer && who.code_signing_enabled;
  out.push_back({"code-signing", codesign, "R-CODESIGN",
                 codesign ? "enabled by an operator"
                          : (s.is_assurer ? "an operator has not enabled code signing" : "only for Assurers")});
  return out;
}

}  // namespace wotca
