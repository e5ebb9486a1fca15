// The one RAII header for OpenSSL (STYLE.md 8): a unique_ptr alias with its
// deleter for every OpenSSL type the project owns. No bare *_free call
// appears anywhere else. Add a type here before owning one.
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pkcs7.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace wotca {

namespace ossl_detail {
template <class T, void (*Free)(T*)>
struct deleter {
  void operator()(T* p) const noexcept {
    if (p) Free(p);
  }
};
inline void free_openssl_string(char* p) { OPENSSL_free(p); }
inline void free_openssl_bytes(unsigned char* p) { OPENSSL_free(p); }
inline void free_x509_stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
inline void free_general_names(GENERAL_NAMES* g) { GENERAL_NAMES_free(g); }
inline void free_x509_ext_stack(STACK_OF(X509_EXTENSION) * s) {
  sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
}  // namespace ossl_detail

#define WOTCA_OSSL_PTR(alias, T, Free) using alias = std::unique_ptr<T, ossl_detail::deleter<T, Free>>

WOTCA_OSSL_PTR(x509_ptr, X509, X509_free);
WOTCA_OSSL_PTR(x509_req_ptr, X509_REQ, X509_REQ_free);
WOTCA_OSSL_PTR(x509_crl_ptr, X509_CRL, X509_CRL_free);
WOTCA_OSSL_PTR(x509_name_ptr, X509_NAME, X509_NAME_free);
WOTCA_OSSL_PTR(x509_extension_ptr, X509_EXTENSION, X509_EXTENSION_free);
WOTCA_OSSL_PTR(x509_revoked_ptr, X509_REVOKED, X509_REVOKED_free);
WOTCA_OSSL_PTR(x509_store_ptr, X509_STORE, X509_STORE_free);
WOTCA_OSSL_PTR(x509_store_ctx_ptr, X509_STORE_CTX, X509_STORE_CTX_free);
WOTCA_OSSL_PTR(x509_stack_ptr, STACK_OF(X509), ossl_detail::free_x509_stack);
WOTCA_OSSL_PTR(x509_extension_stack_ptr, STACK_OF(X509_EXTENSION), ossl_detail::free_x509_ext_stack);
WOTCA_OSSL_PTR(general_names_ptr, GENERAL_NAMES, ossl_detail::free_general_names);
WOTCA_OSSL_PTR(general_name_ptr, GENERAL_NAME, GENERAL_NAME_free);
WOTCA_OSSL_PTR(basic_constraints_ptr, BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free);
WOTCA_OSSL_PTR(extended_key_usage_ptr, EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free);
WOTCA_OSSL_PTR(authority_info_access_ptr, AUTHORITY_INFO_ACCESS, AUTHORITY_INFO_ACCESS_free);
WOTCA_OSSL_PTR(crl_dist_points_ptr, CRL_DIST_POINTS, CRL_DIST_POINTS_free);
WOTCA_OSSL_PTR(authority_keyid_ptr, AUTHORITY_KEYID, AUTHORITY_KEYID_free);
WOTCA_OSSL_PTR(evp_pkey_ptr, EVP_PKEY, EVP_PKEY_free);
WOTCA_OSSL_PTR(evp_pkey_ctx_ptr, EVP_PKEY_CTX, EVP_PKEY_CTX_free);
WOTCA_OSSL_PTR(evp_md_ctx_ptr, EVP_MD_CTX, EVP_MD_CTX_free);
WOTCA_OSSL_PTR(evp_md_ptr, EVP_MD, EVP_MD_free);  // a fetched digest (EVP_MD_fetch)
WOTCA_OSSL_PTR(evp_mac_ptr, EVP_MAC, EVP_MAC_free);
WOTCA_OSSL_PTR(evp_mac_ctx_ptr, EVP_MAC_CTX, EVP_MAC_CTX_free);
WOTCA_OSSL_PTR(bio_ptr, BIO, BIO_free_all);
WOTCA_OSSL_PTR(bignum_ptr, BIGNUM, BN_free);
WOTCA_OSSL_PTR(ecdsa_sig_ptr, ECDSA_SIG, ECDSA_SIG_free);
WOTCA_OSSL_PTR(ossl_param_bld_ptr, OSSL_PARAM_BLD, OSSL_PARAM_BLD_free);
WOTCA_OSSL_PTR(ossl_param_ptr, OSSL_PARAM, OSSL_PARAM_free);
WOTCA_OSSL_PTR(asn1_integer_ptr, ASN1_INTEGER, ASN1_INTEGER_free);
WOTCA_OSSL_PTR(asn1_time_ptr, ASN1_TIME, ASN1_TIME_free);
WOTCA_OSSL_PTR(asn1_octet_string_ptr, ASN1_OCTET_STRING, ASN1_OCTET_STRING_free);
WOTCA_OSSL_PTR(asn1_object_ptr, ASN1_OBJECT, ASN1_OBJECT_free);
WOTCA_OSSL_PTR(asn1_string_ptr, ASN1_STRING, ASN1_STRING_free);
WOTCA_OSSL_PTR(asn1_bit_string_ptr, ASN1_BIT_STRING, ASN1_BIT_STRING_free);
WOTCA_OSSL_PTR(asn1_ia5string_ptr, ASN1_IA5STRING, ASN1_IA5STRING_free);
WOTCA_OSSL_PTR(x509_algor_ptr, X509_ALGOR, X509_ALGOR_free);
WOTCA_OSSL_PTR(access_description_ptr, ACCESS_DESCRIPTION, ACCESS_DESCRIPTION_free);
WOTCA_OSSL_PTR(dist_point_ptr, DIST_POINT, DIST_POINT_free);
WOTCA_OSSL_PTR(dist_point_name_ptr, DIST_POINT_NAME, DIST_POINT_NAME_free);
WOTCA_OSSL_PTR(rsa_pss_params_ptr, RSA_PSS_PARAMS, RSA_PSS_PARAMS_free);
WOTCA_OSSL_PTR(ocsp_request_ptr, OCSP_REQUEST, OCSP_REQUEST_free);
WOTCA_OSSL_PTR(ocsp_response_ptr, OCSP_RESPONSE, OCSP_RESPONSE_free);
WOTCA_OSSL_PTR(ocsp_basicresp_ptr, OCSP_BASICRESP, OCSP_BASICRESP_free);
WOTCA_OSSL_PTR(ocsp_certid_ptr, OCSP_CERTID, OCSP_CERTID_free);
WOTCA_OSSL_PTR(cms_content_info_ptr, CMS_ContentInfo, CMS_ContentInfo_free);
WOTCA_OSSL_PTR(pkcs7_ptr, PKCS7, PKCS7_free);
WOTCA_OSSL_PTR(openssl_string_ptr, char, ossl_detail::free_openssl_string);
WOTCA_OSSL_PTR(openssl_bytes_ptr, unsigned char, ossl_detail::free_openssl_bytes);

#undef WOTCA_OSSL_PTR

// The contents of a memory BIO as a string (empty if there are none). Not
// for private keys: those stay in their secure-heap BIO.
[[nodiscard]] std::string memory_bio_text(BIO& bio);

// The text of the most recent OpenSSL errors on this thread, oldest first,
// joined by "; ", and the queue cleared. Empty when there were none.
[[nodiscard]] std::string drain_openssl_errors();

}  // namespace wotca
