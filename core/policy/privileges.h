// What a member may be issued, as POLICY.md's privilege table says, each
// with the rule that grants or withholds it (for `wotca points`).
#pragma once

#include <string>
#include <vector>

#include "core/policy/policy.h"

namespace wotca {

struct privilege {
  std::string name;  // "server-certificates"
  bool granted = false;
  std::string rule;  // "R-SERVER-50"
  std::string why;   // "holds 45 AP; needs 50"
};

[[nodiscard]] std::vector<privilege> privileges_for(const member& who, const points_summary& s,
                                                    const policy_rules& rules);

}  // namespace wotca
