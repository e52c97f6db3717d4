// The edge's TLS context (RFC 3207 STARTTLS), from a PEM certificate and key.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "common/status.h"

namespace sluice::server {

// TLS 1.2 or later; the key must match the certificate.
Result<std::shared_ptr<boost::asio::ssl::context>> LoadServerTls(const std::string& cert,
                                                                 const std::string& key);

}  // namespace sluice::server
