// The content filters at the edge (doc/protection.md, "Content filters"):
// which filters a transaction goes through, and the verdict header that
// records what they said. The scan itself runs in the session after the
// final dot, before the commit (server/connection.cc).
#pragma once

#include <string>
#include <vector>

#include "common/envelope.h"
#include "filter/filter.h"
#include "server/protection.h"

namespace sluice::server {

// The union of the chains of the message's tenants, in the order each
// chain names them. A tenant's on_error applies to its filters; where two
// tenants of one message differ, the stricter wins (tempfail over hold over
// accept), so no tenant's mail is let through unscanned against its wish.
// Unknown names (a reload in between) are left out. Mail through a
// connector with its own chain goes through that chain alone, and is never
// held (a connector is not kept with the message for the later scan; its
// servers retry a 451): hold is a tempfail there.
std::vector<filter::ChainLink> ChainFor(const ProtectionOptions& p, const filter::FilterSet& set,
                                        const Envelope& e);

// Whether every tenant of the message allows the client: spam scoring is
// skipped only then.
bool AllAllow(const ProtectionOptions& p, const Envelope& e);

// The verdict header, one field ending in CRLF:
//   X-Sluice-Report: cip=192.0.2.1; connector=none; rspamd=accept; scan=complete
// `scan` is "incomplete" when a filter erred and on_error was accept.
std::string VerdictField(const std::string& client, const std::string& connector, const filter::ScanOutcome& o);

// An accepted message whose spam score reached the lowest quarantine_score
// among its tenants becomes a quarantine ("spam: score 12.5 >= 10").
// Returns whether it did.
bool ApplySpamThreshold(const ProtectionOptions& p, const Envelope& e, filter::ScanOutcome& o);

// Why a quarantining outcome quarantines, as kept in the spool and shown
// to the operator: "malware: clamav: Eicar FOUND".
std::string QuarantineReason(const filter::ScanOutcome& o);

// Why mail is held for its scan (on_error = "hold"): "pending: rspamd:
// timeout: ..." (queue::kPendingScan is the first word).
std::string PendingReason(const filter::ScanOutcome& o);

}  // namespace sluice::server
