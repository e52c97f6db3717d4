#include "cluster/dedup.h"

#include <boost/asio/this_coro.hpp>

#include "common/batch.h"
#include "common/log.h"

namespace sluice::cluster {
namespace {

constexpr size_t kMaxBatch = 256;  // requests per round trip

}  // namespace

SharedDedup::SharedDedup(RedisOptions redis, std::chrono::seconds window)
    : window_(window), timeout_(redis.timeout), local_(window), redis_(std::move(redis)) {
  thread_ = std::thread([this] { Run(); });
}

SharedDedup::~SharedDedup() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& r : waiting_) {
    if (r.done) r.done->set_value();
  }
}

boost::asio::awaitable<std::vector<bool>> SharedDedup::Seen(std::vector<std::string> keys) {
  std::vector<bool> mine = local_.SeenNow(keys);
  auto answer = std::make_shared<Awaited<std::vector<bool>>>(co_await boost::asio::this_coro::executor);
  {
    std::lock_guard lock(mu_);
    if (stopped_) co_return mine;
    waiting_.push_back({Request::Kind::kSeen, keys, answer, nullptr});
  }
  cv_.notify_one();
  auto wait = answer->Wait(2 * timeout_);
  std::optional<std::vector<bool>> shared = co_await std::move(wait);
  if (shared) {
    for (size_t i = 0; i < mine.size() && i < shared->size(); ++i) mine[i] = mine[i] || (*shared)[i];
  }
  co_return mine;
}

void SharedDedup::Record(const std::vector<std::string>& keys) {
  local_.Record(keys);
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    waiting_.push_back({Request::Kind::kRecord, keys, nullptr, nullptr});
  }
  cv_.notify_one();
}

void SharedDedup::Forget(const std::vector<std::string>& keys) {
  local_.Forget(keys);
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    waiting_.push_back({Request::Kind::kForget, keys, nullptr, done});
  }
  cv_.notify_one();
  future.wait_for(std::chrono::seconds(2));  // Redis away: the shared window forgets by itself
}

void SharedDedup::Run() {
  bool was_failing = false;
  for (;;) {
    std::vector<Request> batch = TakeBatch(mu_, cv_, waiting_, stopped_, kMaxBatch);
    if (batch.empty()) return;  // stopped
    std::vector<Redis::Command> cmds;
    const std::string ttl = std::to_string(window_.count());
    for (const auto& r : batch) {
      for (const auto& k : r.keys) {
        if (k.empty()) continue;
        switch (r.kind) {
          case Request::Kind::kSeen: cmds.push_back({{"EXISTS", KeyFor(k)}}); break;
          case Request::Kind::kRecord: cmds.push_back({{"SET", KeyFor(k), "1", "EX", ttl}}); break;
          case Request::Kind::kForget: cmds.push_back({{"DEL", KeyFor(k)}}); break;
        }
      }
    }
    auto replies = cmds.empty() ? Result<std::vector<RedisReply>>(std::vector<RedisReply>{}) : redis_.Run(cmds);
    const bool failed = !replies.ok();
    if (failed != was_failing) {
      failed ? log::Event("dedup window on this node only").With("error", replies.status().message()).Warn()
             : log::Event("dedup window shared again").Info();
      was_failing = failed;
    }
    size_t at = 0;
    for (auto& r : batch) {
      if (r.kind == Request::Kind::kSeen) {
        std::vector<bool> seen;
        for (const auto& k : r.keys) {
          bool s = false;
          if (!k.empty()) {
            s = !failed && at < replies.value().size() && replies.value()[at].integer > 0;
            ++at;
          }
          seen.push_back(s);
        }
        r.seen->Deliver(std::move(seen));  // failed: all false, so this node's own window answers
      } else {
        for (const auto& k : r.keys) at += k.empty() ? 0 : 1;
        if (r.done) r.done->set_value();
      }
    }
  }
}

}  // namespace sluice::cluster
