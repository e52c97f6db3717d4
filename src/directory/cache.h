// The recipient cache of one forest: positive and negative answers with
// their own TTLs, each bounded in size on its own. A positive answer past its TTL may still
// be served, for `stale_for`, while its forest is failing or saturated, so
// known recipients keep flowing. Thread-safe; cheap (one lock, one lookup).
#pragma once

#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "directory/lookup.h"

namespace sluice::directory {

struct CacheOptions {
  size_t max_entries = 100'000;          // positive answers
  std::chrono::seconds positive_ttl{300};
  std::chrono::seconds negative_ttl{60};
  std::chrono::seconds stale_for{3600};  // 0: never serve stale
  // Negative answers ("no such user") in an LRU of their own: a flood of
  // made-up recipients evicts only other negatives, never a known
  // recipient that serve-stale needs while the forest is down.
  size_t max_negative_entries = 10'000;
  bool operator==(const CacheOptions&) const = default;  // a reload applies what changed
};

class RecipientCache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RecipientCache(CacheOptions o) : o_(o) {}

  // A fresh answer (kYes or kNo), if there is one.
  std::optional<LookupResult> Fresh(const std::string& address, Clock::time_point now);
  // An expired positive answer still within stale_for.
  std::optional<LookupResult> Stale(const std::string& address, Clock::time_point now);
  // Remembers a definite answer; kTryLater is never cached.
  void Put(const std::string& address, const LookupResult& r, Clock::time_point now);
  // Forgets everything of one tenant (it moved forest).
  void DropTenant(const std::string& tenant);
  size_t size();

 private:
  struct Entry {
    LookupResult result;
    Clock::time_point expires;
    std::list<std::string>::iterator lru;
    bool positive;  // which LRU holds it
  };
  std::list<std::string>& LruOf(bool positive) { return positive ? positive_ : negative_; }
  void Forget(std::unordered_map<std::string, Entry>::iterator it);  // REQUIRES: mu_ held

  CacheOptions o_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> map_;
  std::list<std::string> positive_, negative_;  // most recently used first
};

}  // namespace sluice::directory
