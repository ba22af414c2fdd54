#include "common/tls/cert_gen.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/identity/principal.h"
#include "common/tls/tls_context.h"

namespace kess {
namespace tls {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

absl::Status Error(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", DrainOpenSslErrors()));
}

absl::StatusOr<PkeyPtr> NewKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return Error("EC key generation");
  return key;
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, length);
}

absl::StatusOr<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return Error("PEM key");
  }
  return BioToString(bio.get());
}

absl::StatusOr<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(bio.get(), cert) != 1) return Error("PEM cert");
  return BioToString(bio.get());
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid,
                          const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return Error(absl::StrCat("extension ", value));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return Error("X509_add_ext");
  return absl::OkStatus();
}

absl::Status SetValidity(X509* cert, absl::Time not_before,
                         absl::Time not_after) {
  if (ASN1_TIME_set(X509_getm_notBefore(cert), absl::ToTimeT(not_before)) ==
          nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), absl::ToTimeT(not_after)) ==
          nullptr) {
    return Error("validity");
  }
  return absl::OkStatus();
}

absl::Status SetSubject(X509* cert, const std::string& cn) {
  X509_NAME* name = X509_get_subject_name(cert);
  if (X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
          0) != 1) {
    return Error("subject");
  }
  return absl::OkStatus();
}

absl::StatusOr<X509Ptr> NewUnsigned(EVP_PKEY* key, const std::string& cn,
                                    absl::Time not_before,
                                    absl::Time not_after) {
  X509Ptr cert(X509_new());
  if (cert == nullptr) return Error("X509_new");
  X509_set_version(cert.get(), 2);
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) {
    return Error("RAND_bytes");
  }
  serial_bytes[0] &= 0x7f;  // positive
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
  BN_free(serial);
  KESS_RETURN_IF_ERROR(SetValidity(cert.get(), not_before, not_after));
  KESS_RETURN_IF_ERROR(SetSubject(cert.get(), cn));
  if (X509_set_pubkey(cert.get(), key) != 1) return Error("X509_set_pubkey");
  return cert;
}

absl::StatusOr<PkeyPtr> ParseKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) return Error("CA key");
  return key;
}

absl::StatusOr<X509Ptr> ParseCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return Error("CA certificate");
  return cert;
}

// The roles that run a TLS server; the others ("agent", "client") only
// connect, so their certificates are clientAuth only.
bool IsServerRole(const std::string& role) {
  return role == "mandator" || role == "distributor";
}

}  // namespace

absl::StatusOr<KeyAndCert> MakeCa(const std::string& common_name,
                                  absl::Time not_before, absl::Time not_after) {
  KESS_ASSIGN_OR_RETURN(PkeyPtr key, NewKey());
  KESS_ASSIGN_OR_RETURN(
      X509Ptr cert, NewUnsigned(key.get(), common_name, not_before, not_after));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  KESS_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(),
                                    NID_basic_constraints,
                                    "critical,CA:TRUE,pathlen:0"));
  KESS_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_key_usage,
                                    "critical,keyCertSign,cRLSign"));
  KESS_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(),
                                    NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Error("signing the CA");
  }
  KeyAndCert out;
  KESS_ASSIGN_OR_RETURN(out.key_pem, KeyToPem(key.get()));
  KESS_ASSIGN_OR_RETURN(out.cert_pem, CertToPem(cert.get()));
  return out;
}

