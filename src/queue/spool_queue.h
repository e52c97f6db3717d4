// The queue's implementation, shared by its files: queue.cc (scheduling and
// attempts), queue_control.cc (operator calls and holds), notify.cc (DSNs).
// All state lives on the queue's own thread (io_), so it needs no locks.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/post.hpp>
#include <deque>
#include <future>
#include <map>
#include <random>
#include <thread>
#include <unordered_map>

#include "delivery/delivery.h"
#include "queue/dsn.h"
#include "queue/queue.h"

namespace sluice::queue {

int64_t NowUnix();

// The "holds" spool record: one policy per line, tab-separated.
std::vector<HoldPolicy> ParseHolds(const std::string& record);
std::string FormatHolds(const std::vector<HoldPolicy>& holds);

class SpoolQueue final : public Queue {
 public:
  SpoolQueue(QueueOptions o, spool::Spool& spool, delivery::Delivery& delivery,
             boost::asio::thread_pool& blocking, NotifyRouter router, TenantGroups* groups);
  ~SpoolQueue() override;

  Status Start() override;
  void Submit(spool::StoredMessage m) override;
  void Stop(std::chrono::seconds grace) override;
  QueueStats Stats() override;
  std::vector<MessageInfo> List(const Filter& filter) override;
  Result<std::string> Content(const std::string& id) override { return spool_.ReadContent(id); }
  Result<size_t> Apply(Action action, const Filter& filter) override;
  std::vector<HoldPolicy> Holds() override;
  Status SetHold(const HoldPolicy& policy, bool on) override;

 private:
  struct Entry {
    std::shared_ptr<const Envelope> envelope;
    std::vector<RecipientStatus> recipients;
    bool recovered = false;  // an attempt before a crash may have delivered some
    bool in_flight = false;
    std::vector<Action> after;  // operator actions waiting for the attempt to end
  };

  // queue.cc
  void Add(spool::StoredMessage m, bool recovered);
  bool PolicyHeld(const RecipientRoute& r) const;
  bool Attemptable(const Entry& e, size_t i) const;  // pending and not held
  // The earliest next attempt of the entry's attemptable recipients, or -1.
  int64_t Due(const Entry& e) const;
  void Schedule(const std::string& id, const Entry& e);
  void Pump();
  boost::asio::awaitable<void> Attempt(std::string id);
  boost::asio::awaitable<void> Persist(const std::string& id, Entry& entry, bool changed);
  void Finish(const std::string& id, Entry& entry, bool forget);
  // Runs `fn` on the queue's thread and waits for its result, at most 30 s
  // (then `fallback`). `fn` may run after that: it must own what it uses.
  template <class T, class Fn>
  T RunOnQueue(Fn fn, T fallback);

  // queue_control.cc
  std::string StateOf(const Entry& e, int64_t now) const;
  std::string RecipientStateName(const Entry& e, size_t i, int64_t now) const;
  boost::asio::awaitable<size_t> ApplyNow(Action action, Filter filter);
  // Changes one idle entry; false when it is gone (deleted, or done).
  boost::asio::awaitable<bool> ApplyTo(Action action, std::string id);

  // notify.cc
  // Queues a DSN about `recipients` of `id` to its sender; false when it
  // could not be stored.
  boost::asio::awaitable<bool> Notify(const std::string& id, const Entry& entry,
                                      std::vector<DsnRecipient> recipients,
                                      std::shared_ptr<const std::string> content);

  QueueOptions o_;
  spool::Spool& spool_;
  delivery::Delivery& delivery_;
  boost::asio::thread_pool& blocking_;
  NotifyRouter router_;
  TenantGroups* groups_;  // may be null: no flight accounting
  boost::asio::io_context io_{1};
  boost::asio::steady_timer wake_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;

  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> ready_;
  std::multimap<int64_t, std::string> deferred_;  // may hold stale items; Pump checks Due
  std::vector<HoldPolicy> holds_;
  size_t in_flight_ = 0;
  bool stopping_ = false;
  std::map<std::pair<std::string, std::string>, uint64_t> deliveries_;
  uint64_t dsn_sent_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

template <class T, class Fn>
T SpoolQueue::RunOnQueue(Fn fn, T fallback) {
  if (!thread_.joinable() || io_.stopped()) return fallback;
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  boost::asio::post(io_, [p, fn = std::move(fn)]() mutable { p->set_value(fn()); });
  return f.wait_for(std::chrono::seconds(30)) == std::future_status::ready ? f.get() : fallback;
}

}  // namespace sluice::queue
