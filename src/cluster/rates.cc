#include "cluster/rates.h"

#include <fmt/format.h>

#include <boost/asio/this_coro.hpp>

#include "common/batch.h"
#include "common/log.h"

namespace sluice::cluster {
namespace {

// GCRA on Redis's clock. KEYS: 1 the key's TAT (µs since the epoch, a
// string, expiring when it is past). ARGV: interval µs, tolerance µs.
// Returns {1, 0} when the message may go, {0, ms until one may} when not.
// The TAT is written with %.0f: tostring would give 1.7e+15.
constexpr const char* kGcra = R"LUA(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > tolerance then
  return {0, math.ceil((tat - now - tolerance) / 1000)}
end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000) + 1)
return {1, 0}
)LUA";

constexpr size_t kMaxBatch = 512;                            // takes per round trip
constexpr std::chrono::seconds kLocalFor{1};                 // before Redis is asked again

}  // namespace

SharedRates::SharedRates(RedisOptions redis, std::function<size_t()> live)
    : timeout_(redis.timeout), live_(std::move(live)), redis_(std::move(redis)), script_(redis_.AddScript(kGcra)) {
  thread_ = std::thread([this] { Run(); });
}

SharedRates::~SharedRates() { Stop(); }

void SharedRates::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Anyone still waiting is answered at their deadline, locally.
  std::lock_guard lock(mu_);
  waiting_.clear();
}

SharedRates::Stats SharedRates::stats() {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.local_mode = std::chrono::steady_clock::now() < local_until_;
  return s;
}

RateVerdict SharedRates::Locally(const std::string& key, const RateLimit& limit) {
  {
    std::lock_guard lock(mu_);
    ++stats_.local;
  }
  return local_.TakeNow(key, limit.Share(live_ ? live_() : 1));
}

boost::asio::awaitable<RateVerdict> SharedRates::Take(std::string key, RateLimit limit) {
  if (!limit.on()) co_return RateVerdict{};
  auto answer = std::make_shared<Awaited<Answer>>(co_await boost::asio::this_coro::executor);
  bool ask = false;
  {
    std::lock_guard lock(mu_);
    if (!stopped_ && std::chrono::steady_clock::now() >= local_until_) {
      waiting_.push_back(Request{key, limit, answer});
      ask = true;
    }
  }
  if (!ask) co_return Locally(key, limit);
  cv_.notify_one();
  auto wait = answer->Wait(2 * timeout_);
  std::optional<Answer> shared = co_await std::move(wait);
  if (shared && *shared) co_return **shared;
  co_return Locally(key, limit);  // past the deadline, or Redis failed
}

// Contract: the only thread that touches redis_.
void SharedRates::Run() {
  for (;;) {
    std::vector<Request> batch = TakeBatch(mu_, cv_, waiting_, stopped_, kMaxBatch);
    if (batch.empty()) return;  // stopped
    std::vector<Redis::Command> cmds;
    cmds.reserve(batch.size());
    for (const auto& r : batch) {
      cmds.push_back({{"1", KeyFor(r.key), std::to_string(r.limit.Interval().count()),
                       std::to_string(r.limit.Tolerance().count())},
                      static_cast<int>(script_)});
    }
    auto replies = redis_.Run(cmds);
    bool failed = !replies.ok();
    if (failed) {
      for (auto& r : batch) r.answer->Deliver(std::nullopt);  // each waiter answers locally at once
    } else {
      for (size_t i = 0; i < batch.size(); ++i) {
        const RedisReply& r = replies.value()[i];
        if (r.type != RedisReply::Type::kArray || r.elements.size() != 2) {
          failed = true;  // a script error: the others may be fine, this one goes local
          batch[i].answer->Deliver(std::nullopt);
          continue;
        }
        RateVerdict v{r.elements[0].integer == 1, std::chrono::milliseconds(r.elements[1].integer)};
        batch[i].answer->Deliver(v);
      }
    }
    std::lock_guard lock(mu_);
    if (!failed) {
      stats_.shared += batch.size();
      continue;
    }
    // The next second is local, so a dead Redis costs each take nothing.
    if (std::chrono::steady_clock::now() >= local_until_) {
      log::Event("fleet rate limits local").With("error", replies.ok() ? "script error" : replies.status().message())
          .With("for_ms", static_cast<int64_t>(std::chrono::milliseconds(kLocalFor).count())).Warn();
    }
    local_until_ = std::chrono::steady_clock::now() + kLocalFor;
  }
}

}  // namespace sluice::cluster
