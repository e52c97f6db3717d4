#include "directory/cache.h"

namespace sluice::directory {

std::optional<LookupResult> RecipientCache::Fresh(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = map_.find(address);
  if (it == map_.end() || it->second.expires <= now) return std::nullopt;
  auto& lru = LruOf(it->second.positive);
  lru.splice(lru.begin(), lru, it->second.lru);
  return it->second.result;
}

std::optional<LookupResult> RecipientCache::Stale(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = map_.find(address);
  if (it == map_.end() || it->second.result.found != Found::kYes) return std::nullopt;
  if (it->second.expires + o_.stale_for <= now) return std::nullopt;
  return it->second.result;
}

void RecipientCache::Forget(std::unordered_map<std::string, Entry>::iterator it) {
  LruOf(it->second.positive).erase(it->second.lru);
  map_.erase(it);
}

void RecipientCache::Put(const std::string& address, const LookupResult& r, Clock::time_point now) {
  if (r.found == Found::kTryLater) return;
  const bool positive = r.found == Found::kYes;
  const size_t max = positive ? o_.max_entries : o_.max_negative_entries;
  if (max == 0) return;
  auto ttl = positive ? o_.positive_ttl : o_.negative_ttl;
  std::lock_guard lock(mu_);
  auto it = map_.find(address);
  if (it != map_.end()) {
    if (it->second.positive == positive) {
      it->second.result = r;
      it->second.expires = now + ttl;
      auto& lru = LruOf(positive);
      lru.splice(lru.begin(), lru, it->second.lru);
      return;
    }
    Forget(it);  // the answer changed kind: it moves to the other LRU
  }
  auto& lru = LruOf(positive);
  if (lru.size() >= max) Forget(map_.find(lru.back()));
  lru.push_front(address);
  map_.emplace(address, Entry{r, now + ttl, lru.begin(), positive});
}

void RecipientCache::DropTenant(const std::string& tenant) {
  std::lock_guard lock(mu_);
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.result.route.tenant == tenant) {
      LruOf(it->second.positive).erase(it->second.lru);
      it = map_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t RecipientCache::size() {
  std::lock_guard lock(mu_);
  return map_.size();
}

}  // namespace sluice::directory
