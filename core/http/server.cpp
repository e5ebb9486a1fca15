#include "core/http/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

// What libmicrohttpd 0.9.75 does with a request, found by probing it (the
// tests in tests/unit/http/server_test.cpp pin each point):
//  - The URI log callback receives the request target exactly as sent,
//    query included, before any parsing.
//  - MHD then cuts the target at its first '?' (writing a NUL there) and
//    parses the query in place: it turns '+' into ' ' and runs the unescape
//    callback over every name and value, so the raw query is gone by the
//    time the access handler runs. We copy it in the URI log callback.
//  - The unescape callback is the only decoding MHD applies to the path:
//    with one that changes nothing, the `url` the access handler receives
//    is the path exactly as sent ("//MEU%2BAB/x+y=" stays so).
//  - MHD_queue_response succeeds on the first access-handler call (headers
//    only) and on the last (body complete), never while a body is being
//    read: it returns MHD_NO and MHD closes the connection.
//  - Answering before reading a body makes MHD add "Connection: close".
//  - HEAD: MHD sends a response's headers, Content-Length included, and
//    never its body.
//  - MHD_OPTION_LISTENING_ADDRESS_REUSE 1 sets SO_REUSEPORT, which lets a
//    second daemon listen on the same port and take half its connections;
//    without the option MHD still sets SO_REUSEADDR, which is what a restart
//    needs while old connections sit in TIME_WAIT. So we leave it unset.

