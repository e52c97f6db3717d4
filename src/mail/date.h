// Dates as mail writes them (RFC 5322 §3.3).
#pragma once

#include <cstdint>
#include <string>

namespace sluice::mail {

// An RFC 5322 date-time in UTC, e.g. "Mon, 23 Nov 2026 10:37:34 +0000".
std::string Rfc5322Date(int64_t unix_time);

}  // namespace sluice::mail
