#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/config/config.h"

using namespace wotca;
namespace fs = std::filesystem;

TEST_CASE("the documented template parses to the defaults", "[config]") {
  auto c = parse_config(config_template(), "/srv/ca");
  REQUIRE(c);
  CHECK(c->data_dir == fs::path("/srv/ca"));
  CHECK(c->database == fs::path("/srv/ca/wotca.db"));
  CHECK(c->ca.root_key_algorithm == key_algorithm::ec_p384);
  CHECK(c->ca.issuing_key_algorithm == key_algorithm::ec_p256);
  CHECK(c->ca.scep_ra_key_algorithm == key_algorithm::rsa3072);
  CHECK(c->policy.server_days == 398);
  CHECK(c->policy.acme_server_days == 90);
  CHECK(c->policy.client_days_unassured == 180);
  CHECK(c->wot.min_government_photo_ids == 2);
  CHECK_FALSE(c->wot.cats_validity_years.has_value());
  CHECK(c->urls.ocsp == "http://127.0.0.1:14081/");
  CHECK(c->ocsp_listen.port == 14081);
  CHECK(c->acme_listen.port == 14443);
  CHECK(c->keys_dir() == fs::path("/srv/ca/keys"));
  CHECK(c->verification.resolver.empty());
  CHECK(c->verification.http_port == 80);
  CHECK_FALSE(c->verification.allow_private_addresses);
  CHECK(c->crl.validity_days == 7);
  CHECK(c->crl.debounce_seconds == 60);
  CHECK(c->crl.keep_expired_crls == 1);
  CHECK_FALSE(c->crl.delta);
  CHECK(c->crl.shards == 0);
  CHECK(c->crl_listen.port == 14082);
  CHECK(c->acme.base_url.empty());
  CHECK(c->acme.caa_identities == std::vector<std::string>{"wotca.example"});
  CHECK(c->acme.validation.http_port == 80);
  CHECK(c->acme.validation.tls_alpn_port == 443);
  CHECK(c->acme.validation.resolver.empty());
  CHECK_FALSE(c->acme.validation.allow_private_addresses);
  CHECK(c->acme.validation.answer_wait_ms == 2000);
}

TEST_CASE("acme and crl sections name the key that is wrong", "[config]") {
  auto wrong = [](std::string_view yaml) {
    auto c = parse_config(yaml, "/srv/ca");
    REQUIRE_FALSE(c);
    return c.error().where;
  };
  CHECK(wrong("acme:\n  validation:\n    tls_alpn_port: 70000\n") == "acme.validation.tls_alpn_port");
  CHECK(wrong("acme:\n  validation:\n    resolver: nowhere\n") == "acme.validation.resolver");
  CHECK(wrong("acme:\n  validation:\n    colour: red\n") == "acme.validation.colour");
  CHECK(wrong("acme:\n  validation:\n    answer_wait_ms: -1\n") == "acme.validation.answer_wait_ms");
  CHECK(wrong("acme:\n  validation:\n    answer_wait_ms: 30001\n") == "acme.validation.answer_wait_ms");
  CHECK(wrong("acme:\n  base_url: http://acme.example\n") == "acme.base_url");
  CHECK(wrong("acme:\n  caa_identities: wotca.example\n") == "acme.caa_identities");
  CHECK(wrong("crl:\n  validity_days: 0\n") == "crl.validity_days");
  CHECK(wrong("crl:\n  validity_days: 2\n  refresh_hours: 48\n") == "crl.refresh_hours");
  auto ok = parse_config("acme:\n  base_url: https://acme.example/\n  validation:\n    resolver: 127.0.0.1:5353\n"
                         "    allow_private_addresses: true\n    answer_wait_ms: 0\ncrl:\n  delta: true\n  shards: 4\n",
                         "/srv/ca");
  REQUIRE(ok);
  CHECK(ok->acme.base_url == "https://acme.example");
  CHECK(ok->acme.validation.resolver == "127.0.0.1:5353");
  CHECK(ok->acme.validation.allow_private_addresses);
  CHECK(ok->acme.validation.answer_wait_ms == 0);
  CHECK(ok->crl.delta);
  CHECK(ok->crl.shards == 4);
}

TEST_CASE("render_config sets data_dir and stays valid", "[config]") {
  std::string text = render_config("/var/lib/wot ca");
  auto c = parse_config(text, "/somewhere/else");
  REQUIRE(c);
  CHECK(c->data_dir == fs::path("/var/lib/wot ca"));
  CHECK(c->database == fs::path("/var/lib/wot ca/wotca.db"));
}

TEST_CASE("relative paths resolve against the file's folder", "[config]") {
  auto c = parse_config("data_dir: state\ndatabase: db/ca.sqlite\n", "/etc/wotca");
  REQUIRE(c);
  CHECK(c->data_dir == fs::path("/etc/wotca/state"));
  CHECK(c->database == fs::path("/etc/wotca/state/db/ca.sqlite"));
}

