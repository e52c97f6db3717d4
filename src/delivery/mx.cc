// Delivery to the MX hosts of each recipient's domain (RFC 5321 §5): the
// lowest preference first, the next on trouble, one SMTP next hop (with its
// own pool and throttle, smtp_client.cc) per address.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "delivery/delivery.h"
#include "mail/address.h"
#include "delivery/outcomes.h"

namespace sluice::delivery {
namespace {

namespace asio = boost::asio;


class MxDelivery final : public Delivery {
 public:
  MxDelivery(DestinationOptions o, std::string hostname)
      : o_(std::move(o)), hostname_(std::move(hostname)), resolver_(o_.dns) {}

  asio::awaitable<std::vector<Outcome>> Deliver(const Job& job) override {
    std::vector<Outcome> out(job.recipients.size());
    // Recipients by domain, as positions in job.recipients.
    std::map<std::string, std::vector<size_t>> by_domain;
    for (size_t k = 0; k < job.recipients.size(); ++k) {
      by_domain[mail::DomainOf(job.envelope->routes[job.recipients[k]].address)].push_back(k);
    }
    for (const auto& [domain, positions] : by_domain) {
      auto lookup = Lookup(domain);
      MxAnswer answer = co_await std::move(lookup);
      if (answer.kind != MxAnswer::Kind::kOk) {
        Outcome o = Said(answer.kind == MxAnswer::Kind::kNullMx         ? Condition::kNullMx
                         : answer.kind == MxAnswer::Kind::kNoSuchDomain ? Condition::kNoSuchDomain
                                                                        : Condition::kDnsTryLater,
                         answer.error);
        for (size_t k : positions) out[k] = o;
        continue;
      }
      std::vector<size_t> left = positions;  // still deferred
      for (const NextHop& hop : answer.hops) {
        Job sub = job;
        sub.recipients.clear();
        for (size_t k : left) sub.recipients.push_back(job.recipients[k]);
        std::shared_ptr<Delivery> d = HopFor(hop);  // kept while in use, even if pruned meanwhile
        auto attempt = d->Deliver(sub);
        std::vector<Outcome> got = co_await std::move(attempt);
        bool all_deferred = true;
        for (size_t j = 0; j < left.size(); ++j) {
          got[j].remote = hop.host;
          out[left[j]] = got[j];
          all_deferred = all_deferred && got[j].kind == Outcome::Kind::kDeferred;
        }
        // A host that answered for some recipients has spoken for this
        // attempt; only a host that took none is passed over for the next.
        if (!all_deferred) break;
      }
    }
    co_return out;
  }

  void CloseIdle() override {
    std::lock_guard lock(mu_);
    for (auto& [key, h] : hops_) h.delivery->CloseIdle();
  }

  // Every next hop of this destination, and those made later.
  Status SetConcurrency(const std::string&, size_t limit) override {
    std::lock_guard lock(mu_);
    o_.max_concurrency = limit;
    for (auto& [key, h] : hops_) {
      for (const auto& s : h.delivery->Stats()) h.delivery->SetConcurrency(s.name, limit);
    }
    return Status::Ok();
  }

  // A next hop by its name in Stats ("mx/host[address]"): the fleet backs
  // off and budgets each host, not the whole destination.
  Status PauseDestination(const std::string& name, std::chrono::milliseconds pause, const std::string& why) override {
    auto hop = Named(name);
    if (!hop) return Status::NotFound("no next hop " + name);
    return hop->PauseDestination(name, pause, why);
  }

  Status SetFleetShare(const std::string& name, std::optional<size_t> share) override {
    auto hop = Named(name);
    if (!hop) return Status::NotFound("no next hop " + name);
    return hop->SetFleetShare(name, share);
  }

  std::vector<DestinationStats> Stats() override {
    std::lock_guard lock(mu_);
    std::vector<DestinationStats> out;
    for (auto& [key, h] : hops_) {
      for (auto& s : h.delivery->Stats()) {
        s.kind = "mx";
        out.push_back(std::move(s));
      }
    }
    return out;
  }

