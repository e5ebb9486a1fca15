// Socket plumbing shared by the DNS client and the HTTP fetcher (and their
// tests): an owning file descriptor, IP literals as socket addresses, and
// waits bounded by one deadline for a whole exchange. Internal to core/net;
// nothing here knows a protocol.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "core/util/error.h"

namespace wotca {

// Owns one file descriptor and closes it exactly once (STYLE.md 8, for
// descriptors). Moved-from and default-constructed objects hold -1.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  // Closes the descriptor held (if any) and takes `fd`.
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// An IPv4 or IPv6 address and a port, ready for connect/bind/sendto.
struct socket_address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  [[nodiscard]] int family() const noexcept { return storage.ss_family; }
  [[nodiscard]] const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  [[nodiscard]] std::uint16_t port() const noexcept;
};

// A dotted-quad IPv4 or an IPv6 literal (no brackets, no zone id) as
// inet_pton reads it; nullopt for anything else, host names included.
[[nodiscard]] std::optional<socket_address> parse_ip_literal(std::string_view ip, std::uint16_t port);
// Same family, address and port (what recvfrom reported against what we sent to).
[[nodiscard]] bool same_endpoint(const sockaddr_storage& a, socklen_t a_length, const socket_address& b);
// "192.0.2.1:53" or "[2001:db8::1]:53", for messages.
[[nodiscard]] std::string endpoint_text(std::string_view ip, std::uint16_t port);
// The address and port a socket is bound to (tests bind port 0 and ask).
[[nodiscard]] std::optional<socket_address> local_address(int fd);

using net_clock = std::chrono::steady_clock;
using deadline = net_clock::time_point;

enum class wait_status { ready, timed_out, failed };
// poll() for `events` on `fd` until `until`, retrying on EINTR; on failed,
// errno says why.
[[nodiscard]] wait_status wait_for(int fd, short events, deadline until);

// A non-blocking TCP connection to `to`, established before `until`.
// errc::io with `where` on refusal, unreachability or timeout (`budget` is
// the whole exchange's time, quoted in the message).
[[nodiscard]] result<unique_fd> connect_tcp(const socket_address& to, deadline until, const std::string& where,
                                            std::chrono::milliseconds budget);
// Writes all of `bytes` to a non-blocking socket before `until` (no
// SIGPIPE: a peer that went away is an errc::io error).
[[nodiscard]] result<void> send_all(int fd, std::span<const std::uint8_t> bytes, deadline until,
                                    const std::string& where, std::chrono::milliseconds budget);

// strerror for errno values, as a string (thread-safe).
[[nodiscard]] std::string errno_text(int error_number);

}  // namespace wotca
