// The edge's TLS context (RFC 3207 STARTTLS), from a PEM certificate and key.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "common/status.h"
#include "common/tls_policy.h"

namespace sluice::server {

// Under `policy` (common/tls_policy.h); the key must match the certificate.
Result<std::shared_ptr<boost::asio::ssl::context>> LoadServerTls(const std::string& cert, const std::string& key,
                                                                 const TlsPolicy& policy);

}  // namespace sluice::server