 private:
  struct Cached {
    MxAnswer answer;
    std::chrono::steady_clock::time_point until;
  };

  // Answers for dns_cache_ttl, failures (a domain whose DNS does not
  // answer) for dns_negative_ttl: a hostile domain costs one resolution per
  // negative TTL, not one per message.
  asio::awaitable<MxAnswer> Lookup(std::string domain) {
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mu_);
      auto it = cache_.find(domain);
      if (it != cache_.end() && it->second.until > now) co_return it->second.answer;
    }
    auto resolve = resolver_.Resolve(domain, MxLimits{o_.max_mx_hosts, o_.max_mx_addresses});
    MxAnswer answer = co_await std::move(resolve);
    auto ttl = answer.kind == MxAnswer::Kind::kTryLater ? o_.dns_negative_ttl : o_.dns_cache_ttl;
    std::lock_guard lock(mu_);
    if (cache_.size() >= kMaxCached) Prune(now);
    cache_[domain] = {answer, std::chrono::steady_clock::now() + ttl};
    co_return answer;
  }

  // Drops expired answers, and if that is not enough the half that expires
  // soonest. REQUIRES: mu_ held.
  void Prune(std::chrono::steady_clock::time_point now) {
    std::erase_if(cache_, [&](const auto& kv) { return kv.second.until <= now; });
    if (cache_.size() < kMaxCached) return;
    std::vector<std::chrono::steady_clock::time_point> until;
    for (const auto& [d, c] : cache_) until.push_back(c.until);
    std::nth_element(until.begin(), until.begin() + until.size() / 2, until.end());
    const auto cut = until[until.size() / 2];
    std::erase_if(cache_, [&](const auto& kv) { return kv.second.until <= cut; });
  }

  std::shared_ptr<Delivery> Named(const std::string& name) {
    std::lock_guard lock(mu_);
    for (auto& [address, h] : hops_) {
      if (h.name == name) return h.delivery;
    }
    return nullptr;
  }

  // One next hop per address, made on first use and forgotten after
  // kHopIdle without one, so a flood of one-off domains does not keep
  // their hosts (and throttles) for ever.
  std::shared_ptr<Delivery> HopFor(const NextHop& hop) {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - pruned_ > std::chrono::minutes(1)) {
      pruned_ = now;
      std::erase_if(hops_, [&](const auto& kv) { return now - kv.second.used > kHopIdle; });
    }
    Hop& h = hops_[hop.address];
    h.used = now;
    if (!h.delivery) {
      DestinationOptions o = o_;
      o.kind = DestinationKind::kSmtp;
      o.name = fmt::format("{}/{}[{}]", o_.name, hop.host, hop.address);
      h.name = o.name;
      o.host = hop.address;
      if (o.tls_server_name.empty()) o.tls_server_name = hop.host;  // verify the MX name, not the address
      h.delivery = MakeSmtpDelivery(std::move(o), hostname_);
    }
    return h.delivery;
  }

  struct Hop {
    std::string name;  // as in Stats
    std::shared_ptr<Delivery> delivery;
    std::chrono::steady_clock::time_point used;
  };
  static constexpr size_t kMaxCached = 10'000;  // domains
  DestinationOptions o_;
  std::string hostname_;
  Resolver resolver_;
  std::mutex mu_;
  std::map<std::string, Cached> cache_;
  static constexpr std::chrono::minutes kHopIdle{10};
  std::map<std::string, Hop> hops_;  // by address
  std::chrono::steady_clock::time_point pruned_{};
};

}  // namespace

std::unique_ptr<Delivery> MakeMxDelivery(DestinationOptions options, std::string hostname) {
  return std::make_unique<MxDelivery>(std::move(options), std::move(hostname));
}

}  // namespace sluice::delivery