TEST_CASE("an empty file means every default", "[config]") {
  auto c = parse_config("", "/x");
  REQUIRE(c);
  CHECK(c->policy.pseudonym_cn == "WoTCA Member");
  CHECK(c->wot.founding_max == 3);
}

TEST_CASE("every bad value is named with its key path", "[config]") {
  auto [text, where, words] = GENERATE(table<std::string, std::string, std::string>({
      {"policy:\n  server_days: 500\n", "policy.server_days", "out of range"},
      {"policy:\n  server_days: ninety\n", "policy.server_days", "not a whole number"},
      {"policy:\n  acme_server_days: 200\n  server_days: 100\n", "policy.acme_server_days", "exceeds"},
      {"policy:\n  server_days: 2\n", "policy.acme_server_days", "exceeds policy.server_days (2)"},
      {"policy:\n  sever_days: 90\n", "policy.sever_days", "unknown key"},
      {"colour: blue\n", "colour", "unknown key"},
      {"ca:\n  root_key_algorithm: dsa-1024\n", "ca.root_key_algorithm", "not a key algorithm"},
      {"ca:\n  scep_ra_key_algorithm: ecdsa-p256\n", "ca.scep_ra_key_algorithm", "RSA"},
      {"ca:\n  issuing_years: 30\n  root_years: 20\n", "ca.issuing_years", "outlive"},
      {"urls:\n  ocsp: https://ocsp.example/\n", "urls.ocsp", "http://"},
      {"urls:\n  crl_base: http://crl.example\n", "urls.crl_base", "end with '/'"},
      {"ocsp:\n  listen: 127.0.0.1\n", "ocsp.listen", "HOST:PORT"},
      {"ocsp:\n  listen: 127.0.0.1:99999\n", "ocsp.listen", "above 65535"},
      {"scep:\n  listen: \"[::1]:x\"\n", "scep.listen", "HOST:PORT"},
      {"wot:\n  min_documents: 1\n  min_government_photo_ids: 2\n", "wot.min_government_photo_ids", "exceeds"},
      {"wot: [1, 2]\n", "wot", "mapping"},
      {"policy:\n  pseudonym_cn: [a]\n", "policy.pseudonym_cn", "text value"},
      {"policy:\n  pseudonym_cn: \"\"\n", "policy.pseudonym_cn", "empty"},
      {"verification:\n  resolver: dns.example\n", "verification.resolver", "HOST:PORT"},
      {"verification:\n  allow_private_addresses: maybe\n", "verification.allow_private_addresses", "true or false"},
      {"verification:\n  timeout_ms: 5\n", "verification.timeout_ms", "out of range"},
      {"data_dir: [\n", "line", "not valid YAML"},
      {"- just\n- a list\n", "(top level)", "mapping"},
      {": \n", "(top level)", "plain words"},
  }));
  CAPTURE(text);
  auto c = parse_config(text, "/x");
  REQUIRE_FALSE(c);
  CHECK(c.error().code == errc::config);
  CHECK(c.error().where.rfind(where, 0) == 0);
  CHECK(c.error().message.find(words) != std::string::npos);
}

TEST_CASE("listen addresses", "[config]") {
  auto v4 = parse_listen_address("127.0.0.1:14081", "x");
  REQUIRE(v4);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 14081);
  auto v6 = parse_listen_address("[::1]:0", "x");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 0);
  CHECK_FALSE(parse_listen_address(":80", "x"));
  CHECK_FALSE(parse_listen_address("host:", "x"));
  CHECK_FALSE(parse_listen_address("a b:80", "x"));
  CHECK_FALSE(parse_listen_address("::1:80", "x"));
}

TEST_CASE("load_config names the file and reads WOTCA_CONFIG", "[config]") {
  fs::path dir = fs::temp_directory_path() / ("wotca-config-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path file = dir / "wotca.yaml";
  {
    std::ofstream(file) << "policy:\n  server_days: 0\n";
  }
  auto bad = load_config(file);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().where == file.string());
  CHECK(bad.error().message.find("policy.server_days") != std::string::npos);

  auto missing = load_config(dir / "nope.yaml");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == errc::io);

  {
    std::ofstream(file) << "data_dir: .\n";
  }
  auto good = load_config(file);
  REQUIRE(good);
  CHECK(good->data_dir == dir);
  CHECK(good->source == file);

  CHECK(default_config_path("given.yaml") == fs::path("given.yaml"));
  ::setenv("WOTCA_CONFIG", file.c_str(), 1);
  CHECK(default_config_path("") == file);
  ::unsetenv("WOTCA_CONFIG");
  CHECK(default_config_path("") == fs::path("data/wotca.yaml"));
  fs::remove_all(dir);
}
