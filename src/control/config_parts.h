// Readers of config sections that live outside config.cc (internal to control/).
#pragma once

#include "control/toml_reader.h"
#include "observe/alerts.h"

namespace sluice::control {

void ReadAlerts(TomlTable& t, observe::AlertOptions* a);  // [alerts]

}  // namespace sluice::control
