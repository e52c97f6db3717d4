#include "common/listen.h"

#include <fmt/format.h>

namespace sluice {

namespace asio = boost::asio;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

Status BindAcceptor(asio::ip::tcp::acceptor& acceptor, const std::string& address, uint16_t port,
                    bool reuse_port, bool listen) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) return Status::InvalidArgument(fmt::format("listen {}: bad address", address));
  asio::ip::tcp::endpoint ep(ip, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec && reuse_port) acceptor.set_option(ReusePort(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec && listen) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IoError(fmt::format("cannot listen on {}:{}: {}", address, port, ec.message()));
  return Status::Ok();
}

}  // namespace sluice
