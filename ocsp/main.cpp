// wotca-ocsp: reads the configuration, wires the responder, its refresher
// and the HTTP adapter, and runs until SIGTERM. SIGHUP reloads the
// configuration and the signers and swaps the handler without dropping
// connections.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "core/ca/material.h"
#include "core/config/config.h"
#include "core/config/daemon.h"
#include "core/http/server.h"
#include "core/store/sqlite_store.h"
#include "ocsp/refresher.h"
#include "ocsp/responder.h"

namespace wotca {
namespace {

void log_line(const std::string& s) { daemon_log("wotca-ocsp", s); }

result<ocsp_signer> load_ocsp_signer(const config& c, issuer_class cls) {
  std::string name(to_string(cls));
  auto issuer = load_certificate(cert_path(c, name));
  if (!issuer) return unexpected(issuer.error());
  auto responder = load_signer(c, name + "-ocsp");
  if (!responder) return unexpected(responder.error());
  return ocsp_signer{std::move(*issuer), std::move(responder->cert), std::move(responder->key)};
}

// Everything one configuration makes: replaced whole on SIGHUP.
struct generation {
  config cfg;
  std::unique_ptr<sqlite_store> db;
  std::unique_ptr<ocsp_responder> responder;
  std::unique_ptr<ocsp_refresher> refresher;
};

result<std::unique_ptr<generation>> make_generation(const std::string& config_file, const clock& clk) {
  auto g = std::make_unique<generation>();
  auto c = load_config(config_file);
  if (!c) return unexpected(c.error());
  g->cfg = std::move(*c);
  auto db = sqlite_store::open(g->cfg.database, open_mode::existing);
  if (!db) return unexpected(db.error());
  g->db = std::move(*db);
  std::vector<ocsp_issuer> issuers;
  for (auto cls : {issuer_class::class1, issuer_class::class3}) {
    auto s = load_ocsp_signer(g->cfg, cls);
    if (!s) return unexpected(s.error());
    issuers.push_back(ocsp_issuer{cls, std::move(*s)});
  }
  ocsp_settings settings;
  settings.validity = std::chrono::hours(g->cfg.ocsp.validity_hours);
  settings.nonces = g->cfg.ocsp.nonces;
  settings.max_request_bytes = static_cast<std::size_t>(g->cfg.ocsp.max_request_bytes);
  auto r = ocsp_responder::make(std::move(issuers), settings);
  if (!r) return unexpected(r.error());
  g->responder = std::move(*r);
  g->refresher = std::make_unique<ocsp_refresher>(*g->db, *g->responder, clk);
  // Every response is pre-signed before this generation serves anything:
  // wotca-ocsp only listens (and a reload only swaps handlers) once the
  // table is whole. While loading, a serial not yet signed could only be
  // answered tryLater or signed on demand from the store; instead the port
  // stays closed, which a load balancer's health check and a stapling
  // server treat as "ask elsewhere / later", and clients and CDNs keep the
  // responses they cached (valid for days). Never `unknown`: that would be
  // a signed, cacheable lie about a certificate the CA did issue.
  // CPU time beside wall time: on a shared machine the rate per CPU second
  // is the one to compare with `openssl speed`.
  auto cpu_seconds = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return s(u.ru_utime) + s(u.ru_stime);
  };
  const double cpu0 = cpu_seconds();
  auto n = g->refresher->load_all();
  if (!n) return unexpected(n.error());
  const double cpu = cpu_seconds() - cpu0;
  const double scan_s = std::chrono::duration<double>(n->scan).count();
  const double sign_s = std::chrono::duration<double>(n->sign).count();
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "pre-signed %zu responses in %.2f s (%.0f signatures/s on %u threads; scan %.2f s; cpu %.2f s)",
                n->responses, scan_s + sign_s, sign_s > 0 ? static_cast<double>(n->responses) / sign_s : 0.0,
                n->threads, scan_s, cpu);
  log_line(buf);
  return g;
}

