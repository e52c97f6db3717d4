#include "milter.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>

#include "common/timed_stream.h"
#include "http.h"

namespace storm {

namespace asio = boost::asio;
using asio::ip::tcp;
using sluice::TimedStream;

namespace {

std::string Packet(char cmd, const std::string& data = "") {
  const uint32_t n = static_cast<uint32_t>(data.size() + 1);
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                  static_cast<char>(n)};
  out += cmd;
  out += data;
  return out;
}

// The big-endian length that begins `in` (at least 4 bytes).
uint32_t LengthOf(const std::string& in) {
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = n << 8 | static_cast<unsigned char>(in[i]);
  return n;
}

std::string U32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

}  // namespace

Milter::Milter(asio::io_context& io, Ledger& ledger) : io_(io), ledger_(ledger), acceptor_(io) {}

uint16_t Milter::Listen() {
  return ServeLoopback(io_, acceptor_, 0, [this](tcp::socket s) { return Serve(std::move(s)); });
}

asio::awaitable<void> Milter::Serve(tcp::socket socket) {
  auto stream = std::make_unique<TimedStream>(std::move(socket));
  const auto timeout = std::chrono::seconds(120);
  boost::system::error_code ec;
  std::string in;
  char buf[16384];
  while (!ec) {
    // One packet: a 4-byte length, then the command and its data.
    while (in.size() < 4 || in.size() < 4 + LengthOf(in)) {
      auto read = stream->ReadSome(buf, sizeof buf, timeout, ec);
      const size_t n = co_await std::move(read);
      if (ec) break;
      in.append(buf, n);
    }
    if (ec) break;
    const uint32_t len = LengthOf(in);
    if (len == 0) break;
    const char cmd = in[4];
    in.erase(0, 4 + len);
    std::string reply;
    switch (cmd) {
      case 'O': reply = Packet('O', U32(6) + U32(0x1FF) + U32(0)); break;  // version 6, every action, every step
      case 'C': case 'H': case 'M': case 'R': case 'T': case 'L': case 'N': case 'B': reply = Packet('c'); break;
      case 'E': reply = Packet('a'); break;
      case 'Q': ec = asio::error::eof; break;
      default: break;  // 'D' macros and 'A' abort get no reply
    }
    if (reply.empty()) continue;
    if (stalled_) {
      // Stopped: the reply waits until the stall ends, however long the
      // filter's client is willing to wait (it gives up at its deadline).
      ++ledger_.milter_stalled;
      asio::steady_timer wait(co_await asio::this_coro::executor);
      while (stalled_) {
        wait.expires_after(std::chrono::milliseconds(50));
        boost::system::error_code ignored;
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
    }
    if (cmd == 'E') ++ledger_.milter_scans;
    co_await stream->WriteAll(reply, timeout, ec);
  }
  stream->Close();
}

}  // namespace storm
