// Prometheus text exposition (format 0.0.4) of the stages' figures.
#pragma once

#include <string>

#include "observe/admin.h"

namespace sluice::observe {

std::string RenderMetrics(AdminStages stages);

}  // namespace sluice::observe
