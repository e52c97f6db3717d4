// http:// and https:// URLs, and the headers sent with them, as the
// operator writes them in a config (webhooks) or on a command line
// (sluicectl --admin). Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace sluice {

struct Url {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
  std::string path;  // with the query, "/" at least
};
// Parses an http(s) URL; an error names what is wrong with it.
Result<Url> ParseUrl(const std::string& url);

// A header name is an RFC 9110 token; a value has no CR, LF or NUL, so it
// cannot smuggle a second header. The HTTP client refuses anything else,
// and a config checks with the same rules.
// "localhost" (any case) or a loopback address literal (127/8, ::1).
bool IsLoopback(const std::string& host);

bool IsHeaderName(std::string_view name);
bool IsHeaderValue(std::string_view value);

}  // namespace sluice
