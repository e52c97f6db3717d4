// Shadow copies ([shadow], doc/cluster.md): before a node answers 250 it
// hands a copy of the message to a peer, which syncs it into a spool of
// its own (`<spool path>-shadow`) before it says OK.
//
// The life of a copy on the peer that holds it:
//   held        the primary has the message queued;
//   safety net  the primary's heartbeat said it is done (delivered or
//               failed): kept `safety_net_hold` for `sluicectl safetynet
//               resubmit`, then removed (sooner when the disk is short);
//   promoted    delivered here instead, as this node's own mail: at once
//               when the primary comes back with a new spool epoch (its
//               disk was lost), or after `resubmit_after` of silence while
//               the primary is out of the fleet's membership (a takeover;
//               the primary is told at its next HELLO and drops them).
//
// Drain (`sluicectl node drain`): the node refuses new mail and hands
// every queued message to a peer, removing its own copy only once the
// peer synced it.
//
// Both halves run on one event loop thread of their own: the server (the
// peer's side) and the client (the primary's side, a queue::Redundancy);
// spool reads and waits run on a small pool beside it. The protocol is
// cluster/shadow_protocol.h, authenticated by a shared secret (HMAC over a
// fresh nonce); the listener belongs on the fleet's internal network only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "delivery/dedup.h"
#include "queue/intake.h"
#include "queue/queue.h"
#include "spool/spool.h"

namespace sluice::cluster {

struct ShadowFrame;

struct ShadowOptions {
  bool enabled = false;
  std::string address = "127.0.0.1";  // the shadow listener: the fleet's internal network only
  uint16_t port = 0;
  std::string secret;                  // shared by the fleet, at least 16 characters
  std::vector<std::string> peers;      // "host:port" of the other nodes' shadow listeners (more from the membership)
  std::string advertise;               // this listener as peers reach it, published in the membership
  std::string failure_domain;          // [cluster] failure_domain: a copy prefers a peer outside it
  std::chrono::milliseconds deadline{1000};  // how long a 250 waits for the copy
  std::string node;                    // this node's id among its peers: [cluster] node, else the host name
  std::chrono::milliseconds heartbeat{30'000};       // discards and the sign of life go out this often
  std::chrono::seconds resubmit_after{600};          // silence (and out of membership) before a takeover
  std::chrono::seconds safety_net_hold{2 * 86400};   // delivered copies kept this long
  std::chrono::seconds dedup_window{3600};           // Message-ID + recipient at mailbox stores; 0: off
  bool operator==(const ShadowOptions&) const = default;
};

struct ShadowStats {
  uint64_t held = 0;        // copies held for other nodes now (their primary has them queued)
  uint64_t net = 0;         // copies in the safety net now
  uint64_t received = 0;    // copies synced for others since start
  uint64_t promoted = 0;    // copies delivered here because their primary lost its spool
  uint64_t takeovers = 0;   // of them, after the primary's silence
  uint64_t discarded = 0;   // copies moved to the safety net since start
  uint64_t expired = 0;     // safety-net copies removed (held long enough, or the disk was short)
  uint64_t resubmitted = 0; // safety-net copies queued again by an operator
  uint64_t sent = 0, failed = 0;  // this node's copies to peers, made and not
  uint64_t discards_pending = 0;  // this node's discards not yet heard by every peer
  uint64_t dropped_taken = 0;     // this node's messages dropped because a peer took them over
  size_t peers_up = 0, peers = 0;
  struct Peer {
    std::string address, state;
    int64_t last_ok_unix = 0;
  };
  std::vector<Peer> peer_list;
};

struct DrainStatus {
  std::string state = "off";  // off, draining, drained (nothing left here)
  int64_t since_unix = 0;
  uint64_t handed = 0;        // messages a peer took
  uint64_t failed = 0;        // hand-overs a peer refused or did not answer (retried)
  size_t left = 0;            // messages still queued here
  std::string last_error;
};

class Shadow : public queue::Redundancy {
 public:
  // `node`: this node's id; `epoch`: its spool's (a new spool, a new epoch).
  // Copies held for others live in `store`; promoted ones go to `spool`
  // and `queue`. All outlive this.
  Shadow(ShadowOptions o, std::string node, std::string epoch, spool::Spool& store, spool::Spool& spool,
         queue::Queue& queue);
  ~Shadow() override;  // Stop()

  // Before the queue starts: says HELLO to every peer (a peer that holds
  // copies of an old epoch delivers them) and removes from `spool` what a
  // peer took over while this node was away. Blocks, at most a few
  // deadlines. Returns how many messages it removed.
  size_t Reconcile();
  Status Start();  // binds the listener (an error names it), starts the heartbeat
  void Stop();