absl::StatusOr<KeyAndCert> IssueCert(const KeyAndCert& ca,
                                     const CertSpec& spec) {
  KESS_ASSIGN_OR_RETURN(PkeyPtr ca_key, ParseKey(ca.key_pem));
  KESS_ASSIGN_OR_RETURN(X509Ptr ca_cert, ParseCert(ca.cert_pem));
  KESS_ASSIGN_OR_RETURN(PkeyPtr key, NewKey());
  KESS_ASSIGN_OR_RETURN(X509Ptr cert,
                        NewUnsigned(key.get(), spec.common_name,
                                    spec.not_before, spec.not_after));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  std::vector<std::string> sans;
  for (const std::string& name : spec.dns_names) {
    sans.push_back(absl::StrCat("DNS:", name));
  }
  for (const std::string& ip : spec.ip_addresses) {
    sans.push_back(absl::StrCat("IP:", ip));
  }
  for (const std::string& uri : spec.uris) {
    sans.push_back(absl::StrCat("URI:", uri));
  }
  KESS_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(),
                                    NID_basic_constraints, "critical,CA:FALSE"));
  KESS_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_key_usage,
                                    "critical,digitalSignature"));
  KESS_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(),
                                    NID_ext_key_usage,
                                    spec.server_auth ? "serverAuth,clientAuth"
                                                     : "clientAuth"));
  KESS_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(),
                                    NID_authority_key_identifier,
                                    "keyid:always"));
  if (!sans.empty()) {
    KESS_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(),
                                      NID_subject_alt_name,
                                      absl::StrJoin(sans, ",")));
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    return Error("signing the certificate");
  }
  KeyAndCert out;
  KESS_ASSIGN_OR_RETURN(out.key_pem, KeyToPem(key.get()));
  KESS_ASSIGN_OR_RETURN(out.cert_pem, CertToPem(cert.get()));
  return out;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents, int mode) {
  const std::string temp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("create ", temp));
  fchmod(fd, mode);  // regardless of the umask
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      close(fd);
      unlink(temp.c_str());
      return ErrnoToStatus(saved, absl::StrCat("write ", temp));
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    const int saved = errno;
    unlink(temp.c_str());
    return ErrnoToStatus(saved, absl::StrCat("sync ", temp));
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    unlink(temp.c_str());
    return ErrnoToStatus(saved, absl::StrCat("rename to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> WriteClusterCerts(
    const ClusterCertOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("need a dir");
  if (options.cluster.empty()) {
    return absl::InvalidArgumentError("need a cluster name");
  }
  if (options.days < 1) return absl::InvalidArgumentError("days must be >= 1");
  for (const std::string& host : options.hosts) {
    if (host.empty() || host.find('/') != std::string::npos ||
        host.find(',') != std::string::npos || host[0] == '.') {
      return absl::InvalidArgumentError(
          absl::StrCat("not a host name or IP address: '", host, "'"));
    }
  }
  // Every file first, so that a refusal writes nothing.
  struct Planned {
    std::string name;  // without extension, relative to dir
    std::vector<std::string> hosts;
    bool server = true;  // serverAuth and host names; else clientAuth only
    std::string uri;     // a principal URI SAN, or ""
  };
  std::vector<Planned> planned;
  const std::string dc = options.dc.empty() ? "any" : options.dc;
  for (const char* role : kRoles) {
    const bool server = IsServerRole(role);
    std::string uri;
    if (server) {
      absl::StatusOr<identity::Kind> kind = identity::ParseKind(role);
      if (kind.ok()) {
        KESS_RETURN_IF_ERROR(identity::ValidatePrincipalName(*kind, role, dc));
        uri = identity::PrincipalUri(*kind, role, dc);
      }
    }
    planned.push_back({role,
                       server ? options.hosts : std::vector<std::string>{},
                       server, uri});
  }
  for (const std::string& host : options.hosts) {
    planned.push_back({absl::StrCat("hosts/", host), {host}, true});
  }
  std::vector<std::string> paths = {options.dir + "/ca.pem",
                                    options.dir + "/ca.key"};
  for (const Planned& p : planned) {
    paths.push_back(absl::StrCat(options.dir, "/", p.name, ".pem"));
    paths.push_back(absl::StrCat(options.dir, "/", p.name, ".key"));
  }
  if (!options.force) {
    std::vector<std::string> existing;
    for (const std::string& path : paths) {
      if (access(path.c_str(), F_OK) == 0) existing.push_back(path);
    }
    if (!existing.empty()) {
      return absl::AlreadyExistsError(
          absl::StrCat("refusing to overwrite ", absl::StrJoin(existing, ", "),
                       " (use --force)"));
    }
  }
  for (const std::string& d :
       {options.dir, options.dir + "/hosts"}) {
    if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoToStatus(errno, absl::StrCat("mkdir ", d));
    }
  }

  const absl::Time now = absl::Now();
  const absl::Time not_before = now - absl::Hours(1);
  const absl::Time not_after = now + absl::Hours(24) * options.days;
  KESS_ASSIGN_OR_RETURN(
      KeyAndCert ca,
      MakeCa(absl::StrCat("kess CA ", options.cluster), not_before, not_after));
  std::vector<std::string> written;
  auto write_pair = [&](const std::string& name,
                        const KeyAndCert& pair) -> absl::Status {
    const std::string base = absl::StrCat(options.dir, "/", name);
    KESS_RETURN_IF_ERROR(WriteFileAtomically(base + ".key", pair.key_pem, 0600));
    KESS_RETURN_IF_ERROR(WriteFileAtomically(base + ".pem", pair.cert_pem, 0644));
    written.push_back(base + ".pem");
    written.push_back(base + ".key");
    return absl::OkStatus();
  };
  KESS_RETURN_IF_ERROR(write_pair("ca", ca));
  for (const Planned& p : planned) {
    CertSpec spec;
    spec.common_name = absl::StrCat(p.name, ".", options.cluster, ".kess");
    if (spec.common_name.size() > 64) spec.common_name.resize(64);
    spec.server_auth = p.server;
    if (p.server) {
      spec.dns_names = {"localhost"};
      spec.ip_addresses = {"127.0.0.1", "::1"};
    }
    for (const std::string& host : p.hosts) {
      (IsIpLiteral(host) ? spec.ip_addresses : spec.dns_names).push_back(host);
    }
    if (!p.uri.empty()) spec.uris = {p.uri};
    spec.not_before = not_before;
    spec.not_after = not_after;
    KESS_ASSIGN_OR_RETURN(KeyAndCert pair, IssueCert(ca, spec));
    KESS_RETURN_IF_ERROR(write_pair(p.name, pair));
  }
  return written;
}

