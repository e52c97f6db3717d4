#include "common/timed_stream.h"

#include <array>

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace sluice {

namespace asio = boost::asio;
using asio::ip::tcp;

TimedStream::TimedStream(tcp::socket socket)
    : socket_(std::move(socket)), timer_(socket_.get_executor()), alive_(std::make_shared<bool>(true)) {}

TimedStream::~TimedStream() { *alive_ = false; }

// The timer cancels the socket's operation when it fires; the generation
// number makes a late callback from an earlier arm a no-op. Every use is on
// the stream's own executor, so no lock is needed.
void TimedStream::Arm(Duration timeout) {
  timed_out_ = false;
  timer_.expires_after(timeout);
  timer_.async_wait([this, gen = ++generation_, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive || gen != generation_) return;
    timed_out_ = true;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  });
}

void TimedStream::Disarm() {
  ++generation_;
  timer_.cancel();
}

void TimedStream::Cancel() {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void TimedStream::CancelRead() {
  if (reading_) Cancel();
}

void TimedStream::Close() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

asio::awaitable<size_t> TimedStream::ReadSome(char* data, size_t size, Duration timeout,
                                              boost::system::error_code& ec) {
  if (!rbuf_.empty()) {  // serve what ReadLine buffered first
    size_t n = std::min(size, rbuf_.size());
    std::copy_n(rbuf_.data(), n, data);
    rbuf_.erase(0, n);
    ec = {};
    co_return n;
  }
  Arm(timeout);
  reading_ = true;
  size_t n = co_await ReadRaw(data, size, ec);
  reading_ = false;
  Disarm();
  if (timed_out_) ec = asio::error::timed_out;
  co_return n;
}

asio::awaitable<size_t> TimedStream::ReadRaw(char* data, size_t size, boost::system::error_code& ec) {
  if (tls_) {
    co_return co_await tls_->async_read_some(asio::buffer(data, size),
                                             asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return co_await socket_.async_read_some(asio::buffer(data, size),
                                             asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> TimedStream::Handshake(asio::ssl::context& ctx,
                                             asio::ssl::stream_base::handshake_type type,
                                             Duration timeout, boost::system::error_code& ec,
                                             std::string sni, std::string verify_name) {
  rbuf_.clear();
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, ctx);
  SSL* ssl = tls_->native_handle();
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  if (!verify_name.empty()) {
    boost::system::error_code ip_ec;
    asio::ip::make_address(verify_name, ip_ec);
    if (ip_ec) {
      SSL_set1_host(ssl, verify_name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), verify_name.c_str());
    }
  }
  Arm(timeout);
  co_await tls_->async_handshake(type, asio::redirect_error(asio::use_awaitable, ec));
  Disarm();
  if (timed_out_) ec = asio::error::timed_out;
}

std::string TimedStream::TlsVerifyError() const {
  if (!tls_) return {};
  long r = SSL_get_verify_result(tls_->native_handle());
  return r == X509_V_OK ? std::string() : X509_verify_cert_error_string(r);
}

ssl_st* TimedStream::tls_handle() const { return tls_ ? tls_->native_handle() : nullptr; }

std::string TimedStream::TlsDescription() const {
  if (!tls_) return {};
  SSL* ssl = tls_->native_handle();
  return std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
}

asio::awaitable<void> TimedStream::WriteAll(std::string_view data, Duration timeout,
                                            boost::system::error_code& ec) {
  Arm(timeout);
  if (tls_) {
    co_await asio::async_write(*tls_, asio::buffer(data.data(), data.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  Disarm();
  if (timed_out_) ec = asio::error::timed_out;
}

asio::awaitable<void> TimedStream::WriteAll(std::string_view head, std::string_view tail, Duration timeout,
                                            boost::system::error_code& ec) {
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(head.data(), head.size()),
                                                   asio::buffer(tail.data(), tail.size())};
  Arm(timeout);
  if (tls_) {
    co_await asio::async_write(*tls_, buffers, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(socket_, buffers, asio::redirect_error(asio::use_awaitable, ec));
  }
  Disarm();
  if (timed_out_) ec = asio::error::timed_out;
}

asio::awaitable<std::string> TimedStream::ReadLine(Duration timeout, size_t max_line,
                                                   boost::system::error_code& ec) {
  ec = {};
  while (true) {
    size_t crlf = rbuf_.find("\r\n");
    if (crlf != std::string::npos) {
      std::string line = rbuf_.substr(0, crlf);
      rbuf_.erase(0, crlf + 2);
      co_return line;
    }
    if (rbuf_.size() > max_line) {
      ec = asio::error::message_size;
      co_return std::string();
    }
    char buf[4096];
    Arm(timeout);
    size_t n = co_await ReadRaw(buf, sizeof buf, ec);
    Disarm();
    if (timed_out_) ec = asio::error::timed_out;
    if (ec) co_return std::string();
    rbuf_.append(buf, n);
  }
}

asio::awaitable<std::unique_ptr<TimedStream>> ConnectTimed(const std::string& host, uint16_t port,
                                                           TimedStream::Duration timeout,
                                                           boost::system::error_code& ec) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(host, std::to_string(port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return nullptr;
  auto stream = std::make_unique<TimedStream>(tcp::socket(ex));
  stream->Arm(timeout);
  co_await asio::async_connect(stream->socket_, endpoints,
                               asio::redirect_error(asio::use_awaitable, ec));
  stream->Disarm();
  if (stream->timed_out_) ec = asio::error::timed_out;
  if (ec) co_return nullptr;
  stream->socket_.set_option(tcp::no_delay(true), ec);
  ec = {};
  co_return stream;
}

}  // namespace sluice
