// The scheduler. All of its state lives on one thread (its io_context), so
// it needs no locks; spool I/O runs on the blocking pool and delivery on the
// destinations' own coroutines.
#include "queue/queue.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <future>
#include <map>
#include <random>
#include <thread>
#include <unordered_map>

#include "common/offload.h"
#include "delivery/delivery.h"
#include "observe/log.h"

namespace sluice::queue {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::system_clock;

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
}

const char* KindName(delivery::Outcome::Kind k) {
  switch (k) {
    case delivery::Outcome::Kind::kDelivered: return "delivered";
    case delivery::Outcome::Kind::kDeferred: return "deferred";
    case delivery::Outcome::Kind::kFailed: return "failed";
  }
  return "?";
}

class SpoolQueue final : public Queue {
 public:
  SpoolQueue(QueueOptions o, spool::Spool& spool, delivery::Delivery& delivery,
             asio::thread_pool& blocking)
      : o_(o), spool_(spool), delivery_(delivery), blocking_(blocking), wake_(io_),
        work_(io_.get_executor()) {}

  ~SpoolQueue() override { Stop(std::chrono::seconds(0)); }

  Status Start() override {
    std::vector<spool::StoredMessage> found;
    Status s = spool_.Recover([&](spool::StoredMessage m) { found.push_back(std::move(m)); });
    if (!s.ok()) return s;
    for (auto& m : found) Add(std::move(m), /*recovered=*/true);
    observe::Event("queue recovered").With("messages", static_cast<int64_t>(entries_.size())).Info();
    thread_ = std::thread([this] { io_.run(); });
    asio::post(io_, [this] { Pump(); });
    return Status::Ok();
  }

  void Submit(spool::StoredMessage m) override {
    asio::post(io_, [this, m = std::move(m)]() mutable {
      Add(std::move(m), false);
      Pump();
    });
  }

