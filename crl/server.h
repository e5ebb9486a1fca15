// What wotca-crl serves over HTTP, as a value (STYLE.md 1): the CRL folder's
// files by fixed names, with the HTTP caching a CDN needs. A file under
// memory_limit (the CA certificates, the CRLs of most issuers) is read once
// and served as shared immutable bytes; a larger one is held open and sent
// with sendfile (no copy of a CRL of tens of megabytes). Every header value
// but max-age is formatted once per file, not per request.
//
//   GET|HEAD /class1.crl        application/pkix-crl (DER)        RFC 5280 5, RFC 2585 3
//            /class1.crl.pem    application/x-pem-file            RFC 7468
//            /class1-delta.crl, /class1-delta.crl.pem, likewise class3, root
//            /class1.crt ...    application/pkix-cert (the caIssuers URLs)
//   ETag from the file's identity (inode, size, mtime), Last-Modified =
//   thisUpdate, Expires = nextUpdate, Cache-Control max-age up to nextUpdate;
//   If-None-Match / If-Modified-Since answered 304; any other path 404;
//   methods other than GET and HEAD 405.
//
// The folder is the truth: refresh() looks at each file and, when it was
// replaced (by this daemon or by `wotca crl generate`), opens (or reads) the
// new one; a file is known by its identity (inode, size, mtime). Requests
// already being answered keep the bytes or the file they started with.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/http/message.h"
#include "core/util/time.h"

namespace wotca {

// thisUpdate and nextUpdate of a CRL, read from the first bytes of its DER
// (the TBSCertList up to nextUpdate; the rest need not be there). Bounds
// checked: errc::invalid_input for anything that is not the start of a
// CertificateList.
struct crl_head {
  sys_seconds this_update{};
  std::optional<sys_seconds> next_update;
};
[[nodiscard]] result<crl_head> read_crl_head(std::span<const std::uint8_t> prefix);

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7) and back; parse accepts
// only this IMF-fixdate form and returns nullopt for anything else.
[[nodiscard]] std::string http_date(sys_seconds t);
[[nodiscard]] std::optional<sys_seconds> parse_http_date(std::string_view s);

class crl_files {
 public:
  // Serves the files of `dir` whose names `names` lists (e.g. "class1.crl";
  // the ".pem" beside each ".crl" is served too). Files of at most
  // `memory_limit` bytes are served from memory, larger ones from the file.
  static constexpr std::uint64_t default_memory_limit = 1 << 20;
  crl_files(std::filesystem::path dir, std::vector<std::string> names,
            std::uint64_t memory_limit = default_memory_limit);

  // Opens every file that appeared or was replaced since the last call,
  // forgets those that vanished. Returns the names it (re)opened. Safe to
  // call while respond() runs on other threads.
  std::vector<std::string> refresh();

  // The answer to one request at `now`. Thread-safe.
  [[nodiscard]] http_response respond(const http_request& req, sys_seconds now) const;

 private:
  struct served {
    // Exactly one is set: the whole file's bytes, or the open file.
    std::shared_ptr<const std::string> bytes;
    std::shared_ptr<const open_file> file;
    std::string content_type;
    std::string etag;
    std::string last_modified;
    std::string expires;  // empty without a nextUpdate
    sys_seconds modified{};
    std::optional<sys_seconds> next_update;
    std::uint64_t inode = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
  };

  std::filesystem::path dir_;
  std::uint64_t memory_limit_;
  std::vector<std::string> names_;  // served names, with the .pem variants
  mutable std::mutex mutex_;        // guards files_; held only to copy a pointer
  std::map<std::string, std::shared_ptr<const served>, std::less<>> files_;
};

}  // namespace wotca
