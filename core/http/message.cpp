#include "core/http/message.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wotca {

std::string_view http_request::header(std::string_view name) const noexcept {
  // A linear scan: requests carry a handful of fields, fewer than a hash
  // table would need to pay for itself.
  for (const http_header& h : headers) {
    if (equal_ignoring_case(h.name, name)) return h.value;
  }
  return {};
}

result<std::shared_ptr<const open_file>> open_file::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errc::io, path, std::string("cannot open for serving: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int saved = errno;
    ::close(fd);
    return fail(errc::io, path, std::string("cannot stat: ") + std::strerror(saved));
  }
  // sendfile(2) needs a file with a size; a FIFO or device would block a
  // server thread or send forever.
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(errc::io, path, "is not a regular file, so it cannot be served");
  }
  // The constructor is private so that every open_file came from here and
  // owns a descriptor; make_shared cannot reach it.
  return std::shared_ptr<const open_file>(new open_file(fd, static_cast<std::uint64_t>(st.st_size)));
}

open_file::~open_file() { ::close(fd_); }

}  // namespace wotca
