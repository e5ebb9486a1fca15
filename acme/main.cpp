// wotca-acme: reads the configuration, wires the store, the CA, the
// challenge validator, the ACME service and the TLS server, and runs until
// SIGTERM. SIGHUP reloads the configuration, the CA material and the TLS
// certificate without dropping connections: new requests go to a new
// service, new connections get the new certificate.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "acme/server.h"
#include "acme/service.h"
#include "acme/validator.h"
#include "core/ca/authority.h"
#include "core/ca/material.h"
#include "core/config/config.h"
#include "core/config/daemon.h"
#include "core/store/sqlite_store.h"

namespace wotca {
namespace {

void log_line(const std::string& s) { daemon_log("wotca-acme", s); }

std::string host_in_url(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// Everything one configuration makes: replaced whole on SIGHUP. Member
// order matters: the service borrows everything above it.
struct generation {
  config cfg;
  std::unique_ptr<sqlite_store> db;
  ca_material material;
  std::unique_ptr<certificate_authority> authority;
  std::unique_ptr<acme::service> service;
};

result<std::shared_ptr<generation>> make_generation(const config& cfg, const std::string& base_url,
                                                    acme::challenge_validator& validator, const clock& clk,
                                                    random_source& rng) {
  auto g = std::make_shared<generation>();
  g->cfg = cfg;
  auto db = sqlite_store::open(g->cfg.database, open_mode::existing);
  if (!db) return unexpected(db.error());
  g->db = std::move(*db);
  auto material = load_ca(g->cfg);
  if (!material) return unexpected(material.error());
  g->material = std::move(*material);
  g->authority = std::make_unique<certificate_authority>(g->cfg, *g->db, g->material, clk, rng);
  // One store connection per request thread, so no request waits for one.
  acme::service_options options;
  options.connections = acme::limits_from(g->cfg.acme).threads;
  auto svc = acme::service::make(g->cfg, base_url, *g->db, *g->authority, g->material, validator, clk, rng, options);
  if (!svc) return unexpected(svc.error());
  g->service = std::move(*svc);
  return g;
}

acme::http_exchange_response text_response(unsigned status, std::string content_type, std::string body) {
  acme::http_exchange_response r;
  r.status = status;
  r.set("Content-Type", std::move(content_type));
  r.set("Cache-Control", "no-store");
  r.body = std::move(body);
  return r;
}

acme::async_exchange_handler handler_for(std::shared_ptr<generation> g, acme::tls_server& server,
                                         const acme::network_validator& validator) {
  acme::exchange_timer after = [&server](std::chrono::milliseconds delay, std::function<void()> fn) {
    server.after(delay, std::move(fn));
  };
  return [g, &server, &validator, after](const acme::http_exchange_request& req, acme::exchange_responder respond) {
    const bool get = req.method == "GET" || req.method == "HEAD";
    if (get && req.target == "/healthz") {
      // On one of the service's connections: g->db belongs to no thread.
      auto r = g->service->check_store();
      if (!r) return respond(text_response(503, "text/plain", "store: " + describe(r.error()) + "\n"));
      return respond(text_response(200, "text/plain", "ok\n"));
    }
    if (get && req.target == "/metrics") {
      return respond(text_response(200, "text/plain; version=0.0.4",
                                   g->service->metrics() + validator.metrics() + server.metrics()));
    }
    g->service->handle_async(req, std::move(respond), after);
  };
}

acme::exchange_handler starting_handler() {
  return [](const acme::http_exchange_request&) {
    auto r = text_response(503, "application/problem+json",
                           R"({"type":"urn:ietf:params:acme:error:serverInternal","detail":"starting","status":503})");
    r.set("Retry-After", "1");
    return r;
  };
}

int run(int argc, char** argv) {
  auto options = parse_daemon_arguments(argc, argv, "wotca-acme",
                                        "usage: wotca-acme [--config FILE] [--listen HOST:PORT]\n"
                                        "ACME server (RFC 8555, EAB, RFC 8737 tls-alpn-01, RFC 9773 renewal info) over HTTPS.\n"
                                        "GET /directory, GET /healthz, GET /metrics (Prometheus). SIGHUP reloads, SIGTERM stops.");
  if (!options) return options.error();
  const std::string config_file = options->config_file.string();

  // Signals are taken by sigwait in this thread; every other thread inherits the mask.
  const sigset_t signals = block_daemon_signals();

  system_clock clk;
  system_random rng;
  auto cfg = load_config(config_file);
  if (!cfg) {
    log_line(describe(cfg.error()));
    return 3;
  }
  listen_address listen = cfg->acme_listen;
  if (options->listen) listen = *options->listen;
  auto identity = acme::load_tls_identity(*cfg);
  if (!identity) {
    log_line(describe(identity.error()));
    return 3;
  }

  // The server is bound first so that the base URL can name the real port
  // (--listen 127.0.0.1:0); until the service exists it answers 503.
  auto server = acme::tls_server::start(listen.host, listen.port, acme::limits_from(cfg->acme), *identity,
                                        starting_handler());
  if (!server) {
    log_line(describe(server.error()));
    return 3;
  }
  const std::string listen_url = "https://" + host_in_url(listen.host) + ":" + std::to_string((*server)->port());
  auto base_url_of = [&](const config& c) {
    std::string b = c.acme.base_url.empty() ? listen_url : c.acme.base_url;
    while (!b.empty() && b.back() == '/') b.pop_back();
    return b;
  };

  auto validator_owner = std::make_unique<acme::network_validator>(acme::settings_from(cfg->acme.validation), rng);
  acme::network_validator& validator = *validator_owner;
  auto first = make_generation(*cfg, base_url_of(*cfg), validator, clk, rng);
  if (!first) {
    log_line(describe(first.error()));
    (*server)->stop();
    return 3;
  }
  std::shared_ptr<generation> current = std::move(*first);
  (*server)->set_async_handler(handler_for(current, **server, validator));
  (*server)->set_error_decorator([current](acme::http_exchange_response& r) { current->service->decorate_error(r); });
  log_line("listening on " + listen_url);
  if (base_url_of(*cfg) != listen_url) log_line("directory at " + base_url_of(*cfg) + "/directory");

  // Generations replaced by SIGHUP stay alive while a validation they
  // started may still call back into their service.
  std::vector<std::shared_ptr<generation>> retired;

  serve_until_stopped("wotca-acme", signals, config_file, [&]() -> result<void> {
    auto next_cfg = load_config(config_file);
    if (!next_cfg) return unexpected(next_cfg.error());
    auto next_identity = acme::load_tls_identity(*next_cfg);
    if (!next_identity) return unexpected(next_identity.error());
    auto next = make_generation(*next_cfg, base_url_of(*next_cfg), validator, clk, rng);
    if (!next) return unexpected(next.error());
    if (auto r = (*server)->set_identity(*next_identity); !r) return r;
    validator.set_settings(acme::settings_from(next_cfg->acme.validation));
    if (validator.in_flight() == 0) retired.clear();
    retired.push_back(current);
    current = std::move(*next);
    (*server)->set_async_handler(handler_for(current, **server, validator));
    (*server)->set_error_decorator([g = current](acme::http_exchange_response& r) { g->service->decorate_error(r); });
    if (next_cfg->acme_listen.host != cfg->acme_listen.host || next_cfg->acme_listen.port != cfg->acme_listen.port) {
      log_line("acme.listen changed: the new address takes effect at the next restart");
    }
    return {};
  });
  // Stop taking requests first, then let the validator end its jobs (each
  // still calls back into a live service), then drop the services.
  (*server)->stop();
  validator_owner.reset();
  log_line("stopped");
  return 0;
}

}  // namespace
}  // namespace wotca

int main(int argc, char** argv) { return wotca::daemon_main("wotca-acme", wotca::run, argc, argv); }
