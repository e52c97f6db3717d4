// The primary's side of the shadow protocol: connections to the peers,
// the copy before a 250, the heartbeat that carries discards, and the
// reconciliation at start with what the peers took over.
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>

#include "cluster/shadow.h"
#include "cluster/shadow_internal.h"
#include "common/log.h"
#include "common/offload.h"
#include "spool/record_format.h"

namespace sluice::cluster {
namespace {

namespace asio = boost::asio;

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

std::string CursorKey(const std::string& peer) { return "discard-sent/" + peer; }

}  // namespace

std::vector<Shadow::Peer*> Shadow::Order(const std::string& id) {
  std::vector<Peer*> order;
  for (auto& p : peers_) order.push_back(p.get());
  std::sort(order.begin(), order.end(),
            [&](Peer* a, Peer* b) { return Weight(a->address, id) > Weight(b->address, id); });
  // A copy in the same rack as its primary dies with the rack: peers in
  // another failure domain first, in the same rendezvous order.
  if (!o_.failure_domain.empty()) {
    std::stable_partition(order.begin(), order.end(),
                          [&](Peer* p) { return !p->domain.empty() && p->domain != o_.failure_domain; });
  }
  return order;
}

void Shadow::RefreshPeers() {
  if (!members_) return;
  const auto now = ShadowClock::now();
  const std::vector<Member> members = members_();
  for (auto& p : peers_) {
    const bool listed = std::any_of(members.begin(), members.end(), [&](const Member& m) { return m.address == p->address; });
    if (listed) p->absent_since = {};
    if (!listed && p->absent_since == ShadowClock::time_point{}) p->absent_since = now;
  }
  for (const auto& m : members) {
    if (m.node == node_ || m.address.empty()) continue;
    auto it = std::find_if(peers_.begin(), peers_.end(), [&](const auto& p) { return p->address == m.address; });
    if (it != peers_.end()) {
      (*it)->domain = m.failure_domain;
      continue;
    }
    const size_t colon = m.address.rfind(':');
    if (colon == std::string::npos) continue;
    auto p = std::make_unique<Peer>();
    p->address = m.address;
    p->host = m.address.substr(0, colon);
    p->port = static_cast<uint16_t>(std::atoi(m.address.c_str() + colon + 1));
    p->domain = m.failure_domain;
    p->learned = true;
    log::Event("shadow peer learned from the membership").With("node", m.node).With("peer", m.address)
        .With("failure_domain", m.failure_domain).Info();
    peers_.push_back(std::move(p));
  }
  // A learned peer gone from the membership for longer than a takeover
  // takes is gone: its copies of this node's mail were promoted or lost
  // with it, and its discard cursor must not hold the journal.
  std::erase_if(peers_, [&](const auto& p) {
    return p->learned && p->absent_since != ShadowClock::time_point{} && now - p->absent_since > o_.resubmit_after;
  });
  peer_count_ = peers_.size();
  std::lock_guard lock(mu_);
  std::vector<ShadowStats::Peer> list;
  for (const auto& p : peers_) list.push_back({p->address, p->state, p->last_ok_unix});
  stats_.peer_list = std::move(list);
}

// Connects, proves the secret both ways and says HELLO. What the peer
// answers to HELLO (what it took over from this node) is dropped here.
asio::awaitable<std::unique_ptr<Shadow::Conn>> Shadow::Connect(Peer& p, Deadline deadline,
                                                               boost::system::error_code& ec) {
  asio::ip::tcp::socket s(io_);
  asio::steady_timer timer(io_);
  timer.expires_at(deadline);
  timer.async_wait([&s](const boost::system::error_code& e) {
    if (!e) s.close();
  });
  asio::ip::tcp::endpoint at(asio::ip::make_address(p.host, ec), p.port);
  if (!ec) co_await s.async_connect(at, asio::redirect_error(asio::use_awaitable, ec));
  timer.cancel();
  if (!ec && !s.is_open()) ec = asio::error::timed_out;
  if (ec) co_return nullptr;
  auto c = std::make_unique<Conn>(std::move(s), 0);  // nothing buffered before the peer proved itself
  auto left = [&] { return deadline - ShadowClock::now(); };
  auto hello = co_await ReadShadowFrame(*c, left(), ec);
  if (!ec && (!hello || hello->verb != "SHADOW")) ec = asio::error::connection_aborted;
  if (ec) co_return nullptr;
  const std::string mine = ShadowNonce();
  const std::string proof = ShadowLine("AUTH", {ShadowProof(o_.secret, hello->args[0]), mine});
  co_await c->stream.WriteAll(proof, left(), ec);
  std::optional<ShadowFrame> ok;
  if (!ec) ok = co_await ReadShadowFrame(*c, left(), ec);
  if (!ec && (!ok || ok->verb != "OK" || ok->args.empty() ||
              ok->args[0] != ShadowPeerProof(o_.secret, mine))) {
    ec = asio::error::access_denied;
  }
  if (ec) co_return nullptr;
  c->parser = ShadowParser(kMaxShadowList);  // a TAKEN list may follow; a peer sends no message
  const std::string greet = ShadowLine("HELLO", {node_, epoch_});
  co_await c->stream.WriteAll(greet, left(), ec);
  std::optional<ShadowFrame> said;
  if (!ec) said = co_await ReadShadowFrame(*c, left(), ec);
  if (!ec && (!said || (said->verb != "OK" && said->verb != "TAKEN"))) ec = asio::error::connection_aborted;
  if (ec) co_return nullptr;
  if (said->verb == "TAKEN") {
    log::Event("a peer took over mail of this node while it was away").With("peer", p.address)
        .With("messages", static_cast<int64_t>(said->ids.size())).Warn();
    if (!started_queue_) {
      DropTaken(said->ids);  // Reconcile: before the queue has read the spool
    } else {
      asio::post(work_, [this, ids = said->ids] { DropTaken(ids); });
    }
  }
  co_return c;
}

// This node's messages a peer delivered instead: gone here, so they are
// not delivered twice.
void Shadow::DropTaken(const std::vector<std::string>& ids) {
  size_t dropped = 0;
  if (!started_queue_) {
    for (const auto& id : ids) {
      if (spool_.Load(id).ok() && spool_.WriteAndWait(spool::Change::Remove(id)).ok()) ++dropped;
    }
  } else {
    queue::Filter f;
    f.ids = ids;
    auto n = queue_.Apply(queue::OperatorAction::kDelete, f);
    dropped = n.ok() ? n.value() : 0;
  }
  if (dropped) log::Event("messages dropped: a peer delivered them").With("messages", static_cast<int64_t>(dropped)).Warn();
  std::lock_guard lock(mu_);
  stats_.dropped_taken += dropped;
}

asio::awaitable<std::optional<ShadowFrame>> Shadow::Exchange(Peer& p, std::string head,
                                                             std::shared_ptr<const std::string> tail,
                                                             Deadline deadline, std::string& why) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    boost::system::error_code ec;
    std::unique_ptr<Conn> c;
    if (!p.idle.empty()) {
      c = std::move(p.idle.back());
      p.idle.pop_back();
    }
    const bool fresh = !c;
    if (fresh) c = co_await Connect(p, deadline, ec);
    std::optional<ShadowFrame> answer;
    if (!ec) {
      const std::string_view rest = tail ? std::string_view(*tail) : std::string_view();
      co_await c->stream.WriteAll(head, rest, deadline - ShadowClock::now(), ec);
      if (!ec) answer = co_await ReadShadowFrame(*c, deadline - ShadowClock::now(), ec);
    }
    if (!ec && answer) {
      p.idle.push_back(std::move(c));
      p.state = "up";
      p.last_ok_unix = ShadowNowUnix();
    } else {
      if (c) c->stream.Close();
      // A reused connection may simply have been closed by the peer: once
      // more, fresh, before calling the peer down.
      if (!fresh && ec) continue;
      p.state = ec == asio::error::access_denied ? "refused our secret" : ec ? ec.message() : "broke the protocol";
    }
    {
      std::lock_guard lock(mu_);
      for (auto& v : stats_.peer_list) {
        if (v.address == p.address) v = {p.address, p.state, p.last_ok_unix};
      }
    }
    if (!answer) why = p.address + ": " + p.state;
    co_return answer;
  }
  co_return std::nullopt;
}