absl::StatusOr<std::vector<std::string>> IssuePrincipalCert(
    const PrincipalCertOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("need a dir");
  if (options.days < 1) return absl::InvalidArgumentError("days must be >= 1");
  KESS_ASSIGN_OR_RETURN(identity::Kind kind,
                        identity::ParseKind(options.kind));
  KESS_RETURN_IF_ERROR(
      identity::ValidatePrincipalName(kind, options.name, options.dc));
  const bool server = identity::KindHasDc(kind);
  if (!server && !options.hosts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", options.kind, " certificate is a client certificate only: "
        "no host names"));
  }
  auto read = [](const std::string& path) -> absl::StatusOr<std::string> {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  };
  KeyAndCert ca;
  KESS_ASSIGN_OR_RETURN(ca.cert_pem, read(options.dir + "/ca.pem"));
  KESS_ASSIGN_OR_RETURN(ca.key_pem, read(options.dir + "/ca.key"));
  const std::string file =
      server ? absl::StrCat(options.kind, "-", options.dc, "-", options.name)
             : absl::StrCat(options.kind, "-", options.name);
  const std::string dir = options.dir + "/principals";
  const std::string base = absl::StrCat(dir, "/", file);
  if (!options.force) {
    for (const std::string& path : {base + ".pem", base + ".key"}) {
      if (access(path.c_str(), F_OK) == 0) {
        return absl::AlreadyExistsError(
            absl::StrCat("refusing to overwrite ", path, " (use --force)"));
      }
    }
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, absl::StrCat("mkdir ", dir));
  }
  CertSpec spec;
  spec.common_name = absl::StrCat(options.kind, ".", options.name, ".kess");
  if (spec.common_name.size() > 64) spec.common_name.resize(64);
  spec.server_auth = server;
  if (server) {
    spec.dns_names = {"localhost"};
    spec.ip_addresses = {"127.0.0.1", "::1"};
    for (const std::string& host : options.hosts) {
      (IsIpLiteral(host) ? spec.ip_addresses : spec.dns_names).push_back(host);
    }
  }
  spec.uris = {identity::PrincipalUri(kind, options.name, options.dc)};
  const absl::Time now = absl::Now();
  spec.not_before = now - absl::Hours(1);
  spec.not_after = now + absl::Hours(24) * options.days;
  KESS_ASSIGN_OR_RETURN(KeyAndCert pair, IssueCert(ca, spec));
  KESS_RETURN_IF_ERROR(WriteFileAtomically(base + ".key", pair.key_pem, 0600));
  KESS_RETURN_IF_ERROR(WriteFileAtomically(base + ".pem", pair.cert_pem, 0644));
  return std::vector<std::string>{base + ".pem", base + ".key"};
}

}  // namespace tls
}  // namespace kess
