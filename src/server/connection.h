// One SMTP connection: a coroutine that feeds socket bytes to an
// smtp::Session and carries out the actions it returns.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/descriptors.h"
#include "server/body_budget.h"
#include "server/server.h"

namespace sluice {
class TimedStream;
}

namespace sluice::server {

// State shared by every connection of one server, on every worker.
struct EdgeState {
  explicit EdgeState(uint64_t buffer_limit) : budget(buffer_limit) {}
  std::atomic<size_t> sessions{0};  // open connections
  // max_connections, or fewer when file descriptors would not suffice
  // (set by the server at start, from the descriptor limit).
  std::atomic<size_t> session_limit{10'000};
  std::atomic<bool> stressed{false};  // sessions above stress_threshold × session_limit
  BodyBudget budget;                  // message content held across sessions
  // Interrupts every session's read on every worker, so that each one
  // recomputes its deadline (entering stress shortens them). Set by the
  // server; callable from any worker.
  std::function<void()> wake_reads;
  std::atomic<size_t> storing{0};   // messages between end of data and the reply
  std::atomic<bool> draining{false};  // shutting down: idle sessions get 421
  std::atomic<bool> forced{false};    // grace is over: every session gets 421

  // Connections per client address, for max_connections_per_ip.
  std::mutex mu;
  std::unordered_map<std::string, size_t> per_ip;
};

// The connections of one worker, so a shutdown can wake the idle ones.
// Touched only on that worker's thread.
struct WorkerConnections {
  std::unordered_set<TimedStream*> streams;
  SpareDescriptor spare;  // answers a connection when descriptors run out
};

// What a listener gives its connections.
struct ListenerContext {
  std::shared_ptr<const ServerOptions> options;  // as loaded when this listener was (re)configured
  std::shared_ptr<const smtp::SessionOptions> session;  // this listener's settings
  std::shared_ptr<boost::asio::ssl::context> tls;       // null: no STARTTLS
  std::string name;
  queue::ShadowMode shadow = queue::ShadowMode::kOff;  // kOff unless [shadow] is set
};

boost::asio::awaitable<void> RunConnection(boost::asio::ip::tcp::socket socket,
                                           std::shared_ptr<const ListenerContext> listener, Stages stages,
                                           EdgeState& state, WorkerConnections& worker);

}  // namespace sluice::server