namespace wotca {
namespace {

// What must outlive one access-handler call: created when MHD has read the
// request line, freed when MHD reports the request finished, however it
// finished.
struct request_state {
  std::string query;  // copied before MHD rewrites it in place
  std::string body;
  bool headers_seen = false;  // the first access-handler call has been made
  // The body broke max_body_bytes: it is read and dropped, and 413 answers
  // it once it has ended. `discarded` counts what was dropped.
  bool refused = false;
  std::size_t discarded = 0;
};

// Whether the client waits for 100 Continue before sending its body.
bool expects_continue(MHD_Connection* connection) noexcept {
  const char* text = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
  if (text == nullptr) return false;
  return equal_ignoring_case(text, "100-continue");  // RFC 9110 10.1.1: case-insensitive
}

// Leaves the path (and query parameters MHD parses for itself, which we do
// not use) exactly as received; returns the length MHD must keep.
std::size_t keep_raw(void*, MHD_Connection*, char* s) noexcept { return std::strlen(s); }

void* begin_request(void*, const char* uri, MHD_Connection*) noexcept {
  try {
    auto state = std::make_unique<request_state>();
    if (const char* q = std::strchr(uri, '?')) state->query.assign(q + 1);
    return state.release();
  } catch (...) {
    return nullptr;  // the access handler answers 500
  }
}

void end_request(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) noexcept {
  delete static_cast<request_state*>(*con_cls);
  *con_cls = nullptr;
}

MHD_Result queue_empty(MHD_Connection* connection, unsigned status) noexcept {
  MHD_Response* response = MHD_create_response_from_buffer(0, const_cast<char*>(""), MHD_RESPMEM_PERSISTENT);
  if (response == nullptr) return MHD_NO;
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued;
}

template <class Holder>
void delete_holder(void* holder) noexcept {
  delete static_cast<Holder*>(holder);
}

// The MHD response for a body, or nullptr when it cannot be made. Owned and
// shared bytes are handed to MHD in place, with a free callback that drops
// them when MHD destroys the response (after the last byte is sent).
MHD_Response* make_body(http_body& body) noexcept {
  if (auto* owned = std::get_if<std::string>(&body)) {
    auto* holder = new (std::nothrow) std::string(std::move(*owned));
    if (holder == nullptr) return nullptr;
    MHD_Response* response = MHD_create_response_from_buffer_with_free_callback_cls(
        holder->size(), holder->data(), &delete_holder<std::string>, holder);
    if (response == nullptr) delete holder;
    return response;
  }
  if (auto* shared = std::get_if<std::shared_ptr<const std::string>>(&body)) {
    if (*shared == nullptr) return MHD_create_response_from_buffer(0, const_cast<char*>(""), MHD_RESPMEM_PERSISTENT);
    using holder_type = std::shared_ptr<const std::string>;
    auto* holder = new (std::nothrow) holder_type(std::move(*shared));
    if (holder == nullptr) return nullptr;
    // MHD only reads the buffer; its parameter is not const-qualified.
    MHD_Response* response = MHD_create_response_from_buffer_with_free_callback_cls(
        (*holder)->size(), const_cast<char*>((*holder)->data()), &delete_holder<holder_type>, holder);
    if (response == nullptr) delete holder;
    return response;
  }
  const auto& file = std::get<file_body>(body);
  if (file.file == nullptr || file.offset > file.file->size() || file.size > file.file->size() - file.offset) {
    return nullptr;
  }
  // MHD closes the descriptor it is given when the response is destroyed,
  // and the open_file may serve other responses meanwhile: give it a
  // duplicate. sendfile and pread take explicit offsets, so the shared file
  // position does not matter.
  const int fd = ::fcntl(file.file->fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  MHD_Response* response = MHD_create_response_from_fd_at_offset64(file.size, fd, file.offset);
  if (response == nullptr) ::close(fd);
  return response;
}

[[nodiscard]] bool header_text_ok(const std::string& text) noexcept { return text.find('\0') == std::string::npos; }

MHD_Result queue(MHD_Connection* connection, http_response& answer) noexcept {
  if (answer.status < 100 || answer.status > 599) return queue_empty(connection, MHD_HTTP_INTERNAL_SERVER_ERROR);
  MHD_Response* response = make_body(answer.body);
  if (response == nullptr) return queue_empty(connection, MHD_HTTP_INTERNAL_SERVER_ERROR);
  for (const auto& [name, value] : answer.headers) {
    // MHD refuses CR, LF (and a tab in names) itself; a NUL would silently
    // cut the text short, so it is refused here.
    if (!header_text_ok(name) || !header_text_ok(value) ||
        MHD_add_response_header(response, name.c_str(), value.c_str()) != MHD_YES) {
      MHD_destroy_response(response);
      return queue_empty(connection, MHD_HTTP_INTERNAL_SERVER_ERROR);
    }
  }
  const MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned>(answer.status), response);
  MHD_destroy_response(response);  // the connection holds its own reference until sent
  return queued;
}

MHD_Result collect_header(void* cls, MHD_ValueKind, const char* key, std::size_t key_size, const char* value,
                          std::size_t value_size) noexcept {
  auto& headers = *static_cast<std::vector<http_header>*>(cls);
  // MHD 0.9.75 drops the whitespace before a value but keeps the whitespace
  // after it, which RFC 9110 5.5 says is not part of the value either.
  std::string_view text = value == nullptr ? std::string_view() : std::string_view(value, value_size);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  try {
    headers.push_back({std::string_view(key, key_size), text});
    return MHD_YES;
  } catch (...) {
    return MHD_NO;  // stops the iteration; the handler sees fewer headers
  }
}

http_response call_handler(const std::shared_ptr<const http_handler>& handler, const http_request& request) noexcept {
  try {
    return (*handler)(request);
  } catch (...) {
    // Neither the message nor the type goes to the client; the handler
    // broke STYLE.md 7 and the fix belongs there.
    return http_response{500, {}, {}};
  }
}

// The body size a request declares, or nullopt when it declares none.
// MHD has already refused a malformed Content-Length with 400; a value too
// large for size_t reads as the largest one.
std::optional<std::size_t> declared_length(MHD_Connection* connection) noexcept {
  const char* text = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (text == nullptr) return std::nullopt;
  std::size_t length = 0;
  const char* end = text + std::strlen(text);
  const auto [ptr, ec] = std::from_chars(text, end, length);
  if (ec == std::errc::result_out_of_range) return std::numeric_limits<std::size_t>::max();
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return length;
}

// The signatures MHD reads these options back as (its header names no
// types for them).
using unescape_callback = std::size_t (*)(void*, MHD_Connection*, char*);
using uri_log_callback = void* (*)(void*, const char*, MHD_Connection*);

struct listen_address {
  sockaddr_storage storage{};
  bool ipv6 = false;
  bool any = false;  // "::": accept IPv4 on the same socket as well
};

std::optional<listen_address> parse_host(std::string_view host, std::uint16_t port) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string text(host);  // inet_pton wants a NUL-terminated string
  listen_address out;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return out;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out.ipv6 = true;
    out.any = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
    return out;
  }
  return std::nullopt;
}

}  // namespace

