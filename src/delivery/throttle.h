// The throttle of one destination: how many deliveries may run at once and
// whether it is backing off. AIMD: trouble (a 421, a refused or abruptly
// closed connection, a timeout) halves the concurrency and opens a backoff
// window that doubles with each consecutive trouble — once per window: the
// troubles of attempts that started before the last reaction are the same
// trouble and change nothing; every clean delivery adds 1/limit. While the window is open nothing is sent (the breaker is
// open); after it, the halved limit — down to one — makes the next
// attempts probes. Thread-safe; the clock is passed in.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

namespace sluice::delivery {

struct ThrottleOptions {
  size_t max_concurrency = 20;
  std::chrono::milliseconds min_backoff{1000};
  std::chrono::milliseconds max_backoff{60'000};
};

class Throttle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Throttle(ThrottleOptions o) : o_(o), limit_(static_cast<double>(o.max_concurrency)) {}

  void OnSuccess();
  // `started`: when the failed attempt began (after it had its slot).
  void OnTrouble(Clock::time_point started, Clock::time_point now, const std::string& why);
  // Another node of the fleet is backing this destination off until
  // `until`: the same window here, and the same halving, once per window.
  void PauseUntil(Clock::time_point until, Clock::time_point now, const std::string& why);
  // True while the backoff window is open: do not even connect.
  bool Paused(Clock::time_point now);
  size_t limit();
  // A new ceiling, live: lowering takes effect at once; raising lets a
  // healthy destination jump to it and a troubled one grow back as usual.
  void SetMaxConcurrency(size_t n);

  struct Snapshot {
    size_t limit;
    bool paused;
    std::string state;  // closed / open / half-open
    std::string last_trouble;
    double backoff_ms;
  };
  Snapshot snapshot(Clock::time_point now);

 private:
  ThrottleOptions o_;
  std::mutex mu_;
  double limit_;
  size_t troubles_ = 0;  // consecutive
  Clock::time_point paused_until_{};
  Clock::time_point reacted_at_{};  // the last trouble that halved and doubled
  std::string last_trouble_;
};

}  // namespace sluice::delivery
