#include "delivery/throttle.h"

#include <algorithm>

namespace sluice::delivery {

void Throttle::OnSuccess() {
  std::lock_guard lock(mu_);
  troubles_ = 0;
  limit_ = std::min(static_cast<double>(o_.max_concurrency), limit_ + 1.0 / limit_);
}

void Throttle::OnTrouble(Clock::time_point started, Clock::time_point now, const std::string& why) {
  std::lock_guard lock(mu_);
  last_trouble_ = why;
  // An attempt that began before the last reaction saw the same trouble:
  // the many deliveries in flight when a next hop blips count once, as TCP
  // halves once per round trip, not once per lost segment.
  if (started < reacted_at_) return;
  reacted_at_ = now;
  limit_ = std::max(1.0, limit_ / 2);
  ++troubles_;
  std::chrono::milliseconds backoff = o_.min_backoff * (int64_t{1} << std::min<size_t>(troubles_ - 1, 20));
  paused_until_ = now + std::min(backoff, o_.max_backoff);
}

void Throttle::PauseUntil(Clock::time_point until, Clock::time_point now, const std::string& why) {
  std::lock_guard lock(mu_);
  if (until <= paused_until_) return;
  if (now >= paused_until_) limit_ = std::max(1.0, limit_ / 2);  // not already backing off
  paused_until_ = until;
  reacted_at_ = now;  // attempts in flight now saw the same trouble
  last_trouble_ = why;
}

bool Throttle::Paused(Clock::time_point now) {
  std::lock_guard lock(mu_);
  return now < paused_until_;
}

void Throttle::SetMaxConcurrency(size_t n) {
  std::lock_guard lock(mu_);
  o_.max_concurrency = n;
  limit_ = troubles_ == 0 ? static_cast<double>(n) : std::min(limit_, static_cast<double>(n));
}

size_t Throttle::limit() {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(limit_);
}

Throttle::Snapshot Throttle::snapshot(Clock::time_point now) {
  std::lock_guard lock(mu_);
  bool paused = now < paused_until_;
  std::string state = paused ? "open" : troubles_ > 0 ? "half-open" : "closed";
  double ms = paused ? std::chrono::duration<double, std::milli>(paused_until_ - now).count() : 0;
  return {static_cast<size_t>(limit_), paused, state, last_trouble_, ms};
}

}  // namespace sluice::delivery
