// The answer to "who is this recipient?": value types shared by the edge
// (smtp/) and the directory. No I/O here.
#pragma once

#include <string>

#include "common/envelope.h"

namespace sluice::directory {

// Three outcomes, as in Postfix's dict lookups: kTryLater always becomes a
// 4xx at the edge, never a 5xx (doc/design.md, rule 2).
enum class Found { kYes, kNo, kTryLater };

enum class Reason {
  kNone,
  kUnknownUser,    // known domain, unknown recipient: 550 5.1.1
  kUnknownDomain,  // not one of ours: 550 5.7.1, never an open relay
  kSaturated,      // the forest's bulkhead is full: 451 4.3.2
  kTimedOut,       // the lookup outlived its deadline: 451 4.4.3
  kBackendError,   // the forest's back end failed: 451 4.4.3
  kRateLimited,    // found, but its tenant is over its inbound rate: 451 4.7.1
  kBlocked,        // found, but its tenant blocks the client's address: 550 5.7.1
  kClientRateLimited,  // not looked up: the client is over its recipient rate: 451 4.7.1
};

struct LookupResult {
  Found found = Found::kTryLater;
  Reason reason = Reason::kBackendError;
  std::string forest;    // the forest that answered or should have
  RecipientRoute route;  // filled when found == kYes
  bool close_connection = false;  // kSaturated with on_saturation = "close"
  bool stale = false;             // served from cache past its TTL

  static LookupResult Yes(RecipientRoute r) {
    LookupResult x;
    x.found = Found::kYes;
    x.reason = Reason::kNone;
    x.forest = r.forest;
    x.route = std::move(r);
    return x;
  }
  static LookupResult No(Reason why, std::string forest = {}) {
    LookupResult x;
    x.found = Found::kNo;
    x.reason = why;
    x.forest = std::move(forest);
    return x;
  }
  static LookupResult TryLater(Reason why, std::string forest) {
    LookupResult x;
    x.found = Found::kTryLater;
    x.reason = why;
    x.forest = std::move(forest);
    return x;
  }
};

}  // namespace sluice::directory
