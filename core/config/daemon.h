// What every wotca daemon does the same way before its own work: its
// command line (--config FILE, --listen HOST:PORT, --help) and its signals
// (SIGTERM/SIGINT stop, SIGHUP reloads, taken with sigwait by the main
// thread; SIGPIPE ignored).
#pragma once

#include <csignal>
#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>

#include "core/config/config.h"
#include "core/util/expected.h"

namespace wotca {

struct daemon_options {
  std::filesystem::path config_file;    // --config, else $WOTCA_CONFIG, else ./data/wotca.yaml
  std::optional<listen_address> listen;  // --listen overrides the configuration's address
};

// Parses the daemon's arguments. When the daemon must end at once, the
// error is its exit status: 0 after --help (`usage` printed to stdout), 2
// after a bad argument (a line "NAME: ..." on stderr naming it).
[[nodiscard]] expected<daemon_options, int> parse_daemon_arguments(int argc, char** argv, std::string_view name,
                                                                   std::string_view usage);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread, so that threads
// started after inherit the mask and only sigwait(returned set) sees them;
// ignores SIGPIPE (a peer closing is an error value on write, not a death).
[[nodiscard]] sigset_t block_daemon_signals();

// "NAME: text" as one line on stderr, in one write, so that the lines of
// several threads never interleave.
void daemon_log(std::string_view name, std::string_view text);

// The main thread once the daemon serves: waits in sigwait on `signals`
// (from block_daemon_signals) until SIGTERM or SIGINT, then returns. On
// SIGHUP it calls `reload`, which builds everything anew and switches to it
// only if all of it succeeded; its error is logged as "reload refused,
// still serving the previous configuration: ...", a success as "reloaded
// CONFIG_FILE".
void serve_until_stopped(std::string_view name, const sigset_t& signals, std::string_view config_file,
                         const std::function<result<void>()>& reload);

// A daemon's main(): `run`'s exit status; an exception that escaped it is
// logged as an internal error and the exit status is 3. Sets the allocator's
// trim threshold for a long-running, many-threaded process first.
int daemon_main(std::string_view name, int (*run)(int, char**), int argc, char** argv);

}  // namespace wotca
