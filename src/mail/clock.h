// The one clock: wall time for what is stored and shown (arrival, next
// attempt), steady time for deadlines. Injected where behaviour depends on
// it, so tests hold time in their hands (FakeClock).
#pragma once

#include <chrono>
#include <cstdint>

namespace sluice::mail {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
  virtual std::chrono::steady_clock::time_point Steady() const = 0;
  int64_t NowUnix() const {
    return std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count();
  }
  int64_t NowUnixMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Now().time_since_epoch()).count();
  }
  // The machine's clocks. Thread-safe.
  static const Clock& System();
};

// A clock that moves only when told to. Not thread-safe: tests drive it
// from one thread.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t unix_seconds = 1'790'000'000)
      : now_(std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds))) {}
  std::chrono::system_clock::time_point Now() const override { return now_; }
  std::chrono::steady_clock::time_point Steady() const override { return steady_; }
  void Advance(std::chrono::milliseconds d) {
    now_ += d;
    steady_ += d;
  }

 private:
  std::chrono::system_clock::time_point now_;
  std::chrono::steady_clock::time_point steady_{};
};

}  // namespace sluice::mail
