// A TCP stream, optionally upgraded to TLS in place (STARTTLS), whose every
// read and write has a deadline (doc/design.md, rule 4). Used by the edge
// (server/) and by outbound delivery (delivery/).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

struct ssl_st;

namespace sluice {

class TimedStream {
 public:
  using Duration = std::chrono::steady_clock::duration;

  explicit TimedStream(boost::asio::ip::tcp::socket socket);
  ~TimedStream();
  TimedStream(const TimedStream&) = delete;

  // Reads what is there (at least one byte). On timeout ec is timed_out.
  boost::asio::awaitable<size_t> ReadSome(char* data, size_t size, Duration timeout,
                                          boost::system::error_code& ec);
  // Writes all of `data`.
  boost::asio::awaitable<void> WriteAll(std::string_view data, Duration timeout,
                                        boost::system::error_code& ec);
  // Writes `head` then `tail` as one gathered write (no copy to join them).
  boost::asio::awaitable<void> WriteAll(std::string_view head, std::string_view tail, Duration timeout,
                                        boost::system::error_code& ec);
  // Reads one CRLF-terminated line (without CRLF) from the internal buffer,
  // refusing lines longer than max_line.
  boost::asio::awaitable<std::string> ReadLine(Duration timeout, size_t max_line,
                                               boost::system::error_code& ec);

  // Upgrades the connection to TLS (RFC 3207). Bytes buffered by ReadLine
  // before the handshake are dropped: they were sent in the clear.
  // A client that verifies its peer passes `verify_name`: the certificate
  // must then name it (a DNS name or an IP address).
  boost::asio::awaitable<void> Handshake(boost::asio::ssl::context& ctx,
                                         boost::asio::ssl::stream_base::handshake_type type,
                                         Duration timeout, boost::system::error_code& ec,
                                         std::string sni = {},
                                         std::string verify_name = {});
  bool tls() const { return tls_ != nullptr; }
  // The negotiated protocol and cipher, for logs; empty without TLS.
  std::string TlsDescription() const;
  // Why the peer's certificate did not verify, e.g. "hostname mismatch";
  // empty when it did or was not checked.
  std::string TlsVerifyError() const;
  // The OpenSSL session, for what the peer's certificate says; null
  // without TLS. Owned by the stream.
  ssl_st* tls_handle() const;

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  // Ends the operation in progress with operation_aborted (not a timeout).
  void Cancel();
  // The same, only if that operation is a ReadSome: a write in progress
  // (a reply going out) is never cut short.
  void CancelRead();
  void Close();

 private:
  friend boost::asio::awaitable<std::unique_ptr<TimedStream>> ConnectTimed(
      const std::string& host, uint16_t port, Duration timeout, boost::system::error_code& ec);
  void Arm(Duration timeout);
  void Disarm();

  boost::asio::awaitable<size_t> ReadRaw(char* data, size_t size, boost::system::error_code& ec);

  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<bool> alive_;  // guards late timer callbacks
  uint64_t generation_ = 0;
  bool timed_out_ = false;
  bool reading_ = false;  // inside ReadSome's read
  std::string rbuf_;  // bytes read past the last line
};

// Connects to host:port, trying every address, within `timeout`.
boost::asio::awaitable<std::unique_ptr<TimedStream>> ConnectTimed(
    const std::string& host, uint16_t port, TimedStream::Duration timeout,
    boost::system::error_code& ec);

}  // namespace sluice
