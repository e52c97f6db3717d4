#include "server/tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "server/server.h"

namespace sluice::server {

namespace ssl = boost::asio::ssl;

namespace {

// Every client certificate is let through the handshake; whether it
// verified is read afterwards (SSL_get_verify_result) to match connectors.
int AcceptAnyCertificate(int, X509_STORE_CTX*) { return 1; }

std::string SubjectOf(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return {};
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data ? data : "", n > 0 ? static_cast<size_t>(n) : 0);
  BIO_free(bio);
  return out;
}

std::vector<std::string> NamesOf(X509* cert) {
  std::vector<std::string> names;
  auto* alt = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (alt) {
    for (int i = 0; i < sk_GENERAL_NAME_num(alt); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(alt, i);
      if (g->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = g->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    }
    GENERAL_NAMES_free(alt);
  }
  if (names.empty()) {  // no DNS names: the CN stands in, as RFC 6125 allows for legacy certificates
    X509_NAME* subject = X509_get_subject_name(cert);
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0) {
      const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    }
  }
  return names;
}

}  // namespace

Result<std::shared_ptr<ssl::context>> LoadServerTls(const std::string& cert, const std::string& key,
                                                     const TlsPolicy& policy, const ClientCertificates& clients) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::single_dh_use);
  if (Status s = ApplyTlsPolicy(*ctx, policy); !s.ok()) return s;
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (ec) return Status::InvalidArgument(fmt::format("tls certificate {}: {}", cert, ec.message()));
  ctx->use_private_key_file(key, ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument(fmt::format("tls key {}: {}", key, ec.message()));
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return Status::InvalidArgument(fmt::format("tls key {} does not match certificate {}", key, cert));
  }
  if (clients.ask) {
    SSL_CTX* native = ctx->native_handle();
    if (!clients.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(native, clients.ca_file.c_str(), nullptr) != 1) {
        return Status::InvalidArgument(fmt::format("tls client_ca {}: cannot be read as PEM certificates",
                                                   clients.ca_file));
      }
      // Named in the request, so a client with several certificates picks the right one.
      SSL_CTX_set_client_CA_list(native, SSL_load_client_CA_file(clients.ca_file.c_str()));
    }
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, AcceptAnyCertificate);
    // Resumed sessions with a client certificate need a context id.
    static const unsigned char kContext[] = "sluice-edge";
    SSL_CTX_set_session_id_context(native, kContext, sizeof kContext - 1);
  }
  return ctx;
}

std::optional<PeerCertificate> ReadPeerCertificate(ssl_st* ssl) {
  if (!ssl) return std::nullopt;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return std::nullopt;
  PeerCertificate p;
  p.verified = SSL_get_verify_result(ssl) == X509_V_OK;
  p.subject = SubjectOf(cert);
  p.names = NamesOf(cert);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md, &n) == 1) {
    static const char kHex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; ++i) {
      p.fingerprint += kHex[md[i] >> 4];
      p.fingerprint += kHex[md[i] & 15];
    }
  }
  X509_free(cert);
  return p;
}

Status CheckTls(const ServerOptions& options) {
  if (options.tls_cert.empty() && options.tls_key.empty()) return Status::Ok();
  ClientCertificates clients{!options.tls_client_ca.empty(), options.tls_client_ca};
  auto ctx = LoadServerTls(options.tls_cert, options.tls_key, options.tls_policy, clients);
  return ctx.ok() ? Status::Ok() : ctx.status();
}

}  // namespace sluice::server
