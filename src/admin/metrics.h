// Prometheus text exposition (format 0.0.4) of the stages' figures.
#pragma once

#include <string>

#include "admin/admin.h"

namespace sluice::admin {

std::string RenderMetrics(AdminStages stages);

}  // namespace sluice::admin
