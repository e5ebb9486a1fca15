#include "core/ca/material.h"

#include <sys/stat.h>

#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store/sqlite_store.h"

namespace wotca {

namespace fs = std::filesystem;

fs::path key_path(const config& c, std::string_view name) {
  return c.keys_dir() / (std::string(name) + ".key");
}

fs::path cert_path(const config& c, std::string_view name) {
  return c.public_dir() / (std::string(name) + ".pem");
}

issuer_urls urls_for(const config& c, issuer_class issuer) {
  std::string name(to_string(issuer));
  return issuer_urls{c.urls.ocsp, c.urls.crl_base + name + ".crt", c.urls.crl_base + name + ".crl"};
}

namespace {

// Undoes a failed init: removes exactly what it created, newest first.
class created_paths {
 public:
  void add(fs::path p) { paths_.push_back(std::move(p)); }
  void commit() { paths_.clear(); }
  ~created_paths() {
    std::error_code ec;
    for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) fs::remove(*it, ec);
  }

 private:
  std::vector<fs::path> paths_;
};

result<void> make_dir(const fs::path& p, fs::perms mode, created_paths& created) {
  std::error_code ec;
  if (fs::exists(p, ec)) {
    if (!fs::is_directory(p, ec)) return fail(errc::io, p.string(), "exists and is not a folder");
    return {};
  }
  if (!fs::create_directory(p, ec)) {
    return fail(errc::io, p.string(), "cannot create the folder: " + ec.message());
  }
  created.add(p);
  fs::permissions(p, mode, fs::perm_options::replace, ec);
  if (ec) return fail(errc::io, p.string(), "cannot set the folder's mode: " + ec.message());
  return {};
}

// One CA object to make: its key, then its certificate signed by `issuer`.
struct made {
  evp_pkey_ptr key;
  x509_ptr cert;
};

}  // namespace

result<ca_signer> load_signer(const config& c, std::string_view name) {
  auto cert = load_certificate(cert_path(c, name));
  if (!cert) return unexpected(cert.error());
  auto key = load_private_key(key_path(c, name));
  if (!key) return unexpected(key.error());
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    (void)drain_openssl_errors();
    return fail(errc::config, key_path(c, name).string(),
                "this key does not belong to the certificate " + cert_path(c, name).string());
  }
  return ca_signer{std::move(*cert), std::move(*key)};
}

result<ca_material> load_ca(const config& c) {
  auto root = load_signer(c, "root");
  if (!root) return unexpected(root.error());
  auto c1 = load_signer(c, "class1");
  if (!c1) return unexpected(c1.error());
  auto c3 = load_signer(c, "class3");
  if (!c3) return unexpected(c3.error());
  return ca_material{std::move(*root), std::move(*c1), std::move(*c3)};
}

