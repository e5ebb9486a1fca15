// The streaming CRL writer (RFC 5280 5): a whole CertificateList built from
// entries handed over one at a time, without X509_CRL (which holds every
// entry in memory and sorts them). The revokedCertificates are spooled to an
// unlinked temporary file while they are counted, then the TBSCertList is
// hashed and signed in one streaming pass (EVP_DigestSignUpdate) and the
// file is written; memory stays constant whatever the number of entries.
//
//   CertificateList  ::=  SEQUENCE  {
//        tbsCertList          TBSCertList,
//        signatureAlgorithm   AlgorithmIdentifier,
//        signatureValue       BIT STRING  }
//
//   TBSCertList  ::=  SEQUENCE  {
//        version                 Version OPTIONAL,   -- v2 (1): we always write it
//        signature               AlgorithmIdentifier,
//        issuer                  Name,
//        thisUpdate              Time,
//        nextUpdate              Time OPTIONAL,      -- always written (RFC 5280 5.1.2.5 MUST)
//        revokedCertificates     SEQUENCE OF SEQUENCE  {
//             userCertificate         CertificateSerialNumber,
//             revocationDate          Time,
//             crlEntryExtensions      Extensions OPTIONAL  -- v2
//                                  }  OPTIONAL,       -- absent when there are none
//        crlExtensions           [0]  EXPLICIT Extensions OPTIONAL }
//
// Times are UTCTime through 2049 and GeneralizedTime from 2050 (5.1.2.4).
// Entries are written in the order given: RFC 5280 sets no order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pki/ossl.h"
#include "core/util/error.h"
#include "core/util/time.h"

namespace wotca {

// One revoked certificate as the CRL lists it. `serial_hex` is borrowed for
// the call only.
struct crl_entry {
  std::string_view serial_hex;  // hex digits, any case, no prefix; a positive serial
  sys_seconds revocation_date{};
  // RFC 5280 5.3.1 CRLReason. 0 (unspecified) is written as no reasonCode
  // extension, as 5.3.1 says it SHOULD; 6 (certificateHold) and 7 or more
  // than 10 are refused.
  int reason = 0;
};

using crl_entry_sink = std::function<result<void>(const crl_entry&)>;
// Calls the sink once per entry, in the order they are to be written, and
// passes on the first error the sink returns. Called exactly once per build.
using crl_entry_source = std::function<result<void>(const crl_entry_sink&)>;

struct crl_params {
  std::int64_t crl_number = 0;  // 5.2.3: > 0, at most 20 octets
  sys_seconds this_update{};
  sys_seconds next_update{};    // > this_update
  // Set: a delta CRL (5.2.4) with a critical Delta CRL Indicator naming the
  // number of the complete CRL it is based on.
  std::optional<std::int64_t> delta_base;
  // Non-empty: the Freshest CRL extension (5.2.6), one distribution point
  // with this URI, telling clients where the delta CRLs are.
  std::string freshest_crl_url;
  // Non-empty: a critical Issuing Distribution Point (5.2.5) naming this
  // URI, for a CRL that covers one partition of the issuer's certificates.
  std::string issuing_distribution_point;
};

struct crl_summary {
  std::uint64_t entries = 0;
  std::uint64_t der_bytes = 0;
};

// Builds the CRL signed by `key` for `issuer` (whose subject becomes the
// CRL's issuer and whose subjectKeyIdentifier its Authority Key Identifier)
// and writes it to `path` atomically: a temporary file in the same folder,
// fsync, rename over `path`, fsync of the folder; a reader of `path` sees
// the previous whole file or the new whole file, never a part. With
// `also_pem`, `path` + ".pem" is written the same way from the same DER:
// both temporary files are fsynced before either is renamed, the DER is
// renamed first, and one folder fsync follows both renames.
// The digest is SHA-384 for a P-384 key and SHA-256 otherwise.
// On error nothing at `path` changed and no temporary file is left behind.
// Errors: errc::invalid_input naming the entry (bad serial, reason, times)
// or the parameter; errc::crypto if the key will not sign or does not match
// the issuer certificate; errc::io naming the path; any error of `entries`.
[[nodiscard]] result<crl_summary> write_crl_file(const std::filesystem::path& path, const crl_params& params,
                                                 const X509& issuer, const EVP_PKEY& key,
                                                 const crl_entry_source& entries, bool also_pem = true);

// The same CRL built in memory (tests, small CRLs). Same errors, minus io.
[[nodiscard]] result<std::vector<std::uint8_t>> build_crl(const crl_params& params, const X509& issuer,
                                                          const EVP_PKEY& key, const crl_entry_source& entries);

// PEM ("-----BEGIN X509 CRL-----", 64 columns) of DER bytes.
[[nodiscard]] std::string crl_pem(std::string_view der);

// Removes temporary files this writer left in `dir` (after a crash) that are
// older than `older_than`. Returns how many it removed; never fails.
std::size_t remove_stale_crl_temporaries(const std::filesystem::path& dir, std::chrono::seconds older_than);

}  // namespace wotca
