#include "http.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "common/http_client.h"
#include "common/timed_stream.h"

namespace storm {

namespace asio = boost::asio;
using asio::ip::tcp;
using sluice::TimedStream;

// Named, not a temporary: ConnectTimed keeps a reference across its suspensions.
const std::string kLoopback = "127.0.0.1";

namespace {
constexpr auto kTimeout = std::chrono::seconds(10);

// Reads headers; returns Content-Length (or -1 when absent).
asio::awaitable<long> ReadHeaders(TimedStream& s, boost::system::error_code& ec, std::string* first) {
  long length = -1;
  for (bool start = true; !ec; start = false) {
    auto op = s.ReadLine(kTimeout, 16384, ec);
    std::string line = co_await std::move(op);
    if (ec || line.empty()) break;
    if (start) *first = line;
    for (auto& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (line.rfind("content-length:", 0) == 0) length = std::stol(line.substr(15));
  }
  co_return length;
}

asio::awaitable<std::string> ReadBody(TimedStream& s, long length, boost::system::error_code& ec) {
  std::string body;
  char buf[8192];
  while (!ec && (length < 0 || static_cast<long>(body.size()) < length)) {
    auto op = s.ReadSome(buf, sizeof buf, kTimeout, ec);
    size_t n = co_await std::move(op);
    body.append(buf, n);
  }
  if (length >= 0 && static_cast<long>(body.size()) >= length) ec = {};
  co_return body;
}

}  // namespace

namespace {
asio::awaitable<void> AcceptLoop(asio::io_context& io, tcp::acceptor& acceptor,
                                 std::function<asio::awaitable<void>(tcp::socket)> serve) {
  for (;;) {
    boost::system::error_code ec;
    auto op = acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    tcp::socket s = co_await std::move(op);
    if (ec == asio::error::operation_aborted) co_return;
    if (!ec) asio::co_spawn(io, serve(std::move(s)), asio::detached);
  }
}
}  // namespace

uint16_t ServeLoopback(asio::io_context& io, tcp::acceptor& acceptor, uint16_t port,
                       std::function<asio::awaitable<void>(tcp::socket)> serve) {
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen();
  asio::co_spawn(io, AcceptLoop(io, acceptor, std::move(serve)), asio::detached);
  return acceptor.local_endpoint().port();
}

asio::awaitable<HttpReply> HttpCall(uint16_t port, std::string method, std::string path, std::string body,
                                    std::string token) {
  sluice::HttpRequest r;
  r.method = std::move(method);
  r.url = {false, kLoopback, port, std::move(path)};
  r.headers = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  r.body = std::move(body);
  r.timeout = kTimeout;
  r.body_limit = 64 << 20;
  r.user_agent = "sluice-storm";
  auto fetch = sluice::Fetch(std::move(r));
  auto reply = co_await std::move(fetch);
  if (!reply.ok()) co_return HttpReply{};
  co_return HttpReply{reply.value().status, std::move(reply.value().body)};
}

WebhookReceiver::WebhookReceiver(asio::io_context& io, std::function<void(const std::string&)> on_body)
    : io_(io), on_body_(std::move(on_body)), acceptor_(io) {}

uint16_t WebhookReceiver::Listen() {
  return ServeLoopback(io_, acceptor_, 0, [this](tcp::socket s) { return Serve(std::move(s)); });
}

asio::awaitable<void> WebhookReceiver::Serve(tcp::socket socket) {
  auto s = std::make_unique<TimedStream>(std::move(socket));
  boost::system::error_code ec;
  std::string first;
  auto headers = ReadHeaders(*s, ec, &first);
  long length = co_await std::move(headers);
  if (ec || length < 0) co_return;
  auto read = ReadBody(*s, length, ec);
  std::string body = co_await std::move(read);
  if (ec) co_return;
  on_body_(body);
  co_await s->WriteAll("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", kTimeout, ec);
  s->Close();
}

}  // namespace storm
