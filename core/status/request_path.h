// The OCSP GET request path (RFC 6960 A.1, RFC 5019 5): "/{url-encoding of
// base-64 encoding of the DER encoding of the OCSPRequest}". Clients differ
// in how they form it, and a responder that refuses any of them answers
// them with errors (other responders answered such requests with empty
// 200s), so this decoder accepts every form seen and nothing else:
//  - any number of leading '/': an AIA URL ending in '/' makes clients send
//    "//MEUw..."; a DER OCSPRequest starts with 0x30, so its base64 starts
//    with 'M' and never with '/';
//  - '+', '/' and '=' raw or percent-encoded (%2B, %2F, %3D, any hex case;
//    any byte may be escaped); '+' is a plus, never a space (that is form
//    encoding, not a path);
//  - the standard base64 alphabet (RFC 4648 4) or base64url (5), even mixed,
//    with '=' padding or without it.
// Refused: an empty path, a bad escape ('%' not followed by two hex digits),
// whitespace, '?' and any other character outside both alphabets, padding
// that is partial or not at the end, a length no base64 text can have, and
// non-zero bits past the last byte (a non-canonical encoding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/util/error.h"

namespace wotca {

// `raw_path` is the request target's path as received, before any
// normalisation, with the query (if any) and any configured prefix removed
// by the caller. On success: the decoded bytes, at most `max_bytes` of them
// (not yet parsed: decode_ocsp_request does that). On failure:
// errc::invalid_input, `where` "ocsp get path", a message naming the fault
// and its position in `raw_path`; the responder answers malformedRequest.
// The work is linear in raw_path's size and the output is never larger than
// max_bytes, so the caller bounds the cost by bounding the request target.
[[nodiscard]] result<std::vector<std::uint8_t>> decode_get_path(std::string_view raw_path, std::size_t max_bytes);

}  // namespace wotca
