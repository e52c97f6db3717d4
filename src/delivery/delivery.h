// The delivery stage: hands a message to its destination — a local Maildir,
// an LMTP mailbox store, an SMTP next hop or the MX hosts of the
// recipient's domain — and reports, per recipient,
// what the destination answered.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/envelope.h"
#include "common/status.h"
#include "common/tls_policy.h"
#include "delivery/dns.h"

namespace boost::asio {
class thread_pool;
}

namespace sluice::delivery {

enum class DestinationKind { kMaildir, kSmtp, kLmtp, kMx };

struct DestinationOptions {
  std::string name;
  DestinationKind kind = DestinationKind::kMaildir;
  std::string root;  // kMaildir: the folder that holds the mailboxes
  std::string host;  // kSmtp / kLmtp: the next hop
  uint16_t port = 25;
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds reply_timeout{300};  // RFC 5321 §4.5.3.2 client timeouts
  size_t max_concurrency = 20;              // deliveries at once; the throttle's ceiling
  std::chrono::milliseconds backoff_min{1000};   // first backoff window after trouble
  std::chrono::milliseconds backoff_max{60'000}; // cap of the doubling window
  std::chrono::seconds idle_connection{5};  // keep a connection this long for the next message
  size_t messages_per_connection = 100;
  // Outbound STARTTLS (RFC 3207). Opportunistic: encrypt when offered,
  // unauthenticated (RFC 7435). Required: no delivery without TLS, and the
  // certificate must verify and name the host unless tls_verify is off.
  enum class Tls { kNone, kOpportunistic, kRequired };
  Tls tls = Tls::kOpportunistic;
  bool tls_verify = true;          // only with kRequired
  std::string tls_ca_file;         // trust anchors; empty: the system's
  std::string tls_server_name;     // the name the certificate must carry; default host
  TlsPolicy tls_policy;            // [tls] ciphers and version, as the edge
  // kMx: the recipient domain's MX hosts on `port`, each with its own
  // connections and throttle.
  DnsOptions dns;
  size_t max_mx_hosts = 5;         // MX hosts looked up per domain and attempt
  size_t max_mx_addresses = 5;     // addresses tried per domain and attempt
  std::chrono::seconds dns_cache_ttl{60};
  std::chrono::seconds dns_negative_ttl{300};  // a domain whose DNS failed is not asked again before this
  bool operator==(const DestinationOptions&) const = default;  // a reload applies what changed
};

// What the operator sees of a destination (admin API, /metrics).
struct DestinationStats {
  std::string name;
  std::string kind;
  size_t concurrency_limit = 0, in_flight = 0;
  size_t queued = 0;           // deliveries waiting for a slot
  size_t max_concurrency = 0;  // the configured ceiling; 0: no throttle (Maildir)
  std::optional<size_t> fleet_share;  // the fleet's block of it held here (cluster/)
  std::string breaker;        // closed / open (backing off) / half-open (probing)
  double backoff_ms = 0;      // left of the backoff window
  std::string last_trouble;
  uint64_t delivered = 0, deferred = 0, failed = 0;
  uint64_t connections = 0, reused = 0;
};

// One delivery attempt: some recipients of one message, all for one destination.
struct Job {
  std::string queue_id;
  std::shared_ptr<const Envelope> envelope;
  std::vector<size_t> recipients;  // indexes into envelope->routes
  std::shared_ptr<const std::string> content;  // trace header + body, CRLF lines
  bool retry = false;  // an earlier attempt may have delivered some of these
};

struct Outcome {
  enum class Kind { kDelivered, kDeferred, kFailed };
  Outcome() = default;
  Outcome(Kind k, std::string r) : kind(k), reply(std::move(r)) {}
  Kind kind = Kind::kDeferred;
  std::string reply;  // what the destination said, e.g. "250 2.0.0 Ok"
  std::string remote; // the host that said it, for DSNs and logs
  std::string tls;    // protocol and cipher of the connection, empty without TLS
  // Set when the destination was not even tried (its throttle is backing
  // off): retry when the window closes, and do not count an attempt.
  std::chrono::milliseconds retry_after{0};
  // Who reports success to a sender who asked (NOTIFY=SUCCESS): we do for
  // final delivery (Maildir, LMTP) and for a next hop without DSN support
  // ("relayed"); a next hop that took the DSN parameters reports itself.
  enum class Handover { kFinal, kRelayed, kPassedOn };
  Handover handover = Handover::kFinal;
};

// Classifies a reply line by its first digit: 2 delivered, 5 failed, else deferred.
Outcome FromReply(int code, std::string text);

class Delivery {
 public:
  virtual ~Delivery() = default;
  // One outcome per job recipient, in order. Never throws; failures to reach
  // the destination come back as kDeferred outcomes.
  virtual boost::asio::awaitable<std::vector<Outcome>> Deliver(const Job& job) = 0;
  virtual std::vector<DestinationStats> Stats() = 0;
  // Closes and frees idle outbound connections. Call on the event loop that
  // delivers, before that loop goes away: a socket must not outlive it.
  virtual void CloseIdle() {}
  // Ends the stage's own event loops (see MakeDelivery); a no-op for the
  // building blocks. After it, Deliver must not be called.
  virtual void Stop() {}
  // Sets the concurrency ceiling of the destination `name`, live.
  virtual Status SetConcurrency(const std::string& name, size_t /*limit*/) {
    return Status::NotFound("no destination " + name);
  }
  // Backs the destination `name` off for `pause` because another node of
  // the fleet is (cluster/): nothing is sent to it meanwhile. Destinations
  // without a throttle of their own ignore it.
  virtual Status PauseDestination(const std::string& name, std::chrono::milliseconds /*pause*/,
                                  const std::string& /*why*/) {
    return Status::NotFound("no destination " + name);
  }
  // The fleet's block of the destination's concurrency (cluster/): at most
  // `share` deliveries at once here, whatever the throttle would allow;
  // none: the throttle alone. `name` as in Stats (an mx next hop is
  // "mx/host[address]"). Destinations without a throttle ignore it.
  virtual Status SetFleetShare(const std::string& name, std::optional<size_t> /*share*/) {
    return Status::NotFound("no destination " + name);
  }
};

// Routes each job to its destination by name. Deliveries run on
// `delivery_threads` event loops of the stage's own (sockets, timers, TLS),
// whatever executor awaits them, and resume the caller on its own. Each
// destination lives on one of the loops (its connections, timers and
// throttle on one thread); destinations are spread over them. File I/O
// (Maildir) runs on a pool of `file_threads`, never on the spool's. Stats
// and SetConcurrency may be called from any thread.
std::unique_ptr<Delivery> MakeDelivery(std::vector<DestinationOptions> destinations, std::string hostname,
                                       size_t delivery_threads, size_t file_threads = 4);

// The building blocks, also used directly by tests.
std::unique_ptr<Delivery> MakeMaildirDelivery(DestinationOptions options,
                                              boost::asio::thread_pool& blocking);
std::unique_ptr<Delivery> MakeSmtpDelivery(DestinationOptions options, std::string hostname);
std::unique_ptr<Delivery> MakeMxDelivery(DestinationOptions options, std::string hostname);

}  // namespace sluice::delivery
