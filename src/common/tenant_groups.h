// Which tenants a flight applies to, and how each group fares. A flight
// splits tenants, not sessions or messages, so a tenant always sees one
// version of the config: a tenant is in the flight when a stable hash of
// its name, mod 100, is below the share. Shares only grow by promotion, so
// a tenant in the 10 % group stays in it at 50 %.
//
// Counters are per group (control, flight), written by the directory (each
// lookup) and the queue (each delivery attempt), read by the flight's gates.
// Lock-free: every lookup pays for it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace sluice {

// FNV-1a of the tenant's name, mod 100: its place in [0, 100).
int TenantBucket(std::string_view tenant);

class TenantGroups {
 public:
  enum Group { kControl = 0, kFlight = 1 };

  struct Counts {
    uint64_t lookups = 0, lookups_deferred = 0;
    uint64_t latency_us = 0;  // sum over lookups
    uint64_t deliveries = 0, delivery_failures = 0;  // failures: deferred or failed attempts
  };

  // 0: no flight; every tenant is in the control group.
  void SetShare(int percent) { share_.store(percent, std::memory_order_relaxed); }
  int share() const { return share_.load(std::memory_order_relaxed); }
  bool InFlight(std::string_view tenant) const {
    int s = share();
    return s > 0 && TenantBucket(tenant) < s;
  }

  void CountLookup(bool flight, bool deferred, std::chrono::microseconds latency);
  void CountDelivery(bool flight, bool failed);
  Counts Get(Group g) const;
  void Reset();  // a new stage judges only its own traffic

 private:
  struct Atomics {
    std::atomic<uint64_t> lookups{0}, lookups_deferred{0}, latency_us{0}, deliveries{0}, delivery_failures{0};
  };
  std::atomic<int> share_{0};
  std::array<Atomics, 2> groups_;
};

}  // namespace sluice
