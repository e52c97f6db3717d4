#include "common/tenant_groups.h"

namespace sluice {

int TenantBucket(std::string_view tenant) {
  uint32_t h = 2166136261u;
  for (unsigned char c : tenant) {
    h ^= c;
    h *= 16777619u;
  }
  return static_cast<int>(h % 100);
}

void TenantGroups::CountLookup(bool flight, bool deferred, std::chrono::microseconds latency) {
  Atomics& g = groups_[flight ? kFlight : kControl];
  g.lookups.fetch_add(1, std::memory_order_relaxed);
  if (deferred) g.lookups_deferred.fetch_add(1, std::memory_order_relaxed);
  g.latency_us.fetch_add(static_cast<uint64_t>(latency.count()), std::memory_order_relaxed);
}

void TenantGroups::CountDelivery(bool flight, bool failed) {
  Atomics& g = groups_[flight ? kFlight : kControl];
  g.deliveries.fetch_add(1, std::memory_order_relaxed);
  if (failed) g.delivery_failures.fetch_add(1, std::memory_order_relaxed);
}

TenantGroups::Counts TenantGroups::Get(Group which) const {
  const Atomics& g = groups_[which];
  return Counts{g.lookups.load(), g.lookups_deferred.load(), g.latency_us.load(), g.deliveries.load(),
                g.delivery_failures.load()};
}

void TenantGroups::Reset() {
  for (Atomics& g : groups_) {
    g.lookups = 0;
    g.lookups_deferred = 0;
    g.latency_us = 0;
    g.deliveries = 0;
    g.delivery_failures = 0;
  }
}

}  // namespace sluice
