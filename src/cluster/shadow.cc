#include "cluster/shadow.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>

#include "cluster/shadow_protocol.h"
#include "common/log.h"
#include "common/timed_stream.h"
#include "spool/await.h"
#include "spool/record_format.h"

namespace sluice::cluster {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::seconds kAuthTimeout{5};
constexpr std::chrono::minutes kIdleTimeout{5};
constexpr std::chrono::seconds kDownFor{2};  // a peer that failed is not asked again before
constexpr const char* kEpochMeta = "shadow-epoch";

// One authenticated connection: its stream and what has arrived on it.
struct Conn {
  Conn(asio::ip::tcp::socket s, size_t max_content) : stream(std::move(s)), parser(max_content) {}
  TimedStream stream;
  ShadowParser parser;
  std::vector<char> buf = std::vector<char>(64 * 1024);
};

asio::awaitable<std::optional<ShadowFrame>> ReadFrame(Conn& c, TimedStream::Duration timeout,
                                                       boost::system::error_code& ec) {
  for (;;) {
    if (auto f = c.parser.Next()) co_return f;
    if (!c.parser.error().empty()) co_return std::nullopt;
    const size_t n = co_await c.stream.ReadSome(c.buf.data(), c.buf.size(), timeout, ec);
    if (ec) co_return std::nullopt;
    c.parser.Feed(std::string_view(c.buf.data(), n));
  }
}

// Rendezvous order: each peer's weight for this message, highest first, so
// a message's shadow is stable while the peers are and spreads over them.
uint64_t Weight(const std::string& peer, const std::string& id) {
  uint64_t h = 1469598103934665603ull;
  for (char c : peer + "/" + id) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// The shadow store's ids: the primary, its epoch and its queue id, so the
// copies of one epoch are found by prefix and never mixed with a new one's.
std::string StoreId(const std::string& node, const std::string& epoch, const std::string& id) {
  return node + "." + epoch + "." + id;
}

}  // namespace

struct Shadow::Peer {
  std::string address;
  std::string host;
  uint16_t port = 0;
  std::vector<std::unique_ptr<Conn>> idle;
  Clock::time_point down_until{};
  std::string state = "not tried";
};

Result<std::string> Shadow::EpochOf(spool::Spool& spool) {
  auto have = spool.GetMeta(kEpochMeta);
  if (have.ok()) return have.value();
  if (have.status().code() != Status::Code::kNotFound) return have.status();
  const std::string epoch = ShadowNonce().substr(0, 16);
  if (Status s = spool.PutMeta(kEpochMeta, epoch); !s.ok()) return s;
  return epoch;
}

Shadow::Shadow(ShadowOptions o, std::string node, std::string epoch, spool::Spool& store, spool::Spool& spool,
               queue::Queue& queue)
    : o_(std::move(o)), node_(std::move(node)), epoch_(std::move(epoch)), store_(store), spool_(spool), queue_(queue) {
  for (const auto& a : o_.peers) {
    auto p = std::make_unique<Peer>();
    p->address = a;
    const size_t colon = a.rfind(':');
    p->host = a.substr(0, colon);
    p->port = static_cast<uint16_t>(std::stoi(a.substr(colon + 1)));  // checked by the config
    peers_.push_back(std::move(p));
  }
  size_t held = 0;
  (void)store_.Scan([&](spool::StoredMessage) { return ++held, true; });
  stats_.held = held;
}

Shadow::~Shadow() { Stop(); }

Status Shadow::Start() {
  boost::system::error_code ec;
  asio::ip::tcp::endpoint at(asio::ip::make_address(o_.address, ec), o_.port);
  if (!ec) acceptor_.open(at.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(at, ec);
  if (!ec) acceptor_.listen(128, ec);
  if (ec) return Status::IoError(fmt::format("shadow listener {}:{}: {}", o_.address, o_.port, ec.message()));
  asio::co_spawn(io_, Accept(), asio::detached);
  // Every peer hears this node's epoch at once: a node back with a new
  // spool has its old copies delivered without waiting for its first mail.
  for (size_t i = 0; i < peers_.size(); ++i) {
    asio::co_spawn(io_, Send("", nullptr, nullptr, [](Status, std::string) {}), asio::detached);
  }
  thread_ = std::thread([this] { io_.run(); });
  return Status::Ok();
}

void Shadow::Stop() {
  if (stopped_.exchange(true)) return;
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    io_.stop();
  });
  if (thread_.joinable()) thread_.join();
  work_.join();
}

ShadowStats Shadow::Stats() {
  std::lock_guard lock(mu_);
  return stats_;
}

asio::awaitable<void> Shadow::Accept() {
  for (;;) {
    boost::system::error_code ec;
    asio::ip::tcp::socket s = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || stopped_) co_return;
    if (ec) {
      asio::steady_timer pause(io_);  // out of descriptors: breathe, never give up the listener
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(io_, Serve(std::move(s)), asio::detached);
  }
}

