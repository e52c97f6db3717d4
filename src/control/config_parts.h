// Readers of config sections that live outside config.cc (internal to control/).
#pragma once

#include "control/toml_reader.h"
#include "admin/alerts.h"

namespace sluice::control {

void ReadAlerts(TomlTable& t, admin::AlertOptions* a);  // [alerts]

}  // namespace sluice::control
