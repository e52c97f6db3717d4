// http:// and https:// URLs as the operator writes them in a config
// (webhooks) or on a command line (sluicectl --admin). Pure.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace sluice
