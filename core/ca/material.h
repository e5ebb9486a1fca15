// The CA's own keys and certificates on disk, and `wotca init`, which makes
// them (ARCHITECTURE.md "Trust hierarchy made by wotca init").
//
// Layout under the data folder:
//   keys/            0700; every file 0600
//     root.key class1.key class3.key class1-ocsp.key class3-ocsp.key
//     scep-ra.key acme-tls.key
//   public/          0755; certificates anyone may have
//     root.pem class1.pem class3.pem class1-ocsp.pem class3-ocsp.pem
//     scep-ra.pem acme-tls.pem (leaf + class3 chain)
#pragma once

#include <filesystem>
#include <string>

#include "core/config/config.h"
#include "core/pki/issuer.h"
#include "core/util/random.h"
#include "core/util/time.h"

namespace wotca {

// Paths of one named CA object ("root", "class1", "class3-ocsp", ...).
[[nodiscard]] std::filesystem::path key_path(const config& c, std::string_view name);
[[nodiscard]] std::filesystem::path cert_path(const config& c, std::string_view name);

// The URLs a certificate issued by `issuer` carries (urls.ocsp, and
// urls.crl_base + "class3.crl" / "class3.crt").
[[nodiscard]] issuer_urls urls_for(const config& c, issuer_class issuer);

struct ca_material {
  ca_signer root;
  ca_signer class1;
  ca_signer class3;
  [[nodiscard]] const ca_signer& signer_for(issuer_class c) const {
    switch (c) {
      case issuer_class::root: return root;
      case issuer_class::class1: return class1;
      case issuer_class::class3: return class3;
    }
    return class3;
  }
};

// Loads one named CA object (certificate public/NAME.pem, key
// keys/NAME.key, mode 0600) and checks that the key is the certificate's.
[[nodiscard]] result<ca_signer> load_signer(const config& c, std::string_view name);

// Loads root, class1 and class3 (certificate and key). Keys must be 0600.
[[nodiscard]] result<ca_material> load_ca(const config& c);

// Makes the whole hierarchy for `c` and writes `config_text` to
// `config_file`: root (ca.root_key_algorithm), Class 1 and Class 3 issuing
// CAs, an OCSP signer for each, the SCEP RA (RSA), the ACME server's TLS
// certificate (127.0.0.1, localhost) and the database. Refuses, before
// writing anything, if the config file, the database or any key exists. If a
// step fails, everything it wrote is removed again and the error returned.
// `audit` runs with the freshly created database to record "ca.init".
[[nodiscard]] result<void> init_ca(const config& c, const std::filesystem::path& config_file,
                                   std::string_view config_text, const clock& clk, random_source& rng);

}  // namespace wotca
