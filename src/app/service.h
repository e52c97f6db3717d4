// The service manager's side of the daemon (systemd's notify protocol,
// sd_notify(3)): READY=1 once every listener is bound and answering,
// RELOADING=1 and READY=1 around a reload, STOPPING=1 when a stop begins.
// Without $NOTIFY_SOCKET (not under systemd) each call does nothing.
#pragma once

#include <string>

namespace sluice::app {

void NotifyReady(const std::string& status);
void NotifyReloading();
void NotifyStopping();

}  // namespace sluice::app
