// How many file descriptors a config needs besides its SMTP sessions, and
// how many sessions the process limit then leaves room for. check-config
// warns when max_connections does not fit; serve caps sessions there, so
// the edge turns clients away with 421 4.7.0 before the spool, the queue or
// a forest ever meets EMFILE.
#pragma once

#include <cstdint>
#include <string>

#include "control/config.h"

namespace sluice::control {

struct DescriptorPlan {
  uint64_t limit = 0;     // the soft RLIMIT_NOFILE
  uint64_t others = 0;    // spool, queue, destinations, forests, admin, loops
  uint64_t sessions = 0;  // what is left for SMTP sessions (at least 16)
  uint64_t wanted = 0;    // max_connections
  bool fits() const { return sessions >= wanted; }
  std::string Explain() const;  // one line for a warning
};

DescriptorPlan PlanDescriptors(const Config& c, uint64_t limit);

}  // namespace sluice::control
