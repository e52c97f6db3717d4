// The copies a node holds for its peers: discards into the safety net,
// promotion (a lost spool, a takeover), a drain's hand-over, the net's
// expiry and an operator's resubmit. Everything here blocks on the store
// and runs on the shadow's work pool (or, at construction, on the
// caller's thread).
//
// A copy's state is its recipient records: pending while its primary has
// it queued; delivered (with next_attempt_unix = when the discard came)
// once it is in the safety net.
#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <algorithm>
#include <condition_variable>

#include "cluster/shadow.h"
#include "cluster/shadow_internal.h"
#include "common/log.h"
#include "spool/record_format.h"

namespace sluice::cluster {
namespace {

namespace asio = boost::asio;

bool InNet(const std::vector<RecipientStatus>& states) {
  return !states.empty() && std::all_of(states.begin(), states.end(), [](const RecipientStatus& r) {
    return r.state == RecipientState::kDelivered;
  });
}

int64_t DiscardedAt(const std::vector<RecipientStatus>& states) {
  return states.empty() ? 0 : states.front().next_attempt_unix;
}

std::string TakenKey(const std::string& node, const std::string& epoch) { return "taken/" + node + "/" + epoch; }

// Writes every change and waits for them all: one group commit, not one
// sync per message.
Status WriteAll(spool::Spool& spool, std::vector<spool::Change> changes) {
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    size_t left;
    Status first = Status::Ok();
  };
  auto w = std::make_shared<Wait>();
  w->left = changes.size();
  for (auto& c : changes) {
    spool.Write(std::move(c), [w](Status s) {
      std::lock_guard lock(w->mu);
      if (!s.ok() && w->first.ok()) w->first = s;
      if (--w->left == 0) w->cv.notify_all();
    });
  }
  std::unique_lock lock(w->mu);
  w->cv.wait(lock, [&] { return w->left == 0; });
  return w->first;
}

}  // namespace

void Shadow::Discard(const std::string& node, const std::string& epoch, const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  std::lock_guard sweep(sweep_mu_);  // the net's count stays the sweep's
  const int64_t now = ShadowNowUnix();
  std::vector<spool::Change> changes;
  for (const auto& id : ids) {
    auto m = store_.Load(ShadowStoreId(node, epoch, id));
    if (!m.ok() || InNet(m.value().recipients)) continue;  // never shadowed here, or known already
    std::vector<RecipientStatus> net(m.value().recipients.size());
    for (auto& r : net) {
      r.state = RecipientState::kDelivered;
      r.next_attempt_unix = now;
    }
    changes.push_back(spool::Change::Update(m.value().id, std::move(net)));
  }
  const size_t moved = changes.size();
  if (moved == 0) return;
  if (Status s = WriteAll(store_, std::move(changes)); !s.ok()) {
    log::Event("shadow discard failed").With("node", node).With("error", s.ToString()).Warn();
    return;  // the copies stay held; the primary's next heartbeat does not repeat them, a sweep finds them
  }
  std::lock_guard lock(mu_);
  stats_.net += moved;
  stats_.discarded += moved;
  auto& mine = held_by_[node];
  mine -= std::min(mine, moved);
}

std::vector<std::string> Shadow::TakenFrom(const std::string& node, const std::string& epoch) {
  auto record = store_.GetMeta(TakenKey(node, epoch));
  std::vector<std::string> out;
  if (!record.ok()) return out;
  size_t pos = record.value().find('\n');  // the first line is when
  while (pos != std::string::npos && pos + 1 < record.value().size()) {
    const size_t next = record.value().find('\n', pos + 1);
    out.push_back(record.value().substr(pos + 1, next - pos - 1));
    pos = next;
  }
  return out;
}

