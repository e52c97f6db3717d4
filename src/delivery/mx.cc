// Delivery to the MX hosts of each recipient's domain (RFC 5321 §5): the
// lowest preference first, the next on trouble, one SMTP next hop (with its
// own pool and throttle, smtp_client.cc) per address.
#include <fmt/format.h>

#include <map>
#include <mutex>

#include "common/offload.h"
#include "delivery/delivery.h"
#include "mail/address.h"

namespace sluice::delivery {
namespace {

namespace asio = boost::asio;


class MxDelivery final : public Delivery {
 public:
  MxDelivery(DestinationOptions o, std::string hostname, asio::thread_pool& blocking)
      : o_(std::move(o)), hostname_(std::move(hostname)), blocking_(blocking) {}

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
        Outcome o = answer.kind == MxAnswer::Kind::kNullMx
                        ? Outcome(Outcome::Kind::kFailed, "556 5.1.10 " + answer.error)
                    : answer.kind == MxAnswer::Kind::kNoSuchDomain
                        ? Outcome(Outcome::Kind::kFailed, "550 5.1.2 " + answer.error)
                        : Outcome(Outcome::Kind::kDeferred, "451 4.4.3 " + answer.error);
        for (size_t k : positions) out[k] = o;
        continue;
      }
      std::vector<size_t> left = positions;  // still deferred
      for (const NextHop& hop : answer.hops) {
        Job sub = job;
        sub.recipients.clear();
        for (size_t k : left) sub.recipients.push_back(job.recipients[k]);
        Delivery& d = HopFor(hop);
        auto attempt = d.Deliver(sub);
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
    for (auto& [key, d] : hops_) d->CloseIdle();
  }

  // Every next hop of this destination, and those made later.
  Status SetConcurrency(const std::string&, size_t limit) override {
    std::lock_guard lock(mu_);
    o_.max_concurrency = limit;
    for (auto& [key, d] : hops_) {
      for (const auto& s : d->Stats()) d->SetConcurrency(s.name, limit);
    }
    return Status::Ok();
  }

  std::vector<DestinationStats> Stats() override {
    std::lock_guard lock(mu_);
    std::vector<DestinationStats> out;
    for (auto& [key, d] : hops_) {
      for (auto& s : d->Stats()) {
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

  asio::awaitable<MxAnswer> Lookup(std::string domain) {
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mu_);
      auto it = cache_.find(domain);
      if (it != cache_.end() && it->second.until > now) co_return it->second.answer;
    }
    auto resolve = Offload(blocking_, [this, domain] { return ResolveMx(o_.dns, domain, o_.max_mx_addresses); });
    MxAnswer answer = co_await std::move(resolve);
    // Failures are remembered briefly, answers for the cache's TTL.
    auto ttl = answer.kind == MxAnswer::Kind::kTryLater ? std::chrono::seconds(5) : o_.dns_cache_ttl;
    std::lock_guard lock(mu_);
    cache_[domain] = {answer, std::chrono::steady_clock::now() + ttl};
    co_return answer;
  }

  Delivery& HopFor(const NextHop& hop) {
    std::lock_guard lock(mu_);
    auto& d = hops_[hop.address];
    if (!d) {
      DestinationOptions h = o_;
      h.kind = DestinationKind::kSmtp;
      h.name = fmt::format("{}/{}[{}]", o_.name, hop.host, hop.address);
      h.host = hop.address;
      if (h.tls_server_name.empty()) h.tls_server_name = hop.host;  // verify the MX name, not the address
      d = MakeSmtpDelivery(std::move(h), hostname_);
    }
    return *d;
  }

  DestinationOptions o_;
  std::string hostname_;
  asio::thread_pool& blocking_;
  std::mutex mu_;
  std::map<std::string, Cached> cache_;
  std::map<std::string, std::unique_ptr<Delivery>> hops_;  // by address
};

}  // namespace

std::unique_ptr<Delivery> MakeMxDelivery(DestinationOptions options, std::string hostname,
                                         asio::thread_pool& blocking) {
  return std::make_unique<MxDelivery>(std::move(options), std::move(hostname), blocking);
}

}  // namespace sluice::delivery