// The peer's side of one connection.
asio::awaitable<void> Shadow::Serve(asio::ip::tcp::socket socket) {
  // Before the secret is proven a COPY may carry nothing: a stranger cannot
  // make this node buffer a message.
  Conn c(std::move(socket), 0);
  boost::system::error_code ec;
  const std::string nonce = ShadowNonce();
  const std::string greeting = ShadowLine("SHADOW", {nonce}), ok = ShadowLine("OK"),
                    refused = ShadowLine("NO", {"bad secret"});
  co_await c.stream.WriteAll(greeting, kAuthTimeout, ec);
  auto auth = co_await ReadFrame(c, kAuthTimeout, ec);
  if (!auth || auth->verb != "AUTH" || !ShadowVerify(o_.secret, nonce, auth->args[0])) {
    co_await c.stream.WriteAll(refused, kAuthTimeout, ec);
    log::Event("shadow peer refused").With("reason", auth ? "bad secret" : c.parser.error()).Warn();
    c.stream.Close();
    co_return;
  }
  // The primary sends nothing more before this OK, so nothing buffered is lost.
  c.parser = ShadowParser(kMaxShadowContent);
  co_await c.stream.WriteAll(ok, kAuthTimeout, ec);
  while (!ec) {
    auto f = co_await ReadFrame(c, kIdleTimeout, ec);
    if (!f) break;
    std::string reply = ShadowLine("OK");
    if (f->verb == "HELLO") {
      const std::string& node = f->args[0];
      const std::string& epoch = f->args[1];
      auto known = store_.GetMeta("epoch/" + node);
      if (known.ok() && known.value() != epoch) {
        log::Event("shadow primary has a new spool").With("node", node).With("old_epoch", known.value())
            .With("epoch", epoch).Warn();
        asio::post(work_, [this, node, old = known.value()] { Promote(node, old); });
      }
      if (!known.ok() || known.value() != epoch) (void)store_.PutMeta("epoch/" + node, epoch);
    } else if (f->verb == "COPY") {
      auto e = std::make_shared<Envelope>();
      std::string header;
      if (!spool::DecodeEnvelope(f->envelope, e.get(), &header)) {
        reply = ShadowLine("NO", {"malformed envelope"});
      } else {
        const std::string id = StoreId(f->args[0], f->args[1], f->args[2]);
        auto content = std::make_shared<const std::string>(std::move(f->content));
        auto write = spool::AsyncWrite(store_, spool::Change::Commit(id, std::move(e), std::move(content)));
        Status s = co_await std::move(write);
        if (s.ok()) {
          std::lock_guard lock(mu_);
          ++stats_.held;
          ++stats_.received;
        } else {
          reply = ShadowLine("NO", {s.ToString()});
        }
      }
    } else {
      reply = ShadowLine("NO", {"unexpected " + f->verb});
    }
    co_await c.stream.WriteAll(reply, kAuthTimeout, ec);
  }
  if (!c.parser.error().empty()) log::Event("shadow connection closed").With("reason", c.parser.error()).Info();
  c.stream.Close();
}

// Delivers here, as this node's own mail, every copy of `node`'s old
// epoch: that spool is gone. A copy goes from the store only once its
// commit to this node's spool is synced.
void Shadow::Promote(const std::string& node, const std::string& old_epoch) {
  const std::string prefix = node + "." + old_epoch + ".";
  std::vector<spool::StoredMessage> found;
  (void)store_.Scan([&](spool::StoredMessage m) {
    if (m.id.rfind(prefix, 0) == 0) found.push_back(std::move(m));
    return true;
  });
  size_t promoted = 0;
  for (auto& m : found) {
    auto content = store_.ReadContent(m.id);
    if (!content.ok()) continue;
    const std::string id = spool::NewQueueId();
    auto envelope = std::make_shared<const Envelope>(std::move(m.envelope));
    if (!spool_.WriteAndWait(spool::Change::Commit(id, envelope, content.value())).ok()) continue;
    queue_.Submit(id, envelope, content.value());
    (void)store_.WriteAndWait(spool::Change::Remove(m.id));
    ++promoted;
  }
  {
    std::lock_guard lock(mu_);
    stats_.promoted += promoted;
    stats_.held -= std::min<uint64_t>(stats_.held, promoted);
  }
  log::Event("shadow copies delivered for a lost spool").With("node", node).With("epoch", old_epoch)
      .With("messages", static_cast<int64_t>(promoted)).Warn();
}

