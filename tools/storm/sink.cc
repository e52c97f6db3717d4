#include "sink.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "common/timed_stream.h"
#include "http.h"
#include "mail/ascii.h"
#include "mail/reply_line.h"

namespace storm {

namespace asio = boost::asio;
using asio::ip::tcp;
using sluice::TimedStream;

std::string CodeOf(const std::string& reply) {
  const sluice::mail::ReplyLine r = sluice::mail::ParseReplyLine(reply);
  if (r.code == 0) return reply.substr(0, 3);
  return r.enhanced.empty() ? reply.substr(0, 3) : reply.substr(0, 3) + " " + std::string(r.enhanced);
}

Sink::Sink(asio::io_context& io, Ledger& ledger, bool lmtp) : io_(io), ledger_(ledger), lmtp_(lmtp), acceptor_(io) {}

uint16_t Sink::Listen(uint16_t port) {
  return ServeLoopback(io_, acceptor_, port, [this](tcp::socket s) { return Serve(std::move(s)); });
}

asio::awaitable<void> Sink::Serve(tcp::socket socket) {
  auto stream = std::make_unique<TimedStream>(std::move(socket));
  const auto timeout = std::chrono::seconds(60);
  boost::system::error_code ec;
  if (!busy_.empty()) {
    ++ledger_.sink_refused["greeting"];
    const std::string refusal = busy_ + "\r\n";  // named: see common/offload.h on temporaries
    co_await stream->WriteAll(refusal, timeout, ec);
    stream->Close();
    co_return;
  }
  co_await stream->WriteAll("220 storm-sink ready\r\n", timeout, ec);
  int rcpts = 0;
  while (!ec) {
    auto read = stream->ReadLine(timeout, 4096, ec);
    std::string line = co_await std::move(read);
    if (ec) break;
    const std::string verb = sluice::mail::Uppered(line.substr(0, 4));
    if ((verb == "MAIL" || verb == "RCPT") && !busy_.empty()) {
      ++ledger_.sink_refused[verb == "MAIL" ? "mail" : "rcpt"];
      const std::string refusal = busy_ + "\r\n";
      co_await stream->WriteAll(refusal, timeout, ec);
      break;
    }
    std::string reply;
    if (verb == "LHLO" || verb == "EHLO") {
      reply = "250-storm-sink\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";
    } else if (verb == "HELO" || verb == "RSET" || verb == "NOOP") {
      rcpts = verb == "RSET" ? 0 : rcpts;
      reply = "250 2.0.0 ok\r\n";
    } else if (verb == "MAIL") {
      rcpts = 0;
      reply = "250 2.1.0 ok\r\n";
    } else if (verb == "RCPT") {
      ++rcpts;
      reply = "250 2.1.5 ok\r\n";
    } else if (verb == "DATA") {
      co_await stream->WriteAll("354 go ahead\r\n", timeout, ec);
      int64_t id = -1;
      bool headers = true;
      while (!ec) {
        auto body_read = stream->ReadLine(timeout, 1 << 20, ec);
        std::string body_line = co_await std::move(body_read);
        if (ec || body_line == ".") break;
        if (headers && body_line.empty()) headers = false;
        if (headers && body_line.rfind("X-Storm-Id: ", 0) == 0) id = std::stoll(body_line.substr(12));
      }
      if (ec) break;
      if (!busy_.empty()) {  // turned away at the final dot: nothing stored
        ++ledger_.sink_refused["dot"];
        const std::string refusal = busy_ + "\r\n";
        co_await stream->WriteAll(refusal, timeout, ec);
        break;
      }
      if (delay_ > 0) {
        asio::steady_timer wait(co_await asio::this_coro::executor);
        wait.expires_after(std::chrono::microseconds(static_cast<int64_t>(delay_ * 1e6)));
        boost::system::error_code ignored;
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
      for (int i = 0; i < (lmtp_ ? rcpts : 1); ++i) reply += "250 2.0.0 stored\r\n";
      // One recipient per storm message: each LMTP reply is one delivery.
      for (int i = 0; i < rcpts; ++i) {
        if (id >= 0 && static_cast<size_t>(id) < ledger_.messages.size()) {
          ++ledger_.messages[id].delivered;
          ++ledger_.Current().delivered;
        } else {
          ++ledger_.unknown_deliveries;
        }
      }
      rcpts = 0;
    } else if (verb == "QUIT") {
      co_await stream->WriteAll("221 2.0.0 bye\r\n", timeout, ec);
      break;
    } else {
      reply = "500 5.5.1 unknown command\r\n";
    }
    co_await stream->WriteAll(reply, timeout, ec);
  }
  stream->Close();
}

}  // namespace storm
