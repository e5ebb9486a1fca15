// Key generation, loading and storing. Private key files are written 0600
// and refused on load if group or world can read them (ARCHITECTURE.md,
// brief "Standards"). Keys are never logged or put into error messages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/pki/ossl.h"
#include "core/util/error.h"

namespace wotca {

enum class key_algorithm { ec_p256, ec_p384, rsa2048, rsa3072, rsa4096 };
[[nodiscard]] std::string_view to_string(key_algorithm a);        // "ecdsa-p256", "rsa-3072", ...
[[nodiscard]] std::optional<key_algorithm> key_algorithm_from(std::string_view s);

[[nodiscard]] result<evp_pkey_ptr> generate_key(key_algorithm a);

// Writes PEM (PKCS#8, unencrypted) with mode 0600 through a temporary file,
// fsync and rename; errc::conflict if `path` exists (never overwrites).
[[nodiscard]] result<void> write_private_key(const EVP_PKEY& key, const std::filesystem::path& path);
// errc::io if unreadable, errc::config naming the path if its mode allows
// group or world any access, errc::invalid_input if not a private key.
[[nodiscard]] result<evp_pkey_ptr> load_private_key(const std::filesystem::path& path);

[[nodiscard]] result<x509_ptr> load_certificate(const std::filesystem::path& path);  // PEM or DER
// Writes PEM with mode 0644, atomically; errc::conflict if it exists and !overwrite.
[[nodiscard]] result<void> write_certificate(const X509& cert, const std::filesystem::path& path,
                                             bool overwrite = false);
[[nodiscard]] std::string to_pem(const X509& cert);
// Appends `der` in base64, 64 columns a line, each line ending in "\n": the
// body of a PEM block (RFC 7468). Streamed in pieces, every piece but the
// last must be a multiple of 48 bytes long.
void append_pem_lines(std::string& out, std::span<const std::uint8_t> der);
// The PEM block labelled `label` ("CERTIFICATE", "X509 CRL") of DER bytes,
// without parsing them.
[[nodiscard]] std::string pem_of_der(std::string_view label, std::span<const std::uint8_t> der);
// pem_of_der("CERTIFICATE", der): for certificates this CA signed and
// stored, served as they are.
[[nodiscard]] std::string certificate_pem(std::span<const std::uint8_t> der);
[[nodiscard]] std::vector<std::uint8_t> to_der(const X509& cert);
[[nodiscard]] result<x509_ptr> certificate_from_der(std::span<const std::uint8_t> der);

// Describes a public key as POLICY.md R-KEYS speaks of it: "RSA 2048",
// "ECDSA P-256", "Ed25519".
[[nodiscard]] std::string describe_key(const EVP_PKEY& key);
// R-KEYS: RSA >= 2048 bits with an odd exponent >= 65537, or ECDSA P-256/P-384.
// errc::denied with where "R-KEYS" and a message naming the key otherwise.
[[nodiscard]] result<void> check_key(const EVP_PKEY& key);

}  // namespace wotca
