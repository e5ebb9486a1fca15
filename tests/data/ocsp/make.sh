#!/bin/sh
# Makes the OCSP requests the status unit tests and the OCSP fuzzers' seed
# corpora use (STYLE.md 15: test data made by someone else, here the openssl
# command line). Run from anywhere: ./make.sh. It rewrites every *.req.der,
# *.get.txt, the certificates and dump.txt in this folder; the private keys
# live in a temporary folder and are thrown away. The outputs are random
# (fresh keys, nonces, signatures): the tests compare our decoding with
# OpenSSL's parse of the same file, never with fixed bytes.
#
# Files:
#   ca.cert.pem                 a throwaway CA (ECDSA P-256)
#   leaf1.cert.pem              serial 0x1001
#   leaf2.cert.pem              a 20-byte serial with the top bit set, so its
#                               INTEGER needs 21 content bytes (leading 00)
#   <what>.req.der              `openssl ocsp -reqout` requests, see below
#   <what>.get.txt              the GET path of <what>.req.der: "/" + standard
#                               base64 (openssl base64 -A), as `openssl ocsp`
#                               and most clients form it
#   <what>.get_escaped.txt      the same with '+', '/' and '=' percent-encoded,
#                               as browsers form it
#   dump.txt                    `openssl ocsp -reqin X -req_text` of each request
# and the seed corpora of tests/fuzz/status_ocsp_request_fuzzer (the
# requests) and tests/fuzz/status_request_path_fuzzer (the GET paths).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$here"
rm -f ./*.req.der ./*.get.txt ./*.get_escaped.txt ./*.cert.pem dump.txt

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key" 2>/dev/null
openssl req -new -x509 -key "$work/ca.key" -subj "/O=wotca test/CN=wotca test OCSP CA" -days 3650 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.cert.pem

leaf() {  # leaf <name> <serial>
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$1.key" 2>/dev/null
  openssl req -new -key "$work/$1.key" -subj "/CN=$1.example.org" -out "$work/$1.csr"
  openssl x509 -req -in "$work/$1.csr" -CA ca.cert.pem -CAkey "$work/ca.key" -set_serial "$2" \
    -days 365 -out "$1.cert.pem" 2>/dev/null
}
leaf leaf1 0x1001
leaf leaf2 0x8f0102030405060708090a0b0c0d0e0f10111213

req() {  # req <name> [openssl ocsp arguments...]
  name=$1; shift
  openssl ocsp -issuer ca.cert.pem "$@" -reqout "$name.req.der" 2>"$work/err" || { cat "$work/err"; exit 1; }
}

# One CertID, SHA-1 (openssl's default), with openssl's default nonce.
req sha1_nonce -cert leaf1.cert.pem
# The same without a nonce: the shape of nearly all browser traffic.
req sha1_no_nonce -cert leaf1.cert.pem -no_nonce
# SHA-256 CertID (the -sha256 must come before -cert).
req sha256 -sha256 -cert leaf1.cert.pem -no_nonce
req sha256_nonce -sha256 -cert leaf2.cert.pem
req sha384 -sha384 -cert leaf1.cert.pem -no_nonce
req sha512 -sha512 -cert leaf2.cert.pem -no_nonce
# A hash we don't serve: decoded with alg = unknown.
req sha224 -sha224 -cert leaf1.cert.pem -no_nonce
# Two CertIDs, and two with different hashes.
req multi -cert leaf1.cert.pem -cert leaf2.cert.pem
req multi_mixed -cert leaf1.cert.pem -sha256 -cert leaf2.cert.pem -no_nonce
# By serial only (-serial), here leaf2's 21-byte INTEGER.
req by_serial -serial 0x8f0102030405060708090a0b0c0d0e0f10111213 -no_nonce
# Signed by leaf1's key: requestorName and optionalSignature with the signer's certificate.
req signed -cert leaf1.cert.pem -signer leaf1.cert.pem -signkey "$work/leaf1.key"

for f in *.req.der; do
  name=${f%.req.der}
  path="/$(openssl base64 -A -in "$f")"
  printf '%s' "$path" >"$name.get.txt"
  printf '%s' "$path" | sed -e 's/+/%2B/g' -e 's#/#%2F#g' -e 's/=/%3D/g' -e 's#^%2F#/#' >"$name.get_escaped.txt"
  {
    echo "== $f"
    openssl ocsp -reqin "$f" -req_text
    echo
  } >>dump.txt
done

corpus=../../fuzz/corpus
mkdir -p "$corpus/status_ocsp_request_fuzzer" "$corpus/status_request_path_fuzzer"
rm -f "$corpus/status_ocsp_request_fuzzer/"*.req.der "$corpus/status_request_path_fuzzer/"*.txt
cp ./*.req.der "$corpus/status_ocsp_request_fuzzer/"
cp ./*.get.txt ./*.get_escaped.txt "$corpus/status_request_path_fuzzer/"
