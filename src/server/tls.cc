#include "server/tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "server/server.h"

namespace sluice::server {

namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>> LoadServerTls(const std::string& cert, const std::string& key) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
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
  auto ctx = LoadServerTls(options.tls_cert, options.tls_key);
  return ctx.ok() ? Status::Ok() : ctx.status();
}

}  // namespace sluice::server
