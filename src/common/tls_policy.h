// One TLS policy for every context Sluice makes — the edge's STARTTLS,
// outbound delivery, the admin API, webhooks and sluicectl: TLS 1.2 or
// later, and for TLS 1.2 only forward-secret key exchange with AEAD ciphers
// (ECDHE with AES-GCM or ChaCha20-Poly1305); TLS 1.3 suites as OpenSSL has
// them. No compression, no renegotiation. Configurable in [tls].
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "common/status.h"

namespace sluice {

inline constexpr const char* kModernCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct TlsPolicy {
  std::string ciphers = kModernCiphers;  // OpenSSL cipher list for TLS 1.2
  std::string min_version = "1.2";       // "1.2" or "1.3"
  bool operator==(const TlsPolicy&) const = default;  // a reload applies what changed
};

// Applies `p` to `ctx`; an error names what OpenSSL refused (an unknown
// cipher list, a version it does not know).
Status ApplyTlsPolicy(boost::asio::ssl::context& ctx, const TlsPolicy& p);

}  // namespace sluice
