// wotca-acme's service under requests at once: each request has its own
// store connection, races are decided inside the store's write
// transactions, and a signed request's nonce is redeemed in the same commit
// as its state change. No Catch2 assertion runs off the main thread.
#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <thread>

#include "tests/unit/acme/service_fixture.h"

namespace wotca::acme::testing {
namespace {

// Deterministic bytes; the first call on the armed thread waits until
// release(), so a test can hold one request in the middle of its work.
class trap_random final : public random_source {
 public:
  void fill(std::span<std::uint8_t> out) override {
    if (armed_.load() == std::this_thread::get_id()) {
      armed_.store(std::thread::id());
      entered_.set_value();
      released_.get_future().wait();
    }
    inner_.fill(out);
  }
  void arm() { armed_.store(std::this_thread::get_id()); }
  std::future<void> entered() { return entered_.get_future(); }
  void release() { released_.set_value(); }

 private:
  counting_random inner_;
  std::atomic<std::thread::id> armed_{};
  std::promise<void> entered_;
  std::promise<void> released_;
};

std::string metric(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return {};
  const auto begin = at + name.size() + 2;
  return text.substr(begin, text.find('\n', begin) - begin);
}

// A ready order of `c` for `names`; returns the order document and its URL.
std::pair<json, std::string> ready_order(client& c, const std::vector<std::string>& names) {
  auto created = c.order(names);
  REQUIRE(created.status == 201);
  const auto location = *header(created, "Location");
  c.validate_all(body_of(created));
  auto ready = body_of(c.post(location, ""));
  REQUIRE(ready["status"] == "ready");
  return {ready, location};
}

TEST_CASE("a request is served while another one holds its store connection", "[acme][concurrency]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  auto own_db = sqlite_store::open(f.cfg.database, open_mode::existing);
  REQUIRE(own_db);
  trap_random trap;
  certificate_authority own_ca(f.cfg, **own_db, *f.ca, f.clk, trap);
  auto made = service::make(f.cfg, acme_fixture::base, **own_db, own_ca, *f.ca, f.validator, f.clk, trap);
  REQUIRE(made);
  auto& svc = **made;
  CHECK(metric(svc.metrics(), "wotca_acme_store_connections") == "0");  // opened when first needed

  // Signed up front: newOrder (held at its first random bytes, after it
  // read the store) and a POST-as-GET of the account.
  const auto held_request =
      c.request("/acme/new-order", c.body("/acme/new-order", R"({"identifiers":[{"type":"dns","value":"www.example.org"}]})"));
  const auto other_request = c.request(client::path_of(*c.kid), c.body(*c.kid, ""));

  auto entered = trap.entered();
  http_exchange_response held_response;
  std::thread held([&] {
    trap.arm();
    held_response = svc.handle(held_request);
  });
  const bool holding = entered.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  std::future<http_exchange_response> other;
  bool served = false;
  if (holding) {
    other = std::async(std::launch::async, [&] { return svc.handle(other_request); });
    served = other.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  }
  const std::string during = svc.metrics();
  trap.release();
  held.join();
  REQUIRE(holding);
  // With every request taking turns on one connection this would wait for
  // the held one; it was answered on a second connection.
  REQUIRE(served);
  CHECK(other.get().status == 200);
  CHECK(metric(during, "wotca_acme_store_connections") == "2");
  INFO(held_response.body);
  CHECK(held_response.status == 201);
}

TEST_CASE("finalize requests at once issue one certificate", "[acme][concurrency]") {
  acme_fixture f;
  client c(f);
  const member_id who = f.member("alice@example.org", 100);
  c.register_for(who);
  auto [ready, location] = ready_order(c, {"www.example.org"});
  const auto csr_key = make_key("ES256");
  const auto finalize_url = ready["finalize"].get<std::string>();
  const std::string payload = json{{"csr", csr_b64(csr_key, {"www.example.org"})}}.dump();
  std::vector<http_exchange_request> requests;
  for (int i = 0; i < 6; ++i) {
    requests.push_back(c.request(client::path_of(finalize_url), c.body(finalize_url, payload)));
  }
  std::vector<http_exchange_response> responses(requests.size());
  std::latch start(static_cast<std::ptrdiff_t>(requests.size()));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      responses[i] = f.svc->handle(requests[i]);
    });
  }
  for (auto& t : threads) t.join();
  // One issues; the others find it processing or valid: orderNotReady (RFC 8555 7.4).
  std::size_t answered_ok = 0;
  for (const auto& r : responses) {
    INFO(r.body);
    if (r.status == 200) {
      ++answered_ok;
    } else {
      CHECK(r.status == 403);
      CHECK(r.body.find("orderNotReady") != std::string::npos);
    }
  }
  CHECK(answered_ok == 1);
  std::size_t issued = 0;
  for (const auto& cert : f.certificates_of(who)) issued += cert.status == cert_status::valid ? 1 : 0;
  CHECK(issued == 1);
  auto done = body_of(c.post(location, ""));
  CHECK(done["status"] == "valid");
  CHECK(done.contains("certificate"));
  CHECK_FALSE(header(c.post(location, ""), "Retry-After").has_value());
}

