// The resolver's event loop drives one c-ares channel: c-ares says which
// sockets it wants to read or write (sock_state_cb), asio waits on them and
// on c-ares' next timeout, and each query's callback wakes the coroutine
// that waits for it. Everything on the channel happens on the resolver's
// own thread, as c-ares 1.18 requires.
#include "delivery/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fmt/format.h>
#include <netdb.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

namespace sluice::delivery {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// One query: lives until c-ares has called back, even when the resolution
// that asked for it has given up at its deadline.
struct Pending {
  explicit Pending(asio::io_context& io) : wake(io) {}
  asio::steady_timer wake;  // cancelled by the callback
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<std::pair<uint16_t, std::string>> mx;
  std::vector<std::string> addresses;
};

// The callback's argument: a heap copy of the shared pointer, freed by it.
using Handle = std::shared_ptr<Pending>;

void Wake(Pending& p, int status) {
  p.done = true;
  p.status = status;
  p.wake.cancel();
}

void OnMx(void* arg, int status, int, unsigned char* buf, int len) {
  std::unique_ptr<Handle> h(static_cast<Handle*>(arg));
  Pending& p = **h;
  if (status == ARES_SUCCESS) {
    ares_mx_reply* mx = nullptr;
    status = ares_parse_mx_reply(buf, len, &mx);
    for (ares_mx_reply* r = mx; r; r = r->next) p.mx.emplace_back(r->priority, r->host);
    if (mx) ares_free_data(mx);
  }
  Wake(p, status);
}

void OnAddr(void* arg, int status, int, ares_addrinfo* res) {
  std::unique_ptr<Handle> h(static_cast<Handle*>(arg));
  Pending& p = **h;
  if (res) {
    for (ares_addrinfo_node* n = res->nodes; n; n = n->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* a = n->ai_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(n->ai_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(n->ai_addr)->sin6_addr);
      if (inet_ntop(n->ai_family, a, text, sizeof text) &&
          std::find(p.addresses.begin(), p.addresses.end(), text) == p.addresses.end()) {
        p.addresses.push_back(text);
      }
    }
    ares_freeaddrinfo(res);
  }
  Wake(p, status);
}

bool NoSuchName(int status) { return status == ARES_ENOTFOUND || status == ARES_ENONAME; }

}  // namespace

struct Resolver::Impl {
  explicit Impl(DnsOptions options) : o(std::move(options)), work(io.get_executor()), timer(io) {
    static std::once_flag once;
    std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
    ares_options opts{};
    opts.timeout = static_cast<int>(o.timeout.count());
    opts.tries = static_cast<int>(o.tries);
    opts.lookups = const_cast<char*>("b");  // DNS only, as Postfix's smtp_host_lookup = dns
    opts.sock_state_cb = &Impl::OnSocketState;
    opts.sock_state_cb_data = this;
    status = ares_init_options(&ch, &opts,
                               ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB);
    if (status == ARES_SUCCESS && !o.servers.empty()) {
      std::string csv;
      for (const auto& s : o.servers) csv += (csv.empty() ? "" : ",") + s;
      status = ares_set_servers_ports_csv(ch, csv.c_str());
    }
    thread = std::thread([this] { io.run(); });
  }

  ~Impl() {
    // c-ares calls every outstanding callback (ARES_EDESTRUCTION) on its
    // way out, on this loop, so each query's handle is freed.
    asio::post(io, [this] {
      if (ch) ares_destroy(ch);
      ch = nullptr;
      socks.clear();
      timer.cancel();
      work.reset();
    });
    thread.join();
  }

  // c-ares wants `fd` watched for reading and/or writing, or let go.
  static void OnSocketState(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<Impl*>(data);
    if (!readable && !writable) {
      auto it = self->socks.find(fd);
      if (it != self->socks.end()) {
        it->second.d->release();  // c-ares closes it; pending waits end as aborted
        self->socks.erase(it);
      }
      return;
    }
    Sock& s = self->socks[fd];
    if (!s.d) {
      s.d = std::make_unique<asio::posix::stream_descriptor>(self->io, fd);
      s.gen = ++self->next_gen;
    }
    s.want_read = readable;
    s.want_write = writable;
    self->Watch(fd);
  }

