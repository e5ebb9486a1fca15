#include "core/pki/ossl.h"

#include <openssl/err.h>

namespace wotca {

std::string memory_bio_text(BIO& bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(&bio, &data);
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(len));
}

std::string drain_openssl_errors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace wotca
