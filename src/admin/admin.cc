// HTTP/1.1 for the admin API over Boost.Beast, one coroutine per
// connection, on a thread of its own so it answers while the SMTP edge is
// saturated.
#include "admin/admin.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <thread>

#include "common/listen.h"
#include "admin/admin_api.h"
#include "common/log.h"
#include "admin/monitor.h"

namespace sluice::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

class BeastAdmin final : public AdminServer {
 public:
  BeastAdmin(AdminOptions o, AdminStages st)
      : o_(std::move(o)), st_(st), acceptor_(io_), metrics_acceptor_(io_), monitor_(o_.alerts, st, o_.hostname) {
    st_.monitor = &monitor_;
  }
  ~BeastAdmin() override { Stop(); }

  Status Start() override {
    if (!o_.tls_cert.empty()) {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      if (Status s = ApplyTlsPolicy(*tls_, o_.tls_policy); !s.ok()) return Status::IoError("admin: tls: " + s.message());
      boost::system::error_code ec;
      tls_->use_certificate_chain_file(o_.tls_cert, ec);
      if (!ec) tls_->use_private_key_file(o_.tls_key, asio::ssl::context::pem, ec);
      if (ec) return Status::IoError(fmt::format("admin: tls {}: {}", o_.tls_cert, ec.message()));
    }
    if (Status s = BindAcceptor(acceptor_, o_.address, o_.port, /*reuse_port=*/false); !s.ok()) {
      return Status::IoError("admin: " + s.message());
    }
    if (o_.metrics_port != 0) {
      if (Status s = BindAcceptor(metrics_acceptor_, o_.metrics_address, o_.metrics_port, false); !s.ok()) {
        return Status::IoError("admin metrics listener: " + s.message());
      }
      asio::co_spawn(io_, Accept(metrics_acceptor_, /*metrics_only=*/true), asio::detached);
    }
    asio::co_spawn(io_, Accept(acceptor_, /*metrics_only=*/false), asio::detached);
    monitor_.Start(io_);
    thread_ = std::thread([this] { io_.run(); });
    log::Event("admin listening")
        .With("address", fmt::format("{}:{}", o_.address, o_.port))
        .With("tls", tls_ ? "yes" : "no")
        .Info();
    return Status::Ok();
  }

  void Stop() override {
    if (!thread_.joinable()) return;
    monitor_.Stop();
    io_.stop();
    thread_.join();
  }

 private:
  // Never gives up: an accept error (out of descriptors while SMTP is
  // flooded) is retried after a pause, so the API, the dashboard and the
  // health checks answer again as soon as descriptors are back.
  asio::awaitable<void> Accept(tcp::acceptor& acceptor, bool metrics_only) {
    while (acceptor.is_open()) {
      boost::system::error_code ec;
      tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        if (auto held_back = accept_log_.Allow()) {
          log::Event("admin accept failed").With("error", ec.message())
              .With("suppressed", static_cast<int64_t>(*held_back)).Warn();
        }
        asio::steady_timer pause(io_, std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      // Its own connections are capped too: past the cap a client is
      // closed at once rather than holding a descriptor.
      if (open_ >= kMaxConnections) {
        s.close(ec);
        continue;
      }
      ++open_;  // given back when the connection's coroutine ends
      if (tls_ && !metrics_only) {
        asio::co_spawn(io_, ServeTls(std::move(s)), asio::detached);
      } else {
        asio::co_spawn(io_, ServePlain(std::move(s), metrics_only), asio::detached);
      }
    }
  }

  struct Counted {
    size_t& open;
    ~Counted() { --open; }
  };

  asio::awaitable<void> ServePlain(tcp::socket socket, bool metrics_only) {
    Counted counted{open_};
    auto serve = Serve(beast::tcp_stream(std::move(socket)), metrics_only);
    co_await std::move(serve);
  }

  asio::awaitable<void> ServeTls(tcp::socket socket) {
    Counted counted{open_};
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls_);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    boost::system::error_code ec;
    auto handshake = stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    co_await std::move(handshake);
    if (ec) co_return;
    auto serve = Serve(std::move(stream));
    co_await std::move(serve);
  }

  // One HTTP/1.1 connection, plain or TLS: requests in order, keep-alive.
  // `metrics_only`: it came in on the metrics listener.
  template <class Stream>
  asio::awaitable<void> Serve(Stream stream, bool metrics_only = false) {
    beast::flat_buffer buffer;
    while (true) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(1024 * 1024);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
      boost::system::error_code ec;
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      const auto& req = parser.get();
      ApiRequest in{std::string(req.method_string()), std::string(req.target()), req.body(),
                    std::string(req[http::field::authorization]), {}, metrics_only};
      size_t q = in.target.find('?');
      if (q != std::string::npos) {
        in.query = in.target.substr(q + 1);
        in.target.resize(q);
      }
      // A name this listener does not answer to: a page on another site
      // that had its name re-pointed at us (DNS rebinding). HTTP 421.
      const bool host_ok = metrics_only || HostAllowed(std::string(req[http::field::host]), o_.port, o_.hosts);
      ApiResponse out = host_ok ? HandleApi(in, o_, st_)
                                : ErrorResponse(421, "this admin API does not answer to the host name in the request");
      http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
      res.set(http::field::server, "sluice");
      for (const auto& [name, value] : SecurityHeaders()) res.set(name, value);
      res.set(http::field::content_type, out.content_type);
      res.set(http::field::cache_control, "no-store");
      res.keep_alive(req.keep_alive());
      res.body() = std::move(out.body);
      res.prepare_payload();
      if (in.method == "POST") {
        log::Event("admin call").With("target", in.target).With("status", static_cast<int64_t>(out.status)).Info();
      }
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !res.keep_alive()) co_return;
    }
  }

  static constexpr size_t kMaxConnections = 64;  // counted in control/descriptors.cc
  AdminOptions o_;
  AdminStages st_;
  size_t open_ = 0;  // connections being served; on the admin thread only
  log::RateLimit accept_log_{std::chrono::seconds(1)};
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  tcp::acceptor metrics_acceptor_;  // open only with [admin] metrics_listen
  std::unique_ptr<asio::ssl::context> tls_;
  Monitor monitor_;  // after io_: its timers go before the loop does
  std::thread thread_;
};

}  // namespace

std::unique_ptr<AdminServer> MakeAdminServer(AdminOptions options, AdminStages stages) {
  return std::make_unique<BeastAdmin>(std::move(options), stages);
}

}  // namespace sluice::admin
