// Fault injection for tests and the storm tool, as a decorator over a real
// back end (LevelDB's fault-injection Env does the same for files): added
// latency, lookups that hang until cleared, a share of failures. Installed
// only when [directory] fault_injection is on, so the lookup path of a
// production forest has no fault checks at all.
#pragma once

#include <memory>
#include <mutex>
#include <random>

#include "directory/directory.h"

namespace sluice::directory {

// The faults of one forest, changed live; shared by its replicas' decorators.
class FaultSwitch {
 public:
  void Set(const FaultOptions& f);
  FaultOptions Get();
  bool Fails();  // draws once against error_rate

 private:
  std::mutex mu_;
  FaultOptions f_;
  std::mt19937_64 rng_{std::random_device{}()};
};

// Blocking, like the back end it wraps: a hang ends when the switch is
// cleared, or after ten minutes.
std::unique_ptr<Backend> WithFaults(std::unique_ptr<Backend> backend, std::shared_ptr<FaultSwitch> faults);

}  // namespace sluice::directory