  void Stop(std::chrono::seconds grace) override {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] { stopping_ = true; });
    auto until = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < until && Stats().in_flight > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Outbound connections live on this loop: free them while it exists.
    std::promise<void> closed;
    asio::post(io_, [&] {
      delivery_.CloseIdle();
      closed.set_value();
    });
    closed.get_future().wait_for(std::chrono::seconds(5));
    io_.stop();
    thread_.join();
  }

  QueueStats Stats() override {
    if (!thread_.joinable() || io_.stopped()) return {};
    std::promise<QueueStats> p;
    auto f = p.get_future();
    asio::post(io_, [&] {
      p.set_value({entries_.size(), ready_.size(), deferred_.size(), in_flight_});
    });
    return f.wait_for(std::chrono::seconds(5)) == std::future_status::ready ? f.get() : QueueStats{};
  }

 private:
  struct Entry {
    std::shared_ptr<const Envelope> envelope;
    std::vector<RecipientStatus> recipients;
    bool recovered = false;  // an attempt before a crash may have delivered some
    bool in_flight = false;
  };

  void Add(spool::StoredMessage m, bool recovered) {
    if (entries_.count(m.id)) return;
    int64_t due = 0;
    bool pending = false;
    for (const auto& r : m.recipients) {
      if (r.state != RecipientState::kPending) continue;
      due = pending ? std::min(due, r.next_attempt_unix) : r.next_attempt_unix;
      pending = true;
    }
    if (!pending) {  // everything was done before a crash; finish the removal
      spool_.Remove(m.id);
      return;
    }
    Entry e{std::make_shared<const Envelope>(std::move(m.envelope)), std::move(m.recipients),
            recovered, false};
    entries_.emplace(m.id, std::move(e));
    Schedule(m.id, due);
  }

  void Schedule(const std::string& id, int64_t due) {
    if (due <= NowUnix()) {
      ready_.push_back(id);
    } else {
      deferred_.emplace(due, id);
    }
  }

  void Pump() {
    if (stopping_) return;
    const int64_t now = NowUnix();
    while (!deferred_.empty() && deferred_.begin()->first <= now) {
      ready_.push_back(deferred_.begin()->second);
      deferred_.erase(deferred_.begin());
    }
    while (in_flight_ < o_.max_deliveries && !ready_.empty()) {
      std::string id = std::move(ready_.front());
      ready_.pop_front();
      auto it = entries_.find(id);
      if (it == entries_.end() || it->second.in_flight) continue;
      it->second.in_flight = true;
      ++in_flight_;
      asio::co_spawn(io_, Attempt(id), asio::detached);
    }
    if (!deferred_.empty()) {
      auto wait = std::chrono::seconds(std::max<int64_t>(0, deferred_.begin()->first - now));
      wake_.expires_after(wait);
      wake_.async_wait([this](boost::system::error_code ec) {
        if (!ec) Pump();
      });
    }
  }

  asio::awaitable<void> Attempt(std::string id) {
    Entry& entry = entries_.at(id);  // stable: only this coroutine erases it
    auto content = co_await Offload(blocking_, [this, &id] { return spool_.ReadContent(id); });
    if (!content.ok()) {
      observe::Event("spool read failed").With("queue_id", id).With("error", content.status().ToString()).Error();
      Finish(id, entry, /*changed=*/false);
      co_return;
    }
    auto body = std::make_shared<const std::string>(std::move(content).value());

    // One job per destination, in the order recipients were given.
    std::map<std::string, delivery::Job> jobs;
    for (size_t i = 0; i < entry.recipients.size(); ++i) {
      const RecipientStatus& st = entry.recipients[i];
      if (st.state != RecipientState::kPending) continue;
      delivery::Job& job = jobs[entry.envelope->routes[i].destination];
      job.queue_id = id;
      job.envelope = entry.envelope;
      job.content = body;
      job.retry = job.retry || entry.recovered || st.attempts > 0;
      job.recipients.push_back(i);
    }
    const int64_t now = NowUnix();
    bool changed = false;
    for (auto& [destination, job] : jobs) {
      auto t0 = std::chrono::steady_clock::now();
      std::vector<delivery::Outcome> outcomes = co_await delivery_.Deliver(job);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      for (size_t k = 0; k < job.recipients.size(); ++k) {
        size_t i = job.recipients[k];
        delivery::Outcome& o = outcomes[k];
        RecipientStatus& st = entry.recipients[i];
        ++st.attempts;
        st.last_reply = o.reply;
        if (o.kind == delivery::Outcome::Kind::kDeferred &&
            now - entry.envelope->received_unix >= o_.max_lifetime.count()) {
          o.kind = delivery::Outcome::Kind::kFailed;
          st.last_reply = "message expired after " + std::to_string(o_.max_lifetime.count()) +
                          "s; last reply: " + o.reply;
        }
        switch (o.kind) {
          case delivery::Outcome::Kind::kDelivered: st.state = RecipientState::kDelivered; break;
          case delivery::Outcome::Kind::kFailed: st.state = RecipientState::kFailed; break;
          case delivery::Outcome::Kind::kDeferred:
            st.next_attempt_unix = now + Backoff(o_, st.attempts, unit_(rng_)).count();
            break;
        }
        changed = true;
        const RecipientRoute& route = entry.envelope->routes[i];
        observe::Event("delivery")
            .With("queue_id", id)
            .With("rcpt", route.address)
            .With("tenant", route.tenant)
            .With("forest", route.forest)
            .With("destination", destination)
            .With("result", KindName(o.kind))
            .With("reply", st.last_reply)
            .With("attempt", static_cast<int64_t>(st.attempts))
            .With("duration_ms", ms)
            .Info();
      }
    }
    co_await Persist(id, entry, changed);
  }

  // Makes the attempt's outcome durable before acting on it (DESIGN.md
  // rule 1), then reschedules or forgets the message.
  asio::awaitable<void> Persist(const std::string& id, Entry& entry, bool changed) {
    bool done = true;
    for (const auto& st : entry.recipients) done = done && st.state != RecipientState::kPending;
    Status s;
    if (done) {
      s = co_await Offload(blocking_, [this, &id] { return spool_.Remove(id); });
    } else if (changed) {
      auto op = Offload(blocking_, [this, &id, copy = entry.recipients] {
        return spool_.UpdateRecipients(id, copy);
      });  // built outside co_await: see Offload on temporaries
      s = co_await std::move(op);
    }
    if (!s.ok()) {
      observe::Event("spool update failed").With("queue_id", id).With("error", s.ToString()).Error();
    }
    Finish(id, entry, done && s.ok());
  }

  void Finish(const std::string& id, Entry& entry, bool forget) {
    --in_flight_;
    if (forget) {
      entries_.erase(id);
    } else {
      entry.in_flight = false;
      int64_t due = 0;
      bool first = true;
      for (const auto& st : entry.recipients) {
        if (st.state != RecipientState::kPending) continue;
        due = first ? st.next_attempt_unix : std::min(due, st.next_attempt_unix);
        first = false;
      }
      // After a failed spool access, wait at least the first retry interval.
      if (due <= NowUnix()) due = NowUnix() + o_.retry_initial.count();
      Schedule(id, due);
    }
    Pump();
  }

  QueueOptions o_;
  spool::Spool& spool_;
  delivery::Delivery& delivery_;
  asio::thread_pool& blocking_;
  asio::io_context io_{1};
  asio::steady_timer wake_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;

  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> ready_;
  std::multimap<int64_t, std::string> deferred_;
  size_t in_flight_ = 0;
  bool stopping_ = false;
  std::mt19937_64 rng_{std::random_device{}()};
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

}  // namespace

std::chrono::seconds Backoff(const QueueOptions& o, uint32_t attempts, double unit_random) {
  double base = static_cast<double>(o.retry_initial.count());
  for (uint32_t i = 1; i < attempts && base < o.retry_max.count(); ++i) base *= 2;
  base = std::min(base, static_cast<double>(o.retry_max.count()));
  double jittered = base * (0.8 + 0.4 * unit_random);
  return std::chrono::seconds(std::max<int64_t>(1, static_cast<int64_t>(jittered)));
}

std::unique_ptr<Queue> MakeQueue(QueueOptions options, spool::Spool& spool,
                                 delivery::Delivery& delivery, asio::thread_pool& blocking) {
  return std::make_unique<SpoolQueue>(options, spool, delivery, blocking);
}

}  // namespace sluice::queue
