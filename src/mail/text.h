// Text that came from a peer, made safe once where it enters (a remote
// reply, a HELO name): valid UTF-8 (invalid bytes become U+FFFD), no
// control characters (each becomes a visible \xNN), bounded in length. Every
// consumer — logs, JSON, DSNs, the spool — then gets text it can print.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::mail {

// True when `s` is well-formed UTF-8 (no overlongs, surrogates, or > U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Invalid UTF-8 sequences replaced by U+FFFD; everything valid kept.
std::string ToValidUtf8(std::string_view s);

// Valid UTF-8 without controls (TAB included: it can forge structure in
// logs and headers), at most `max` bytes (cut at a character boundary, with
// "..." appended). Cheap when `s` is already clean.
std::string SafeText(std::string_view s, size_t max = 1000);

// True when `s` has a control character (C0 or DEL).
bool HasControl(std::string_view s);

}  // namespace sluice::mail
