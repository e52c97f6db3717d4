// The dedup window at local delivery ([shadow] dedup_window, doc/cluster.md):
// a Message-ID and recipient delivered to a mailbox store (Maildir, LMTP)
// within the window is not delivered again. What it is for: a takeover or
// a lost spool makes a peer deliver a copy whose primary had delivered it
// just before it died; the store must not show the message twice. In a
// fleet the window lives in Redis (cluster/dedup.h), so a delivery by one
// node is seen by all; alone, in this node's memory.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/delivery.h"

namespace sluice::delivery {

class DedupWindow {
 public:
  virtual ~DedupWindow() = default;
  // Which of `keys` were delivered within the window. Resumes on the
  // caller's executor (one thread); waits at most about a round trip to
  // the shared store, and answers from memory when it does not answer.
  virtual boost::asio::awaitable<std::vector<bool>> Seen(std::vector<std::string> keys) = 0;
  // Records `keys` as delivered now. Cheap; never waits. Any thread.
  virtual void Record(const std::vector<std::string>& keys) = 0;
  // Forgets them: a resubmit means to deliver again. May block for a
  // round trip; not on an event loop.
  virtual void Forget(const std::vector<std::string>& keys) = 0;

  void NoteSuppressed(size_t n) { suppressed_ += n; }
  uint64_t suppressed() const { return suppressed_; }

 private:
  std::atomic<uint64_t> suppressed_{0};
};

// This node's own window: at most `max` keys, each for `window`.
// Thread-safe.
class LocalDedup : public DedupWindow {
 public:
  explicit LocalDedup(std::chrono::seconds window, size_t max = 1'000'000);
  ~LocalDedup() override;
  boost::asio::awaitable<std::vector<bool>> Seen(std::vector<std::string> keys) override;
  void Record(const std::vector<std::string>& keys) override;
  void Forget(const std::vector<std::string>& keys) override;
  std::vector<bool> SeenNow(const std::vector<std::string>& keys);  // the same, without waiting

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// The keys of a message's recipients, one per address: a hash of its
// Message-ID and the address; "" when the message has no Message-ID (never
// deduplicated). Reads the header section of `content` once.
std::vector<std::string> DedupKeys(std::string_view content, const std::vector<std::string>& addresses);
inline std::string DedupKey(std::string_view content, std::string_view address) {
  return DedupKeys(content, {std::string(address)}).front();
}

// `inner` with the window in front of the destinations named in `local`:
// a recipient seen is answered as delivered without being sent; one
// delivered is recorded. Everything else is passed through. Both outlive it.
std::unique_ptr<Delivery> WithDedup(Delivery& inner, DedupWindow& window, std::set<std::string> local);

}  // namespace sluice::delivery