// Delivers here, as this node's own mail, the held copies of `node` (of
// `epoch`, or of every epoch when it is empty). A copy goes from the store
// only once its commit to this node's spool is synced. A takeover keeps
// the ids it took, for the primary's next HELLO.
size_t Shadow::Promote(const std::string& node, const std::string& epoch, bool takeover) {
  std::lock_guard sweep(sweep_mu_);
  const std::string prefix = node + "/" + (epoch.empty() ? "" : epoch + "/");
  std::vector<spool::StoredMessage> found;
  (void)store_.Scan([&](spool::StoredMessage m) {
    if (m.id.rfind(prefix, 0) == 0 && !InNet(m.recipients)) found.push_back(std::move(m));
    return true;
  });
  size_t promoted = 0;
  std::map<std::string, std::vector<std::string>> taken;  // epoch → ids
  for (auto& m : found) {
    auto content = store_.ReadContent(m.id);
    if (!content.ok()) continue;
    const std::string id = spool::NewQueueId();
    auto envelope = std::make_shared<const Envelope>(std::move(m.envelope));
    if (!spool_.WriteAndWait(spool::Change::Commit(id, envelope, content.value())).ok()) continue;
    queue_.Submit(id, envelope, content.value(), !envelope->quarantine.empty());
    (void)store_.WriteAndWait(spool::Change::Remove(m.id));
    ++promoted;
    if (takeover) {
      const size_t a = m.id.find('/'), b = m.id.find('/', a + 1);
      taken[m.id.substr(a + 1, b - a - 1)].push_back(m.id.substr(b + 1));
    }
  }
  for (auto& [ep, ids] : taken) {
    std::string record = std::to_string(ShadowNowUnix());
    for (const auto& id : TakenFrom(node, ep)) (record += '\n') += id;
    for (const auto& id : ids) (record += '\n') += id;
    (void)store_.PutMeta(TakenKey(node, ep), record);
  }
  {
    std::lock_guard lock(mu_);
    stats_.promoted += promoted;
    if (takeover) stats_.takeovers += promoted;
    auto& mine = held_by_[node];
    mine -= std::min(mine, promoted);
  }
  log::Event(takeover ? "shadow copies taken over from a silent node" : "shadow copies delivered for a lost spool")
      .With("node", node).With("epoch", epoch.empty() ? "any" : epoch).With("messages", static_cast<int64_t>(promoted))
      .Warn();
  return promoted;
}

// A drain's hand-over: the message becomes this node's own.
std::string Shadow::Take(const ShadowFrame& f) {
  auto e = std::make_shared<Envelope>();
  std::string header;
  if (!spool::DecodeEnvelope(f.envelope, e.get(), &header)) return ShadowLine("NO", {"malformed envelope"});
  const std::string id = spool::NewQueueId();
  auto content = std::make_shared<const std::string>(f.content);
  std::shared_ptr<const Envelope> envelope = std::move(e);
  if (draining_) return ShadowLine("NO", {"draining too"});
  if (Status s = spool_.WriteAndWait(spool::Change::Commit(id, envelope, content)); !s.ok()) {
    return ShadowLine("NO", {s.ToString()});
  }
  queue_.Submit(id, envelope, content, !envelope->quarantine.empty());
  log::Event("message taken from a draining node").With("node", f.args[0]).With("their_id", f.args[2])
      .With("queue_id", id).Info();
  return ShadowLine("OK");
}

void Shadow::Takeovers() {
  const auto now = ShadowClock::now();
  std::vector<std::string> due;
  {
    std::lock_guard lock(mu_);
    for (const auto& [node, count] : held_by_) {
      if (count == 0) continue;
      auto [it, fresh] = heard_.emplace(node, now);  // timed from the first look
      if (fresh || now - it->second < o_.resubmit_after) continue;
      due.push_back(node);
      it->second = now;  // one takeover per silence
    }
  }
  std::vector<Member> members;
  if (members_ && !due.empty()) members = members_();
  for (const auto& node : due) {
    if (std::any_of(members.begin(), members.end(), [&](const Member& m) { return m.node == node; })) {
      log::Event("shadow primary silent but still a member; no takeover").With("node", node).Info();
      continue;
    }
    asio::post(work_, [this, node] { Promote(node, "", /*takeover=*/true); });
  }
}