result<void> init_ca(const config& c, const fs::path& config_file, std::string_view config_text,
                     const clock& clk, random_source& rng) {
  std::error_code ec;
  // Refuse before writing anything.
  if (fs::exists(config_file, ec)) {
    return fail(errc::conflict, config_file.string(),
                "exists: this folder already holds a CA; refusing to overwrite it");
  }
  if (fs::exists(c.database, ec)) {
    return fail(errc::conflict, c.database.string(), "exists: refusing to overwrite a CA database");
  }
  for (auto name : {"root", "class1", "class3", "class1-ocsp", "class3-ocsp", "scep-ra", "acme-tls"}) {
    if (fs::exists(key_path(c, name), ec)) {
      return fail(errc::conflict, key_path(c, name).string(), "exists: refusing to overwrite a CA key");
    }
  }

  created_paths created;
  if (auto r = make_dir(c.data_dir, fs::perms(0755), created); !r) return r;
  if (auto r = make_dir(c.keys_dir(), fs::perms(0700), created); !r) return r;
  if (auto r = make_dir(c.public_dir(), fs::perms(0755), created); !r) return r;
  if (auto r = make_dir(c.crl_dir(), fs::perms(0755), created); !r) return r;
  if (auto r = make_dir(c.outbox_dir(), fs::perms(0700), created); !r) return r;

  // The database first: every certificate init signs is reserved in it
  // before signing, like any other.
  created.add(c.database);
  created.add(fs::path(c.database.string() + "-wal"));
  created.add(fs::path(c.database.string() + "-shm"));
  auto db = sqlite_store::open(c.database, open_mode::create);
  if (!db) return unexpected(db.error());

  const sys_seconds now = clk.now();
  using std::chrono::days;
  using std::chrono::years;
  const sys_seconds root_until = now + std::chrono::duration_cast<std::chrono::seconds>(years(c.ca.root_years));
  const sys_seconds issuing_until =
      now + std::chrono::duration_cast<std::chrono::seconds>(years(c.ca.issuing_years));

  auto save = [&](std::string_view name, const made& m) -> result<void> {
    created.add(key_path(c, name));
    if (auto r = write_private_key(*m.key, key_path(c, name)); !r) return r;
    created.add(cert_path(c, name));
    return write_certificate(*m.cert, cert_path(c, name));
  };

  // Signs `spec` with `signer`, recording it as any issued certificate is:
  // reserved, signed, completed, audited.
  auto sign_recorded = [&](certificate_spec spec, const ca_signer& signer, issuer_class issuer,
                           std::string_view what) -> result<x509_ptr> {
    spec.serial = random_serial(rng);
    certificate_record rec;
    rec.serial = to_hex(spec.serial);
    rec.issuer = issuer;
    rec.member = 0;  // the CA's own operational certificates belong to no member
    rec.profile = spec.profile;
    rec.subject = "CN=" + spec.subject_cn;
    for (const auto& d : spec.dns_names) rec.sans.push_back("DNS:" + d);
    rec.not_before = spec.not_before;
    rec.not_after = spec.not_after;
    rec.via = request_path::cli;
    rec.created_at = now;
    if (auto r = (*db)->write([&](transaction& tx) { return tx.certificates().reserve(rec); }); !r) {
      return unexpected(r.error());
    }
    auto cert = sign_certificate(spec, signer);
    if (!cert) return cert;
    auto der = to_der(**cert);
    auto done = (*db)->write([&](transaction& tx) -> result<void> {
      if (auto r = tx.certificates().complete(rec.serial, der); !r) return r;
      audit_entry a{0, now, "operator", "cert.issue", "cert:" + rec.serial,
                    nlohmann::json{{"purpose", what}, {"subject", subject_line(**cert)}}.dump()};
      if (auto r = tx.audit().append(a); !r) return unexpected(r.error());
      if (auto r = tx.changes().bump(change_event{0, "issue", rec.serial, issuer, now}); !r) {
        return unexpected(r.error());
      }
      return {};
    });
    if (!done) return unexpected(done.error());
    return cert;
  };

  // Root: self-signed, recorded in the audit log (it has no issuer row).
  made root;
  {
    auto key = generate_key(c.ca.root_key_algorithm);
    if (!key) return unexpected(key.error());
    auto cert = make_root(**key, c.ca.name + " Root", c.ca.organisation, random_serial(rng), now, root_until);
    if (!cert) return unexpected(cert.error());
    root = made{std::move(*key), std::move(*cert)};
    if (auto r = save("root", root); !r) return r;
  }
  ca_signer root_signer{x509_ptr(X509_dup(root.cert.get())), evp_pkey_ptr(EVP_PKEY_dup(root.key.get()))};

  issuer_urls root_urls{"", c.urls.crl_base + "root.crt", c.urls.crl_base + "root.crl"};
  ca_signer issuing[2];
  const issuer_class classes[2] = {issuer_class::class1, issuer_class::class3};
  for (int i = 0; i < 2; ++i) {
    std::string name(to_string(classes[i]));
    auto key = generate_key(c.ca.issuing_key_algorithm);
    if (!key) return unexpected(key.error());
    certificate_spec spec;
    spec.profile = cert_profile::sub_ca;
    spec.subject_cn = c.ca.name + (i == 0 ? " Class 1" : " Class 3");
    spec.subject_org = c.ca.organisation;
    spec.not_before = now;
    spec.not_after = issuing_until;
    spec.subject_key = key->get();
    spec.urls = root_urls;
    // Class 1 serves members under 50 AP: no serverAuth below it, ever
    // (R-SERVER-50), nor code signing (R-CODESIGN).
    spec.ca_extended_key_usage = {NID_client_auth, NID_email_protect, NID_OCSP_sign};
    if (classes[i] == issuer_class::class3) {
      spec.ca_extended_key_usage = {NID_server_auth, NID_client_auth, NID_email_protect, NID_code_sign,
                                    NID_OCSP_sign};
    }
    auto cert = sign_recorded(spec, root_signer, issuer_class::root, "issuing-ca");
    if (!cert) return unexpected(cert.error());
    made m{std::move(*key), std::move(*cert)};
    if (auto r = save(name, m); !r) return r;
    issuing[i] = ca_signer{std::move(m.cert), std::move(m.key)};
  }

  // A delegated OCSP signer per issuing CA (RFC 6960 4.2.2.2).
  for (int i = 0; i < 2; ++i) {
    std::string name = std::string(to_string(classes[i])) + "-ocsp";
    auto key = generate_key(c.ca.ocsp_key_algorithm);
    if (!key) return unexpected(key.error());
    certificate_spec spec;
    spec.profile = cert_profile::ocsp_signer;
    spec.subject_cn = c.ca.name + (i == 0 ? " Class 1" : " Class 3") + " OCSP Responder";
    spec.not_before = now;
    spec.not_after = now + std::chrono::duration_cast<std::chrono::seconds>(days(c.ca.ocsp_signer_days));
    spec.subject_key = key->get();
    spec.urls = urls_for(c, classes[i]);
    spec.urls.ocsp.clear();
    auto cert = sign_recorded(spec, issuing[i], classes[i], "ocsp-signer");
    if (!cert) return unexpected(cert.error());
    if (auto r = save(name, made{std::move(*key), std::move(*cert)}); !r) return r;
  }

  // The SCEP registration authority: RSA, for CMS key transport (RFC 8894 3.1).
  {
    auto key = generate_key(c.ca.scep_ra_key_algorithm);
    if (!key) return unexpected(key.error());
    certificate_spec spec;
    spec.profile = cert_profile::device;
    spec.subject_cn = c.ca.name + " SCEP RA";
    spec.not_before = now;
    spec.not_after = issuing_until - std::chrono::hours(24);
    spec.subject_key = key->get();
    spec.urls = urls_for(c, issuer_class::class1);
    auto cert = sign_recorded(spec, issuing[0], issuer_class::class1, "scep-ra");
    if (!cert) return unexpected(cert.error());
    if (auto r = save("scep-ra", made{std::move(*key), std::move(*cert)}); !r) return r;
  }

  // The ACME server's own TLS certificate, for loopback.
  {
    auto key = generate_key(key_algorithm::ec_p256);
    if (!key) return unexpected(key.error());
    certificate_spec spec;
    spec.profile = cert_profile::server;
    spec.subject_cn = "localhost";
    // The default directory is https://127.0.0.1:14443/directory: clients
    // check that address against an iPAddress name.
    spec.dns_names = {"localhost", "127.0.0.1"};
    spec.not_before = now;
    spec.not_after = now + std::chrono::duration_cast<std::chrono::seconds>(days(c.policy.server_days));
    spec.subject_key = key->get();
    spec.urls = urls_for(c, issuer_class::class3);
    auto cert = sign_recorded(spec, issuing[1], issuer_class::class3, "acme-tls");
    if (!cert) return unexpected(cert.error());
    if (auto r = save("acme-tls", made{std::move(*key), std::move(*cert)}); !r) return r;
  }

  if (auto r = (*db)->write([&](transaction& tx) -> result<void> {
        audit_entry a{0, now, "operator", "ca.init", "ca", nlohmann::json{{"data_dir", c.data_dir.string()}}.dump()};
        if (auto id = tx.audit().append(a); !id) return unexpected(id.error());
        return {};
      });
      !r) {
    return r;
  }

  // The configuration last: its presence marks a complete CA.
  {
    fs::path tmp = config_file.string() + ".tmp";
    created.add(tmp);
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(config_text.data(), static_cast<std::streamsize>(config_text.size()));
    out.close();
    if (!out) return fail(errc::io, config_file.string(), "cannot write the configuration");
    created.add(config_file);
    fs::rename(tmp, config_file, ec);
    if (ec) return fail(errc::io, config_file.string(), "cannot write the configuration: " + ec.message());
  }
  created.commit();
  return {};
}

}  // namespace wotca
