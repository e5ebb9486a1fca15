#!/bin/sh
# Makes the CSRs the pki unit tests and the CSR fuzzer's seed corpus use
# (STYLE.md 15: test data made by someone else, here the openssl command
# line). Run from anywhere: ./make.sh. It rewrites every *.csr.* file and
# dump.txt in this folder; the private keys live in a temporary folder and
# are thrown away. The outputs are random (fresh keys, ECDSA nonces): the
# tests check properties, never bytes.
#
# Naming: <what>.csr.pem (PEM) and <what>.csr.der (DER). The expected
# outcome of each file is the table in tests/unit/pki/csr_test.cpp.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$here"
rm -f ./*.csr.pem ./*.csr.der ./*.pub.pem ./*.cert.pem dump.txt

key() {  # key <name> <genpkey arguments...>
  name=$1; shift
  openssl genpkey "$@" -out "$work/$name.key" 2>/dev/null
}

# req <out> <key> <subject> [more openssl req arguments...]
req() {
  out=$1; k=$2; subj=$3; shift 3
  openssl req -new -utf8 -key "$work/$k.key" -subj "$subj" "$@" -out "$out.csr.pem"
}

der() {  # der <name>: the DER twin of <name>.csr.pem
  openssl req -in "$1.csr.pem" -outform DER -out "$1.csr.der"
}

key p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
key p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
key p521 -algorithm EC -pkeyopt ec_paramgen_curve:P-521
key k256 -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1
key rsa2048 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
key rsa1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
key rsa3072e3 -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -pkeyopt rsa_keygen_pubexp:3
key ed25519 -algorithm ED25519
key p256explicit -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:explicit

# Accepted: the two curves and RSA 2048 of R-KEYS, each with a CN and DNS SANs.
req ec_p256 p256 "/CN=ec256.example.org" -addext "subjectAltName=DNS:ec256.example.org,DNS:www.ec256.example.org"
der ec_p256
req ec_p384 p384 "/CN=ec384.example.org" -sha384 -addext "subjectAltName=DNS:ec384.example.org"
der ec_p384
req rsa2048 rsa2048 "/CN=rsa.example.org" -sha256 -addext "subjectAltName=DNS:rsa.example.org"
der rsa2048
# RSA 2048 signed with SHA-512, and with RSASSA-PSS (SHA-256, MGF1-SHA-256).
req rsa2048_sha512 rsa2048 "/CN=sha512.example.org" -sha512
req rsa2048_pss rsa2048 "/CN=pss.example.org" -sha256 -sigopt rsa_padding_mode:pss \
  -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256
# certbot's shape: no subject at all, names only in the SAN.
req dns_no_cn p256 "/" -addext "subjectAltName=DNS:a.example.org,DNS:B.Example.ORG,DNS:c.example.org."
der dns_no_cn
# Client certificates: emails (mixed case, lower-cased by the parser), UTF-8 CN.
req emails p256 "/CN=Zoë Example" -addext "subjectAltName=email:Zoe@Example.ORG,email:zoe.two@example.org"
der emails
req wildcard p256 "/CN=*.example.org" -addext "subjectAltName=DNS:*.example.org,DNS:example.org"
# SCEP: a challengePassword attribute.
cat > "$work/challenge.cnf" <<'CNF'
[req]
prompt = no
distinguished_name = dn
attributes = attrs
[dn]
CN = device-17
[attrs]
challengePassword = one-time-secret-42
CNF
openssl req -new -key "$work/p256.key" -config "$work/challenge.cnf" -out challenge.csr.pem
der challenge
# The label of old Netscape/Microsoft tools.
req newhdr p256 "/CN=newhdr.example.org" -newhdr
# PEM with blank lines and spaces around it.
{ printf '\n  \n'; cat ec_p256.csr.pem; printf '\n\t \n'; } > whitespace.csr.pem

# Refused by R-KEYS: weak or unlisted keys, weak signature hashes.
req rsa1024 rsa1024 "/CN=weak.example.org"
req rsa3072_e3 rsa3072e3 "/CN=e3.example.org"
req secp256k1 k256 "/CN=k1.example.org"
req ec_p521 p521 "/CN=p521.example.org" -sha512
# P-256 spelled out as specifiedCurve parameters (RFC 5480 2.1.1 forbids it).
req ec_explicit p256explicit "/CN=explicit.example.org"
req ed25519 ed25519 "/CN=ed.example.org"
der ed25519
req rsa2048_sha1 rsa2048 "/CN=sha1.example.org" -sha1
der rsa2048_sha1
req rsa2048_md5 rsa2048 "/CN=md5.example.org" -md5
req ec_p256_sha224 p256 "/CN=sha224.example.org" -sha224
req rsa2048_pss_sha1 rsa2048 "/CN=psssha1.example.org" -sha1 -sigopt rsa_padding_mode:pss

# Refused as malformed or outside what the CA issues.
req ip_san p256 "/CN=ip.example.org" -addext "subjectAltName=DNS:ip.example.org,IP:192.0.2.1"
req uri_san p256 "/CN=uri.example.org" -addext "subjectAltName=URI:https://uri.example.org/"
req bad_wildcard p256 "/CN=bad.example.org" -addext "subjectAltName=DNS:www.*.example.org"
req bad_dns p256 "/CN=bad.example.org" -addext "subjectAltName=DNS:-bad-.example.org"
req single_label p256 "/CN=localhost" -addext "subjectAltName=DNS:localhost"
req bad_email p256 "/CN=Mallory" -addext "subjectAltName=email:mallory@@example.org"
req two_cn p256 "/CN=one.example.org/CN=two.example.org"
# A flipped bit in the last octet of the DER, which is the last octet of
# the ECDSA signature's s: still well-formed, no longer a valid signature.
python3 - <<'PY'
d = bytearray(open("ec_p256.csr.der", "rb").read())
d[-1] ^= 0x01
open("bad_signature.csr.der", "wb").write(d)
d = open("ec_p256.csr.der", "rb").read()
open("truncated.csr.der", "wb").write(d[:-7])
open("trailing.csr.der", "wb").write(d + b"\x00garbage")
PY
openssl req -inform DER -in bad_signature.csr.der -out bad_signature.csr.pem
cat ec_p256.csr.pem rsa2048.csr.pem > two_csrs.csr.pem
# A certificate where a CSR belongs.
openssl req -x509 -new -key "$work/p256.key" -subj "/CN=not a csr" -days 1 -out not_a_csr.cert.pem
# A DSA public key: describe_key names it, check_key refuses it (no DSA CSR:
# OpenSSL 3 still signs them, but one key is enough for the table).
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 -out "$work/dsa.param" 2>/dev/null
openssl genpkey -paramfile "$work/dsa.param" -out "$work/dsa.key" 2>/dev/null
openssl pkey -in "$work/dsa.key" -pubout -out dsa2048.pub.pem

# The text dump (STYLE.md 15).
{
  for f in *.csr.pem; do
    echo "=== $f"
    openssl req -in "$f" -noout -text 2>&1 || echo "(openssl cannot parse $f)"
  done
  for f in *.csr.der; do
    echo "=== $f"
    openssl req -inform DER -in "$f" -noout -text 2>&1 || echo "(openssl cannot parse $f)"
  done
  echo "=== not_a_csr.cert.pem"
  openssl x509 -in not_a_csr.cert.pem -noout -text
  echo "=== dsa2048.pub.pem"
  openssl pkey -pubin -in dsa2048.pub.pem -noout -text_pub
} > dump.txt

# The seed corpus of tests/fuzz/pki_csr_fuzzer.cpp: the CSRs above, good
# and bad, and a few inputs that are not CSRs at all.
corpus="$here/../../fuzz/corpus/pki_csr_fuzzer"
rm -rf "$corpus"
mkdir -p "$corpus"
for f in ec_p256.csr.der ec_p256.csr.pem ec_p384.csr.der rsa2048.csr.der rsa2048_pss.csr.pem \
         dns_no_cn.csr.der emails.csr.der wildcard.csr.pem challenge.csr.der newhdr.csr.pem \
         whitespace.csr.pem rsa1024.csr.pem rsa3072_e3.csr.pem secp256k1.csr.pem ec_p521.csr.pem ec_explicit.csr.pem \
         ed25519.csr.der rsa2048_sha1.csr.der rsa2048_md5.csr.pem ec_p256_sha224.csr.pem \
         rsa2048_pss_sha1.csr.pem ip_san.csr.pem uri_san.csr.pem bad_wildcard.csr.pem bad_dns.csr.pem \
         single_label.csr.pem bad_email.csr.pem two_cn.csr.pem bad_signature.csr.der truncated.csr.der \
         trailing.csr.der two_csrs.csr.pem not_a_csr.cert.pem; do
  cp "$f" "$corpus/$f"
done
printf 'Www.Example.ORG.' > "$corpus/text_dns_name"
printf '*.Example.org' > "$corpus/text_wildcard"
printf 'Alice.Example@Mail.Example.ORG' > "$corpus/text_email"
printf -- '-----BEGIN CERTIFICATE REQUEST-----\nMIIB!!!!\n-----END CERTIFICATE REQUEST-----\n' > "$corpus/bad_base64.pem"
printf '\060\200\060\200\002\001\000\000\000\000\000' > "$corpus/ber_indefinite.der"
head -c 96 /dev/urandom > "$corpus/random.bin"
