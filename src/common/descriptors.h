// File descriptors: the process limit, raised to its hard ceiling at start
// (as a mail server must: every session, next-hop connection and spool file
// is one), and a spare one per event loop so that even when they run out a
// new connection can be told so with a 421 instead of being left hanging.
#pragma once

#include <cstdint>

namespace sluice {

struct DescriptorLimit {
  uint64_t soft = 0, hard = 0;
};
// Raises the soft RLIMIT_NOFILE to the hard limit; returns what is in force.
DescriptorLimit RaiseDescriptorLimit();
DescriptorLimit CurrentDescriptorLimit();

// A descriptor held in reserve (an open /dev/null). When accept fails for
// want of descriptors, the spare is closed, the waiting connection taken
// and answered, and the spare opened again. Not thread-safe: one per loop.
class SpareDescriptor {
 public:
  SpareDescriptor();
  ~SpareDescriptor();
  SpareDescriptor(const SpareDescriptor&) = delete;
  bool held() const { return fd_ >= 0; }
  void Release();
  bool Take();  // false: none free even for this

 private:
  int fd_ = -1;
};

}  // namespace sluice
