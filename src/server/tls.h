// The edge's TLS context (RFC 3207 STARTTLS), from a PEM certificate and
// key, and what a client's certificate says (for connectors).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "common/tls_policy.h"
#include "server/connectors.h"

struct ssl_st;

namespace sluice::server {

// Whether to ask clients for a certificate, and which CAs vouch for one.
// A client without one, or with one that does not verify, still gets its
// session: the certificate only decides whether a connector matches.
struct ClientCertificates {
  bool ask = false;
  std::string ca_file;  // PEM; empty: only fingerprints can match
};

// Under `policy` (common/tls_policy.h); the key must match the certificate.
Result<std::shared_ptr<boost::asio::ssl::context>> LoadServerTls(const std::string& cert, const std::string& key,
                                                                 const TlsPolicy& policy,
                                                                 const ClientCertificates& clients = {});

// The peer's certificate on an established server-side session; none when
// it sent none.
std::optional<PeerCertificate> ReadPeerCertificate(ssl_st* ssl);

}  // namespace sluice::server