// One copy to the first peer in rendezvous order that takes it.
asio::awaitable<void> Shadow::Send(std::string id, std::shared_ptr<const Envelope> envelope,
                                   std::shared_ptr<const std::string> content,
                                   std::function<void(Status, std::string)> done) {
  const auto deadline = ShadowClock::now() + o_.deadline;
  const std::string head = ShadowCopyHead(node_, epoch_, id, spool::EncodeEnvelope(*envelope, ""), content->size());
  std::string why = "no shadow peer";
  for (Peer* p : Order(id)) {
    if (ShadowClock::now() >= deadline) break;
    if (ShadowClock::now() < p->down_until) {
      why = p->address + ": " + p->state;
      continue;
    }
    auto exchange = Exchange(*p, head, content, deadline, why);
    std::optional<ShadowFrame> answer = co_await std::move(exchange);
    if (answer && answer->verb == "OK") {
      {
        std::lock_guard lock(mu_);
        ++stats_.sent;
      }
      done(Status::Ok(), p->address);
      co_return;
    }
    if (answer) why = p->address + ": said " + (answer->args.empty() ? answer->verb : answer->args[0]);
    p->down_until = ShadowClock::now() + kShadowDownFor;
  }
  {
    std::lock_guard lock(mu_);
    ++stats_.failed;
  }
  done(Status::Unavailable(why), "");
}

