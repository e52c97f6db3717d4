#include "common/rate_limit.h"

#include <algorithm>

namespace sluice {

using std::chrono::microseconds;

uint32_t RateLimit::Burst() const { return burst > 0 ? burst : std::max<uint32_t>(1, per_minute / 10); }

microseconds RateLimit::Interval() const {
  return microseconds(per_minute == 0 ? 0 : 60'000'000 / per_minute);
}

microseconds RateLimit::Tolerance() const { return Interval() * (Burst() - 1); }

RateLimit RateLimit::Share(size_t nodes) const {
  if (!on() || nodes <= 1) return *this;
  const auto n = static_cast<uint32_t>(nodes);
  return RateLimit{std::max<uint32_t>(1, per_minute / n), std::max<uint32_t>(1, Burst() / n)};
}

RateVerdict Gcra::Take(const std::string& key, const RateLimit& limit, Clock::time_point now) {
  if (!limit.on()) return {};
  auto [it, fresh] = tat_.try_emplace(key, now);
  const Clock::time_point tat = std::max(it->second, now);
  const auto ahead = tat - now;
  if (ahead > limit.Tolerance()) {
    return RateVerdict{false, std::chrono::ceil<std::chrono::milliseconds>(ahead - limit.Tolerance())};
  }
  it->second = tat + limit.Interval();
  return {};
}

void Gcra::Prune(Clock::time_point now) {
  std::erase_if(tat_, [now](const auto& kv) { return kv.second <= now; });
}

RateVerdict LocalRateLimiter::TakeNow(const std::string& key, const RateLimit& limit) {
  if (!limit.on()) return {};
  const auto now = Gcra::Clock::now();
  std::lock_guard lock(mu_);
  // Keys are client addresses, so the table would grow with every client
  // ever seen; a sweep every few thousand takes keeps it to the active ones.
  if (++since_prune_ >= 4096 && table_.size() >= 4096) {
    table_.Prune(now);
    since_prune_ = 0;
  }
  return table_.Take(key, limit, now);
}

boost::asio::awaitable<RateVerdict> LocalRateLimiter::Take(std::string key, RateLimit limit) {
  co_return TakeNow(key, limit);
}

}  // namespace sluice