// The primary's side: one copy to the first peer in rendezvous order that
// takes it. An empty `id` only says HELLO (on a fresh connection to each
// peer in turn).
asio::awaitable<void> Shadow::Send(std::string id, std::shared_ptr<const Envelope> envelope,
                                   std::shared_ptr<const std::string> content,
                                   std::function<void(Status, std::string)> done) {
  const auto deadline = Clock::now() + o_.deadline;
  std::vector<Peer*> order;
  for (auto& p : peers_) order.push_back(p.get());
  static std::atomic<size_t> hello_turn{0};
  if (id.empty()) {
    Peer* p = order[hello_turn++ % order.size()];
    order = {p};
  } else {
    std::sort(order.begin(), order.end(),
              [&](Peer* a, Peer* b) { return Weight(a->address, id) > Weight(b->address, id); });
  }
  const std::string head =
      id.empty() ? std::string() : ShadowCopyHead(node_, epoch_, id, spool::EncodeEnvelope(*envelope, ""), content->size());
  std::string why = "no shadow peer";
  for (size_t k = 0; k < order.size(); ++k) {
    Peer* p = order[k];
    if (Clock::now() >= deadline) break;
    if (!id.empty() && Clock::now() < p->down_until) {
      why = p->address + ": " + p->state;
      continue;
    }
    boost::system::error_code ec;
    std::unique_ptr<Conn> c;
    if (!p->idle.empty()) {
      c = std::move(p->idle.back());
      p->idle.pop_back();
    }
    const bool fresh = !c;
    if (fresh) {
      asio::ip::tcp::socket s(io_);
      auto left = deadline - Clock::now();
      asio::steady_timer timer(io_);
      timer.expires_after(left);
      timer.async_wait([&s](const boost::system::error_code& e) {
        if (!e) s.close();
      });
      asio::ip::tcp::endpoint at(asio::ip::make_address(p->host, ec), p->port);
      if (!ec) co_await s.async_connect(at, asio::redirect_error(asio::use_awaitable, ec));
      timer.cancel();
      if (!ec && !s.is_open()) ec = asio::error::timed_out;
      if (!ec) {
        c = std::make_unique<Conn>(std::move(s), 0);  // the peer sends no COPY
        auto hello = co_await ReadFrame(*c, deadline - Clock::now(), ec);
        if (!ec && hello && hello->verb == "SHADOW") {
          const std::string proof = ShadowLine("AUTH", {ShadowProof(o_.secret, hello->args[0])});
          co_await c->stream.WriteAll(proof, deadline - Clock::now(), ec);
          std::optional<ShadowFrame> ok;
          if (!ec) ok = co_await ReadFrame(*c, deadline - Clock::now(), ec);
          if (!ec && (!ok || ok->verb != "OK")) ec = asio::error::access_denied;
          const std::string greet = ShadowLine("HELLO", {node_, epoch_});
          if (!ec) co_await c->stream.WriteAll(greet, deadline - Clock::now(), ec);
          std::optional<ShadowFrame> said;
          if (!ec) said = co_await ReadFrame(*c, deadline - Clock::now(), ec);
          if (!ec && (!said || said->verb != "OK")) ec = asio::error::connection_aborted;
        } else if (!ec) {
          ec = asio::error::connection_aborted;
        }
      }
    }
    std::optional<ShadowFrame> answer;
    if (!ec && !id.empty()) {
      co_await c->stream.WriteAll(head, *content, deadline - Clock::now(), ec);
      if (!ec) answer = co_await ReadFrame(*c, deadline - Clock::now(), ec);
    }
    if (!ec && (id.empty() || (answer && answer->verb == "OK"))) {
      p->state = "up";
      p->idle.push_back(std::move(c));
      if (!id.empty()) {
        std::lock_guard lock(mu_);
        ++stats_.sent;
      }
      done(Status::Ok(), p->address);
      co_return;
    }
    if (c) c->stream.Close();
    why = p->address + ": " + (ec ? ec.message() : answer ? "said " + (answer->args.empty() ? answer->verb : answer->args[0]) : "no answer");
    p->state = ec == asio::error::access_denied ? "refused our secret" : ec ? ec.message() : "refused the copy";
    // A reused connection may simply have been closed by the peer: try it
    // fresh before calling the peer down.
    if (!fresh && ec) {
      order.insert(order.begin() + static_cast<std::ptrdiff_t>(k) + 1, p);
      continue;
    }
    if (!id.empty()) p->down_until = Clock::now() + kDownFor;  // a start-up HELLO may precede the peer's start
  }
  if (!id.empty()) {
    std::lock_guard lock(mu_);
    ++stats_.failed;
  }
  done(Status::Unavailable(why), "");
}

void Shadow::Copy(const std::string& id, std::shared_ptr<const Envelope> envelope,
                  std::shared_ptr<const std::string> content, std::function<void(Status, std::string)> done) {
  if (peers_.empty() || stopped_) return done(Status::Unavailable("no shadow peer configured"), "");
  asio::co_spawn(io_, Send(id, std::move(envelope), std::move(content), std::move(done)), asio::detached);
}

}  // namespace sluice::cluster
