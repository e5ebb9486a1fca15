// What every wotca daemon does the same way before its own work: its
// command line (--config FILE, --listen HOST:PORT, --help) and its signals
// (SIGTERM/SIGINT stop, SIGHUP reloads, taken with sigwait by the main
// thread; SIGPIPE ignored).
#pragma once

#include <csignal>
#include <filesystem>
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

}  // namespace wotca
