// The end of a run: what happened to every message (sent, accepted,
// deferred by code, dropped without a reply, lost, duplicated, delivered),
// per-forest reply latency over time, alert and recovery times — as a
// table, as JSON, and as a self-contained HTML page of plots.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ledger.h"
#include "scenario.h"

namespace storm {

nlohmann::json Summarize(const Scenario& s, const Ledger& l);
std::string Table(const nlohmann::json& report);
std::string Html(const nlohmann::json& report);

}  // namespace storm
