// The Received: trace header (RFC 5321 §4.4) that the edge prepends.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/envelope.h"

namespace sluice::smtp {

// Pure: formats from the envelope; `unix_time` is the time of acceptance.
std::string ReceivedHeader(const Envelope& e, std::string_view by_host, std::string_view queue_id,
                           int64_t unix_time);

}  // namespace sluice::smtp
