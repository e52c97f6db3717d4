// The queue's implementation, shared by its files: queue.cc (recovery, the
// window and scheduling), queue_attempt.cc (attempts), queue_control.cc
// (operator calls and holds), notify.cc (DSNs). All state lives on the
// queue's own loop (io_), so it needs no locks.
//
// A message is in exactly one of three places: the backlog (id, due time,
// why it waits), loading (its envelope being read from the spool), or the
// window (in memory with its envelope and states, at most active_limit).
// A window entry is idle, queued in ready_, or busy (an attempt or an
// operator change runs; no other starts until it ends).
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <deque>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "delivery/delivery.h"
#include "mail/clock.h"
#include "queue/attempt.h"
#include "queue/backlog.h"
#include "queue/dsn.h"
#include "queue/queue.h"

namespace sluice::queue {

// A recipient that still has to be delivered (pending, or held by an operator).
inline bool Open(const RecipientStatus& st) {
  return st.state == RecipientState::kPending || st.state == RecipientState::kHeld;
}
inline bool AllDone(const std::vector<RecipientStatus>& rs) { return std::none_of(rs.begin(), rs.end(), Open); }


class SpoolQueue final : public Queue {
 public:
  struct Parts {
    spool::Spool& spool;
    delivery::Delivery& delivery;
    boost::asio::thread_pool& reads;  // spool reads (envelopes, content)
    NotifyRouter router;              // may be null: DSNs go to notify_destination
    TenantGroups* groups = nullptr;   // may be null: no flight accounting
    const mail::Clock* clock = nullptr;  // null: the system's
  };
  SpoolQueue(QueueOptions o, Parts parts);
  ~SpoolQueue() override;

  Status Start() override;
  void Submit(std::string id, std::shared_ptr<const Envelope> envelope, spool::Content content, bool held) override;
  void Stop(std::chrono::seconds grace) override;
  QueueStats Stats() override;
  std::vector<MessageInfo> List(const Filter& filter) override;
  Result<spool::Content> Content(const std::string& id) override { return spool_.ReadContent(id); }
  Result<size_t> Apply(OperatorAction action, const Filter& filter) override;
  Status Resolve(const std::string& id, const std::string& expected, Rescanned r) override;
  std::vector<HoldPolicy> Holds() override;
  Status SetHold(const HoldPolicy& policy, bool on) override;

  // Looks again for what is due (a test that moved its clock). Thread-safe.
  void Wake();

 private:
  struct Entry {
    std::shared_ptr<const Envelope> envelope;
    std::vector<RecipientStatus> recipients;
    spool::Content content;  // null: read for the next attempt
    bool recovered = false;  // an attempt before a crash may have delivered some
    bool busy = false;
    bool queued = false;     // in ready_
    size_t jobs = 0;         // deliveries of the running attempt not yet recorded
    std::vector<OperatorAction> after;  // operator actions waiting for the attempt to end
  };

  // queue.cc
  int64_t Now() const { return clock_.NowUnix(); }
  void Pump();
  void Admit(std::string id, std::shared_ptr<const Envelope> envelope, std::vector<RecipientStatus> states,
             spool::Content content, bool recovered);
  bool PolicyHeld(const RecipientRoute& r) const;
  bool Attemptable(const Entry& e, size_t i) const;  // pending and not held
  // The earliest next attempt of the entry's attemptable recipients, or -1.
  int64_t Due(const Entry& e) const;
  Backlog::Slot SlotFor(const Entry& e) const;
  void Evict(const std::string& id);  // window → backlog
  void Settle(const std::string& id, bool done, const Status& last_write);
  void KeepContent(Entry& e, spool::Content content);
  void DropContent(Entry& e);
  boost::asio::awaitable<void> Load(std::string id, Backlog::Slot slot);
  boost::asio::awaitable<Status> Persist(std::string id, spool::Change change);
  void ArmTimer(int64_t now);
  // Runs `fn` on the queue's loop and waits for its result, at most 30 s
  // (then `fallback`). `fn` may run after that: it must own what it uses.
  template <class T, class Fn>
  T RunOnQueue(Fn fn, T fallback);
  // Runs `op` on the queue's loop and waits up to 60 s for its result
  // (nullopt after that; the operation still finishes on its own).
  template <class T>
  std::optional<T> AwaitOnQueue(boost::asio::awaitable<T> op) {
    auto p = std::make_shared<std::promise<T>>();
    auto f = p->get_future();
    boost::asio::co_spawn(io_, std::move(op), [p](std::exception_ptr, T v) { p->set_value(std::move(v)); });
    if (f.wait_for(std::chrono::seconds(60)) != std::future_status::ready) return std::nullopt;
    return f.get();
  }

