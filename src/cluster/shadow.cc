// The shadow's listener (the peer's side of the protocol), its ticks and
// its figures. The store's work is shadow_store.cc; the primary's side is
// shadow_client.cc and shadow_drain.cc.
#include "cluster/shadow.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>

#include "cluster/shadow_internal.h"
#include "common/log.h"
#include "common/offload.h"
#include "mail/clock.h"
#include "spool/await.h"
#include "spool/record_format.h"

namespace sluice::cluster {
namespace {

namespace asio = boost::asio;
constexpr const char* kEpochMeta = "shadow-epoch";

}  // namespace

int64_t ShadowNowUnix() { return mail::Clock::System().NowUnix(); }

asio::awaitable<std::optional<ShadowFrame>> ReadShadowFrame(Shadow::Conn& c, TimedStream::Duration timeout,
                                                            boost::system::error_code& ec) {
  for (;;) {
    if (auto f = c.parser.Next()) co_return f;
    if (!c.parser.error().empty()) co_return std::nullopt;
    const size_t n = co_await c.stream.ReadSome(c.buf.data(), c.buf.size(), timeout, ec);
    if (ec) co_return std::nullopt;
    c.parser.Feed(std::string_view(c.buf.data(), n));
  }
}

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
    stats_.peer_list.push_back({a, p->state, 0});
    peers_.push_back(std::move(p));
  }
  peer_count_ = peers_.size();
  Sweep(/*initial=*/true);  // the figures, and who has copies here: their silence is timed from now
}

Shadow::~Shadow() { Stop(); }

Status Shadow::Start() {
  started_queue_ = true;
  boost::system::error_code ec;
  asio::ip::tcp::endpoint at(asio::ip::make_address(o_.address, ec), o_.port);
  if (!ec) acceptor_.open(at.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(at, ec);
  if (!ec) acceptor_.listen(128, ec);
  if (ec) return Status::IoError(fmt::format("shadow listener {}:{}: {}", o_.address, o_.port, ec.message()));
  asio::co_spawn(io_, Accept(), asio::detached);
  asio::co_spawn(io_, Beat(), asio::detached);
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
  ShadowStats s = stats_;
  s.held = 0;
  for (const auto& [node, count] : held_by_) s.held += count;
  s.peers = s.peer_list.size();
  s.peers_up = static_cast<size_t>(std::count_if(s.peer_list.begin(), s.peer_list.end(),
                                                 [](const ShadowStats::Peer& p) { return p.state == "up"; }));
  return s;
}

void Shadow::Heard(const std::string& node) {
  std::lock_guard lock(mu_);
  heard_[node] = ShadowClock::now();
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
  // Before the secret is proven a frame may carry nothing: a stranger
  // cannot make this node buffer a message.
  Conn c(std::move(socket), 0);
  boost::system::error_code ec;
  const std::string nonce = ShadowNonce();
  const std::string greeting = ShadowLine("SHADOW", {nonce}), refused = ShadowLine("NO", {"bad secret"});
  co_await c.stream.WriteAll(greeting, kShadowAuthTimeout, ec);
  auto auth = co_await ReadShadowFrame(c, kShadowAuthTimeout, ec);
  if (!auth || auth->verb != "AUTH" || !ShadowVerify(o_.secret, nonce, auth->args[0])) {
    co_await c.stream.WriteAll(refused, kShadowAuthTimeout, ec);
    log::Event("shadow peer refused").With("reason", auth ? "bad secret" : c.parser.error()).Warn();
    c.stream.Close();
    co_return;
  }
  // The primary sends nothing more before this OK, so nothing buffered is lost.
  c.parser = ShadowParser(kMaxShadowContent);
  const std::string ok = ShadowLine("OK", {ShadowPeerProof(o_.secret, auth->args[1])});
  co_await c.stream.WriteAll(ok, kShadowAuthTimeout, ec);
  while (!ec) {
    auto f = co_await ReadShadowFrame(c, kShadowIdleTimeout, ec);
    if (!f) break;
    auto answer = Answer(std::move(*f));
    const std::string reply = co_await std::move(answer);
    co_await c.stream.WriteAll(reply, kShadowAuthTimeout, ec);
  }
  if (!c.parser.error().empty()) log::Event("shadow connection closed").With("reason", c.parser.error()).Info();
  c.stream.Close();
}

asio::awaitable<std::string> Shadow::Answer(ShadowFrame f) {
  if (f.verb == "COPY") {
    // Written through the spool's writer from the loop (group commit with
    // every other copy arriving now), not on a pool thread of its own.
    Heard(f.args[0]);
    auto e = std::make_shared<Envelope>();
    std::string header;
    if (!spool::DecodeEnvelope(f.envelope, e.get(), &header)) co_return ShadowLine("NO", {"malformed envelope"});
    const std::string id = ShadowStoreId(f.args[0], f.args[1], f.args[2]);
    auto content = std::make_shared<const std::string>(std::move(f.content));
    auto write = spool::AsyncWrite(store_, spool::Change::Commit(id, std::move(e), std::move(content)));
    Status s = co_await std::move(write);
    if (!s.ok()) co_return ShadowLine("NO", {s.ToString()});
    std::lock_guard lock(mu_);
    ++stats_.received;
    ++held_by_[f.args[0]];
    co_return ShadowLine("OK");
  }
  if (f.verb == "HELLO" || f.verb == "DISCARD" || f.verb == "TAKE") {
    if (f.verb != "TAKE") Heard(f.args[0]);
    auto work = Offload(work_, [this, f = std::move(f)]() -> std::string {
      if (f.verb == "TAKE") return Take(f);
      if (f.verb == "DISCARD") {
        Discard(f.args[0], f.args[1], f.ids);
        return ShadowLine("OK");
      }
      const std::string& node = f.args[0];
      const std::string& epoch = f.args[1];
      auto known = store_.GetMeta("epoch/" + node);
      if (known.ok() && known.value() != epoch) {
        log::Event("shadow primary has a new spool").With("node", node).With("old_epoch", known.value())
            .With("epoch", epoch).Warn();
        // Delivered beside this answer, not before it: the primary's
        // start waits for the answer.
        asio::post(work_, [this, node, old = known.value()] { Promote(node, old, /*takeover=*/false); });
      }
      if (!known.ok() || known.value() != epoch) (void)store_.PutMeta("epoch/" + node, epoch);
      const std::vector<std::string> taken = TakenFrom(node, epoch);
      return taken.empty() ? ShadowLine("OK") : ShadowIdList("TAKEN", {}, taken);
    });
    std::string reply = co_await std::move(work);
    co_return reply;
  }
  co_return ShadowLine("NO", {"unexpected " + f.verb});
}

void Shadow::Copy(const std::string& id, std::shared_ptr<const Envelope> envelope,
                  std::shared_ptr<const std::string> content, std::function<void(Status, std::string)> done) {
  if (peer_count_ == 0 || stopped_) return done(Status::Unavailable("no shadow peer known"), "");
  asio::co_spawn(io_, Send(id, std::move(envelope), std::move(content), std::move(done)), asio::detached);
}

}  // namespace sluice::cluster
