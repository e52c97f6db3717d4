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

#include <sys/socket.h>
#include <unistd.h>

#include "common/listen.h"
#include "common/log.h"
#include "common/timed_stream.h"
#include "server/connection.h"
#include "server/edge_metrics.h"
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
      : o_(std::make_shared<const ServerOptions>(std::move(o))), session_(std::move(session)), stages_(stages),
        state_(o_->max_buffered_bytes > 0 ? o_->max_buffered_bytes : DefaultBodyBudget()) {
    SetSessionLimit(*o_);
    stages_.filters.Reconfigure(o_->protection.definitions);
    stages_.metrics.buffered_limit = state_.budget.limit();
    state_.wake_reads = [this] {
      for (auto& w : workers_) {
        asio::post(w->io, [c = &w->connections] {
          for (TimedStream* s : c->streams) s->CancelRead();
        });
      }
    };
  }

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

  Status Reconfigure(ServerOptions options, std::shared_ptr<const smtp::SessionOptions> session) override {
    std::lock_guard lock(reconfigure_mu_);
    if (state_.draining) return Status::Unavailable("shutting down");
    options.workers = o_->workers;  // event loops: a restart
    auto o = std::make_shared<const ServerOptions>(std::move(options));
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
    SetSessionLimit(*o_);
    stages_.filters.Reconfigure(o_->protection.definitions);
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
  void SetSessionLimit(const ServerOptions& o) {
    const size_t limit = o.session_cap > 0 ? std::min(o.max_connections, o.session_cap) : o.max_connections;
    planned_limit_ = limit;
    state_.session_limit = limit;
    stages_.metrics.session_limit = limit;
  }

  static int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // A limit lowered by descriptor exhaustion goes back to the planned one
  // after 30 s without it. Cheap: two atomic loads per accepted connection.
  void RestoreSessionLimit() {
    const size_t planned = planned_limit_.load(std::memory_order_relaxed);
    if (state_.session_limit.load(std::memory_order_relaxed) >= planned) return;
    if (NowNs() - last_exhausted_ns_.load() < std::chrono::nanoseconds(std::chrono::seconds(30)).count()) return;
    state_.session_limit = planned;
    stages_.metrics.session_limit = planned;
    log::Event("session limit restored").With("limit", static_cast<int64_t>(planned)).Info();
  }

  // accept(2) failed: out of descriptors (EMFILE, ENFILE) or another error.
  // With the spare descriptor the waiting client still hears why (421
  // 4.3.2), so the backlog drains instead of spinning; without it, wait a
  // little. Logs at most once a second.
  asio::awaitable<void> AcceptFailed(tcp::acceptor& acceptor, WorkerConnections& w, const boost::system::error_code& err) {
    stages_.metrics.OnAcceptError();
    const bool exhausted = err == asio::error::no_descriptors || err.value() == ENFILE;
    bool answered = false;
    if (exhausted) {
      // The limit is where descriptors ran out, whatever the plan said: new
      // sessions are turned away (and closed at once) below it from now on,
      // so the slots that free up go to the spare and to sessions held.
      const size_t sessions = state_.sessions.load();
      const size_t lowered = std::max<size_t>(1, sessions > 2 ? sessions - 2 : 1);
      if (lowered < state_.session_limit.load()) {
        state_.session_limit = lowered;
        stages_.metrics.session_limit = lowered;
        log::Event("session limit lowered").With("limit", static_cast<int64_t>(lowered))
            .With("reason", "out of file descriptors").Warn();
      }
      last_exhausted_ns_ = NowNs();
      if (!w.spare.held()) w.spare.Take();
    }
    if (exhausted && w.spare.held()) {
      w.spare.Release();
      int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        const std::string reply = smtp::replies::NoDescriptors().text;
        ssize_t sent = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)sent;  // best effort: the client may already be gone
        ::close(fd);
        stages_.metrics.OnReply(reply);
        answered = true;
      }
      w.spare.Take();
    }
    if (auto held_back = accept_log_.Allow()) {
      log::Event("accept failed").With("error", err.message()).With("answered_421", answered ? "yes" : "no")
          .With("suppressed", static_cast<int64_t>(*held_back)).Warn();
    }
    if (!answered || !w.spare.held()) {
      boost::system::error_code ec;
      asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(exhausted ? 20 : 100));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  static Result<std::shared_ptr<asio::ssl::context>> LoadTls(const ServerOptions& o) {
    if (o.tls_cert.empty()) return std::shared_ptr<asio::ssl::context>();
    // A client certificate is asked for only where a connector is known by
    // one: some clients misbehave when asked (Postfix's smtpd_tls_ask_ccert).
    const bool ask = std::any_of(o.protection.connectors.begin(), o.protection.connectors.end(),
                                 [](const ConnectorOptions& c) { return !c.subjects.empty() || !c.fingerprints.empty(); });
    return LoadServerTls(o.tls_cert, o.tls_key, o.tls_policy, ask ? ClientCertificates{true, o.tls_client_ca}
                                                                  : ClientCertificates{});
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
        ListenerContext{std::move(o), session, session->starttls ? tls : nullptr, l.name, l.shadow});
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
      for (TimedStream* s : workers_[i]->connections.streams) s->CancelRead();  // a reply being written finishes
    });
  }

  asio::awaitable<void> Accept(tcp::acceptor& acceptor, Listener& listener, WorkerConnections& connections) {
    while (!state_.draining) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || state_.draining || !acceptor.is_open()) co_return;
        auto failed = AcceptFailed(acceptor, connections, ec);  // see common/offload.h on temporaries
        co_await std::move(failed);
        continue;
      }
      RestoreSessionLimit();
      asio::co_spawn(acceptor.get_executor(),
                     RunConnection(std::move(socket), listener.current(), stages_, state_, connections),
                     asio::detached);
    }
  }

  log::RateLimit accept_log_{std::chrono::seconds(1)};
  std::atomic<size_t> planned_limit_{0};      // from the config and the descriptor plan
  std::atomic<int64_t> last_exhausted_ns_{0};  // the last accept that ran out of descriptors
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

uint64_t DefaultBodyBudget() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return uint64_t{1} << 30;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 8;
}

std::unique_ptr<Server> MakeServer(ServerOptions options,
                                   std::shared_ptr<const smtp::SessionOptions> session,
                                   Stages stages) {
  return std::make_unique<EdgeServer>(std::move(options), std::move(session), stages);
}

}  // namespace sluice::server
