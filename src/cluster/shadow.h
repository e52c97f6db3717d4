// Shadow copies ([shadow], doc/cluster.md): before a node answers 250 it
// hands a copy of the message to a peer, which syncs it into a spool of
// its own (`<spool path>-shadow`) before it says OK. When the primary comes
// back with a new spool epoch (its disk was lost or replaced), the peer
// delivers the copies of the old epoch itself.
//
// Both halves run on one event loop thread of their own: the server (the
// peer's side) and the client (the primary's side, a queue::Redundancy).
// The protocol is cluster/shadow_protocol.h, authenticated by a shared
// secret (HMAC over a fresh nonce); the listener belongs on the fleet's
// internal network only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "queue/intake.h"
#include "queue/queue.h"
#include "spool/spool.h"

namespace sluice::cluster {

struct ShadowOptions {
  bool enabled = false;
  std::string address = "127.0.0.1";  // the shadow listener: the fleet's internal network only
  uint16_t port = 0;
  std::string secret;                  // shared by the fleet, at least 16 characters
  std::vector<std::string> peers;      // "host:port" of the other nodes' shadow listeners
  std::chrono::milliseconds deadline{1000};  // how long a 250 waits for the copy
  std::string node;                    // this node's id among its peers: [cluster] node, else the host name
  bool operator==(const ShadowOptions&) const = default;
};

struct ShadowStats {
  uint64_t held = 0;        // copies held for other nodes now
  uint64_t received = 0;    // copies synced for others since start
  uint64_t promoted = 0;    // copies delivered here because their primary lost its spool
  uint64_t sent = 0, failed = 0;  // this node's copies to peers, made and not
};

class Shadow : public queue::Redundancy {
 public:
  // `node`: this node's id; `epoch`: its spool's (a new spool, a new epoch).
  // Copies held for others live in `store`; promoted ones go to `spool`
  // and `queue`. All outlive this.
  Shadow(ShadowOptions o, std::string node, std::string epoch, spool::Spool& store, spool::Spool& spool,
         queue::Queue& queue);
  ~Shadow() override;  // Stop()
  Status Start();      // binds the listener (an error names it); says HELLO to every peer
  void Stop();

  void Copy(const std::string& id, std::shared_ptr<const Envelope> envelope, std::shared_ptr<const std::string> content,
            std::function<void(Status, std::string)> done) override;
  std::chrono::milliseconds deadline() const override { return o_.deadline; }
  ShadowStats Stats();

  // This spool's epoch: read from its meta record, or made and stored.
  static Result<std::string> EpochOf(spool::Spool& spool);

 private:
  struct Peer;
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> Accept();
  boost::asio::awaitable<void> Send(std::string id, std::shared_ptr<const Envelope> envelope,
                                    std::shared_ptr<const std::string> content,
                                    std::function<void(Status, std::string)> done);
  void Promote(const std::string& node, const std::string& old_epoch);  // on the work pool

  ShadowOptions o_;
  std::string node_, epoch_;
  spool::Spool& store_;
  spool::Spool& spool_;
  queue::Queue& queue_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::vector<std::unique_ptr<Peer>> peers_;  // the loop's own
  boost::asio::thread_pool work_{1};           // promotions (blocking spool reads)
  std::mutex mu_;
  ShadowStats stats_;  // GUARDED_BY(mu_)
  std::thread thread_;
  std::atomic<bool> stopped_{false};
};

}  // namespace sluice::cluster
