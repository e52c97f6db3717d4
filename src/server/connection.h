// One SMTP connection: a coroutine that feeds socket bytes to an
// smtp::Session and carries out the actions it returns.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <memory>

#include "server/server.h"

namespace sluice::server {

// Counters shared by the connections of one server.
struct EdgeState {
  std::atomic<size_t> sessions{0};  // open connections
  std::atomic<size_t> storing{0};   // messages between end of data and the reply
  std::atomic<bool> draining{false};
};

boost::asio::awaitable<void> RunConnection(boost::asio::ip::tcp::socket socket,
                                           const ServerOptions& options,
                                           std::shared_ptr<const smtp::SessionOptions> session,
                                           Stages stages, EdgeState& state);

}  // namespace sluice::server
