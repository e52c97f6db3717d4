// Destination backoff windows shared by the fleet, in Redis: when one node's
// throttle backs a next hop off (a 421, refused connections), every node
// holds its deliveries to it for the same window, instead of the others
// hammering a downstream that is already in trouble. Exchanged in the
// budget's renewal round trip.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cluster/redis.h"
#include "common/status.h"

namespace sluice::cluster {

// A window: this node's to publish, or the fleet's as read back.
struct BackoffWindow {
  std::string destination;
  std::chrono::milliseconds left{0};  // 0: none to publish
  std::string node, why;               // who opened it and why
};

// "fleet n1: 421 4.3.2 ...": the reason a node pauses for another's window.
// A throttle paused this way does not publish the window again.
std::string FleetReason(const std::string& node, const std::string& why);
bool IsFleetReason(const std::string& why);

class SharedBackoff {
 public:
  // `redis` outlives this; used only on the caller's thread.
  SharedBackoff(Redis& redis, std::string node);
  // Publishes this node's open windows (a longer one replaces a shorter)
  // and reads every destination's current window, in order: in two
  // halves, to share the budget's round trip (see SharedBudget).
  std::vector<Redis::Command> Commands(const std::vector<BackoffWindow>& mine) const;
  std::vector<BackoffWindow> Parse(const std::vector<BackoffWindow>& mine, const RedisReply* replies) const;

 private:
  Redis& redis_;
  std::string node_;
  size_t script_;
};

}  // namespace sluice::cluster