TEST_CASE("a replayed state change is refused whole: its nonce is redeemed in the same commit", "[acme][nonce]") {
  acme_fixture f;
  client c(f);
  c.register_for(f.member("alice@example.org", 100));
  const auto n = f.nonce();
  const std::string payload = R"({"identifiers":[{"type":"dns","value":"www.example.org"}]})";
  const auto req = c.request("/acme/new-order", c.body("/acme/new-order", payload, n));
  CHECK(f.svc->handle(req).status == 201);
  problem_of(f.svc->handle(req), "badNonce", 400);
  auto list = body_of(c.post(*c.kid + "/orders", ""));
  CHECK(list["orders"].size() == 1);

  SECTION("the same nonce sent twice at once makes one order") {
    const auto m = f.nonce();
    const std::string other = R"({"identifiers":[{"type":"dns","value":"mail.example.org"}]})";
    const auto twice = c.request("/acme/new-order", c.body("/acme/new-order", other, m));
    http_exchange_response a;
    http_exchange_response b;
    std::latch start(2);
    std::thread ta([&] {
      start.arrive_and_wait();
      a = f.svc->handle(twice);
    });
    std::thread tb([&] {
      start.arrive_and_wait();
      b = f.svc->handle(twice);
    });
    ta.join();
    tb.join();
    CHECK(((a.status == 201 && b.status == 400) || (a.status == 400 && b.status == 201)));
    problem_of(a.status == 400 ? a : b, "badNonce", 400);
    CHECK(body_of(c.post(*c.kid + "/orders", ""))["orders"].size() == 2);
  }
}

TEST_CASE("with one connection every request takes turns on the given store", "[acme][concurrency]") {
  acme_fixture f;
  service_options one;
  one.connections = 1;
  auto made = service::make(f.cfg, acme_fixture::base, *f.db, *f.authority, *f.ca, f.validator, f.clk, f.rng, one);
  REQUIRE(made);
  f.svc = std::move(*made);
  client c(f);
  const member_id who = f.member("alice@example.org", 100);
  c.register_for(who);
  const auto key = make_key("ES256");
  auto order = c.issue({"www.example.org"}, key);
  CHECK(order["status"] == "valid");
  // Validations completed from the validator's thread take their turn too.
  f.validator.synchronous = false;
  auto created = body_of(c.order({"mail.example.org"}));
  c.validate_all(created);
  std::thread completing([&] { f.validator.finish(true); });
  completing.join();
  CHECK(body_of(c.post(created["authorizations"][0].get<std::string>(), ""))["status"] == "valid");
  CHECK(metric(f.svc->metrics(), "wotca_acme_store_connections") == "1");
  CHECK(f.certificates_of(who).size() == 1);
}

}  // namespace
}  // namespace wotca::acme::testing
