#include "delivery/dedup.h"

#include <openssl/evp.h>

#include <deque>
#include <mutex>
#include <unordered_map>

#include "common/log.h"
#include "mail/ascii.h"

namespace sluice::delivery {
namespace {

using Clock = std::chrono::steady_clock;

// The Message-ID header's value, unfolded and trimmed; "" if none.
std::string MessageId(std::string_view content) {
  size_t pos = 0;
  while (pos < content.size()) {
    size_t eol = content.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = content.size();
    std::string_view line = content.substr(pos, eol - pos);
    if (line.empty()) return "";  // the end of the header section
    if (mail::StartsWithNoCase(line, "message-id:")) {
      std::string value(line.substr(11));
      size_t next = eol + 2;
      while (next < content.size() && (content[next] == ' ' || content[next] == '\t')) {  // folded
        size_t end = content.find("\r\n", next);
        if (end == std::string_view::npos) end = content.size();
        value.append(content.substr(next, end - next));
        next = end + 2;
      }
      const size_t a = value.find_first_not_of(" \t"), b = value.find_last_not_of(" \t");
      return a == std::string::npos ? "" : value.substr(a, b - a + 1);
    }
    pos = eol + 2;
  }
  return "";
}

}  // namespace

std::vector<std::string> DedupKeys(std::string_view content, const std::vector<std::string>& addresses) {
  const std::string id = MessageId(content);
  std::vector<std::string> out(addresses.size());
  if (id.empty()) return out;
  static const char* kHex = "0123456789abcdef";
  for (size_t k = 0; k < addresses.size(); ++k) {
    const std::string in = id + '\n' + mail::Lowered(addresses[k]);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(in.data(), in.size(), md, &n, EVP_sha256(), nullptr);
    for (unsigned int i = 0; i < 16 && i < n; ++i) {
      out[k] += kHex[md[i] >> 4];
      out[k] += kHex[md[i] & 15];
    }
  }
  return out;
}

struct LocalDedup::State {
  std::chrono::seconds window;
  size_t max;
  std::mutex mu;
  std::unordered_map<std::string, Clock::time_point> seen;  // GUARDED_BY(mu) key → when
  std::deque<std::pair<Clock::time_point, std::string>> order;  // GUARDED_BY(mu) oldest first
  void Expire(Clock::time_point now) {
    while (!order.empty() && (now - order.front().first >= window || order.size() > max)) {
      auto it = seen.find(order.front().second);
      if (it != seen.end() && it->second == order.front().first) seen.erase(it);
      order.pop_front();
    }
  }
};

LocalDedup::LocalDedup(std::chrono::seconds window, size_t max) : s_(std::make_unique<State>()) {
  s_->window = window;
  s_->max = max;
}
LocalDedup::~LocalDedup() = default;

std::vector<bool> LocalDedup::SeenNow(const std::vector<std::string>& keys) {
  std::lock_guard lock(s_->mu);
  const auto now = Clock::now();
  s_->Expire(now);
  std::vector<bool> out;
  for (const auto& k : keys) out.push_back(!k.empty() && s_->seen.count(k) > 0);
  return out;
}

boost::asio::awaitable<std::vector<bool>> LocalDedup::Seen(std::vector<std::string> keys) { co_return SeenNow(keys); }

void LocalDedup::Record(const std::vector<std::string>& keys) {
  std::lock_guard lock(s_->mu);
  const auto now = Clock::now();
  for (const auto& k : keys) {
    if (k.empty()) continue;
    s_->seen[k] = now;
    s_->order.emplace_back(now, k);
  }
  s_->Expire(now);
}

void LocalDedup::Forget(const std::vector<std::string>& keys) {
  std::lock_guard lock(s_->mu);
  for (const auto& k : keys) s_->seen.erase(k);
}

namespace {

class DedupDelivery final : public Delivery {
 public:
  DedupDelivery(Delivery& inner, DedupWindow& window, std::set<std::string> local)
      : inner_(inner), window_(window), local_(std::move(local)) {}

  boost::asio::awaitable<std::vector<Outcome>> Deliver(const Job& job) override {
    const Envelope& e = *job.envelope;
    if (job.recipients.empty() || !local_.count(e.routes[job.recipients.front()].destination)) {
      auto pass = inner_.Deliver(job);
      co_return co_await std::move(pass);
    }
    std::vector<std::string> addresses;
    for (size_t i : job.recipients) addresses.push_back(e.routes[i].address);
    const std::vector<std::string> keys = DedupKeys(*job.content, addresses);
    auto ask = window_.Seen(keys);
    std::vector<bool> seen = co_await std::move(ask);
    Job rest = job;
    rest.recipients.clear();
    for (size_t k = 0; k < job.recipients.size(); ++k) {
      if (!seen[k]) rest.recipients.push_back(job.recipients[k]);
    }
    std::vector<Outcome> sent;
    if (!rest.recipients.empty()) {
      auto deliver = inner_.Deliver(rest);
      sent = co_await std::move(deliver);
    }
    std::vector<Outcome> out;
    std::vector<std::string> delivered;
    size_t next = 0, suppressed = 0;
    for (size_t k = 0; k < job.recipients.size(); ++k) {
      if (seen[k]) {
        ++suppressed;
        out.emplace_back(Outcome::Kind::kDelivered, "250 2.0.0 Already delivered within the dedup window");
        log::Event("duplicate suppressed").With("queue_id", job.queue_id)
            .With("rcpt", e.routes[job.recipients[k]].address).Info();
        continue;
      }
      Outcome o = next < sent.size() ? sent[next] : Outcome(Outcome::Kind::kDeferred, "451 4.3.0 no outcome");
      ++next;
      if (o.kind == Outcome::Kind::kDelivered) delivered.push_back(keys[k]);
      out.push_back(std::move(o));
    }
    if (!delivered.empty()) window_.Record(delivered);
    if (suppressed) window_.NoteSuppressed(suppressed);
    co_return out;
  }

  std::vector<DestinationStats> Stats() override { return inner_.Stats(); }
  void CloseIdle() override { inner_.CloseIdle(); }
  void Stop() override { inner_.Stop(); }
  Status SetConcurrency(const std::string& name, size_t limit) override { return inner_.SetConcurrency(name, limit); }
  Status PauseDestination(const std::string& name, std::chrono::milliseconds pause, const std::string& why) override {
    return inner_.PauseDestination(name, pause, why);
  }
  Status SetFleetShare(const std::string& name, std::optional<size_t> share) override {
    return inner_.SetFleetShare(name, share);
  }

 private:
  Delivery& inner_;
  DedupWindow& window_;
  std::set<std::string> local_;
};

}  // namespace

std::unique_ptr<Delivery> WithDedup(Delivery& inner, DedupWindow& window, std::set<std::string> local) {
  return std::make_unique<DedupDelivery>(inner, window, std::move(local));
}

}  // namespace sluice::delivery
