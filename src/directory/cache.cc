#include "directory/cache.h"

namespace sluice::directory {

std::optional<LookupResult> RecipientCache::Fresh(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = map_.find(address);
  if (it == map_.end() || it->second.expires <= now) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.result;
}

std::optional<LookupResult> RecipientCache::Stale(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = map_.find(address);
  if (it == map_.end() || it->second.result.found != Found::kYes) return std::nullopt;
  if (it->second.expires + o_.stale_for <= now) return std::nullopt;
  return it->second.result;
}

void RecipientCache::Put(const std::string& address, const LookupResult& r, Clock::time_point now) {
  if (r.found == Found::kTryLater || o_.max_entries == 0) return;
  auto ttl = r.found == Found::kYes ? o_.positive_ttl : o_.negative_ttl;
  std::lock_guard lock(mu_);
  auto it = map_.find(address);
  if (it != map_.end()) {
    it->second.result = r;
    it->second.expires = now + ttl;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  if (map_.size() >= o_.max_entries) {
    map_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(address);
  map_.emplace(address, Entry{r, now + ttl, lru_.begin()});
}

void RecipientCache::DropTenant(const std::string& tenant) {
  std::lock_guard lock(mu_);
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.result.route.tenant == tenant) {
      lru_.erase(it->second.lru);
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
