// The envelope of one message: what the edge accepted and what every later
// stage (spool, queue, delivery) works from. Plain values; no behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

// Where the directory says a recipient's mail goes.
struct RecipientRoute {
  std::string address;      // canonical address after alias expansion
  std::string tenant;
  std::string forest;
  std::string destination;  // a destination name from the config
  std::string mailbox;      // destination-specific: Maildir folder, LMTP user
  bool flight = false;      // its tenant is in a running flight's group (logged, not stored)
};

// Delivery Status Notification requests of one recipient (RFC 3461 §4).
struct RecipientDsn {
  std::string notify;  // "", "NEVER", or a comma list of SUCCESS, FAILURE, DELAY
  std::string orcpt;   // "addr-type;xtext" as given, or empty
};

struct Envelope {
  std::string sender;                     // empty for the null sender <>
  std::vector<std::string> rcpt_to;       // as given in RCPT TO, one per route
  std::vector<RecipientRoute> routes;     // parallel to rcpt_to
  std::vector<RecipientDsn> dsn;          // parallel to rcpt_to
  std::string helo;
  std::string client_address;
  bool esmtp = false;
  bool tls = false;                       // received over STARTTLS
  bool body_8bit = false;                 // BODY=8BITMIME was given
  bool smtputf8 = false;                  // SMTPUTF8 was given (RFC 6531)
  std::string dsn_ret;                    // RET=FULL or HDRS (RFC 3461), or empty
  std::string dsn_envid;                  // ENVID xtext, or empty
  int64_t received_unix = 0;              // seconds since the epoch
  // Why the content filters kept it in quarantine ("malware: ..."), or
  // empty. Its recipients were committed held; `sluicectl quarantine
  // release` lets them go (doc/protection.md, "Quarantine").
  std::string quarantine;
  // The connector the client matched ([connectors]), or empty: in the
  // Received: field, the verdict header and the log; not stored.
  std::string connector;
};

// Per-recipient delivery state, kept in the spool beside the envelope.
enum class RecipientState : uint8_t {
  kPending = 0,    // not yet delivered; ready or deferred depending on next_attempt
  kDelivered = 1,  // a destination answered 2xx; never delivered again
  kFailed = 2,     // a destination answered 5xx, or the message expired
  kHeld = 3,       // pending, but an operator put it on hold: no attempts until released
};

struct RecipientStatus {
  RecipientState state = RecipientState::kPending;
  uint32_t attempts = 0;
  int64_t next_attempt_unix = 0;
  std::string last_reply;  // the last answer from the destination, for operators
  bool delay_warned = false;  // a delay DSN went to the sender already
};

}  // namespace sluice
