// wotca-crl: reads the configuration, publishes the CRLs of the root and the
// issuing CAs into the CRL folder, follows the change feed to publish again
// (debounced) after revocations, re-signs before nextUpdate, and serves the
// folder over HTTP until SIGTERM. SIGHUP reloads the configuration and the
// CA material and swaps the handler without dropping connections.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/ca/material.h"
#include "core/config/config.h"
#include "core/config/daemon.h"
#include "core/http/server.h"
#include "core/status/crl.h"
#include "core/store/sqlite_store.h"
#include "crl/publisher.h"
#include "crl/schedule.h"
#include "crl/server.h"

namespace wotca {
namespace {

void log_line(const std::string& s) { daemon_log("wotca-crl", s); }

const std::vector<issuer_class> issuers{issuer_class::root, issuer_class::class1, issuer_class::class3};

std::vector<std::string> served_names(bool delta) {
  std::vector<std::string> names;
  for (auto i : issuers) {
    names.push_back(crl_file_name(i, false));
    if (delta) names.push_back(crl_file_name(i, true));
    names.push_back(std::string(to_string(i)) + ".crt");
  }
  return names;
}

crl_schedule_settings schedule_settings(const config& c) {
  crl_schedule_settings s;
  s.debounce = std::chrono::seconds(c.crl.debounce_seconds);
  s.validity = std::chrono::days(c.crl.validity_days);
  s.refresh_before = c.crl.refresh_hours > 0 ? std::chrono::seconds(std::chrono::hours(c.crl.refresh_hours))
                                             : s.validity / 2;
  s.delta = c.crl.delta;
  s.delta_validity = std::chrono::minutes(c.crl.delta_minutes);
  return s;
}

// What /metrics reports of the last CRL of each kind and issuer.
struct crl_metrics {
  std::mutex mu;
  std::map<std::string, published_crl> last;
  std::uint64_t generations = 0;
  std::uint64_t failures = 0;
};

// Everything one configuration makes: replaced whole on SIGHUP.
struct generation {
  config cfg;
  std::unique_ptr<sqlite_store> db;
  ca_material ca;
  std::unique_ptr<crl_publisher> publisher;
  std::unique_ptr<crl_files> files;
};

result<std::unique_ptr<generation>> make_generation(const std::string& config_file, const clock& clk) {
  auto g = std::make_unique<generation>();
  auto c = load_config(config_file);
  if (!c) return unexpected(c.error());
  g->cfg = std::move(*c);
  auto db = sqlite_store::open(g->cfg.database, open_mode::existing);
  if (!db) return unexpected(db.error());
  g->db = std::move(*db);
  auto ca = load_ca(g->cfg);
  if (!ca) return unexpected(ca.error());
  g->ca = std::move(*ca);
  g->publisher = std::make_unique<crl_publisher>(*g->db, g->ca, crl_settings_from(g->cfg), clk);
  if (auto r = g->publisher->publish_certificates(); !r) return unexpected(r.error());
  remove_stale_crl_temporaries(g->cfg.crl_dir(), std::chrono::hours(1));
  g->files = std::make_unique<crl_files>(g->cfg.crl_dir(), served_names(g->cfg.crl.delta));
  g->files->refresh();
  if (g->cfg.crl.shards > 0) {
    log_line("crl.shards is " + std::to_string(g->cfg.crl.shards) +
             ", but partitioned CRLs are not implemented: publishing one complete CRL per issuer");
  }
  return g;
}

std::string metrics_text(crl_metrics& m, sys_seconds now) {
  std::lock_guard lock(m.mu);
  std::string out;
  auto each = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [key, p] : m.last) {
      out += std::string(name) + "{issuer=\"" + std::string(to_string(p.issuer)) + "\",kind=\"" +
             (p.delta ? "delta" : "complete") + "\"} " + value(p) + "\n";
    }
  };
  each("wotca_crl_number", "gauge", "CRL number of the last CRL published.",
       [](const published_crl& p) { return std::to_string(p.number); });
  each("wotca_crl_entries", "gauge", "Revoked certificates on the last CRL.",
       [](const published_crl& p) { return std::to_string(p.entries); });
  each("wotca_crl_bytes", "gauge", "Size of the last CRL (DER).",
       [](const published_crl& p) { return std::to_string(p.bytes); });
  each("wotca_crl_age_seconds", "gauge", "Seconds since the last CRL's thisUpdate.",
       [now](const published_crl& p) { return std::to_string((now - p.this_update).count()); });
  each("wotca_crl_next_update_seconds", "gauge", "Seconds until the last CRL's nextUpdate.",
       [now](const published_crl& p) { return std::to_string((p.next_update - now).count()); });
  each("wotca_crl_generation_seconds", "gauge", "How long the last CRL took to generate.",
       [](const published_crl& p) {
         char buf[32];
         std::snprintf(buf, sizeof buf, "%.6f", std::chrono::duration<double>(p.took).count());
         return std::string(buf);
       });
  out += "# TYPE wotca_crl_generations_total counter\nwotca_crl_generations_total " + std::to_string(m.generations) + "\n";
  out += "# TYPE wotca_crl_failures_total counter\nwotca_crl_failures_total " + std::to_string(m.failures) + "\n";
  return out;
}

