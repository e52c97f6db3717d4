// Figures the SMTP edge counts as it works, read by /metrics. Thread-safe;
// cheap enough for every reply (one short lock or one atomic add).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::server {

inline constexpr double kCommitBucketsMs[] = {0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000};

class EdgeMetrics {
 public:
  void OnConnection() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void OnTransaction(bool queued) { (queued ? queued_ : failed_).fetch_add(1, std::memory_order_relaxed); }
  // A reply line as sent, e.g. "451 4.3.2 The maximum ...": counted by
  // its code and enhanced code.
  void OnReply(const std::string& text);
  void OnCommit(double ms);

  struct Snapshot {
    uint64_t connections = 0, queued = 0, failed = 0;
    std::map<std::pair<std::string, std::string>, uint64_t> replies;  // (code, enhanced) → count
    std::vector<uint64_t> commit_buckets;                            // per bound, then +Inf
    double commit_sum_ms = 0;
  };
  Snapshot snapshot();

 private:
  std::atomic<uint64_t> connections_{0}, queued_{0}, failed_{0};
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> replies_;
  std::vector<uint64_t> commit_buckets_ = std::vector<uint64_t>(std::size(kCommitBucketsMs) + 1);
  double commit_sum_ms_ = 0;
};

}  // namespace sluice::server
