// The quarantine's housekeeping (doc/protection.md, "Quarantine"): mail the
// content filters quarantined is held in the queue until an operator acts,
// its retention runs out, or the spool runs short of space — quarantined
// mail goes first then, so the quarantine never makes the edge refuse
// mail.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "queue/queue.h"

namespace sluice::queue {

using RetentionOf = std::function<std::chrono::seconds(const std::string& tenant)>;

// The ids of quarantined messages past their retention: the longest of
// their recipients' tenants' (so no tenant loses mail earlier than it asked).
std::vector<std::string> ExpiredQuarantine(const std::vector<MessageInfo>& quarantined, const RetentionOf& retention,
                                           int64_t now_unix);

// What one pass deletes, and why ("retention", "short of space"): the
// expired, and when `short_of_space` the `prune` oldest besides. Mail held
// for its scan (kPendingScan) is never among them.
std::vector<std::pair<std::string, const char*>> ChooseForSweep(std::vector<MessageInfo> held,
                                                                const RetentionOf& retention, int64_t now_unix,
                                                                bool short_of_space, size_t prune);

// One pass, from a thread that may block (it lists the spool): deletes the
// expired, and when `short_of_space` the `prune` oldest besides. Each
// deletion is logged. Returns how many went.
size_t SweepQuarantine(Queue& queue, const RetentionOf& retention, bool short_of_space, size_t prune = 100);

}  // namespace sluice::queue
