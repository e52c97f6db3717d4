// A latency-driven concurrency limit for one forest (gradient style, as in
// Netflix's concurrency-limits): the limit follows the ratio between the
// forest's no-load latency and what it shows now, so it shrinks as the
// forest slows and grows back as it recovers. Pure: the caller feeds
// samples; not thread-safe (the forest serializes calls).
#pragma once

#include <chrono>
#include <cstddef>

namespace sluice::directory {

struct AdaptiveLimitOptions {
  size_t initial = 20;
  size_t min_limit = 2;
  size_t max_limit = 200;
  double tolerance = 2.0;  // latency up to tolerance × baseline counts as healthy
  double smoothing = 0.2;  // weight of each new estimate
};

class AdaptiveLimit {
 public:
  explicit AdaptiveLimit(AdaptiveLimitOptions o);

  // One completed lookup: how long it took and how many were in flight.
  // Cheap: a few floating-point operations.
  void OnSample(std::chrono::microseconds latency, size_t in_flight);
  // A failed or timed-out lookup counts as a slow one.
  void OnDrop();

  size_t limit() const { return static_cast<size_t>(limit_); }

 private:
  void Update(double gradient, size_t in_flight);

  AdaptiveLimitOptions o_;
  double limit_;
  double baseline_us_ = 0;  // no-load latency: a slowly rising minimum
  double recent_us_ = 0;    // short-term average latency
};

}  // namespace sluice::directory
