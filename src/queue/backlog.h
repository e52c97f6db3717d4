// The messages the queue knows but does not hold in memory: per message
// its id, when it is due and why it waits — two tree nodes, about 140
// bytes, where a loaded envelope costs kilobytes. The queue's thread owns
// it (not thread-safe).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::queue {

// A queue id (18 upper-case hex digits, spool::NewQueueId) in 9 bytes,
// ordered as the text is: by age.
struct PackedId {
  uint64_t hi = 0;  // the first 16 digits
  uint8_t lo = 0;   // the last 2
  auto operator<=>(const PackedId&) const = default;
  static std::optional<PackedId> Pack(std::string_view id);
  std::string Unpack() const;
};

class Backlog {
 public:
  enum class Wait : uint8_t {
    kDue,     // a recipient is due at `due`
    kHeld,    // every open recipient held by an operator: no due time
    kParked,  // due, but every due recipient is under a hold policy
  };
  struct Slot {
    int64_t due = 0;          // kDue only
    Wait wait = Wait::kDue;
    bool recovered = false;   // found at start: an attempt before a crash may have delivered
    bool retry = false;       // an operator asked for an attempt now: its pending recipients are due when loaded
  };

  // Adds or replaces. False (and nothing changes) if `id` is not a queue id.
  bool Put(std::string_view id, Slot slot);
  // Removes and returns.
  std::optional<Slot> Take(std::string_view id);
  std::optional<Slot> Find(std::string_view id) const;
  // The message due earliest, if due by `now`, removed.
  std::optional<std::pair<std::string, Slot>> PopDue(int64_t now);
  std::optional<int64_t> NextDue() const;
  // Every parked message becomes due at `now` (a hold policy was lifted);
  // returns how many.
  size_t Unpark(int64_t now);

  struct Counts {
    size_t ready = 0, deferred = 0, hold = 0;
  };
  // O(log n + ready).
  Counts Count(int64_t now) const;
  size_t size() const { return slots_.size(); }
  std::optional<std::string> Oldest() const;

  // Calls `each(id, slot)` for every message, oldest first.
  template <class F>
  void ForEach(F each) const {
    for (const auto& [id, slot] : slots_) each(id.Unpack(), slot);
  }

 private:
  std::map<PackedId, Slot> slots_;
  std::set<std::pair<int64_t, PackedId>> due_;  // kDue slots only
};

}  // namespace sluice::queue
