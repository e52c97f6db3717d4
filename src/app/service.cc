#include "app/service.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <fmt/format.h>

namespace sluice::app {

void NotifyReady(const std::string& status) {
  const std::string state = fmt::format("READY=1\nSTATUS={}", status);
  sd_notify(0, state.c_str());
}

void NotifyReloading() {
  // MONOTONIC_USEC lets Type=notify-reload (systemd 253+) tell this reload
  // from an earlier one; older managers ignore it.
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const std::string state = fmt::format("RELOADING=1\nMONOTONIC_USEC={}", static_cast<uint64_t>(ts.tv_sec) * 1'000'000 +
                                                                         static_cast<uint64_t>(ts.tv_nsec) / 1000);
  sd_notify(0, state.c_str());
}

void NotifyStopping() { sd_notify(0, "STOPPING=1"); }

}  // namespace sluice::app
