#!/usr/bin/env python3
"""Seed corpus of acme_jws_fuzzer: real ACME request bodies made with
python3-cryptography (not with the code under test).
    python3 tests/fuzz/tools/make_acme_jws_corpus.py
writes *.json into tests/fuzz/corpus/acme_jws_fuzzer/."""
import base64
import hashlib
import hmac
import json
import os

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "acme_jws_fuzzer")

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

URL = "https://acme.example/acme/new-account"
NONCE = "AAAAAGVTI4Dx8eHR0cGxoZGBcXFhUUExLJ7Zs0MiMbEr7hqp8V4IVd"
EAB_KEY = bytes(range(32))


def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def num(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64u(n.to_bytes(size, "big"))


def jwk_of(key):
    pub = key.public_key()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (pub.curve.key_size + 7) // 8
        nums = pub.public_numbers()
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[pub.curve.name]
        return {"kty": "EC", "crv": crv, "x": num(nums.x, size), "y": num(nums.y, size)}
    if isinstance(key, rsa.RSAPrivateKey):
        nums = pub.public_numbers()
        return {"kty": "RSA", "n": num(nums.n), "e": num(nums.e)}
    raw = pub.public_bytes_raw()
    return {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}


def sign(key, alg, data):
    if alg in ("ES256", "ES384"):
        h = hashes.SHA256() if alg == "ES256" else hashes.SHA384()
        size = 32 if alg == "ES256" else 48
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def jws(key, alg, header, payload):
    p = b64u(json.dumps(header, separators=(",", ":")))
    pl = b64u(payload) if payload else ""
    sig = sign(key, alg, f"{p}.{pl}".encode())
    return {"protected": p, "payload": pl, "signature": b64u(sig)}


def eab(jwk, url=URL, kid="kid-1", alg="HS256", extra=None):
    header = {"alg": alg, "kid": kid, "url": url, **(extra or {})}
    p = b64u(json.dumps(header, separators=(",", ":")))
    pl = b64u(json.dumps(jwk, separators=(",", ":")))
    mac = hmac.new(EAB_KEY, f"{p}.{pl}".encode(), hashlib.sha256).digest()
    return {"protected": p, "payload": pl, "signature": b64u(mac)}


def new_account(key, alg):
    jwk = jwk_of(key)
    payload = json.dumps({"termsOfServiceAgreed": True, "contact": ["mailto:admin@example.org"],
                          "externalAccountBinding": eab(jwk)})
    return jws(key, alg, {"alg": alg, "jwk": jwk, "nonce": NONCE, "url": URL}, payload)


def write(name, obj):
    with open(os.path.join(CORPUS, name), "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":")))


keys = {
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "ES384": ec.generate_private_key(ec.SECP384R1()),
    "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "EdDSA": ed25519.Ed25519PrivateKey.generate(),
}
for alg, key in keys.items():
    write(f"new_account_eab_{alg.lower()}.json", new_account(key, alg))

es = keys["ES256"]
kid = "https://acme.example/acme/acct/1"
write("post_as_get_es384.json", jws(keys["ES384"], "ES384",
                                    {"alg": "ES384", "kid": kid, "nonce": NONCE,
                                     "url": "https://acme.example/acme/order/1"}, ""))
write("new_order_es256.json", jws(es, "ES256", {"alg": "ES256", "kid": kid, "nonce": NONCE,
                                               "url": "https://acme.example/acme/new-order"},
                                  json.dumps({"identifiers": [{"type": "dns", "value": "www.example.org"}]})))
# The EAB object alone, binding RFC 8037 A.2's Ed25519 key (the fuzzer's fixed account).
rfc8037 = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
write("eab_alone.json", eab(rfc8037))
write("eab_wrong_url.json", eab(rfc8037, url="https://acme.example/acme/new-order"))
write("eab_with_nonce.json", eab(rfc8037, extra={"nonce": NONCE}))
write("eab_hs512.json", eab(rfc8037, alg="HS512"))

# Malformed or refused bodies.
h = {"alg": "ES256", "jwk": jwk_of(es), "nonce": NONCE, "url": URL}
good = jws(es, "ES256", h, "{}")
write("alg_none.json", {"protected": b64u(json.dumps({**h, "alg": "none"})), "payload": b64u("{}"),
                        "signature": ""})
write("alg_hs256_oct.json", {"protected": b64u(json.dumps({**h, "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}})),
                             "payload": b64u("{}"), "signature": b64u(bytes(32))})
write("header_member.json", {**good, "header": {"kid": kid}})
write("general_serialization.json", {"payload": good["payload"],
                                     "signatures": [{"protected": good["protected"], "signature": good["signature"]}]})
write("padded_base64.json", {**good, "signature": good["signature"] + "=="})
write("both_kid_and_jwk.json", jws(es, "ES256", {**h, "kid": kid}, "{}"))
write("private_member_d.json", jws(es, "ES256", {**h, "jwk": {**jwk_of(es), "d": b64u(bytes(32))}}, "{}"))
write("crit.json", jws(es, "ES256", {**h, "crit": ["b64"], "b64": False}, "{}"))
write("truncated.json", json.dumps(good)[:-7])
write("deep_nesting.json", '{"protected":"e30","x":' + "[" * 200 + "]" * 200 + "}")
write("duplicate_member.json", json.dumps(good)[:-1] + ',"payload":""}')
