// The health dashboard: static files embedded in the binary at build time
// (cmake/embed.cmake), served by the admin server at /. The page polls the
// JSON API; every figure it shows is also in /metrics.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::admin {

struct EmbeddedFile {
  const char* path;  // "/index.html"
  const char* content_type;
  std::string_view body;
};

const std::vector<EmbeddedFile>& DashboardFiles();

// The file served for a GET of `target` ("/" is the page), or nullptr.
const EmbeddedFile* DashboardFile(const std::string& target);

}  // namespace sluice::admin
