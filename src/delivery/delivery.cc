#include <fmt/format.h>

#include <boost/asio/thread_pool.hpp>
#include <map>

#include "delivery/delivery.h"
#include "delivery/outcomes.h"

namespace sluice::delivery {
namespace {

class ByDestination final : public Delivery {
 public:
  ByDestination(std::map<std::string, std::unique_ptr<Delivery>> by_name, std::unique_ptr<boost::asio::thread_pool> files)
      : files_(std::move(files)), by_name_(std::move(by_name)) {}
  ~ByDestination() override {
    by_name_.clear();
    files_->join();
  }

  boost::asio::awaitable<std::vector<Outcome>> Deliver(const Job& job) override {
    const std::string& name = job.envelope->routes[job.recipients.front()].destination;
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
      // The directory names a destination the config lacks: an operator
      // error that a config fix repairs, so keep the mail.
      Outcome o = Said(Condition::kNotConfigured, fmt::format("destination \"{}\" is not configured", name));
      co_return std::vector<Outcome>(job.recipients.size(), o);
    }
    co_return co_await it->second->Deliver(job);
  }

  void CloseIdle() override {
    for (auto& [name, d] : by_name_) d->CloseIdle();
  }

  Status SetConcurrency(const std::string& name, size_t limit) override {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return Status::NotFound("no destination " + name);
    return it->second->SetConcurrency(name, limit);
  }

  std::vector<DestinationStats> Stats() override {
    std::vector<DestinationStats> out;
    for (auto& [name, d] : by_name_) {
      for (auto& s : d->Stats()) out.push_back(std::move(s));
    }
    return out;
  }

 private:
  std::unique_ptr<boost::asio::thread_pool> files_;  // Maildir writes: never the spool's pool
  std::map<std::string, std::unique_ptr<Delivery>> by_name_;
};

}  // namespace

Outcome FromReply(int code, std::string text) {
  Outcome o;
  o.reply = std::move(text);
  if (code >= 200 && code < 300) {
    o.kind = Outcome::Kind::kDelivered;
  } else if (code >= 500 && code < 600) {
    o.kind = Outcome::Kind::kFailed;
  } else {
    o.kind = Outcome::Kind::kDeferred;  // 4xx, or anything unexpected
  }
  return o;
}

std::unique_ptr<Delivery> MakeDelivery(std::vector<DestinationOptions> destinations, std::string hostname,
                                       size_t file_threads) {
  auto files = std::make_unique<boost::asio::thread_pool>(file_threads);
  auto& blocking = *files;
  std::map<std::string, std::unique_ptr<Delivery>> by_name;
  for (auto& d : destinations) {
    std::string name = d.name;
    switch (d.kind) {
      case DestinationKind::kMaildir: by_name[name] = MakeMaildirDelivery(std::move(d), blocking); break;
      case DestinationKind::kMx: by_name[name] = MakeMxDelivery(std::move(d), hostname); break;
      case DestinationKind::kSmtp:
      case DestinationKind::kLmtp: by_name[name] = MakeSmtpDelivery(std::move(d), hostname); break;
    }
  }
  return std::make_unique<ByDestination>(std::move(by_name), std::move(files));
}

}  // namespace sluice::delivery
