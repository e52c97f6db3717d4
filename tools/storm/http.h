// Just enough HTTP/1.1 for the storm: calls to Sluice's admin API, and a
// receiver for its alert webhooks.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <string>

namespace storm {

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};

// Binds `acceptor` to 127.0.0.1:port (0: a free port) and serves every
// connection with `serve` on `io`; returns the port. The sink and the
// webhook receiver share it.
uint16_t ServeLoopback(boost::asio::io_context& io, boost::asio::ip::tcp::acceptor& acceptor, uint16_t port,
                       std::function<boost::asio::awaitable<void>(boost::asio::ip::tcp::socket)> serve);

// One request on a fresh connection to 127.0.0.1:port, within 10 s.
boost::asio::awaitable<HttpReply> HttpCall(uint16_t port, std::string method, std::string path, std::string body,
                                           std::string token);

// Answers 200 to every POST and hands its body to `on_body`.
class WebhookReceiver {
 public:
  WebhookReceiver(boost::asio::io_context& io, std::function<void(const std::string&)> on_body);
  uint16_t Listen();

 private:
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);
  boost::asio::io_context& io_;
  std::function<void(const std::string&)> on_body_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace storm
