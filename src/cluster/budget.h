// A forest's limit as one budget for the whole fleet, kept in Redis.
//
// Each node holds a block of the budget per forest and admits lookups
// against its block locally, so an RCPT costs no round trip. Every renewal
// (one pipelined round trip for all forests) runs one Lua script per forest
// on Redis's own clock that prunes the blocks of nodes whose lease expired,
// shares the limit max-min fairly over what the nodes want (when every
// want fits, the rest is split evenly on top), and renews this
// node's lease. A node admits only up to its grant, and its block (what the
// others see) stays at least what it has in flight and what it may still
// admit until the answer arrives (its previous grant), so a block shrinks
// one renewal late and blocks never sum above the limit; the
// exceptions are stated in doc/cluster.md (a lowered limit drains; a node
// cut off from Redis runs on ⌈limit ÷ live nodes⌉ while its block expires).
//
// The same script carries the fleet's one adaptive limit: every node adds
// its latency samples, one node at a time (the controller, under a lease in
// the same hash) takes them and proposes the next limit.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cluster/redis.h"
#include "common/status.h"

namespace sluice::cluster {

// What this node asks of one budget: a forest's lookups, or (named
// "dest:" + its name) a destination's deliveries.
struct Demand {
  std::string name;
  size_t max_limit = 0, min_limit = 1;  // the configured limit, and the adaptive floor
  size_t in_use = 0;                    // this node's lookups in flight
  size_t held = 0;                      // what it may admit until it applies the answer (its current grant)
  size_t want = 0;                      // the block it would like
  uint64_t samples = 0, latency_sum_us = 0, drops = 0;  // since the last renewal
  long proposed_limit = -1;             // the controller's next limit; -1: none
};

// What the fleet gave.
struct Grant {
  std::string name;
  size_t share = 0;        // this node may admit up to this many at once
  size_t limit = 0;        // the fleet's limit for the forest now
  size_t live = 1;         // nodes holding a block, this one included
  size_t fleet_in_use = 0;
  bool controller = false;  // this node runs the adaptive limit …
  uint64_t samples = 0, latency_sum_us = 0, drops = 0;  // … over these, the fleet's
  std::vector<std::pair<std::string, size_t>> holders;   // node → block
};

// How much of a block a node with `used` lookups (in flight and waiting)
// asks for: room for a burst without a round trip, within the limit.
size_t WantFor(size_t used, size_t limit);

class SharedBudget {
 public:
  // `redis` outlives this; used only on the caller's thread.
  SharedBudget(Redis& redis, std::string node, std::chrono::milliseconds lease_ttl);
  // A renewal in two halves, so a caller can send other commands in the
  // same round trip: the commands, then their replies (as many, in order).
  std::vector<Redis::Command> Commands(const std::vector<Demand>& demands) const;
  Result<std::vector<Grant>> Parse(const std::vector<Demand>& demands, const RedisReply* replies) const;
  // Gives every block back at once (a clean stop), best effort.
  void Release(const std::vector<std::string>& forests);

 private:
  Redis& redis_;
  std::string node_;
  std::chrono::milliseconds ttl_;
  size_t script_;
};

}  // namespace sluice::cluster
