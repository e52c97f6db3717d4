// Figures the SMTP edge counts as it works, read by /metrics. Thread-safe;
// cheap enough for every reply (one short lock or one atomic add).
#pragma once

#include <array>
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
  // The same from a reply the edge built itself: no text to parse.
  void OnReply(int code, const std::string& enhanced);
  void OnCommit(double ms);
  // A session closed by a deadline: "command", "data" or "session"; and
  // whether the edge was under stress (its timeouts shortened).
  void OnTimeout(const char* kind, bool stressed);
  void OnBufferWait() { buffer_waits_.fetch_add(1, std::memory_order_relaxed); }
  void OnBufferRefused() { buffer_refusals_.fetch_add(1, std::memory_order_relaxed); }
  // What a limit or the connection filter refused: a message (per client
  // address, or per tenant), a connection or a recipient (per client
  // address), a connection (the global block list) or a recipient (its
  // tenant's block list).
  enum class Refusal : uint8_t {
    kClientRate, kTenantRate, kConnectionRate, kRecipientRate, kBlocked, kTenantBlocked,
    kConnectorTls,     // a require_tls connector's address in the clear: 530 5.7.0
    kConnectorSender,  // a connector-restricted sender domain from elsewhere: 550 5.7.1
  };
  static constexpr size_t kRefusals = 8;
  void OnRefused(Refusal r) { refused_[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed); }
  // A message with a shadow copy asked for: made on a peer, or not (and
  // then accepted anyway, or refused with 451 4.4.0).
  void OnShadow(bool shadowed, bool refused) {
    (shadowed ? shadowed_ : refused ? shadow_refused_ : unshadowed_).fetch_add(1, std::memory_order_relaxed);
  }
  // A transaction's content scan ended: accept, reject, tempfail, discard,
  // quarantine or hold.
  void OnScan(const char* outcome);
  // A transaction came through `connector`, relaying `relayed` recipients.
  void OnConnector(const std::string& connector, size_t relayed);
  void OnAcceptError() { accept_errors_.fetch_add(1, std::memory_order_relaxed); }
  void OnStress(bool on) {
    stressed_.store(on, std::memory_order_relaxed);
    if (on) stress_entries_.fetch_add(1, std::memory_order_relaxed);
  }
  // Gauges the edge keeps current.
  std::atomic<int64_t> open_sessions{0};
  std::atomic<uint64_t> buffered_bytes{0};
  std::atomic<uint64_t> buffered_limit{0};
  std::atomic<uint64_t> session_limit{0};  // max_connections, or less when descriptors are short

  struct Snapshot {
    uint64_t connections = 0, queued = 0, failed = 0;
    std::map<std::pair<std::string, std::string>, uint64_t> replies;  // (code, enhanced) → count
    std::vector<uint64_t> commit_buckets;                            // per bound, then +Inf
    double commit_sum_ms = 0;
    std::map<std::pair<std::string, bool>, uint64_t> timeouts;  // (kind, stressed) → count
    std::map<std::string, uint64_t> scans;                      // by outcome
    std::map<std::string, std::pair<uint64_t, uint64_t>> connectors;  // name → (transactions, relayed)
    uint64_t buffer_waits = 0, buffer_refusals = 0, accept_errors = 0, stress_entries = 0;
    std::array<uint64_t, kRefusals> refused{};  // by Refusal
    uint64_t shadowed = 0, unshadowed = 0, shadow_refused = 0;
    bool stressed = false;
    int64_t open_sessions = 0;
    uint64_t buffered_bytes = 0, buffered_limit = 0, session_limit = 0;
  };
  Snapshot snapshot();

 private:
  std::atomic<uint64_t> connections_{0}, queued_{0}, failed_{0};
  std::atomic<uint64_t> buffer_waits_{0}, buffer_refusals_{0}, accept_errors_{0}, stress_entries_{0};
  std::array<std::atomic<uint64_t>, kRefusals> refused_{};
  std::atomic<uint64_t> shadowed_{0}, unshadowed_{0}, shadow_refused_{0};
  std::atomic<bool> stressed_{false};
  std::map<std::pair<std::string, bool>, uint64_t> timeouts_;  // GUARDED_BY(mu_)
  std::map<std::string, uint64_t> scans_;                      // GUARDED_BY(mu_)
  std::map<std::string, std::pair<uint64_t, uint64_t>> connectors_;  // GUARDED_BY(mu_)
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> replies_;
  std::vector<uint64_t> commit_buckets_ = std::vector<uint64_t>(std::size(kCommitBucketsMs) + 1);
  double commit_sum_ms_ = 0;
};

}  // namespace sluice::server