  // queue_attempt.cc
  boost::asio::awaitable<void> Attempt(std::string id);
  boost::asio::awaitable<void> RunJob(std::string id, delivery::Job job);
  void Record(const std::string& id, Entry& e, const std::vector<delivery::Outcome>& outcomes,
              const std::vector<Verdict>& verdicts, double ms);
  void Finish(const std::string& id, bool done, const Status& last_write);

  // queue_control.cc
  QueueStats StatsNow();
  boost::asio::awaitable<size_t> ApplyNow(OperatorAction action, std::vector<std::string> ids,
                                          std::optional<MessageState> state);
  MessageState StateOf(const Entry& e, int64_t now) const;
  std::optional<MessageState> StateOf(const std::string& id, int64_t now) const;
  RecipientView ViewOf(const Entry& e, size_t i, int64_t now) const;
  // The ids matching the filter's envelope criteria (the spool is read
  // when no ids are given); at most `limit` of them.
  Result<std::vector<spool::StoredMessage>> Candidates(const Filter& filter, size_t limit, bool envelopes);
  // The ids the queue knows (backlog, window, loading), in `state` if given,
  // at most `limit`. From any thread; runs on the queue's loop.
  std::vector<std::string> KnownIds(std::optional<MessageState> state, size_t limit);
  // Changes one entry; false when it is gone (deleted, or done).
  boost::asio::awaitable<bool> ApplyTo(OperatorAction action, std::string id);
  // Reads a backlog message into the window for a change; false when it
  // is gone (or unreadable: it stays in the backlog).
  boost::asio::awaitable<bool> LoadForChange(std::string id);
  boost::asio::awaitable<Status> ResolveNow(std::string id, std::string expected, Rescanned r);
  boost::asio::awaitable<void> ApplyAfter(std::string id);

  // notify.cc
  // Queues a DSN about `recipients` of `id` to its sender; false when it
  // could not be stored.
  boost::asio::awaitable<bool> Notify(std::string id, std::shared_ptr<const Envelope> original,
                                      std::vector<DsnRecipient> recipients, spool::Content content);

  // Content kept in memory for first attempts, across the window.
  static constexpr size_t kContentBudget = 64u << 20;

  QueueOptions o_;
  spool::Spool& spool_;
  delivery::Delivery& delivery_;
  boost::asio::thread_pool& reads_;
  NotifyRouter router_;
  TenantGroups* groups_;
  const mail::Clock& clock_;
  boost::asio::io_context io_{1};
  boost::asio::steady_timer wake_;
  int64_t wake_at_ = INT64_MAX;  // when the timer is set for
  std::thread thread_;
  bool started_ = false;

  Backlog backlog_;
  std::unordered_map<std::string, std::vector<OperatorAction>> loading_;  // id → actions asked meanwhile
  std::unordered_map<std::string, Entry> window_;  // references stay valid until erased
  std::deque<std::string> ready_;  // may hold stale ids; Pump checks
  size_t content_bytes_ = 0;
  std::vector<HoldPolicy> holds_;
  size_t in_flight_ = 0;  // attempts running
  bool stopping_ = false;
  std::map<std::pair<std::string, std::string>, uint64_t> deliveries_;
  uint64_t dsn_sent_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

template <class T, class Fn>
T SpoolQueue::RunOnQueue(Fn fn, T fallback) {
  if (!started_ || io_.stopped()) return fallback;
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  boost::asio::post(io_, [p, fn = std::move(fn)]() mutable { p->set_value(fn()); });
  return f.wait_for(std::chrono::seconds(30)) == std::future_status::ready ? f.get() : fallback;
}

}  // namespace sluice::queue
