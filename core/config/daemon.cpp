#include "core/config/daemon.h"

#include <malloc.h>
#include <pthread.h>

#include <cstdio>
#include <exception>
#include <string>

namespace wotca {

expected<daemon_options, int> parse_daemon_arguments(int argc, char** argv, std::string_view name,
                                                     std::string_view usage) {
  auto complain = [&](const std::string& what) {
    std::string line = std::string(name) + ": " + what + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
  daemon_options o;
  o.config_file = default_config_path("");
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fwrite(usage.data(), 1, usage.size(), stdout);
      std::fputc('\n', stdout);
      return unexpected<int>(0);
    }
    if (a != "--config" && a != "--listen") {
      complain("unknown argument '" + a + "' (see --help)");
      return unexpected<int>(2);
    }
    if (i + 1 >= argc) {
      complain(a + " needs a value (see --help)");
      return unexpected<int>(2);
    }
    const std::string value = argv[++i];
    if (a == "--config") {
      o.config_file = default_config_path(value);
    } else {
      auto l = parse_listen_address(value, "--listen");
      if (!l) {
        complain(describe(l.error()));
        return unexpected<int>(2);
      }
      o.listen = *l;
    }
  }
  return o;
}

void daemon_log(std::string_view name, std::string_view text) {
  std::string line;
  line.reserve(name.size() + text.size() + 3);
  line.append(name).append(": ").append(text).push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void serve_until_stopped(std::string_view name, const sigset_t& signals, std::string_view config_file,
                         const std::function<result<void>()>& reload) {
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig != SIGHUP) return;
    if (auto r = reload(); !r) {
      daemon_log(name, "reload refused, still serving the previous configuration: " + describe(r.error()));
      continue;
    }
    daemon_log(name, "reloaded " + std::string(config_file));
  }
}

int daemon_main(std::string_view name, int (*run)(int, char**), int argc, char** argv) {
  // glibc hands the free top of a thread's heap back to the kernel once it
  // passes 128 KiB, and a busy request thread frees and takes it back many
  // times a second: each hand-back is an madvise and a TLB shootdown on
  // every core (3% of wotca-acme's CPU under load). A daemon's threads keep
  // up to this much of their own peak instead.
  mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    daemon_log(name, std::string("internal error: ") + e.what());
    return 3;
  }
}

sigset_t block_daemon_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return signals;
}

}  // namespace wotca
