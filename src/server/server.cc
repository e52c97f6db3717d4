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
#include <algorithm>
#include <future>
#include <mutex>
#include <thread>

#include "common/listen.h"
#include "common/timed_stream.h"
#include "common/log.h"
#include "server/connection.h"
#include "server/tls.h"

namespace sluice::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Worker {
  asio::io_context io{1};
  WorkerConnections connections;
  std::thread thread;
};

// One listener: an acceptor per worker (SO_REUSEPORT) and the settings new
// sessions get, which a reload swaps under the lock.
struct Listener {
  ListenerOptions options;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // index: worker
  std::mutex mu;
  std::shared_ptr<const ListenerContext> context;

  std::shared_ptr<const ListenerContext> current() {
    std::lock_guard lock(mu);
    return context;
  }
  void set(std::shared_ptr<const ListenerContext> c) {
    std::lock_guard lock(mu);
    context = std::move(c);
  }
};

// SO_REUSEPORT would let a second daemon share the port silently and take
// half of the connections; a plain bind first tells that apart.
Status CheckPortFree(const ListenerOptions& l) {
  asio::io_context io;
  tcp::acceptor probe(io);
  return BindAcceptor(probe, l.address, l.port, /*reuse_port=*/false, /*listen=*/false);
}

bool SameSocket(const ListenerOptions& a, const ListenerOptions& b) {
  return a.name == b.name && a.address == b.address && a.port == b.port;
}

// Runs `f(i)` on every worker's own thread and waits for all of them.
template <class F>
void OnEachWorker(std::vector<std::unique_ptr<Worker>>& workers, F f) {
  std::vector<std::future<void>> done;
  for (size_t i = 0; i < workers.size(); ++i) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    asio::post(workers[i]->io, [f, i, p] {
      f(i);
      p->set_value();
    });
  }
  for (auto& d : done) d.wait_for(std::chrono::seconds(5));
}

class EdgeServer final : public Server {
 public:
  EdgeServer(ServerOptions o, std::shared_ptr<const smtp::SessionOptions> session, Stages stages)
      : o_(std::make_shared<const ServerOptions>(std::move(o))), session_(std::move(session)), stages_(stages) {}

  ~EdgeServer() override {
    Stop();
    retired_.clear();  // acceptors before the event loops they belong to
    listeners_.clear();
    workers_.clear();
  }

  Status Start() override {
    auto tls = LoadTls(*o_);
    if (!tls.ok()) return tls.status();
    for (const ListenerOptions& l : o_->listeners) {
      if (Status s = CheckTlsNeed(l, tls.value()); !s.ok()) return s;
      if (Status s = CheckPortFree(l); !s.ok()) return s;
    }
    for (size_t i = 0; i < o_->workers; ++i) workers_.push_back(std::make_unique<Worker>());
    for (const ListenerOptions& l : o_->listeners) {
      auto made = Open(l, Context(l, o_, session_, tls.value()));
      if (!made.ok()) return made.status();
      listeners_.push_back(std::move(made).value());
    }
    for (auto& l : listeners_) Serve(*l);
    for (auto& w : workers_) w->thread = std::thread([io = &w->io] { io->run(); });
    for (const auto& l : listeners_) Announce("listening", *l);
    return Status::Ok();
  }

  Status Reconfigure(ServerOptions options, std::shared_ptr<const smtp::SessionOptions> session,
                     std::vector<std::string>* restart_needed) override {
    std::lock_guard lock(reconfigure_mu_);
    if (state_.draining) return Status::Unavailable("shutting down");
    auto o = std::make_shared<const ServerOptions>(std::move(options));
    if (o->workers != o_->workers) {
      restart_needed->push_back(fmt::format("server.workers ({} → {})", o_->workers, o->workers));
    }
    auto tls = LoadTls(*o);
    if (!tls.ok()) return tls.status();
    // Check everything first, so that a refusal changes nothing.
    std::vector<const ListenerOptions*> added;
    for (const ListenerOptions& l : o->listeners) {
      bool kept = std::any_of(listeners_.begin(), listeners_.end(),
                              [&](const auto& x) { return SameSocket(x->options, l); });
      if (Status s = CheckTlsNeed(l, tls.value()); !s.ok()) return s;
      if (kept) continue;
      if (Status s = CheckPortFree(l); !s.ok()) return s;
      added.push_back(&l);
    }
    std::vector<std::unique_ptr<Listener>> opened;
    for (const ListenerOptions* l : added) {
      auto made = Open(*l, Context(*l, o, session, tls.value()));
      if (!made.ok()) {
        for (auto& x : opened) Close(*x);
        return made.status();
      }
      opened.push_back(std::move(made).value());
    }
    // Commit: swap the settings of kept listeners, close removed ones, serve new ones.
    std::vector<std::unique_ptr<Listener>> next;
    for (auto& x : listeners_) {
      auto it = std::find_if(o->listeners.begin(), o->listeners.end(),
                             [&](const ListenerOptions& l) { return SameSocket(x->options, l); });
      if (it == o->listeners.end()) {
        Close(*x);
        Announce("listener removed", *x);
        retired_.push_back(std::move(x));  // its Accept loops may still hold it
        continue;
      }
      x->options = *it;
      x->set(Context(*it, o, session, tls.value()));
      next.push_back(std::move(x));
    }
    for (auto& x : opened) {
      Serve(*x);
      Announce("listener added", *x);
      next.push_back(std::move(x));
    }
    listeners_ = std::move(next);
    o_ = o;
    session_ = session;
    return Status::Ok();
  }