size_t Shadow::Reconcile() {
  size_t before;
  {
    std::lock_guard lock(mu_);
    before = stats_.dropped_taken;
  }
  const auto deadline = ShadowClock::now() + std::max<std::chrono::milliseconds>(o_.deadline * 2, std::chrono::seconds(2));
  for (auto& p : peers_) {
    asio::co_spawn(io_, [this, &p, deadline]() -> asio::awaitable<void> {
      std::string why;
      auto exchange = Exchange(*p, ShadowIdList("DISCARD", {node_, epoch_}, {}), nullptr, deadline, why);
      std::optional<ShadowFrame> said = co_await std::move(exchange);
      if (!said) log::Event("shadow peer not reached at start").With("peer", p->address).With("reason", why).Warn();
    }, asio::detached);
  }
  io_.run();  // until every peer answered or its deadline passed
  io_.restart();
  std::lock_guard lock(mu_);
  return stats_.dropped_taken - before;
}

// Every heartbeat, each peer hears this node's discards since the last it
// acknowledged (and, with none, that this node lives); the journal is
// forgotten up to what every peer has heard. Every second, the takeovers.
asio::awaitable<void> Shadow::Beat() {
  asio::steady_timer timer(io_);
  auto next_beat = ShadowClock::now();
  while (!stopped_) {
    RefreshPeers();
    Takeovers();
    if (ShadowClock::now() >= next_beat) {
      next_beat = ShadowClock::now() + o_.heartbeat;
      for (auto& p : peers_) {
        auto beat = BeatTo(*p);
        co_await std::move(beat);
      }
      std::string lowest;
      bool all = !peers_.empty();
      for (auto& p : peers_) {
        if (!p->cursor_loaded || p->cursor.empty()) all = false;
        if (all && (lowest.empty() || p->cursor < lowest)) lowest = p->cursor;
      }
      auto tidy = Offload(work_, [this, all, lowest, none = peers_.empty() && !members_] {
        if (all) (void)spool_.ForgetDiscards(lowest);
        if (none) (void)spool_.ForgetDiscards(std::string(16, 'f'));  // nobody to tell, ever
        auto pending = spool_.Discards(all ? lowest : "", 1'000'000);
        {
          std::lock_guard lock(mu_);
          stats_.discards_pending = pending.ok() ? pending.value().size() : 0;
        }
        Sweep();
        return 0;
      });
      (void)co_await std::move(tidy);
    }
    timer.expires_after(std::min<std::chrono::milliseconds>(o_.heartbeat, std::chrono::seconds(1)));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> Shadow::BeatTo(Peer& p) {
  if (!p.cursor_loaded) {
    auto load = Offload(work_, [this, key = CursorKey(p.address)] { return spool_.GetMeta(key); });
    Result<std::string> got = co_await std::move(load);
    if (!got.ok() && got.status().code() != Status::Code::kNotFound) co_return;
    p.cursor = got.ok() ? got.value() : "";
    p.cursor_loaded = true;
  }
  for (;;) {
    auto read = Offload(work_, [this, after = p.cursor] { return spool_.Discards(after, kShadowDiscardBatch); });
    Result<std::vector<spool::Spool::Discard>> batch = co_await std::move(read);
    if (!batch.ok()) co_return;
    std::vector<std::string> ids;
    for (const auto& d : batch.value()) ids.push_back(d.second);
    std::string why;
    const auto deadline = ShadowClock::now() + std::max<std::chrono::milliseconds>(o_.deadline, std::chrono::seconds(5));
    auto exchange = Exchange(p, ShadowIdList("DISCARD", {node_, epoch_}, ids), nullptr, deadline, why);
    std::optional<ShadowFrame> answer = co_await std::move(exchange);
    if (!answer || answer->verb != "OK") co_return;  // the same discards go again next time
    if (ids.empty()) co_return;
    p.cursor = batch.value().back().first;
    auto save = Offload(work_, [this, key = CursorKey(p.address), c = p.cursor] { return spool_.PutMeta(key, c); });
    Status saved = co_await std::move(save);
    (void)saved;  // lost: the peer hears these again, and knows them already
    if (ids.size() < kShadowDiscardBatch) co_return;
  }
}

}  // namespace sluice::cluster