  void Watch(ares_socket_t fd) {
    Sock& s = socks.at(fd);
    if (s.want_read && !s.reading) {
      s.reading = true;
      s.d->async_wait(asio::posix::stream_descriptor::wait_read, [this, fd, gen = s.gen](boost::system::error_code ec) {
        auto it = socks.find(fd);
        if (it == socks.end() || it->second.gen != gen) return;
        it->second.reading = false;
        if (ec) return;
        ares_process_fd(ch, fd, ARES_SOCKET_BAD);
        if (auto again = socks.find(fd); again != socks.end() && again->second.gen == gen) Watch(fd);
        ArmTimer();
      });
    }
    if (s.want_write && !s.writing) {
      s.writing = true;
      s.d->async_wait(asio::posix::stream_descriptor::wait_write, [this, fd, gen = s.gen](boost::system::error_code ec) {
        auto it = socks.find(fd);
        if (it == socks.end() || it->second.gen != gen) return;
        it->second.writing = false;
        if (ec) return;
        ares_process_fd(ch, ARES_SOCKET_BAD, fd);
        if (auto again = socks.find(fd); again != socks.end() && again->second.gen == gen) Watch(fd);
        ArmTimer();
      });
    }
  }

  // c-ares' own retransmissions and timeouts.
  void ArmTimer() {
    if (!ch) return;
    timeval tv{};
    timeval* left = ares_timeout(ch, nullptr, &tv);
    if (!left) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::seconds(left->tv_sec) + std::chrono::microseconds(left->tv_usec));
    timer.async_wait([this](boost::system::error_code ec) {
      if (ec || !ch) return;
      ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      ArmTimer();
    });
  }

  std::shared_ptr<Pending> QueryMx(const std::string& domain) {
    auto p = std::make_shared<Pending>(io);
    ares_query(ch, domain.c_str(), ns_c_in, ns_t_mx, OnMx, new Handle(p));
    ArmTimer();
    return p;
  }

  std::shared_ptr<Pending> QueryAddresses(const std::string& host) {
    auto p = std::make_shared<Pending>(io);
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    ares_getaddrinfo(ch, host.c_str(), nullptr, &hints, OnAddr, new Handle(p));
    ArmTimer();
    return p;
  }

  // Until every query has answered or the deadline has passed.
  // By value: the coroutine outlives its caller's statement.
  asio::awaitable<void> WaitAll(std::vector<std::shared_ptr<Pending>> queries, Clock::time_point deadline) {
    for (const auto& p : queries) {
      if (p->done) continue;
      if (Clock::now() >= deadline) break;
      p->wake.expires_at(deadline);
      boost::system::error_code ec;
      co_await p->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // One resolution per domain at a time: a burst of mail for one domain
  // (or a hostile one) waits for the resolution in progress.
  asio::awaitable<MxAnswer> Run(std::string domain, MxLimits limits) {
    const std::string key = fmt::format("{}/{}/{}", domain, limits.max_hosts, limits.max_addresses);
    if (auto it = inflight.find(key); it != inflight.end()) {
      std::shared_ptr<Inflight> shared = it->second;
      while (!shared->done) {
        shared->signal.expires_at(Clock::time_point::max());
        boost::system::error_code ec;
        co_await shared->signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      co_return shared->answer;
    }
    auto mine = std::make_shared<Inflight>(io);
    inflight[key] = mine;
    auto resolve = ResolveNow(std::move(domain), limits);
    MxAnswer answer = co_await std::move(resolve);
    mine->answer = answer;
    mine->done = true;
    mine->signal.cancel();  // wakes every waiter
    inflight.erase(key);
    co_return answer;
  }

  asio::awaitable<MxAnswer> ResolveNow(std::string domain, MxLimits limits) {
    MxAnswer out;
    if (status != ARES_SUCCESS || !ch) {
      out.error = fmt::format("resolver setup failed: {}", ares_strerror(status));
      co_return out;
    }
    const auto deadline = Clock::now() + o.deadline;
    auto mx = QueryMx(domain);
    auto wait = WaitAll({mx}, deadline);  // see common/offload.h on temporaries
    co_await std::move(wait);
    if (!mx->done) {
      out.error = fmt::format("{}: MX lookup timed out after {} ms", domain, o.deadline.count());
      co_return out;
    }
    if (mx->status == ARES_ENOTFOUND && mx->mx.empty()) {
      out.kind = MxAnswer::Kind::kNoSuchDomain;  // NXDOMAIN: the domain does not exist at all
      out.error = fmt::format("{}: domain not found (MX lookup)", domain);
      co_return out;
    }
    if (mx->status != ARES_SUCCESS && mx->status != ARES_ENODATA) {
      out.error = fmt::format("{}: MX lookup failed: {}", domain, ares_strerror(mx->status));
      co_return out;
    }
    auto records = mx->mx;
    if (records.size() == 1 && (records[0].second.empty() || records[0].second == ".")) {
      out.kind = MxAnswer::Kind::kNullMx;
      out.error = fmt::format("{} accepts no mail (null MX)", domain);
      co_return out;
    }
    const bool implicit = records.empty();
    if (implicit) records.emplace_back(0, domain);
    // Lowest preference first; equal preferences in random order (§5.1).
    std::shuffle(records.begin(), records.end(), rng);
    std::stable_sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::pair<uint16_t, std::string>> hosts;
    for (const auto& r : records) {
      if (hosts.size() >= limits.max_hosts) break;
      if (std::none_of(hosts.begin(), hosts.end(), [&](const auto& h) { return h.second == r.second; })) hosts.push_back(r);
    }
    std::vector<std::shared_ptr<Pending>> lookups;
    for (const auto& h : hosts) lookups.push_back(QueryAddresses(h.second));
    auto all = WaitAll(lookups, deadline);
    co_await std::move(all);
    std::string last_error;
    for (size_t i = 0; i < hosts.size(); ++i) {
      const auto& [pref, host] = hosts[i];
      const Pending& a = *lookups[i];
      if (!a.done || a.addresses.empty()) {
        last_error = !a.done ? fmt::format("{}: address lookup timed out", host)
                             : fmt::format("{}: address lookup failed: {}", host, ares_strerror(a.status));
        if (a.done && NoSuchName(a.status) && implicit) {
          out.kind = MxAnswer::Kind::kNoSuchDomain;
          out.error = fmt::format("{}: no MX and no address", domain);
          co_return out;
        }
        continue;
      }
      for (const auto& addr : a.addresses) {
        if (out.hops.size() >= limits.max_addresses) break;
        out.hops.push_back({host, addr, pref});
      }
    }
    if (out.hops.empty()) {
      out.error = last_error.empty() ? fmt::format("{}: no usable MX host", domain) : last_error;
      co_return out;
    }
    out.kind = MxAnswer::Kind::kOk;
    co_return out;
  }

  struct Inflight {
    explicit Inflight(asio::io_context& io) : signal(io) {}
    asio::steady_timer signal;  // cancelled when the answer is in
    bool done = false;
    MxAnswer answer;
  };

  struct Sock {
    std::unique_ptr<asio::posix::stream_descriptor> d;
    bool want_read = false, want_write = false, reading = false, writing = false;
    uint64_t gen = 0;  // a reused descriptor number is another socket
  };

  DnsOptions o;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer timer;
  ares_channel ch = nullptr;
  int status = ARES_SUCCESS;
  std::unordered_map<ares_socket_t, Sock> socks;
  std::unordered_map<std::string, std::shared_ptr<Inflight>> inflight;
  uint64_t next_gen = 0;
  std::mt19937 rng{std::random_device{}()};
  std::thread thread;
};

Resolver::Resolver(DnsOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Resolver::~Resolver() = default;

asio::awaitable<MxAnswer> Resolver::Resolve(std::string domain, MxLimits limits) {
  auto op = asio::co_spawn(impl_->io, impl_->Run(std::move(domain), limits), asio::use_awaitable);
  co_return co_await std::move(op);
}

}  // namespace sluice::delivery
