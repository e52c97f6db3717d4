// The SMTP edge's I/O: listeners, worker event loops and one coroutine per
// connection that executes the actions of an smtp::Session.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/rate_limit.h"
#include "common/status.h"
#include "common/tls_policy.h"
#include "queue/intake.h"
#include "server/protection.h"
#include "smtp/session.h"

namespace sluice::directory {
class Directory;
}

namespace sluice::server {

class EdgeMetrics;
class HeldScans;

struct ListenerOptions {
  std::string name = "smtp";
  std::string address = "127.0.0.1";
  uint16_t port = 2525;
  bool starttls = true;      // offer STARTTLS here when a certificate is configured
  bool require_tls = false;  // submission (587): STARTTLS before MAIL, else 530 5.7.0
  queue::ShadowMode shadow = queue::ShadowMode::kBestEffort;  // with [shadow]: a copy on a peer before 250
  bool shadow_given = false;  // set on the listener itself, not taken from [shadow] mode
  bool operator==(const ListenerOptions&) const = default;  // a reload applies what changed
};

struct ServerOptions {
  size_t workers = 2;  // event loops, one thread each, sharing ports (SO_REUSEPORT)
  std::vector<ListenerOptions> listeners{ListenerOptions{}};
  std::chrono::seconds command_timeout{300};  // RFC 5321 §4.5.3.2.7
  std::chrono::seconds data_timeout{600};     // RFC 5321 §4.5.3.2.6, per data block
  std::chrono::seconds tls_handshake_timeout{30};
  // Deadlines that hold whatever the client trickles (Postfix's
  // smtpd_per_record_deadline): a command line must be complete within
  // command_timeout of the last reply; DATA and BDAT start with
  // data_timeout, and each read of N bytes earns N / min_data_rate seconds
  // more, never beyond data_timeout ahead; the whole session ends after
  // max_session_time. Each expiry is a 421 4.4.2 and a close.
  size_t min_data_rate = 500;                      // bytes per second
  std::chrono::seconds max_session_time{3600};
  // Under stress (open sessions above stress_threshold × max_connections)
  // both timeouts shrink to stress_timeout, as Postfix does.
  double stress_threshold = 0.8;
  std::chrono::seconds stress_timeout{10};
  // Message content buffered across all sessions. A session over the
  // budget stops reading (TCP backpressure) for up to buffer_wait, then its
  // message is refused with 452 4.3.1. 0: an eighth of physical memory.
  uint64_t max_buffered_bytes = 0;
  std::chrono::seconds buffer_wait{30};
  size_t max_connections = 10'000;            // above it: 421 4.7.0 and close
  // The sessions the descriptor limit leaves room for, after what the
  // spool, queue, forests and admin need (control/descriptors.h); 0: no cap.
  size_t session_cap = 0;
  size_t max_connections_per_ip = 100;        // from one client address
  std::chrono::seconds shutdown_grace{30};    // transactions in progress may finish
  std::string tls_cert;                       // PEM chain; empty: no STARTTLS
  std::string tls_key;                        // PEM private key
  TlsPolicy tls_policy;                       // [tls] ciphers, min_tls_version
  std::string tls_client_ca;                  // [tls] client_ca: PEM CAs that vouch for connectors' certificates
  int64_t config_version = 0;                 // logged with each transaction of a session
  RateLimits rate_limits;                     // [rate_limits]: 451 4.7.1 above them
  ProtectionOptions protection;               // [protection]: allow and block lists of client ranges
  bool operator==(const ServerOptions&) const = default;  // a reload applies what changed
};

// Loads and checks the certificate and key (for check-config, too).
Status CheckTls(const ServerOptions& options);

// What the edge needs from the other stages.
struct Stages {
  directory::Directory& directory;
  queue::Intake& intake;  // where accepted mail goes (stamped, synced, queued)
  EdgeMetrics& metrics;
  RateLimiter& rates;  // this node's table, or the fleet's (cluster/rates.h)
  // The content filters; the server configures them from
  // options.protection.definitions at start and on every reload.
  filter::FilterSet& filters;
  // Where mail held for its scan (on_error = "hold") is rescanned; null:
  // it waits for the next start's (tests).
  HeldScans* held = nullptr;
};

class Server {
 public:
  virtual ~Server() = default;
  // Binds every listener (an error names the address) and starts the workers.
  virtual Status Start() = 0;
  // Graceful stop: no new connections; idle sessions get 421 4.3.2 at once,
  // transactions in progress may finish within shutdown_grace, then the
  // rest get 421 4.3.2 too. A message being stored always gets its reply.
  virtual void Stop() = 0;
  // Live reload: new sessions get `session` and `options`; sessions in
  // progress keep what they started with. Listeners are added and removed
  // by name; a changed address counts as removed and added. `workers`
  // cannot change live: the running count is kept whatever `options` says.
  // On an error (a port taken, a certificate that does not load) nothing
  // changes.
  virtual Status Reconfigure(ServerOptions options, std::shared_ptr<const smtp::SessionOptions> session) = 0;
};

std::unique_ptr<Server> MakeServer(ServerOptions options,
                                   std::shared_ptr<const smtp::SessionOptions> session,
                                   Stages stages);

}  // namespace sluice::server