http_handler handler_for(std::shared_ptr<generation> g, crl_metrics& metrics, const clock& clk) {
  return [g, &metrics, &clk](const http_request& req) -> http_response {
    if (req.method == "GET" && req.raw_path == "/healthz") {
      http_response r;
      r.headers.emplace_back("Content-Type", "text/plain");
      r.body = std::string("ok\n");
      return r;
    }
    if (req.method == "GET" && req.raw_path == "/metrics") {
      http_response r;
      r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4");
      r.body = metrics_text(metrics, clk.now());
      return r;
    }
    return g->files->respond(req, clk.now());
  };
}

int run(int argc, char** argv) {
  auto options = parse_daemon_arguments(argc, argv, "wotca-crl",
                                        "usage: wotca-crl [--config FILE] [--listen HOST:PORT]\n"
                                        "Publishes the CRLs (RFC 5280) of the root, Class 1 and Class 3 CAs into DATA/crl/, again within\n"
                                        "crl.debounce_seconds of a revocation and before nextUpdate, and serves them:\n"
                                        "GET /{root,class1,class3}.crl[.pem], /{issuer}-delta.crl[.pem], /{issuer}.crt,\n"
                                        "GET /healthz, GET /metrics (Prometheus). SIGHUP reloads, SIGTERM stops.");
  if (!options) return options.error();
  const std::string config_file = options->config_file.string();

  // Signals are taken by sigwait in this thread; every other thread inherits the mask.
  const sigset_t signals = block_daemon_signals();

  system_clock clk;
  crl_metrics metrics;
  auto first = make_generation(config_file, clk);
  if (!first) {
    log_line(describe(first.error()));
    return 3;
  }
  std::shared_ptr<generation> current = std::move(*first);
  listen_address listen = current->cfg.crl_listen;
  if (options->listen) listen = *options->listen;
  http_limits limits;
  limits.max_body_bytes = 0;  // requests carry no body
  // A CRL request is a request line and a few header fields. libmicrohttpd
  // 0.9.75 clears a connection's whole memory pool between requests: at the
  // adapter's default of 32 KiB that memset alone took 8% of a worker's
  // time serving a small CRL. 8 KiB holds any header a CRL client sends
  // (nginx's default buffer for one header line is 8k); more is 431.
  limits.max_header_bytes = 8192;
  limits.threads = static_cast<unsigned>(current->cfg.crl.threads);
  limits.max_connections = static_cast<unsigned>(current->cfg.crl.max_connections);
  limits.read_timeout = std::chrono::seconds(current->cfg.crl.read_timeout_seconds);
  auto server = http_server::start(listen.host, listen.port, limits, handler_for(current, metrics, clk));
  if (!server) {
    log_line(describe(server.error()));
    return 3;
  }
  log_line("listening on " + listen.host + ":" + std::to_string((*server)->port()));

  // The publisher thread: follows the change feed of the current generation
  // and publishes what the schedule says is due. A reload starts a new
  // schedule, which publishes everything once (the settings may have changed).
  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  bool reloaded = false;
  std::thread publisher([&] {
    std::unique_lock lock(mu);
    std::shared_ptr<generation> g;
    std::optional<crl_schedule> schedule;
    std::int64_t seq = 0;
    while (!stopping) {
      if (g != current || reloaded) {
        g = current;
        reloaded = false;
        schedule.emplace(schedule_settings(g->cfg), issuers);
        lock.unlock();
        // Changes from here on are followed; everything is published once now.
        auto head = g->db->read([&](transaction& tx) -> result<void> {
          auto h = tx.changes().head();
          if (!h) return unexpected(h.error());
          seq = *h;
          return {};
        });
        if (!head) log_line("change feed: " + describe(head.error()));
        lock.lock();
        continue;
      }
      const auto poll = std::chrono::milliseconds(g->cfg.crl.poll_milliseconds);
      lock.unlock();
      const sys_seconds now = clk.now();
      // Revocations since the last look.
      for (;;) {
        std::vector<change_event> events;
        auto r = g->db->read([&](transaction& tx) -> result<void> {
          auto e = tx.changes().after(seq, 10000);
          if (!e) return unexpected(e.error());
          events = std::move(*e);
          return {};
        });
        if (!r) {
          log_line("change feed: " + describe(r.error()));
          break;
        }
        for (const auto& e : events) {
          seq = e.seq;
          if (e.kind == "revoke") schedule->changed(e.issuer, now);
        }
        if (events.size() < 10000) break;
      }
      for (const auto& job : schedule->due(now)) {
        schedule->started(job);
        auto done = g->publisher->publish(job.issuer, job.full, job.delta);
        if (!done) {
          schedule->failed(job, clk.now());
          std::lock_guard m(metrics.mu);
          ++metrics.failures;
          log_line("publishing the CRL of " + std::string(to_string(job.issuer)) + " failed: " + describe(done.error()));
          continue;
        }
        for (const auto& p : *done) {
          schedule->published(p.issuer, p.delta, p.next_update);
          {
            std::lock_guard m(metrics.mu);
            metrics.last[crl_file_name(p.issuer, p.delta)] = p;
            ++metrics.generations;
          }
          log_line("published " + p.path.filename().string() + " number " + std::to_string(p.number) + " with " +
                   std::to_string(p.entries) + " entries, " + std::to_string(p.bytes) + " bytes, in " +
                   std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(p.took).count()) + " ms");
        }
      }
      g->files->refresh();
      lock.lock();
      const auto next = schedule->next_due();
      auto wait = poll;
      if (next > clk.now() && next - clk.now() < wait) wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - clk.now());
      wake.wait_for(lock, wait, [&] { return stopping || g != current; });
    }
  });

  serve_until_stopped("wotca-crl", signals, config_file, [&]() -> result<void> {
    auto next = make_generation(config_file, clk);
    if (!next) return unexpected(next.error());
    std::shared_ptr<generation> g = std::move(*next);
    {
      std::lock_guard lock(mu);
      current = g;
      reloaded = true;
    }
    wake.notify_all();
    (*server)->set_handler(handler_for(g, metrics, clk));
    return {};
  });
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  wake.notify_all();
  publisher.join();
  (*server)->stop();
  log_line("stopped");
  return 0;
}

}  // namespace
}  // namespace wotca

int main(int argc, char** argv) { return wotca::daemon_main("wotca-crl", wotca::run, argc, argv); }
