// The SQLite implementation of acme_repository (acme_repository.h), one of
// the repositories of sqlite_store's transaction. Borrows the connection,
// which must outlive it; used by one thread at a time, like the store.
#pragma once

#include "core/store/acme_repository.h"
#include "core/store/sqlite.h"

namespace wotca::sqlite {

class sqlite_acme final : public acme_repository {
 public:
  explicit sqlite_acme(connection& db) : db_(db) {}

  result<std::int64_t> add_account(const acme_account& a) override;
  result<std::optional<acme_account>> find_account(std::int64_t id) override;
  result<std::optional<acme_account>> find_account_by_thumbprint(std::string_view tp) override;
  result<void> update_account(const acme_account& a) override;

  result<std::int64_t> add_order(const acme_order& o, std::span<const std::int64_t> authzs) override;
  result<std::optional<acme_order>> find_order(std::string_view public_id) override;
  result<void> update_order(const acme_order& o) override;
  result<std::vector<acme_order>> orders_of_account(std::int64_t account, std::size_t limit,
                                                    std::int64_t before_id) override;
  result<std::vector<acme_order>> orders_of_authz(std::int64_t authz) override;
  result<std::optional<acme_order>> replacement_of(std::string_view ari_id) override;
  result<acme_order_count> orders_since_by_account(std::int64_t account, sys_seconds since,
                                                                 std::int64_t at_most) override;
  result<acme_order_count> orders_since_by_member(member_id member, sys_seconds since,
                                                                std::int64_t at_most) override;

  result<std::int64_t> add_authz(const acme_authz& a) override;
  result<std::optional<acme_authz>> find_authz(std::string_view public_id) override;
  result<std::optional<acme_authz>> find_authz_by_id(std::int64_t id) override;
  result<void> update_authz(const acme_authz& a) override;
  result<std::vector<acme_authz>> authzs_of_order(std::int64_t order) override;
  result<std::optional<acme_authz>> reusable_authz(std::int64_t account, std::string_view identifier, bool wildcard,
                                                   sys_seconds now) override;

  result<std::int64_t> add_challenge(const acme_challenge& c) override;
  result<std::optional<acme_challenge>> find_challenge(std::string_view public_id) override;
  result<std::optional<acme_challenge>> find_challenge_by_id(std::int64_t id) override;
  result<std::vector<acme_challenge>> challenges_of_authz(std::int64_t authz) override;
  result<void> update_challenge(const acme_challenge& c) override;

  result<std::int64_t> expire(sys_seconds now) override;
  result<std::vector<acme_challenge>> claim_stale_validations(sys_seconds before, sys_seconds now) override;
  result<void> redeem_nonce(std::string_view nonce, sys_seconds expires_at) override;
  result<std::int64_t> prune_nonces(sys_seconds now) override;

 private:
  connection& db_;
};

}  // namespace wotca::sqlite
