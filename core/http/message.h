// The values an HTTP handler exchanges with the server adapter (STYLE.md 1;
// ARCHITECTURE.md "Why two HTTP stacks"). Protocol code includes this file
// and never server.h: a responder is a function from http_request to
// http_response, tested by building a request by hand, without a socket.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/util/encoding.h"  // equal_ignoring_case, for field names (RFC 9110 5.1)
#include "core/util/error.h"

namespace wotca {

// One request header field as received: name in the sender's case, value
// without the surrounding whitespace.
struct http_header {
  std::string_view name;
  std::string_view value;
};

// One request as received (STYLE.md 11 for the lifetimes). Every view points
// into the server's buffers for this request and stays valid only during the
// handler call; a handler that keeps anything copies it. A hand-built
// request (tests, fuzzers) owns its bytes however it likes.
struct http_request {
  std::string_view method;  // as sent: "GET", "POST", "HEAD", ...
  // The request target up to (not including) its first '?', exactly as
  // sent: not percent-decoded, '+' not turned into a space, nothing
  // normalised. OCSP GET puts base64 with '/' '+' '=' here, percent-encoded
  // or not, and clients send "//MEU..." when the AIA URL ends in '/'.
  std::string_view raw_path;
  // The target after its first '?', exactly as sent (SCEP's message=
  // carries base64); empty when there was none.
  std::string_view query;
  // The whole body, de-chunked; at most http_limits::max_body_bytes.
  std::string_view body;
  // Every header field in the order received; a repeated name appears as
  // often as it was sent.
  std::span<const http_header> headers;

  // The value of the first header field named `name`, compared ASCII
  // case-insensitively (RFC 9110 5.1: field names are case-insensitive).
  // Empty when absent; a field sent with an empty value reads the same.
  [[nodiscard]] std::string_view header(std::string_view name) const noexcept;
};

// A regular file held open so that responses send a region of it with
// sendfile(2), never copying it into user space: the CRL daemon serves CRLs
// of tens of megabytes this way. The descriptor stays open until the last
// shared_ptr goes, so a file replaced on disk (rename over it) keeps serving
// its old bytes to the responses already queued.
class open_file {
 public:
  // Opens `path` read-only and records its size. errc::io naming the path
  // when it cannot be opened or is not a regular file.
  [[nodiscard]] static result<std::shared_ptr<const open_file>> open(const std::string& path);

  open_file(const open_file&) = delete;
  open_file& operator=(const open_file&) = delete;
  ~open_file();

  [[nodiscard]] int fd() const noexcept { return fd_; }
  // The size when opened; the server refuses (500) a region beyond it.
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

 private:
  open_file(int fd, std::uint64_t size) noexcept : fd_(fd), size_(size) {}
  int fd_;
  std::uint64_t size_;
};

// `size` bytes of `file` from `offset`. A null file or a region past the
// file's size is a handler bug: the server answers 500.
struct file_body {
  std::shared_ptr<const open_file> file;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

// The three ways a body is held, so the hot paths copy nothing:
//  - std::string: bytes the handler made for this response, moved to the
//    server and freed once sent;
//  - shared_ptr<const std::string>: immutable bytes shared with a cache (the
//    OCSP responder's pre-signed answers); the server holds one reference
//    until the response is sent, then drops it. A null pointer is an empty
//    body;
//  - file_body: a region of an open file, sent with sendfile(2).
using http_body = std::variant<std::string, std::shared_ptr<const std::string>, file_body>;

struct http_response {
  int status = 200;  // outside 100..599 the server answers 500 instead
  // Added as given, in order. The server adds Date, Content-Length and,
  // when it closes, Connection; a handler must not set Content-Length, and
  // a name or value with CR, LF or NUL (or a tab in the name) is a handler
  // bug that the server answers with 500.
  std::vector<std::pair<std::string, std::string>> headers;
  http_body body;
};

}  // namespace wotca
