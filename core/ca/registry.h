// The Web-of-Trust operations of operators and assurers: members, emails,
// domains, assurances, CATS passes, enrolment secrets. Each call checks its
// input (errors name the CLI flag at fault: "--email"), applies the rules of
// core/wot, and makes its change in one transaction with an audit row; on
// any error nothing is written.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/policy/privileges.h"
#include "core/store/store.h"
#include "core/util/random.h"

namespace wotca {

struct new_member {
  member_kind kind = member_kind::person;
  std::string name;
  std::string date_of_birth;  // YYYY-MM-DD (persons)
  std::string email;
  bool accept_cca = false;
};

struct new_assurance {
  std::string assurer;        // id or primary email
  std::string assuree;        // id or primary email
  int points = 0;
  std::string date;           // YYYY-MM-DD
  std::string place;
  std::string date_of_birth;  // as the Assurer read it from the ID
  std::vector<std::string> documents;
  std::string method = "face-to-face";
  bool appeared_in_person = true;
  bool mass_event = false;
};

struct points_report {
  member who;
  points_summary summary;
  std::vector<privilege> privileges;
  int max_award = 0;
};

// A secret shown once to the person it is for; only its hash is stored.
struct issued_secret {
  std::string id;      // EAB kid, SCEP challenge id, probe address
  std::string secret;  // EAB HMAC key (base64url), SCEP password, probe token
  sys_seconds expires_at{};
};

// What to do to prove control of a domain (R-DOMAIN-CONTROL), or that it
// has just been proven.
struct domain_challenge {
  std::string method;        // dns | http | email
  std::string instructions;  // a sentence for the member
  std::string token;         // dns, http: what to publish (empty for email: it goes to the mailbox)
  std::optional<domain_name> verified;  // set when this call proved control
};

class registry {
 public:
  // Borrows everything; all must outlive this object.
  registry(const config& cfg, store& db, const clock& clk, random_source& rng);

  // "7" or "alice@example.org" -> the member (errc::not_found naming `flag`).
  [[nodiscard]] result<member> find_member(std::string_view id_or_email, std::string_view flag = "--member");

  // R-MEMBER-CCA, R-MEMBER-KIND, R-OWNERSHIP. Adds the member with their
  // primary email (unverified) and sends the email probe (R-EMAIL-PROBE).
  [[nodiscard]] result<member> add_member(const new_member& m, std::string_view actor);
  [[nodiscard]] result<std::vector<member>> list_members();
  // R-LOCKED, R-REVOKE-CASCADE: locks and revokes all their certificates.
  [[nodiscard]] result<int> lock_member(member_id id, std::string_view reason, std::string_view actor);
  [[nodiscard]] result<void> record_parental_consent(member_id id, std::string_view actor);
  [[nodiscard]] result<void> set_code_signing(member_id id, bool enabled, std::string_view actor);
  // R-BOOTSTRAP.
  [[nodiscard]] result<assurance> appoint_founding_assurer(member_id id, std::string_view reason,
                                                           std::string_view actor);

  // R-OWNERSHIP, R-EMAIL-PROBE: adds the address and sends a probe token.
  [[nodiscard]] result<email_address> add_email(member_id id, std::string_view address, std::string_view actor);
  [[nodiscard]] result<email_address> confirm_email(std::string_view address, std::string_view token,
                                                    std::string_view actor);
  [[nodiscard]] result<email_address> verify_email_by_operator(member_id id, std::string_view address,
                                                               std::string_view reason, std::string_view actor);
  // R-REVOKE-CASCADE.
  [[nodiscard]] result<int> remove_email(member_id id, std::string_view address, std::string_view actor);
  [[nodiscard]] result<std::vector<email_address>> emails_of(member_id id);

  [[nodiscard]] result<domain_name> add_domain(member_id id, std::string_view name, std::string_view actor);
  // R-DOMAIN-CONTROL. email: a probe to root@, hostmaster@, postmaster@,
  // admin@ or webmaster@ `name` (`mailbox` picks which), confirmed with
  // confirm_domain. dns, http: the first call stores a token and says where
  // to publish it (a TXT record at _wotca-challenge.NAME, or the body of
  // http://NAME/.well-known/wotca-challenge/TOKEN); a later call with the
  // same method, while the token is valid, looks for it and, if found,
  // verifies the domain. The network is asked outside any transaction.
  // Not found: errc::denied R-DOMAIN-CONTROL saying what was found instead.
  [[nodiscard]] result<domain_challenge> start_domain_check(member_id id, std::string_view name,
                                                            std::string_view method, std::string_view mailbox,
                                                            std::string_view actor);
  [[nodiscard]] result<domain_name> confirm_domain(std::string_view name, std::string_view token,
                                                   std::string_view actor);
  [[nodiscard]] result<domain_name> verify_domain_by_operator(member_id id, std::string_view name,
                                                              std::string_view reason, std::string_view actor);
  [[nodiscard]] result<int> remove_domain(member_id id, std::string_view name, std::string_view actor);
  [[nodiscard]] result<std::vector<domain_name>> domains_of(member_id id);

  // R-ASSURE-*, R-TTP: records it, or says which rule refused it.
  [[nodiscard]] result<assurance> assure(const new_assurance& a, std::string_view actor);
  // R-ARBITRATION.
  [[nodiscard]] result<void> withdraw_assurance(std::int64_t id, std::string_view case_number,
                                                std::string_view actor);
  [[nodiscard]] result<void> record_cats_pass(member_id id, std::string_view date, std::string_view version,
                                              std::string_view actor);
  [[nodiscard]] result<points_report> points(member_id id);

  // ACME External Account Binding key for member `id` (enrolment.eab_key_days).
  [[nodiscard]] result<issued_secret> new_eab_key(member_id id, std::string_view actor);
  // SCEP one-time challenge for member `id` and `profile`.
  [[nodiscard]] result<issued_secret> new_scep_challenge(member_id id, cert_profile profile, std::string_view actor);

 private:
  [[nodiscard]] result<domain_challenge> check_published_token(member_id id, const std::string& domain,
                                                               std::string_view method, std::string_view actor);
  [[nodiscard]] result<void> send_probe(transaction& tx, std::string_view to, std::string_view what,
                                        std::string& token_out);
  const config& cfg_;
  store& db_;
  const clock& clock_;
  random_source& rng_;
};

// Writes a message to the configured sendmail command, or to the outbox
// folder when none is configured (development). Returns where it went.
[[nodiscard]] result<std::string> send_mail(const config& cfg, std::string_view to, std::string_view subject,
                                            std::string_view body, sys_seconds now);

}  // namespace wotca
