// The wait of a thread that serves requests in batches (the fleet's Redis
// threads: one pipelined round trip per batch).
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

namespace sluice {

// Blocks on `cv` (with `mu`, which guards `queue` and `stopped`) until
// requests wait or `stopped` is set; moves out up to `max` of them, oldest
// first. Empty means stopped: the thread returns.
template <class T>
std::vector<T> TakeBatch(std::mutex& mu, std::condition_variable& cv, std::deque<T>& queue, const bool& stopped,
                         size_t max) {
  std::vector<T> batch;
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return stopped || !queue.empty(); });
  if (stopped) return batch;
  while (!queue.empty() && batch.size() < max) {
    batch.push_back(std::move(queue.front()));
    queue.pop_front();
  }
  return batch;
}

}  // namespace sluice
