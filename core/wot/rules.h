// The operator-tunable numbers of POLICY.md's Web-of-Trust rules (*config*).
// Fixed numbers of the policy (the 100 AP cap, the experience table, the
// 35 AP ceiling) are constants in points.cpp, not configuration.
#pragma once

#include <optional>

namespace wotca {

struct wot_rules {
  int min_documents = 2;                 // R-ASSURE-DOCS
  int min_government_photo_ids = 2;      // R-ASSURE-DOCS (CAcert's written minimum is 1)
  int ep_per_assurance = 2;              // R-EP
  int ep_per_mass_event_assurance = 1;   // R-EP
  std::optional<int> cats_validity_years;  // R-ASSURER: absent = a pass never lapses
  int founding_max = 3;                  // R-BOOTSTRAP
  int email_probe_hours = 48;            // R-EMAIL-PROBE
  int domain_reuse_days = 398;           // R-DOMAIN-REUSE
  int acme_authz_reuse_days = 30;        // R-DOMAIN-REUSE
};

}  // namespace wotca