struct http_server::callbacks {
  static MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url, const char* method,
                               const char*, const char* upload_data, std::size_t* upload_data_size,
                               void** con_cls) noexcept {
    const auto& server = *static_cast<const http_server*>(cls);
    auto* state = static_cast<request_state*>(*con_cls);
    if (state == nullptr) return queue_empty(connection, MHD_HTTP_INTERNAL_SERVER_ERROR);  // out of memory

    const http_limits& limits = server.limits_;
    if (!state->headers_seen) {
      // First call: headers only. A body declared too large is refused.
      // libmicrohttpd has no lingering close: when it answers before the
      // body's end, it closes a socket with unread bytes, the kernel resets
      // the connection, and a client still sending may lose the answer
      // (curl then reports "failed sending data"). So the 413 is sent now
      // only to a client that waits for 100-continue and so sends nothing
      // more, or for a body beyond max_discarded_bytes, which is not worth
      // reading. Any other body is read, dropped, and answered after its end.
      state->headers_seen = true;
      if (const auto length = declared_length(connection)) {
        if (*length > limits.max_body_bytes) {
          if (expects_continue(connection) || *length > limits.max_discarded_bytes) {
            return queue_empty(connection, MHD_HTTP_CONTENT_TOO_LARGE);
          }
          state->refused = true;
          return MHD_YES;
        }
        try {
          state->body.reserve(*length);
        } catch (...) {
          return queue_empty(connection, MHD_HTTP_INTERNAL_SERVER_ERROR);
        }
      }
      return MHD_YES;
    }

    if (*upload_data_size != 0) {
      const std::size_t size = *upload_data_size;
      *upload_data_size = 0;
      // Only a chunked body can outgrow the limit here (MHD reads exactly
      // Content-Length bytes); from then on it is dropped like one declared
      // too large.
      if (!state->refused && size > limits.max_body_bytes - state->body.size()) {
        state->refused = true;
        state->discarded = state->body.size();
        std::string().swap(state->body);
      }
      if (state->refused) {
        state->discarded += size;
        // MHD cannot answer in the middle of a body: beyond what is worth
        // reading, the connection is closed without an answer.
        return state->discarded > limits.max_discarded_bytes ? MHD_NO : MHD_YES;
      }
      try {
        state->body.append(upload_data, size);
      } catch (...) {
        return MHD_NO;
      }
      return MHD_YES;
    }

    // The body has been read whole, and dropped: the connection is still
    // framed, so it may serve the client's next request.
    if (state->refused) return queue_empty(connection, MHD_HTTP_CONTENT_TOO_LARGE);

    // The request is complete. Header views point into MHD's connection
    // memory, valid until the request ends; the vector is per thread and
    // reused, so the hot path allocates nothing here once warm.
    thread_local std::vector<http_header> headers;
    headers.clear();
    MHD_get_connection_values_n(connection, MHD_HEADER_KIND, &collect_header, &headers);
    const http_request request{method, std::string_view(url), state->query, state->body, headers};
    http_response answer = call_handler(server.current_handler(), request);
    return queue(connection, answer);
  }
};

http_server::http_server(const http_limits& limits, std::shared_ptr<const http_handler> handler)
    : limits_(limits), handler_(std::move(handler)) {}

http_server::~http_server() { stop(); }

result<std::unique_ptr<http_server>> http_server::start(const std::string& host, std::uint16_t port,
                                                        const http_limits& limits, http_handler handler) {
  if (!handler) return fail(errc::invalid_input, "http handler", "no handler was given to serve requests with");
  const auto address = parse_host(host, port);
  if (!address) {
    return fail(errc::invalid_input, "http host",
                "'" + host + "' is not an IPv4 or IPv6 address (use 0.0.0.0 or :: to listen on every address)");
  }
  const std::string endpoint = address->ipv6 ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);

  unsigned threads = limits.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  // MHD takes unsigned int seconds; a larger timeout is as good as none.
  const auto seconds = limits.read_timeout.count();
  const unsigned timeout = seconds <= 0 ? 0u
                           : std::cmp_greater(seconds, std::numeric_limits<unsigned>::max())
                               ? std::numeric_limits<unsigned>::max()
                               : static_cast<unsigned>(seconds);

  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
  if (address->ipv6) flags |= address->any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;

  std::unique_ptr<http_server> server(
      new http_server(limits, std::make_shared<const http_handler>(std::move(handler))));
  errno = 0;
  // Each variadic argument has the exact type MHD reads it back as.
  server->daemon_ = MHD_start_daemon(
      flags, port, nullptr, nullptr, &callbacks::on_request, server.get(),                         //
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<const sockaddr*>(&address->storage),                   //
      MHD_OPTION_THREAD_POOL_SIZE, threads,                                                         //
      MHD_OPTION_CONNECTION_LIMIT, limits.max_connections,                                          //
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits.max_header_bytes,                                  //
      MHD_OPTION_CONNECTION_TIMEOUT, timeout,                                                       //
      MHD_OPTION_UNESCAPE_CALLBACK, static_cast<unescape_callback>(&keep_raw), nullptr,           //
      MHD_OPTION_URI_LOG_CALLBACK, static_cast<uri_log_callback>(&begin_request), nullptr,           //
      MHD_OPTION_NOTIFY_COMPLETED, static_cast<MHD_RequestCompletedCallback>(&end_request), nullptr,  //
      MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    const int saved = errno;
    return fail(errc::io, "http " + endpoint,
                "cannot listen: " + std::string(saved != 0 ? std::strerror(saved) : "libmicrohttpd refused to start"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = (info != nullptr && info->port != 0) ? info->port : port;
  return server;
}

void http_server::set_handler(http_handler handler) {
  auto replacement = std::make_shared<const http_handler>(std::move(handler));
  const std::lock_guard lock(handler_mutex_);
  handler_.swap(replacement);
  // The old handler is destroyed (if no request still holds it) after the
  // lock is released, when `replacement` goes out of scope.
}

std::shared_ptr<const http_handler> http_server::current_handler() const noexcept {
  const std::lock_guard lock(handler_mutex_);
  return handler_;
}

void http_server::stop() noexcept {
  if (daemon_ != nullptr) MHD_stop_daemon(std::exchange(daemon_, nullptr));
}

}  // namespace wotca
