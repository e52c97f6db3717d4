#include "common/descriptors.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace sluice {

DescriptorLimit CurrentDescriptorLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return {};
  return {static_cast<uint64_t>(r.rlim_cur), static_cast<uint64_t>(r.rlim_max)};
}

DescriptorLimit RaiseDescriptorLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  return CurrentDescriptorLimit();
}

SpareDescriptor::SpareDescriptor() { Take(); }
SpareDescriptor::~SpareDescriptor() { Release(); }

void SpareDescriptor::Release() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool SpareDescriptor::Take() {
  if (fd_ < 0) fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd_ >= 0;
}

}  // namespace sluice
