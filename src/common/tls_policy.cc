#include "common/tls_policy.h"

#include <openssl/ssl.h>

namespace sluice {

Status ApplyTlsPolicy(boost::asio::ssl::context& ctx, const TlsPolicy& p) {
  SSL_CTX* c = ctx.native_handle();
  int min = p.min_version == "1.3" ? TLS1_3_VERSION : p.min_version == "1.2" ? TLS1_2_VERSION : 0;
  if (min == 0) return Status::InvalidArgument("min_tls_version \"" + p.min_version + "\" is not 1.2 or 1.3");
  if (SSL_CTX_set_min_proto_version(c, min) != 1) return Status::InvalidArgument("cannot set the TLS version");
  if (SSL_CTX_set_cipher_list(c, p.ciphers.c_str()) != 1) {
    return Status::InvalidArgument("no usable cipher in \"" + p.ciphers + "\"");
  }
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  return Status::Ok();
}

}  // namespace sluice
