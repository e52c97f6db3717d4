#include "server/edge_metrics.h"
#include "mail/reply_line.h"

namespace sluice::server {

void EdgeMetrics::OnReply(const std::string& text) {
  std::string_view line(text);
  if (line.ends_with("\r\n")) line.remove_suffix(2);
  const mail::ReplyLine r = mail::ParseReplyLine(line);
  if (r.code == 0) return;
  std::lock_guard lock(mu_);
  ++replies_[{std::string(line.substr(0, 3)), std::string(r.enhanced)}];
}

void EdgeMetrics::OnCommit(double ms) {
  size_t b = 0;
  while (b < std::size(kCommitBucketsMs) && ms > kCommitBucketsMs[b]) ++b;
  std::lock_guard lock(mu_);
  ++commit_buckets_[b];
  commit_sum_ms_ += ms;
}

void EdgeMetrics::OnTimeout(const char* kind, bool stressed) {
  std::lock_guard lock(mu_);
  ++timeouts_[{kind, stressed}];
}

void EdgeMetrics::OnScan(const char* outcome) {
  std::lock_guard lock(mu_);
  ++scans_[outcome];
}

void EdgeMetrics::OnConnector(const std::string& connector, size_t relayed) {
  std::lock_guard lock(mu_);
  auto& [transactions, rcpts] = connectors_[connector];
  ++transactions;
  rcpts += relayed;
}

void EdgeMetrics::OnReply(int code, const std::string& enhanced) {
  std::lock_guard lock(mu_);
  ++replies_[{std::to_string(code), enhanced}];
}

EdgeMetrics::Snapshot EdgeMetrics::snapshot() {
  Snapshot s;
  s.connections = connections_.load();
  s.queued = queued_.load();
  s.failed = failed_.load();
  s.buffer_waits = buffer_waits_.load();
  s.buffer_refusals = buffer_refusals_.load();
  for (size_t i = 0; i < kRefusals; ++i) s.refused[i] = refused_[i].load();
  s.shadowed = shadowed_.load();
  s.unshadowed = unshadowed_.load();
  s.shadow_refused = shadow_refused_.load();
  s.accept_errors = accept_errors_.load();
  s.stress_entries = stress_entries_.load();
  s.stressed = stressed_.load();
  s.open_sessions = open_sessions.load();
  s.buffered_bytes = buffered_bytes.load();
  s.buffered_limit = buffered_limit.load();
  s.session_limit = session_limit.load();
  std::lock_guard lock(mu_);
  s.replies = replies_;
  s.commit_buckets = commit_buckets_;
  s.commit_sum_ms = commit_sum_ms_;
  s.timeouts = timeouts_;
  s.scans = scans_;
  s.connectors = connectors_;
  return s;
}

}  // namespace sluice::server
