// A thread of its own that runs `tick` every `interval` until stopped: the
// fleet's renewals, the control plane's polls, the node flight's judge.
// Start once; Stop (or the destructor) wakes it at once and joins it, so
// nothing `tick` touches may go before Stop returns.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace sluice {

class Periodic {
 public:
  Periodic() = default;
  ~Periodic() { Stop(); }
  Periodic(const Periodic&) = delete;

  // `now`: the first tick runs at once, else after one interval.
  void Start(std::chrono::milliseconds interval, std::function<void()> tick, bool now = false) {
    thread_ = std::thread([this, interval, tick = std::move(tick), now] {
      if (now) tick();
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
        lock.unlock();
        tick();
        lock.lock();
      }
    });
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace sluice
