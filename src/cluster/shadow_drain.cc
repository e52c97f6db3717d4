// Drain (`sluicectl node drain`): this node refuses new mail (451 4.3.2,
// and not ready for the load balancer) and hands every queued message to
// a peer. A message is held first, so no attempt starts while it moves;
// its local copy is deleted only once a peer answered OK to its TAKE,
// which that peer sends only after its own synced commit.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cluster/shadow.h"
#include "cluster/shadow_internal.h"
#include "common/log.h"
#include "common/offload.h"
#include "spool/record_format.h"

namespace sluice::cluster {
namespace {

namespace asio = boost::asio;

constexpr size_t kDrainBatch = 200;                     // messages looked at per round
constexpr std::chrono::milliseconds kDrainPause{200};   // between rounds
constexpr std::chrono::seconds kTakeTimeout{30};        // a peer's synced commit of one message

queue::Filter Ids(std::vector<std::string> ids) {
  queue::Filter f;
  f.ids = std::move(ids);
  return f;
}

}  // namespace

void Shadow::SetDrain(bool on) {
  if (draining_.exchange(on) == on) return;
  {
    std::lock_guard lock(mu_);
    drain_ = DrainStatus{};
    drain_.state = on ? "draining" : "off";
    drain_.since_unix = ShadowNowUnix();
  }
  log::Event(on ? "node draining to its peers" : "node taking mail again").With("node", node_).Warn();
  if (on) asio::co_spawn(io_, DrainLoop(), asio::detached);
}

DrainStatus Shadow::Drain() {
  std::lock_guard lock(mu_);
  return drain_;
}

asio::awaitable<void> Shadow::DrainLoop() {
  std::set<std::string> mine;  // held by the drain, not by an operator
  asio::steady_timer pause(io_);
  while (draining_ && !stopped_) {
    auto list = Offload(work_, [this] {
      queue::Filter all;
      all.limit = kDrainBatch;
      return queue_.List(all);
    });
    std::vector<queue::MessageInfo> messages = co_await std::move(list);
    size_t left = 0, operator_held = 0;
    for (const auto& m : messages) {
      if (!draining_) break;
      ++left;
      if (m.state == queue::MessageState::kActive) continue;  // its attempt ends first
      if (m.state == queue::MessageState::kHold && !mine.count(m.id)) {
        ++operator_held;  // an operator's hold stays here, and says so
        continue;
      }
      if (!mine.count(m.id)) {
        auto hold = Offload(work_, [this, id = m.id] { return queue_.Apply(queue::OperatorAction::kHold, Ids({id})); });
        Result<size_t> held = co_await std::move(hold);
        if (!held.ok() || held.value() == 0) continue;
        mine.insert(m.id);
      }
      auto hand = HandOver(m.id);
      const bool handed = co_await std::move(hand);
      if (handed) {
        mine.erase(m.id);
        --left;
      }
    }
    if (messages.size() == kDrainBatch) {  // more than one batch: the queue's own count
      auto stats = Offload(work_, [this] { return queue_.Stats(); });
      queue::QueueStats q = co_await std::move(stats);
      left = q.messages;
    }
    {
      std::lock_guard lock(mu_);
      drain_.left = left;
      if (draining_) drain_.state = left <= operator_held ? "drained" : "draining";
      if (operator_held) drain_.last_error = std::to_string(operator_held) + " messages held by an operator stay here";
    }
    pause.expires_after(kDrainPause);
    boost::system::error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  // Undrained: what the drain held goes back to the queue.
  if (!mine.empty()) {
    auto release = Offload(work_, [this, ids = std::vector<std::string>(mine.begin(), mine.end())] {
      return queue_.Apply(queue::OperatorAction::kRelease, Ids(ids));
    });
    Result<size_t> released = co_await std::move(release);
    (void)released;
  }
}

// One message to the first peer that takes it: its open recipients only.
asio::awaitable<bool> Shadow::HandOver(std::string id) {
  auto load = Offload(work_, [this, id]() -> Result<std::pair<Envelope, spool::Content>> {
    auto m = spool_.Load(id);
    if (!m.ok()) return m.status();
    auto content = spool_.ReadContent(id);
    if (!content.ok()) return content.status();
    Envelope e = m.value().envelope;
    e.rcpt_to.clear();
    e.routes.clear();
    e.dsn.clear();
    for (size_t i = 0; i < m.value().recipients.size(); ++i) {
      // A hold asked for during an attempt applies when it ends: until
      // then a recipient is still pending here, and the message stays.
      if (m.value().recipients[i].state == RecipientState::kPending) return Status::Unavailable("not held yet");
      if (m.value().recipients[i].state != RecipientState::kHeld) continue;
      const Envelope& o = m.value().envelope;
      e.rcpt_to.push_back(i < o.rcpt_to.size() ? o.rcpt_to[i] : o.routes[i].address);
      e.routes.push_back(o.routes[i]);
      e.dsn.push_back(i < o.dsn.size() ? o.dsn[i] : RecipientDsn{});
    }
    return std::make_pair(std::move(e), content.value());
  });
  Result<std::pair<Envelope, spool::Content>> loaded = co_await std::move(load);
  if (!loaded.ok()) co_return false;
  if (!loaded.value().first.routes.empty()) {
    const std::string head = ShadowCopyHead(node_, epoch_, id, spool::EncodeEnvelope(loaded.value().first, ""),
                                            loaded.value().second->size(), "TAKE");
    std::string why = "no shadow peer";
    bool taken = false;
    for (Peer* p : Order(id)) {
      auto exchange = Exchange(*p, head, loaded.value().second, ShadowClock::now() + kTakeTimeout, why);
      std::optional<ShadowFrame> answer = co_await std::move(exchange);
      if (answer && answer->verb == "OK") {
        taken = true;
        log::Event("message handed to a peer").With("queue_id", id).With("peer", p->address).Info();
        break;
      }
      if (answer) why = p->address + ": said " + (answer->args.empty() ? answer->verb : answer->args[0]);
    }
    if (!taken) {
      std::lock_guard lock(mu_);
      ++drain_.failed;
      drain_.last_error = why;
      co_return false;
    }
  }
  auto remove = Offload(work_, [this, id] { return queue_.Apply(queue::OperatorAction::kDelete, Ids({id})); });
  Result<size_t> removed = co_await std::move(remove);
  (void)removed;  // not removed: delivered once more by this node after an undrain; never lost
  std::lock_guard lock(mu_);
  ++drain_.handed;
  co_return true;
}

}  // namespace sluice::cluster
