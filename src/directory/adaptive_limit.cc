#include "directory/adaptive_limit.h"

#include <algorithm>
#include <cmath>

namespace sluice::directory {

AdaptiveLimit::AdaptiveLimit(AdaptiveLimitOptions o)
    : o_(o), limit_(static_cast<double>(std::clamp(o.initial, o.min_limit, o.max_limit))) {}

void AdaptiveLimit::OnSample(std::chrono::microseconds latency, size_t in_flight) {
  const double us = std::max<double>(1.0, static_cast<double>(latency.count()));
  recent_us_ = recent_us_ == 0 ? us : recent_us_ * 0.9 + us * 0.1;
  // The baseline follows a new minimum at once and drifts up slowly, so a
  // long-lasting change of the forest's speed is learned, a burst is not.
  baseline_us_ = baseline_us_ == 0 ? us : std::min(us, baseline_us_ * 1.001 + 0.1);
  double gradient = std::clamp(o_.tolerance * baseline_us_ / recent_us_, 0.5, 1.0);
  Update(gradient, in_flight);
}

void AdaptiveLimit::OnDrop() { Update(0.5, 0); }  // no headroom: a failure is no evidence to grow

void AdaptiveLimit::Update(double gradient, size_t in_flight) {
  // Grow only when the limit is actually being used: an idle forest gives
  // no evidence that more concurrency would be fine.
  double headroom = in_flight * 2 >= limit_ ? std::sqrt(limit_) : 0.0;
  double target = limit_ * gradient + headroom;
  limit_ = limit_ * (1 - o_.smoothing) + target * o_.smoothing;
  limit_ = std::clamp(limit_, static_cast<double>(o_.min_limit), static_cast<double>(o_.max_limit));
}

}  // namespace sluice::directory
