// The one HTTP/1.1 client: sluicectl's calls to the admin API, alert
// webhooks, and the storm's calls. On Boost.Beast; one request per
// connection (callers here are rare or local, so no pool). Pure in what it
// decides (proxy choice is ProxyFor), I/O in Fetch.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/tls_policy.h"
#include "common/url.h"

namespace sluice {

struct HttpRequest {
  std::string method = "GET";
  Url url;
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given, after Host and User-Agent
  std::string body;                                         // with Content-Length when non-empty or not GET
  std::chrono::milliseconds timeout{10'000};                // the whole exchange: connect, TLS, write, read
  size_t body_limit = 8 << 20;                              // a longer reply is an error, not a truncation
  std::string user_agent = "sluice";
  // https: the chain must verify against ca_file (empty: the system store);
  // with check_host_name the certificate must also name url.host (an IP
  // literal is matched against its IP addresses).
  std::string ca_file;
  bool check_host_name = true;
  TlsPolicy tls_policy;
  // Connect through this HTTP proxy: CONNECT for https (TLS end to end with
  // the origin), the absolute URL for http.
  std::optional<Url> proxy;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// The proxy the environment names for `target`: HTTPS_PROXY/https_proxy for
// https, HTTP_PROXY/http_proxy for http, none for a host NO_PROXY covers (a
// name or a .suffix, "*" for all) or for loopback. `env` reads a variable
// (getenv by default; a test passes its own). An unparsable proxy is an error.
using EnvReader = std::optional<std::string> (*)(const char*);
Result<std::optional<Url>> ProxyFor(const Url& target, EnvReader env = nullptr);

// One exchange. Errors (no connection, TLS, timeout, a malformed or too long
// reply) are a Status whose message says what failed ("connect
// 127.0.0.1:1: Connection refused", "TLS: self-signed certificate"); any
// HTTP status is a response.
boost::asio::awaitable<Result<HttpResponse>> Fetch(HttpRequest request);

// Fetch on a private event loop, for command-line tools.
Result<HttpResponse> FetchBlocking(HttpRequest request);

}  // namespace sluice
