#include "core/net/socket.h"

#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>

namespace wotca {

void unique_fd::reset(int fd) noexcept {
  // Linux releases the descriptor even when close() reports EINTR, so it is
  // never retried (a retry could close a descriptor another thread just got).
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::uint16_t socket_address::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

std::optional<socket_address> parse_ip_literal(std::string_view ip, std::uint16_t port) {
  // inet_pton needs a terminated string; an embedded NUL must not cut the
  // text short and let "127.0.0.1\0junk" through.
  if (ip.empty() || ip.size() > INET6_ADDRSTRLEN || ip.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string text(ip);
  socket_address out;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out.length = sizeof(sockaddr_in);
    return out;
  }
  out.storage = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out.length = sizeof(sockaddr_in6);
    return out;
  }
  return std::nullopt;
}

bool same_endpoint(const sockaddr_storage& a, socklen_t a_length, const socket_address& b) {
  if (a.ss_family != b.family()) return false;
  if (a.ss_family == AF_INET) {
    if (a_length < static_cast<socklen_t>(sizeof(sockaddr_in))) return false;
    const auto* x = reinterpret_cast<const sockaddr_in*>(&a);
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b.storage);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    if (a_length < static_cast<socklen_t>(sizeof(sockaddr_in6))) return false;
    const auto* x = reinterpret_cast<const sockaddr_in6*>(&a);
    const auto* y = reinterpret_cast<const sockaddr_in6*>(&b.storage);
    return x->sin6_port == y->sin6_port && std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

std::string endpoint_text(std::string_view ip, std::uint16_t port) {
  std::string out;
  if (ip.find(':') != std::string_view::npos) {
    out = "[" + std::string(ip) + "]";
  } else {
    out = std::string(ip);
  }
  return out + ":" + std::to_string(port);
}

std::optional<socket_address> local_address(int fd) {
  socket_address out;
  out.length = sizeof(out.storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&out.storage), &out.length) != 0) return std::nullopt;
  return out;
}

wait_status wait_for(int fd, short events, deadline until) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - net_clock::now());
    if (left.count() <= 0) return wait_status::timed_out;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), INT_MAX)));
    if (n > 0) return wait_status::ready;  // including POLLERR/POLLHUP: the next call reports them
    if (n == 0) continue;                   // poll rounds down on some kernels; check the clock again
    if (errno != EINTR) return wait_status::failed;
  }
}

std::string errno_text(int error_number) { return std::generic_category().message(error_number); }

result<unique_fd> connect_tcp(const socket_address& to, deadline until, const std::string& where,
                              std::chrono::milliseconds budget) {
  unique_fd fd(::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fail(errc::io, where, "cannot create a TCP socket: " + errno_text(errno));
  if (::connect(fd.get(), to.get(), to.length) == 0) return fd;
  if (errno != EINPROGRESS) return fail(errc::io, where, "cannot connect: " + errno_text(errno));
  switch (wait_for(fd.get(), POLLOUT, until)) {
    case wait_status::ready: break;
    case wait_status::timed_out:
      return fail(errc::io, where, "no TCP connection within " + std::to_string(budget.count()) + " ms");
    case wait_status::failed: return fail(errc::io, where, "poll failed: " + errno_text(errno));
  }
  // The outcome of a non-blocking connect is in SO_ERROR once the socket is
  // writable (connect(2), EINPROGRESS).
  int so_error = 0;
  socklen_t len = sizeof so_error;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) so_error = errno;
  if (so_error != 0) return fail(errc::io, where, "cannot connect: " + errno_text(so_error));
  return fd;
}

result<void> send_all(int fd, std::span<const std::uint8_t> bytes, deadline until, const std::string& where,
                      std::chrono::milliseconds budget) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return fail(errc::io, where, "cannot send: " + errno_text(errno));
    }
    switch (wait_for(fd, POLLOUT, until)) {
      case wait_status::ready: break;
      case wait_status::timed_out:
        return fail(errc::io, where, "could not send the request within " + std::to_string(budget.count()) + " ms");
      case wait_status::failed: return fail(errc::io, where, "poll failed: " + errno_text(errno));
    }
  }
  return {};
}

}  // namespace wotca
