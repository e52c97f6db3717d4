// The admin API's routes, free of I/O: a request in, a response out.
// admin.cc serves them over HTTP; tests call them directly.
#pragma once

#include <string>

#include "observe/admin.h"

namespace sluice::observe {

struct ApiRequest {
  std::string method;  // "GET", "POST"
  std::string target;  // path, e.g. "/api/v1/forests"
  std::string body;
  std::string authorization;  // the Authorization header
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

ApiResponse HandleApi(const ApiRequest& request, const AdminOptions& options, AdminStages stages);

}  // namespace sluice::observe
