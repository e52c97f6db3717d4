// What a delivery attempt's outcomes do to a message's recipients, decided
// without I/O so that the rules can be table-tested: a 2xx delivers, a 5xx
// fails, a 4xx defers with backoff (or fails once the message outlived
// max_lifetime), a destination that was backing off defers without
// counting an attempt, and each transition the sender asked to hear about
// carries its DSN. The queue then reports (queues the DSNs) before it
// persists the states: a crash in between repeats a report, never loses one.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "common/envelope.h"
#include "delivery/delivery.h"
#include "queue/dsn.h"
#include "queue/queue.h"

namespace sluice::queue {

struct Verdict {
  size_t index = 0;                    // into the envelope's routes
  RecipientStatus after;               // the recipient once the outcome is applied
  delivery::Outcome::Kind kind{};      // as counted and logged (kFailed once expired)
  std::optional<DsnRecipient> report;  // to queue before `after` is written
};

// One verdict per job recipient, in job order. `before` is the message's
// recipient states; `unit_random` gives numbers in [0, 1) for jitter.
std::vector<Verdict> Classify(const QueueOptions& o, const Envelope& e, const std::vector<RecipientStatus>& before,
                              const std::vector<size_t>& recipients,
                              const std::vector<delivery::Outcome>& outcomes, int64_t now,
                              const std::function<double()>& unit_random);

// A report that could not be stored: its recipient goes back to what makes
// the report come again (a failure stays pending and is retried; a delay
// warning is sent with the next attempt). A success cannot be undone.
void Unreport(const QueueOptions& o, DsnAction action, int64_t now, RecipientStatus& st);

}  // namespace sluice::queue