std::string metrics_text(const ocsp_responder& r, sys_seconds now) {
  const auto& c = r.counters();
  auto line = [](const std::string& name, const std::string& labels, std::uint64_t v) {
    return name + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(v) + "\n";
  };
  std::string out;
  out += "# HELP wotca_ocsp_responses_total OCSP answers by certificate status or error.\n";
  out += "# TYPE wotca_ocsp_responses_total counter\n";
  out += line("wotca_ocsp_responses_total", "status=\"good\"", c.good);
  out += line("wotca_ocsp_responses_total", "status=\"revoked\"", c.revoked);
  out += line("wotca_ocsp_responses_total", "status=\"unknown\"", c.unknown);
  out += line("wotca_ocsp_responses_total", "status=\"malformedRequest\"", c.malformed);
  out += line("wotca_ocsp_responses_total", "status=\"unauthorized\"", c.unauthorized);
  out += line("wotca_ocsp_responses_total", "status=\"internalError\"", c.internal);
  out += "# TYPE wotca_ocsp_cache_hits_total counter\n" + line("wotca_ocsp_cache_hits_total", "", c.cache_hits);
  out += "# TYPE wotca_ocsp_not_modified_total counter\n" + line("wotca_ocsp_not_modified_total", "", c.not_modified);
  out += "# TYPE wotca_ocsp_signed_on_demand_total counter\n" +
         line("wotca_ocsp_signed_on_demand_total", "", c.signed_on_demand);
  out += "# HELP wotca_ocsp_unknown_limited_total Requests for serials not held answered tryLater (rate limit).\n";
  out += "# TYPE wotca_ocsp_unknown_limited_total counter\n" +
         line("wotca_ocsp_unknown_limited_total", "", c.unknown_limited);
  out += "# TYPE wotca_ocsp_signatures_total counter\n" + line("wotca_ocsp_signatures_total", "", c.signatures);
  out += "# TYPE wotca_ocsp_sign_seconds_total counter\n";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(c.sign_nanoseconds.load()) / 1e9);
  out += std::string("wotca_ocsp_sign_seconds_total ") + buf + "\n";
  out += "# TYPE wotca_ocsp_cached_responses gauge\n" + line("wotca_ocsp_cached_responses", "", r.size());
  auto oldest = r.oldest_this_update();
  std::uint64_t age = oldest == sys_seconds{} ? 0 : static_cast<std::uint64_t>((now - oldest).count());
  out += "# HELP wotca_ocsp_oldest_response_age_seconds Age of the oldest pre-signed response.\n";
  out += "# TYPE wotca_ocsp_oldest_response_age_seconds gauge\n" +
         line("wotca_ocsp_oldest_response_age_seconds", "", age);
  return out;
}

http_handler handler_for(std::shared_ptr<generation> g, const clock& clk) {
  return [g, &clk](const http_request& req) -> http_response {
    if (req.method == "GET" && req.raw_path == "/healthz") {
      http_response r;
      r.headers.emplace_back("Content-Type", "text/plain");
      r.body = std::string("ok\n");
      return r;
    }
    if (req.method == "GET" && req.raw_path == "/metrics") {
      http_response r;
      r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4");
      r.body = metrics_text(*g->responder, clk.now());
      return r;
    }
    return g->responder->respond(req, clk.now());
  };
}

int run(int argc, char** argv) {
  auto options = parse_daemon_arguments(argc, argv, "wotca-ocsp",
                                        "usage: wotca-ocsp [--config FILE] [--listen HOST:PORT]\n"
                                        "Answers OCSP (RFC 6960, RFC 5019) for the Class 1 and Class 3 CAs: GET /{base64}, POST.\n"
                                        "GET /healthz, GET /metrics (Prometheus). SIGHUP reloads, SIGTERM stops.");
  if (!options) return options.error();
  const std::string config_file = options->config_file.string();

  // Signals are taken by sigwait in this thread; every other thread inherits the mask.
  const sigset_t signals = block_daemon_signals();

  system_clock clk;
  auto first = make_generation(config_file, clk);
  if (!first) {
    log_line(describe(first.error()));
    return 3;
  }
  std::shared_ptr<generation> current = std::move(*first);
  listen_address listen = current->cfg.ocsp_listen;
  if (options->listen) listen = *options->listen;
  http_limits limits;
  limits.max_body_bytes = static_cast<std::size_t>(current->cfg.ocsp.max_request_bytes);
  limits.threads = static_cast<unsigned>(current->cfg.ocsp.threads);
  limits.max_connections = static_cast<unsigned>(current->cfg.ocsp.max_connections);
  limits.read_timeout = std::chrono::seconds(current->cfg.ocsp.read_timeout_seconds);
  auto server = http_server::start(listen.host, listen.port, limits, handler_for(current, clk));
  if (!server) {
    log_line(describe(server.error()));
    return 3;
  }
  log_line("listening on " + listen.host + ":" + std::to_string((*server)->port()));

  // The refresher follows the change feed of the current generation.
  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  std::thread refresher([&] {
    std::unique_lock lock(mu);
    while (!stopping) {
      std::shared_ptr<generation> g = current;
      const auto poll = std::chrono::milliseconds(g->cfg.ocsp.poll_milliseconds);
      lock.unlock();
      if (auto n = g->refresher->poll_once(); !n) log_line("refresh: " + describe(n.error()));
      lock.lock();
      wake.wait_for(lock, poll, [&] { return stopping; });
    }
  });

  serve_until_stopped("wotca-ocsp", signals, config_file, [&]() -> result<void> {
    auto next = make_generation(config_file, clk);
    if (!next) return unexpected(next.error());
    std::shared_ptr<generation> g = std::move(*next);
    {
      std::lock_guard lock(mu);
      current = g;
    }
    (*server)->set_handler(handler_for(g, clk));
    return {};
  });
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  wake.notify_all();
  refresher.join();
  (*server)->stop();
  log_line("stopped");
  return 0;
}

}  // namespace
}  // namespace wotca

int main(int argc, char** argv) { return wotca::daemon_main("wotca-ocsp", wotca::run, argc, argv); }
