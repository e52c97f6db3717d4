// Recovery, the window and scheduling. Spool reads run on the reads pool,
// writes go through the spool's writer, and delivery runs on the
// destinations' own executors; every outcome is synced to the spool before
// the queue acts on it (doc/design.md, rule 1).
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "common/log.h"
#include "common/offload.h"
#include "queue/spool_queue.h"
#include "spool/await.h"

namespace sluice::queue {

namespace asio = boost::asio;

namespace {

// Where a message found at start waits: its envelope (and so the hold
// policies that cover it) is read only when it is due.
std::optional<Backlog::Slot> RecoveredSlot(const std::vector<RecipientStatus>& states) {
  int64_t due = -1;
  bool held = false;
  for (const auto& st : states) {
    held = held || st.state == RecipientState::kHeld;
    if (st.state != RecipientState::kPending) continue;
    const int64_t t = std::max<int64_t>(0, st.next_attempt_unix);
    due = due < 0 ? t : std::min(due, t);
  }
  if (due >= 0) return Backlog::Slot{due, Backlog::Wait::kDue, true};
  if (held) return Backlog::Slot{0, Backlog::Wait::kHeld, true};
  return std::nullopt;  // all done: the crash fell before the removal
}

}  // namespace

SpoolQueue::SpoolQueue(QueueOptions o, Parts p)
    : o_(std::move(o)),
      spool_(p.spool),
      delivery_(p.delivery),
      reads_(p.reads),
      router_(std::move(p.router)),
      groups_(p.groups),
      clock_(p.clock ? *p.clock : mail::Clock::System()),
      wake_(io_) {}

SpoolQueue::~SpoolQueue() { Stop(std::chrono::seconds(0)); }

Status SpoolQueue::Start() {
  auto saved = spool_.GetMeta("holds");
  if (saved.ok()) {
    holds_ = ParseHolds(saved.value());
  } else if (saved.status().code() != Status::Code::kNotFound) {
    return saved.status();
  }
  std::vector<std::string> finished, malformed;
  Status s = spool_.Recover([&](std::string id, std::vector<RecipientStatus> states) {
    auto slot = RecoveredSlot(states);
    if (!slot) {
      finished.push_back(std::move(id));
    } else if (!backlog_.Put(id, *slot)) {
      malformed.push_back(std::move(id));
    }
  });
  if (!s.ok()) return s;
  if (!malformed.empty()) {
    return Status::Corruption(fmt::format("spool: {} is not a queue id ({} such records)", malformed.front(),
                                          malformed.size()));
  }
  for (auto& id : finished) spool_.Write(spool::Change::Remove(std::move(id)), [](Status) {});
  log::Event("queue recovered")
      .With("messages", static_cast<int64_t>(backlog_.size()))
      .With("finished", static_cast<int64_t>(finished.size()))
      .With("hold_policies", static_cast<int64_t>(holds_.size()))
      .Info();
  started_ = true;
  thread_ = std::thread([this, work = asio::make_work_guard(io_)] { io_.run(); });
  Wake();
  return Status::Ok();
}

void SpoolQueue::Submit(std::string id, std::shared_ptr<const Envelope> envelope, spool::Content content, bool held) {
  asio::post(io_, [this, id = std::move(id), envelope = std::move(envelope), content = std::move(content), held]() mutable {
    std::vector<RecipientStatus> pending(envelope->routes.size());
    if (held) {
      for (auto& st : pending) st.state = RecipientState::kHeld;
      content = nullptr;  // not delivered until released: not worth memory
    }
    Admit(std::move(id), std::move(envelope), std::move(pending), std::move(content), false);
    Pump();
  });
}

void SpoolQueue::Wake() {
  asio::post(io_, [this] { Pump(); });
}

void SpoolQueue::Stop(std::chrono::seconds grace) {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] { stopping_ = true; });
  auto until = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < until && Stats().in_flight > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Deliveries still running finish on the delivery stage's own loops and
  // post here; the owner stops that stage (Delivery::Stop) before this queue goes.
  io_.stop();
  thread_.join();
  // Writes still in the spool's writer complete by posting to io_: let
  // them, while it exists.
  spool_.Drain();
}