  // Leaves the io_contexts alive (stopped) until destruction, so a lookup or
  // commit finishing on another pool can still post its completion safely.
  void Stop() override {
    std::lock_guard lock(reconfigure_mu_);
    if (workers_.empty() || state_.draining.exchange(true)) return;
    log::Event("draining").With("sessions", static_cast<int64_t>(state_.sessions)).Info();
    WakeAll();  // idle sessions answer 421 now; the acceptors close
    auto until = std::chrono::steady_clock::now() + o_->shutdown_grace;
    while (state_.sessions > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (state_.sessions > 0) {
      log::Event("shutdown grace over").With("sessions", static_cast<int64_t>(state_.sessions)).Warn();
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
  static Result<std::shared_ptr<asio::ssl::context>> LoadTls(const ServerOptions& o) {
    if (o.tls_cert.empty()) return std::shared_ptr<asio::ssl::context>();
    return LoadServerTls(o.tls_cert, o.tls_key);
  }

  static Status CheckTlsNeed(const ListenerOptions& l, const std::shared_ptr<asio::ssl::context>& tls) {
    if (l.require_tls && !tls) {
      return Status::InvalidArgument(fmt::format("listener {} requires TLS but no certificate is configured", l.name));
    }
    return Status::Ok();
  }

  static std::shared_ptr<const ListenerContext> Context(const ListenerOptions& l,
                                                        std::shared_ptr<const ServerOptions> o,
                                                        const std::shared_ptr<const smtp::SessionOptions>& base,
                                                        const std::shared_ptr<asio::ssl::context>& tls) {
    auto session = std::make_shared<smtp::SessionOptions>(*base);
    session->starttls = tls != nullptr && l.starttls;
    session->require_tls = l.require_tls;
    return std::make_shared<const ListenerContext>(
        ListenerContext{std::move(o), session, session->starttls ? tls : nullptr, l.name});
  }

  // Binds the listener's acceptor on every worker.
  Result<std::unique_ptr<Listener>> Open(const ListenerOptions& l, std::shared_ptr<const ListenerContext> c) {
    auto x = std::make_unique<Listener>();
    x->options = l;
    x->context = std::move(c);
    for (auto& w : workers_) {
      auto acceptor = std::make_unique<tcp::acceptor>(w->io);
      if (Status s = BindAcceptor(*acceptor, l.address, l.port, /*reuse_port=*/true); !s.ok()) return s;
      x->acceptors.push_back(std::move(acceptor));
    }
    return x;
  }

  void Serve(Listener& l) {
    for (size_t i = 0; i < workers_.size(); ++i) {
      asio::co_spawn(workers_[i]->io, Accept(*l.acceptors[i], l, workers_[i]->connections), asio::detached);
    }
  }

  void Close(Listener& l) {
    OnEachWorker(workers_, [&l](size_t i) {
      boost::system::error_code ec;
      l.acceptors[i]->close(ec);
    });
  }

  void Announce(const char* what, Listener& x) {
    const ListenerOptions& l = x.options;
    auto c = x.current();
    log::Event(what)
        .With("listener", l.name)
        .With("address", fmt::format("{}:{}", l.address, l.port))
        .With("starttls", c->session->starttls ? "yes" : "no")
        .With("require_tls", l.require_tls ? "yes" : "no")
        .With("workers", static_cast<int64_t>(workers_.size()))
        .Info();
  }

  // Closes the acceptors and interrupts every session's read, on each
  // worker's own thread; each session then decides (idle, forced) to close.
  void WakeAll() {
    OnEachWorker(workers_, [this](size_t i) {
      for (auto& l : listeners_) {
        boost::system::error_code ec;
        l->acceptors[i]->close(ec);
      }
      for (TimedStream* s : workers_[i]->connections.streams) s->Cancel();
    });
  }

  asio::awaitable<void> Accept(tcp::acceptor& acceptor, Listener& listener, WorkerConnections& connections) {
    while (!state_.draining) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || state_.draining || !acceptor.is_open()) co_return;
        // EMFILE and friends: back off briefly rather than spin.
        log::Event("accept failed").With("error", ec.message()).Warn();
        asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(100));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      asio::co_spawn(acceptor.get_executor(),
                     RunConnection(std::move(socket), listener.current(), stages_, state_, connections),
                     asio::detached);
    }
  }

  std::mutex reconfigure_mu_;  // Reconfigure and Stop, from the main thread
  std::shared_ptr<const ServerOptions> o_;
  std::shared_ptr<const smtp::SessionOptions> session_;
  Stages stages_;
  EdgeState state_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<Listener>> retired_;
};

}  // namespace

std::unique_ptr<Server> MakeServer(ServerOptions options,
                                   std::shared_ptr<const smtp::SessionOptions> session,
                                   Stages stages) {
  return std::make_unique<EdgeServer>(std::move(options), std::move(session), stages);
}

}  // namespace sluice::server
