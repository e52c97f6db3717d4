#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <thread>

#include "delivery/delivery.h"
#include "delivery/outcomes.h"

namespace sluice::delivery {
namespace {

class ByDestination final : public Delivery {
 public:
  ByDestination(std::map<std::string, std::unique_ptr<Delivery>> by_name, std::unique_ptr<boost::asio::thread_pool> files,
                size_t delivery_threads)
      : files_(std::move(files)), by_name_(std::move(by_name)) {
    for (size_t i = 0; i < delivery_threads; ++i) loops_.push_back(std::make_unique<Loop>());
    size_t next = 0;
    for (auto& [name, d] : by_name_) loop_of_[name] = next++ % loops_.size();
  }
  ~ByDestination() override {
    Stop();
    by_name_.clear();
    files_->join();
  }

  // Deliveries still running are abandoned (their mail stays queued and is
  // retried after a restart); idle connections are closed while their loop
  // still exists, then the loops go, with what they still held.
  void Stop() override {
    if (loops_.empty()) return;
    for (auto& l : loops_) l->io.stop();
    for (auto& l : loops_) l->thread.join();
    for (auto& [name, d] : by_name_) d->CloseIdle();
    loops_.clear();
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
    // The delivery runs on its destination's loop, not on the caller's (the
    // queue's one thread): one hop there and one back per job. One loop per
    // destination keeps a destination's connections, timers and throttle on
    // one thread, as the client was written for.
    auto run = it->second->Deliver(job);
    auto hop = boost::asio::co_spawn(loops_[loop_of_.at(name)]->io.get_executor(), std::move(run),
                                     boost::asio::use_awaitable);
    co_return co_await std::move(hop);
  }

  void CloseIdle() override {
    for (auto& [name, d] : by_name_) d->CloseIdle();
  }

  Status SetConcurrency(const std::string& name, size_t limit) override {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return Status::NotFound("no destination " + name);
    return it->second->SetConcurrency(name, limit);
  }

  Status PauseDestination(const std::string& name, std::chrono::milliseconds pause, const std::string& why) override {
    Delivery* d = Owner(name);
    if (!d) return Status::NotFound("no destination " + name);
    return d->PauseDestination(name, pause, why);
  }

  Status SetFleetShare(const std::string& name, std::optional<size_t> share) override {
    Delivery* d = Owner(name);
    if (!d) return Status::NotFound("no destination " + name);
    return d->SetFleetShare(name, share);
  }

  std::vector<DestinationStats> Stats() override {
    std::vector<DestinationStats> out;
    for (auto& [name, d] : by_name_) {
      for (auto& s : d->Stats()) out.push_back(std::move(s));
    }
    return out;
  }

 private:
  // The destination a name of Stats belongs to: itself, or for an mx next
  // hop ("mx/host[address]") the part before the slash.
  Delivery* Owner(const std::string& name) {
    auto it = by_name_.find(name.substr(0, name.find('/')));
    return it == by_name_.end() ? nullptr : it->second.get();
  }

  // One event loop and its thread; destinations are spread over them.
  struct Loop {
    boost::asio::io_context io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
  };
  std::unique_ptr<boost::asio::thread_pool> files_;  // Maildir writes: never the spool's pool
  std::vector<std::unique_ptr<Loop>> loops_;         // where deliveries run: sockets, timers, TLS
  std::map<std::string, size_t> loop_of_;            // destination → its loop
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
                                       size_t delivery_threads, size_t file_threads) {
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
  return std::make_unique<ByDestination>(std::move(by_name), std::move(files), std::max<size_t>(1, delivery_threads));
}

}  // namespace sluice::delivery