  // The fleet's membership (the control plane's list): its shadow
  // listeners become peers beside the configured ones, and a takeover
  // waits for the primary to be gone from it. Without it a takeover waits
  // on silence alone. Set before Start; called on the shadow's thread.
  struct Member {
    std::string node, address, failure_domain;
  };
  void SetMembers(std::function<std::vector<Member>()> members) { members_ = std::move(members); }
  // The dedup window at local delivery: a resubmit makes it forget what it
  // queues again. Set before Start; outlives this.
  void SetDedup(delivery::DedupWindow* dedup) { dedup_ = dedup; }

  void Copy(const std::string& id, std::shared_ptr<const Envelope> envelope, std::shared_ptr<const std::string> content,
            std::function<void(Status, std::string)> done) override;
  std::chrono::milliseconds deadline() const override { return o_.deadline; }
  bool draining() const override { return draining_; }
  const std::string& node() const { return node_; }
  ShadowStats Stats();

  // Queues again, to `destination` only and without DSNs, the safety
  // net's copies discarded between `since` and `until` (unix seconds).
  // Blocks (reads the store). Returns how many messages it queued.
  Result<size_t> Resubmit(const std::string& destination, int64_t since, int64_t until);

  // Drain: refuse new mail and hand the queue to the peers (on), or take
  // mail again (off). Thread-safe.
  void SetDrain(bool on);
  DrainStatus Drain();

  // This spool's epoch: read from its meta record, or made and stored.
  static Result<std::string> EpochOf(spool::Spool& spool);

  // Defined in shadow_internal.h, for this class's own files.
  struct Peer;
  struct Conn;

 private:
  using Deadline = std::chrono::steady_clock::time_point;

  // The peer's side (shadow.cc, shadow_store.cc).
  boost::asio::awaitable<void> Accept();
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<std::string> Answer(ShadowFrame f);  // one frame's reply
  std::string Take(const ShadowFrame& f);                      // TAKE: on the work pool
  void Discard(const std::string& node, const std::string& epoch, const std::vector<std::string>& ids);
  std::vector<std::string> TakenFrom(const std::string& node, const std::string& epoch);
  size_t Promote(const std::string& node, const std::string& epoch, bool takeover);
  void Sweep(bool initial = false);  // the safety net's expiry (and, initial, the count of held copies); on the work pool
  void Takeovers();  // starts a takeover for each primary silent too long; cheap, any thread
  void Heard(const std::string& node);

  // The primary's side (shadow_client.cc, shadow_drain.cc).
  boost::asio::awaitable<std::unique_ptr<Conn>> Connect(Peer& p, Deadline deadline, boost::system::error_code& ec);
  // Sends a frame (and `tail`, written as it is) to `p` and returns its
  // answer; reuses an idle connection (once more fresh if that failed).
  boost::asio::awaitable<std::optional<ShadowFrame>> Exchange(Peer& p, std::string head,
                                                             std::shared_ptr<const std::string> tail,
                                                             Deadline deadline, std::string& why);
  boost::asio::awaitable<void> Send(std::string id, std::shared_ptr<const Envelope> envelope,
                                    std::shared_ptr<const std::string> content,
                                    std::function<void(Status, std::string)> done);
  boost::asio::awaitable<void> Beat();       // the heartbeat loop
  boost::asio::awaitable<void> BeatTo(Peer& p);
  boost::asio::awaitable<void> DrainLoop();
  boost::asio::awaitable<bool> HandOver(std::string id);
  std::vector<Peer*> Order(const std::string& id);  // rendezvous order, other failure domains first
  void RefreshPeers();  // the membership's shadow listeners as peers; on the loop
  void DropTaken(const std::vector<std::string>& ids);

  ShadowOptions o_;
  std::string node_, epoch_;
  spool::Spool& store_;
  spool::Spool& spool_;
  queue::Queue& queue_;
  std::function<std::vector<Member>()> members_;
  delivery::DedupWindow* dedup_ = nullptr;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::vector<std::unique_ptr<Peer>> peers_;  // the loop's own
  std::atomic<size_t> peer_count_{0};
  boost::asio::thread_pool work_{2};           // spool reads and synced writes
  std::atomic<bool> started_queue_{false};     // Reconcile ran: taken mail now goes through the queue
  std::atomic<bool> draining_{false};
  std::mutex mu_;
  ShadowStats stats_;                          // GUARDED_BY(mu_); held, peers and peers_up are derived in Stats()
  DrainStatus drain_;                          // GUARDED_BY(mu_)
  std::map<std::string, std::chrono::steady_clock::time_point> heard_;  // GUARDED_BY(mu_) node → last word
  std::map<std::string, size_t> held_by_;      // GUARDED_BY(mu_) node → copies held (their sum is stats' held)
  std::mutex sweep_mu_;                        // one sweep or promotion at a time
  std::thread thread_;
  std::atomic<bool> stopped_{false};
};

}  // namespace sluice::cluster
