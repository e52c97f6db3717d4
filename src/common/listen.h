// Opens, binds and listens a TCP acceptor, naming the address in any error.
// Shared by the SMTP listeners and the admin API.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace sluice {

// With reuse_port (SO_REUSEPORT) several event loops may listen on one
// port; with listen = false the socket is only bound (a probe).
Status BindAcceptor(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address,
                    uint16_t port, bool reuse_port, bool listen = true);

}  // namespace sluice
