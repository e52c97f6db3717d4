// The fleet of sending relays: `sessions` SMTP sessions at a target rate
// (open loop: arrivals do not wait for slow replies), one recipient per
// message so every reply belongs to one id. Like a real MTA, a message that
// got a 4xx or lost its connection is kept and retried with backoff; a 5xx
// ends it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/timed_stream.h"
#include "ledger.h"
#include "scenario.h"

namespace storm {

class Load {
 public:
  // `forest_of(tenant)`: the forest the tenant is in now (moves change it).
  // `ports`: the nodes' SMTP ports. Session i starts on node i mod N and,
  // as a sender does with MX records of equal preference, takes the next
  // node for each new connection and when one does not answer.
  Load(boost::asio::io_context& io, const Scenario& s, Ledger& ledger, std::vector<uint16_t> ports,
       std::function<std::string(int)> forest_of);
  void Start();
  void StopNew() { new_messages_ = false; }  // the load phase is over; retries go on
  void StopAll() { stopping_ = true; }
  // Messages neither accepted nor given up (waiting to retry or in a session).
  size_t outstanding() const { return outstanding_; }
  size_t waiting_retry() const { return retries_.size(); }

  // Idle connections from another loopback address (127.0.0.2), so the
  // relays' per-address limit is not what refuses them.
  boost::asio::awaitable<void> Flood(int connections, double seconds);

 private:
  struct Retry {
    double due;
    uint64_t id;
  };
  boost::asio::awaitable<void> Session(int index);
  boost::asio::awaitable<std::unique_ptr<sluice::TimedStream>> Connect(int index, size_t node,
                                                                       boost::system::error_code& ec);
  boost::asio::awaitable<std::optional<uint64_t>> Next();
  uint64_t NewMessage();
  void Requeue(uint64_t id);
  std::string Address(uint64_t id) const;
  std::string Body(uint64_t id) const;

  boost::asio::io_context& io_;
  const Scenario& s_;
  Ledger& ledger_;
  std::vector<uint16_t> ports_;
  std::function<std::string(int)> forest_of_;
  bool new_messages_ = true, stopping_ = false;
  double next_slot_ = 0;
  std::deque<Retry> retries_;  // by due time, roughly: backoffs are short
  size_t outstanding_ = 0;
  std::mt19937_64 rng_{42};
  std::discrete_distribution<int> tenant_pick_, size_pick_;
};

}  // namespace storm