void SpoolQueue::Admit(std::string id, std::shared_ptr<const Envelope> envelope, std::vector<RecipientStatus> states,
                       spool::Content content, bool recovered) {
  if (window_.count(id) || loading_.count(id) || backlog_.Find(id)) return;
  if (window_.size() + loading_.size() >= o_.active_limit) {
    // The window is full: the message waits in the spool, due now.
    if (!backlog_.Put(id, Backlog::Slot{Now(), Backlog::Wait::kDue, recovered})) {
      log::Event("queue id malformed").With("queue_id", id).Error();
    }
    return;
  }
  auto [it, fresh] = window_.try_emplace(id);
  Entry& e = it->second;
  e.envelope = std::move(envelope);
  e.recipients = std::move(states);
  e.recovered = recovered;
  KeepContent(e, std::move(content));
  const int64_t due = Due(e);
  if (due >= 0 && due <= Now()) {
    e.queued = true;
    ready_.push_back(id);
  } else {
    Evict(id);
  }
}

void SpoolQueue::KeepContent(Entry& e, spool::Content content) {
  DropContent(e);
  if (!content || content_bytes_ + content->size() > kContentBudget) return;  // read again when attempted
  content_bytes_ += content->size();
  e.content = std::move(content);
}

void SpoolQueue::DropContent(Entry& e) {
  if (!e.content) return;
  content_bytes_ -= e.content->size();
  e.content.reset();
}

bool SpoolQueue::PolicyHeld(const RecipientRoute& r) const {
  return std::any_of(holds_.begin(), holds_.end(), [&](const HoldPolicy& h) { return h.Covers(r); });
}

bool SpoolQueue::Attemptable(const Entry& e, size_t i) const {
  return e.recipients[i].state == RecipientState::kPending && !PolicyHeld(e.envelope->routes[i]);
}

int64_t SpoolQueue::Due(const Entry& e) const {
  int64_t due = -1;
  for (size_t i = 0; i < e.recipients.size(); ++i) {
    if (!Attemptable(e, i)) continue;
    int64_t t = std::max<int64_t>(0, e.recipients[i].next_attempt_unix);
    due = due < 0 ? t : std::min(due, t);
  }
  return due;
}

Backlog::Slot SpoolQueue::SlotFor(const Entry& e) const {
  const int64_t due = Due(e);
  if (due >= 0) return {due, Backlog::Wait::kDue, e.recovered};
  const bool pending = std::any_of(e.recipients.begin(), e.recipients.end(),
                                   [](const RecipientStatus& st) { return st.state == RecipientState::kPending; });
  return {0, pending ? Backlog::Wait::kParked : Backlog::Wait::kHeld, e.recovered};
}

void SpoolQueue::Evict(const std::string& id) {
  auto it = window_.find(id);
  if (it == window_.end()) return;
  const Backlog::Slot slot = SlotFor(it->second);
  DropContent(it->second);
  window_.erase(it);
  backlog_.Put(id, slot);
}

void SpoolQueue::Settle(const std::string& id, bool done, const Status& last_write) {
  auto it = window_.find(id);
  if (it == window_.end()) return;
  Entry& e = it->second;
  e.busy = false;
  DropContent(e);
  if (done) {
    if (!last_write.ok()) {
      // Every recipient is done; the spool still has the message and the
      // next start finishes the removal.
      log::Event("spool removal failed").With("queue_id", id).With("error", last_write.ToString()).Error();
    }
    window_.erase(it);
  } else if (!e.after.empty()) {
    auto op = ApplyAfter(id);
    asio::co_spawn(io_, std::move(op), asio::detached);
  } else {
    const int64_t due = Due(e);
    if (due >= 0 && due <= Now()) {
      if (!e.queued) ready_.push_back(id);
      e.queued = true;
    } else {
      Evict(id);
    }
  }
  Pump();
}

