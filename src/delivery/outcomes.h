// Every answer Sluice gives about a delivery in its own words — when the
// destination said nothing usable, or was not asked — each with one code
// and enhanced code (RFC 3463), said here once (doc/design.md, convention 15).
#pragma once

#include <string>
#include <string_view>

#include "delivery/delivery.h"

namespace sluice::delivery {

enum class Condition {
  kNotConfigured,     // 451 4.3.5 the directory names a destination the config lacks
  kMailboxIo,         // 451 4.3.0 a Maildir write failed
  kBadMailbox,        // 550 5.3.5 a mailbox path that would leave the root
  kNullMx,            // 556 5.1.10 the domain accepts no mail (RFC 7505)
  kNoSuchDomain,      // 550 5.1.2 NXDOMAIN
  kDnsTryLater,       // 451 4.4.3 DNS did not answer usefully
  kBackingOff,        // 451 4.4.5 the destination's throttle holds the door
  kNoStartTls,        // 451 4.7.10 TLS required, not offered or refused
  kTlsFailed,         // 451 4.7.5 the handshake or the certificate failed
  kConnectFailed,     // 451 4.4.1 no connection
  kConnectionLost,    // 451 4.4.2 closed, timed out, or an unusable reply
  kNoSmtpUtf8,        // 550 5.6.7 the next hop cannot take SMTPUTF8 mail
  kReturned,          // 554 5.0.0 an operator bounced it
};

// The reply text, "451 4.4.2 <detail>".
std::string Say(Condition c, std::string_view detail);
// The outcome: deferred for 4xx conditions, failed for 5xx.
Outcome Said(Condition c, std::string_view detail);

}  // namespace sluice::delivery