void Shadow::Sweep(bool initial) {
  std::lock_guard sweep(sweep_mu_);
  const int64_t now = ShadowNowUnix();
  const int64_t hold = o_.safety_net_hold.count();
  std::vector<std::pair<int64_t, std::string>> net;  // discarded at, id
  std::map<std::string, size_t> held_by;
  std::vector<spool::Change> expired;
  (void)store_.Recover([&](std::string id, std::vector<RecipientStatus> states) {
    if (!InNet(states)) {
      ++held_by[ShadowStoreNode(id)];
    } else if (now - DiscardedAt(states) >= hold) {
      expired.push_back(spool::Change::Remove(id));
    } else {
      net.emplace_back(DiscardedAt(states), std::move(id));
    }
  });
  // Bounded by disk: while the store's file system is short of space, the
  // oldest tenth of the net goes at every sweep, before any copy held.
  if (store_.Health().state != spool::SpoolState::kOk && !net.empty()) {
    std::sort(net.begin(), net.end());
    const size_t n = std::max<size_t>(1, net.size() / 10);
    for (size_t i = 0; i < n; ++i) expired.push_back(spool::Change::Remove(net[i].second));
    net.erase(net.begin(), net.begin() + static_cast<std::ptrdiff_t>(n));
  }
  const size_t gone = expired.size();
  if (gone) (void)WriteAll(store_, std::move(expired));
  // Takeover records outlive the primary's return by the net's hold.
  if (auto taken = store_.ListMeta("taken/"); taken.ok()) {
    for (const auto& [name, value] : taken.value()) {
      if (now - std::atoll(value.c_str()) >= hold) (void)store_.DeleteMeta(name);
    }
  }
  std::lock_guard lock(mu_);
  stats_.net = net.size();
  stats_.expired += gone;
  // Held copies arrive beside a sweep (COPY does not wait for it), so they
  // are counted from the store only once, at the start; then by each
  // change.
  if (initial) held_by_ = std::move(held_by);
}

Result<size_t> Shadow::Resubmit(const std::string& destination, int64_t since, int64_t until) {
  std::vector<spool::StoredMessage> found;
  Status scanned = store_.Scan([&](spool::StoredMessage m) {
    const int64_t at = DiscardedAt(m.recipients);
    if (InNet(m.recipients) && at >= since && at <= until) found.push_back(std::move(m));
    return true;
  });
  if (!scanned.ok()) return scanned;
  size_t queued = 0;
  for (auto& m : found) {
    // Only the recipients that went to `destination`, and never a DSN:
    // the sender heard about this message already.
    Envelope e = m.envelope;
    e.rcpt_to.clear();
    e.routes.clear();
    e.dsn.clear();
    for (size_t i = 0; i < m.envelope.routes.size(); ++i) {
      if (m.envelope.routes[i].destination != destination) continue;
      e.rcpt_to.push_back(i < m.envelope.rcpt_to.size() ? m.envelope.rcpt_to[i] : m.envelope.routes[i].address);
      e.routes.push_back(m.envelope.routes[i]);
      RecipientDsn dsn = i < m.envelope.dsn.size() ? m.envelope.dsn[i] : RecipientDsn{};
      dsn.notify = "NEVER";
      e.dsn.push_back(dsn);
    }
    if (e.routes.empty()) continue;
    auto content = store_.ReadContent(m.id);
    if (!content.ok()) return content.status();
    if (dedup_) {  // delivered again on purpose: the window must not stop it
      std::vector<std::string> addresses;
      for (const auto& r : e.routes) addresses.push_back(r.address);
      dedup_->Forget(delivery::DedupKeys(*content.value(), addresses));
    }
    const std::string id = spool::NewQueueId();
    auto envelope = std::make_shared<const Envelope>(std::move(e));
    if (Status s = spool_.WriteAndWait(spool::Change::Commit(id, envelope, content.value())); !s.ok()) return s;
    queue_.Submit(id, envelope, content.value(), !envelope->quarantine.empty());
    log::Event("safety net resubmitted").With("copy", m.id).With("queue_id", id).With("destination", destination).Info();
    ++queued;
  }
  std::lock_guard lock(mu_);
  stats_.resubmitted += queued;
  return queued;
}

}  // namespace sluice::cluster