void SpoolQueue::Pump() {
  if (stopping_) return;
  const int64_t now = Now();
  // Read in what is due while the window has room, a little ahead of the
  // attempts that can start.
  const size_t prefetch = std::max<size_t>(o_.max_deliveries, 64);
  while (window_.size() + loading_.size() < o_.active_limit && ready_.size() + loading_.size() < prefetch) {
    auto due = backlog_.PopDue(now);
    if (!due) break;
    loading_.try_emplace(due->first);
    auto op = Load(std::move(due->first), due->second);
    asio::co_spawn(io_, std::move(op), asio::detached);
  }
  while (in_flight_ < o_.max_deliveries && !ready_.empty()) {
    std::string id = std::move(ready_.front());
    ready_.pop_front();
    auto it = window_.find(id);
    if (it == window_.end() || !it->second.queued) continue;  // stale
    Entry& e = it->second;
    e.queued = false;
    if (e.busy) continue;
    const int64_t due = Due(e);
    if (due < 0 || due > now) {  // held, or rescheduled since it was queued
      Evict(id);
      continue;
    }
    e.busy = true;
    ++in_flight_;
    auto op = Attempt(std::move(id));
    asio::co_spawn(io_, std::move(op), asio::detached);
  }
  ArmTimer(now);
}

void SpoolQueue::ArmTimer(int64_t now) {
  auto next = backlog_.NextDue();
  if (!next || *next <= now || *next >= wake_at_) return;  // none, due already (Pump runs again), or set
  wake_at_ = *next;
  wake_.expires_after(std::chrono::seconds(*next - now));
  wake_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // re-armed for an earlier time, or stopping
    wake_at_ = INT64_MAX;
    Pump();
  });
}

asio::awaitable<void> SpoolQueue::Load(std::string id, Backlog::Slot slot) {
  auto read = Offload(reads_, [this, id] { return spool_.Load(id); });
  Result<spool::StoredMessage> m = co_await std::move(read);
  std::vector<OperatorAction> asked = std::move(loading_[id]);
  loading_.erase(id);
  if (!m.ok()) {
    if (m.status().code() != Status::Code::kNotFound) {
      log::Event("spool read failed").With("queue_id", id).With("error", m.status().ToString()).Error();
      backlog_.Put(id, Backlog::Slot{Now() + o_.retry_initial.count(), Backlog::Wait::kDue, slot.recovered});
    }
    Pump();
    co_return;
  }
  Entry& e = window_[id];
  e.envelope = std::make_shared<const Envelope>(std::move(m.value().envelope));
  e.recipients = std::move(m.value().recipients);
  e.recovered = slot.recovered;
  if (slot.retry) {
    const int64_t now = Now();
    for (auto& r : e.recipients) {
      if (r.state == RecipientState::kPending) r.next_attempt_unix = std::min(r.next_attempt_unix, now);
    }
  }
  if (!asked.empty()) {
    e.after = std::move(asked);
    auto op = ApplyAfter(id);
    asio::co_spawn(io_, std::move(op), asio::detached);
  } else {
    e.queued = true;
    ready_.push_back(std::move(id));
  }
  Pump();
}

asio::awaitable<Status> SpoolQueue::Persist(std::string id, spool::Change change) {
  auto write = spool::AsyncWrite(spool_, std::move(change));
  Status s = co_await std::move(write);
  if (!s.ok()) log::Event("spool update failed").With("queue_id", id).With("error", s.ToString()).Error();
  co_return s;
}

std::unique_ptr<Queue> MakeQueue(QueueOptions options, spool::Spool& spool, delivery::Delivery& delivery,
                                 asio::thread_pool& reads, NotifyRouter notify_router, TenantGroups* groups) {
  return std::make_unique<SpoolQueue>(std::move(options),
                                      SpoolQueue::Parts{spool, delivery, reads, std::move(notify_router), groups});
}

}  // namespace sluice::queue
