#!/bin/sh
# Makes the seed corpus of tests/fuzz/acme_csr_fuzzer.cpp with the openssl
# command line. Each seed: one byte picking the order's identifiers (see
# identifier_sets() in the fuzzer), one byte for the mode (0: the rest is the
# "csr" text as sent; 1: the rest is DER, base64url-encoded by the fuzzer),
# then the CSR.
set -eu
out="$(cd "$(dirname "$0")/../../fuzz/corpus/acme_csr_fuzzer" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

csr() {  # csr NAME SAN-LIST [SUBJECT]
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/$1.key" \
    -subj "${3:-/O=wotca test}" -addext "subjectAltName=$2" -outform DER -out "$tmp/$1.der" 2>/dev/null
}
b64url() { base64 -w0 "$1" | tr '+/' '-_' | tr -d '='; }
seed() {  # seed FILE SET MODE CONTENT-FILE
  { printf "\\$(printf '%03o' "$2")\\$(printf '%03o' "$3")"; cat "$4"; } > "$out/$1"
}

csr one "DNS:www.example.org"
csr two "DNS:example.org,DNS:www.example.org"
csr extra "DNS:www.example.org,DNS:evil.example.org"
csr wild "DNS:*.example.org"
csr cn "DNS:www.example.org" "/CN=www.example.org"
csr email "DNS:www.example.org,email:a@example.org"

for n in one two extra wild cn email; do b64url "$tmp/$n.der" > "$tmp/$n.txt"; done
seed sans_only.txt 0 0 "$tmp/one.txt"
seed two_names.der 1 1 "$tmp/two.der"
seed extra_name.txt 0 0 "$tmp/extra.txt"
seed wildcard.txt 2 0 "$tmp/wild.txt"
seed cn_and_san.txt 0 0 "$tmp/cn.txt"
seed email_san.txt 0 0 "$tmp/email.txt"
printf 'not base64!' > "$tmp/bad.txt"
seed not_base64.txt 0 0 "$tmp/bad.txt"
head -c 40 "$tmp/one.der" > "$tmp/short.der"
seed truncated.der 0 1 "$tmp/short.der"
