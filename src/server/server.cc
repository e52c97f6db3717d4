// Worker event loops. Each worker thread runs its own io_context with its
// own acceptor on every listener (SO_REUSEPORT), so the kernel spreads
// connections and no lock is shared between loops.
#include "server/server.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <thread>

#include "common/listen.h"
#include "common/timed_stream.h"
#include "observe/log.h"
#include "server/connection.h"
#include "server/tls.h"

namespace sluice::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Worker {
  asio::io_context io{1};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // one per listener
  WorkerConnections connections;
  std::thread thread;
};

// SO_REUSEPORT would let a second daemon share the port silently and take
// half of the connections; a plain bind first tells that apart.
Status CheckPortFree(const ListenerOptions& l) {
  asio::io_context io;
  tcp::acceptor probe(io);
  return BindAcceptor(probe, l.address, l.port, /*reuse_port=*/false, /*listen=*/false);
}

class EdgeServer final : public Server {
 public:
  EdgeServer(ServerOptions o, std::shared_ptr<const smtp::SessionOptions> session, Stages stages)
      : o_(std::move(o)), session_(std::move(session)), stages_(stages) {}

  ~EdgeServer() override {
    Stop();
    workers_.clear();
  }

  Status Start() override {
    std::shared_ptr<asio::ssl::context> tls;
    if (!o_.tls_cert.empty()) {
      auto loaded = LoadServerTls(o_.tls_cert, o_.tls_key);
      if (!loaded.ok()) return loaded.status();
      tls = loaded.value();
    }
    for (const ListenerOptions& l : o_.listeners) {
      if (l.require_tls && !tls) {
        return Status::InvalidArgument(fmt::format("listener {} requires TLS but no certificate is configured", l.name));
      }
      if (Status s = CheckPortFree(l); !s.ok()) return s;
      auto session = std::make_shared<smtp::SessionOptions>(*session_);
      session->starttls = tls != nullptr && l.starttls;
      session->require_tls = l.require_tls;
      listeners_.push_back(ListenerContext{&o_, session, session->starttls ? tls : nullptr, l.name});
    }
    for (size_t i = 0; i < o_.workers; ++i) {
      auto w = std::make_unique<Worker>();
      for (const ListenerOptions& l : o_.listeners) {
        auto acceptor = std::make_unique<tcp::acceptor>(w->io);
        if (Status s = BindAcceptor(*acceptor, l.address, l.port, /*reuse_port=*/true); !s.ok()) return s;
        w->acceptors.push_back(std::move(acceptor));
      }
      workers_.push_back(std::move(w));
    }
    for (auto& w : workers_) {
      for (size_t i = 0; i < w->acceptors.size(); ++i) {
        asio::co_spawn(w->io, Accept(*w->acceptors[i], listeners_[i], w->connections), asio::detached);
      }
      w->thread = std::thread([io = &w->io] { io->run(); });
    }
    for (const auto& l : o_.listeners) {
      observe::Event("listening")
          .With("listener", l.name)
          .With("address", fmt::format("{}:{}", l.address, l.port))
          .With("starttls", tls && l.starttls ? "yes" : "no")
          .With("require_tls", l.require_tls ? "yes" : "no")
          .With("workers", static_cast<int64_t>(o_.workers))
          .Info();
    }
    return Status::Ok();
  }

  // Leaves the io_contexts alive (stopped) until destruction, so a lookup or
  // commit finishing on another pool can still post its completion safely.
  void Stop() override {
    if (workers_.empty() || state_.draining.exchange(true)) return;
    observe::Event("draining").With("sessions", static_cast<int64_t>(state_.sessions)).Info();
    WakeAll();  // idle sessions answer 421 now; the acceptors close
    auto until = std::chrono::steady_clock::now() + o_.shutdown_grace;
    while (state_.sessions > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (state_.sessions > 0) {
      observe::Event("shutdown grace over").With("sessions", static_cast<int64_t>(state_.sessions)).Warn();
      state_.forced = true;
      WakeAll();
      auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (state_.sessions > 0 && std::chrono::steady_clock::now() < hard) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    // A commit is bounded by the disk, so this wait ends.
    while (state_.storing > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (auto& w : workers_) w->io.stop();
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
  }

 private:
  // Closes the acceptors and interrupts every session's read, on each
  // worker's own thread; each session then decides (idle, forced) to close.
  void WakeAll() {
    std::vector<std::future<void>> done;
    for (auto& w : workers_) {
      auto p = std::make_shared<std::promise<void>>();
      done.push_back(p->get_future());
      asio::post(w->io, [w = w.get(), p] {
        for (auto& a : w->acceptors) {
          boost::system::error_code ec;
          a->close(ec);
        }
        for (TimedStream* s : w->connections.streams) s->Cancel();
        p->set_value();
      });
    }
    for (auto& f : done) f.wait_for(std::chrono::seconds(5));
  }

  asio::awaitable<void> Accept(tcp::acceptor& acceptor, const ListenerContext& listener,
                               WorkerConnections& connections) {
    while (!state_.draining) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || state_.draining) co_return;
        // EMFILE and friends: back off briefly rather than spin.
        observe::Event("accept failed").With("error", ec.message()).Warn();
        asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(100));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      asio::co_spawn(acceptor.get_executor(),
                     RunConnection(std::move(socket), listener, stages_, state_, connections),
                     asio::detached);
    }
  }

  ServerOptions o_;
  std::shared_ptr<const smtp::SessionOptions> session_;
  Stages stages_;
  EdgeState state_;
  std::vector<ListenerContext> listeners_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace

std::unique_ptr<Server> MakeServer(ServerOptions options,
                                   std::shared_ptr<const smtp::SessionOptions> session,
                                   Stages stages) {
  return std::make_unique<EdgeServer>(std::move(options), std::move(session), stages);
}

}  // namespace sluice::server
