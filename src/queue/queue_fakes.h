// Fakes for the queue's unit tests (convention 7): a spool in memory that
// can be stopped after its Nth write, as a process killed at that step; a
// delivery that answers from a script and can hold a destination's jobs
// until the test opens its gate; a clock that moves when told, from any
// thread.
#pragma once

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "delivery/delivery.h"
#include "mail/clock.h"
#include "spool/spool.h"

namespace sluice::queue::testing {

// Waits up to 10 s for `pred`, polling.
inline bool Eventually(const std::function<bool()>& pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class ThreadSafeClock final : public mail::Clock {
 public:
  explicit ThreadSafeClock(int64_t unix_seconds = 1'790'000'000) : ms_(unix_seconds * 1000) {}
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms_.load()));
  }
  std::chrono::steady_clock::time_point Steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms_.load()));
  }
  void Advance(std::chrono::milliseconds d) { ms_ += d.count(); }

 private:
  std::atomic<int64_t> ms_;
};

class FakeSpool final : public spool::Spool {
 public:
  struct Message {
    Envelope envelope;
    spool::Content content;
    std::vector<RecipientStatus> states;
  };

  // After `n` more writes the spool stops: later writes are neither
  // applied nor completed, as if the process died while they were on
  // their way to the disk.
  void StopAfter(size_t n) {
    std::lock_guard lock(mu_);
    stop_after_ = n;
  }
  // Forgets the completions of writes that never finished. Call after the
  // queue's loop stopped and before it is destroyed.
  void DropHung() {
    std::vector<spool::WriteDone> hung;
    {
      std::lock_guard lock(mu_);
      hung.swap(hung_);
    }
  }
  void Put(const std::string& id, Envelope e, std::string content, std::vector<RecipientStatus> states = {}) {
    std::lock_guard lock(mu_);
    if (states.empty()) states.resize(e.routes.size());
    messages_[id] = {std::move(e), std::make_shared<const std::string>(std::move(content)), std::move(states)};
  }
  std::map<std::string, Message> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  size_t writes() {
    std::lock_guard lock(mu_);
    return writes_;
  }
  bool stopped() {
    std::lock_guard lock(mu_);
    return stop_after_ == 0;
  }

  void Write(spool::Change c, spool::WriteDone done) override {
    std::unique_lock lock(mu_);
    if (stop_after_ == 0) {
      hung_.push_back(std::move(done));
      return;
    }
    if (stop_after_ != SIZE_MAX) --stop_after_;
    ++writes_;
    switch (c.kind) {
      case spool::Change::Kind::kCommit:
        messages_[c.id] = {*c.envelope, c.content,
                            c.recipients.empty() ? std::vector<RecipientStatus>(c.envelope->routes.size()) : c.recipients};
        break;
      case spool::Change::Kind::kUpdate:
        if (auto it = messages_.find(c.id); it != messages_.end()) it->second.states = c.recipients;
        break;
      case spool::Change::Kind::kRemove:
        messages_.erase(c.id);
        break;
    }
    lock.unlock();
    done(Status::Ok());
  }
  void Drain() override {}
  Result<spool::Content> ReadContent(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = messages_.find(id);
    if (it == messages_.end()) return Status::NotFound(id);
    return it->second.content;
  }
  Result<spool::StoredMessage> Load(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = messages_.find(id);
    if (it == messages_.end()) return Status::NotFound(id);
    return spool::StoredMessage{id, it->second.envelope, it->second.states};
  }
  Status Recover(const spool::RecoveredStates& each) override {
    for (auto& [id, m] : messages()) each(id, m.states);
    return Status::Ok();
  }
  Status Scan(const std::function<bool(spool::StoredMessage)>& each) override {
    for (auto& [id, m] : messages()) {
      if (!each(spool::StoredMessage{id, m.envelope, m.states})) break;
    }
    return Status::Ok();
  }
  Status PutMeta(const std::string& name, std::string_view value) override {
    std::lock_guard lock(mu_);
    meta_[name] = std::string(value);
    return Status::Ok();
  }
  Result<std::string> GetMeta(const std::string& name) override {
    std::lock_guard lock(mu_);
    auto it = meta_.find(name);
    if (it == meta_.end()) return Status::NotFound(name);
    return it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Message> messages_;
  std::map<std::string, std::string> meta_;
  size_t stop_after_ = SIZE_MAX;
  size_t writes_ = 0;
  std::vector<spool::WriteDone> hung_;
};

class FakeDelivery final : public delivery::Delivery {
 public:
  struct Call {
    std::string destination;
    std::string sender;
    std::vector<std::string> rcpts;
    bool retry = false;
    std::string content;
  };
  // The reply for a recipient address; default "250 2.0.0 Ok".
  using Script = std::function<std::string(const std::string& rcpt)>;

  void SetScript(Script s) {
    std::lock_guard lock(mu_);
    script_ = std::move(s);
  }
  // Jobs for `destination` wait until Open(destination).
  void Gate(const std::string& destination) {
    std::lock_guard lock(mu_);
    gated_.insert(destination);
  }
  void Open(const std::string& destination) {
    std::lock_guard lock(mu_);
    gated_.erase(destination);
  }
  std::vector<Call> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

  boost::asio::awaitable<std::vector<delivery::Outcome>> Deliver(const delivery::Job& job) override {
    const std::string& destination = job.envelope->routes[job.recipients.front()].destination;
    Call call{destination, job.envelope->sender, {}, job.retry, job.content ? *job.content : ""};
    for (size_t i : job.recipients) call.rcpts.push_back(job.envelope->routes[i].address);
    {
      std::lock_guard lock(mu_);
      calls_.push_back(call);
    }
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
    while (IsGated(destination)) {
      t.expires_after(std::chrono::milliseconds(5));
      boost::system::error_code ec;
      co_await t.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    std::vector<delivery::Outcome> out;
    Script script;
    {
      std::lock_guard lock(mu_);
      script = script_;
    }
    for (const auto& rcpt : call.rcpts) {
      const std::string reply = script ? script(rcpt) : "250 2.0.0 Ok";
      out.push_back(delivery::FromReply(std::stoi(reply.substr(0, 3)), reply));
    }
    co_return out;
  }
  std::vector<delivery::DestinationStats> Stats() override { return {}; }

 private:
  bool IsGated(const std::string& d) {
    std::lock_guard lock(mu_);
    return gated_.count(d) > 0;
  }
  std::mutex mu_;
  Script script_;
  std::set<std::string> gated_;
  std::vector<Call> calls_;
};

}  // namespace sluice::queue::testing
