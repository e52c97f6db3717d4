#include "server/edge_metrics.h"

namespace sluice::server {

void EdgeMetrics::OnReply(const std::string& text) {
  if (text.size() < 3) return;
  std::string code = text.substr(0, 3);
  std::string enhanced;
  // "250 2.1.5 ..." or "354 End data..." (no enhanced code).
  if (text.size() > 5 && text[4] >= '2' && text[4] <= '5' && text[5] == '.') {
    enhanced = text.substr(4, text.find(' ', 4) - 4);
  }
  std::lock_guard lock(mu_);
  ++replies_[{code, enhanced}];
}

void EdgeMetrics::OnCommit(double ms) {
  size_t b = 0;
  while (b < std::size(kCommitBucketsMs) && ms > kCommitBucketsMs[b]) ++b;
  std::lock_guard lock(mu_);
  ++commit_buckets_[b];
  commit_sum_ms_ += ms;
}

EdgeMetrics::Snapshot EdgeMetrics::snapshot() {
  Snapshot s;
  s.connections = connections_.load();
  s.queued = queued_.load();
  s.failed = failed_.load();
  std::lock_guard lock(mu_);
  s.replies = replies_;
  s.commit_buckets = commit_buckets_;
  s.commit_sum_ms = commit_sum_ms_;
  return s;
}

}  // namespace sluice::server
