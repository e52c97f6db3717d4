#include "server/tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "server/server.h"

namespace sluice::server {

namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>> LoadServerTls(const std::string& cert, const std::string& key,
                                                     const TlsPolicy& policy) {
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
  return ctx;
}

Status CheckTls(const ServerOptions& options) {
  if (options.tls_cert.empty() && options.tls_key.empty()) return Status::Ok();
  auto ctx = LoadServerTls(options.tls_cert, options.tls_key, options.tls_policy);
  return ctx.ok() ? Status::Ok() : ctx.status();
}

}  // namespace sluice::server
