#include "common/http_client.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>

#include "mail/ascii.h"

namespace sluice {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::optional<std::string> GetEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

bool IsIpLiteral(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// NO_PROXY as curl reads it: comma-separated names; ".example.com" and
// "example.com" both cover the domain and its subdomains; "*" covers all.
bool NoProxyCovers(const std::string& list, const std::string& host) {
  return !mail::EachPart(list, ',', [&](std::string_view item) {
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "*") return false;
    if (!item.empty() && item.front() == '.') item.remove_prefix(1);
    if (item.empty()) return true;
    const bool covered = mail::EqualsNoCase(host, item) ||
                         (host.size() > item.size() && host[host.size() - item.size() - 1] == '.' &&
                          mail::EqualsNoCase(std::string_view(host).substr(host.size() - item.size()), item));
    return !covered;
  });
}

// An IPv6 literal in brackets, as a URL's authority writes it.
std::string HostLiteral(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string Authority(const Url& u) {
  const uint16_t standard = u.tls ? 443 : 80;
  return u.port == standard ? HostLiteral(u.host) : fmt::format("{}:{}", HostLiteral(u.host), u.port);
}

std::string Describe(const error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) return fmt::format("timed out after {} ms", timeout.count());
  return ec.message();
}

asio::awaitable<Status> Connect(beast::tcp_stream& stream, const std::string& host, uint16_t port,
                                std::chrono::milliseconds timeout) {
  error_code ec;
  tcp::resolver resolver(co_await asio::this_coro::executor);
  auto flags = IsIpLiteral(host) ? tcp::resolver::numeric_host : tcp::resolver::flags();
  auto resolve = resolver.async_resolve(host, std::to_string(port), flags, asio::redirect_error(asio::use_awaitable, ec));
  auto endpoints = co_await std::move(resolve);
  if (ec) co_return Status::IoError(fmt::format("resolve {}: {}", host, ec.message()));
  stream.expires_after(timeout);
  auto connect = stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  co_await std::move(connect);
  if (ec) co_return Status::IoError(fmt::format("connect {}:{}: {}", host, port, Describe(ec, timeout)));
  co_return Status::Ok();
}

// Asks the proxy for a tunnel to the origin; the TLS handshake then runs
// through it, so the proxy sees neither the path nor the headers.
asio::awaitable<Status> Tunnel(beast::tcp_stream& stream, const HttpRequest& r) {
  error_code ec;
  http::request<http::empty_body> req{http::verb::connect, fmt::format("{}:{}", HostLiteral(r.url.host), r.url.port), 11};
  req.set(http::field::host, req.target());
  req.set(http::field::user_agent, r.user_agent);
  auto write = http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  co_await std::move(write);
  if (ec) co_return Status::IoError("proxy: " + Describe(ec, r.timeout));
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a 2xx to CONNECT has no body: the tunnel follows
  auto read = http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  co_await std::move(read);
  if (ec) co_return Status::IoError("proxy: " + Describe(ec, r.timeout));
  const auto status = parser.get().result_int();
  if (status / 100 != 2) co_return Status::IoError(fmt::format("proxy refused the tunnel: HTTP {}", status));
  co_return Status::Ok();
}

template <class Stream>
asio::awaitable<Result<HttpResponse>> Exchange(Stream& stream, const HttpRequest& r, std::string target) {
  http::request<http::string_body> req;
  req.method_string(r.method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, Authority(r.url));
  req.set(http::field::user_agent, r.user_agent);
  for (const auto& [name, value] : r.headers) req.set(name, value);
  req.keep_alive(false);
  if (!r.body.empty() || r.method != "GET") req.body() = r.body;
  req.prepare_payload();
  error_code ec;
  auto write = http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  co_await std::move(write);
  if (ec) co_return Status::IoError("write: " + Describe(ec, r.timeout));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(r.body_limit);
  auto head = http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  co_await std::move(head);
  // Boost 1.74 enforces body_limit on chunked and read-to-close bodies but
  // not against a Content-Length; check that one here.
  if (!ec && parser.content_length() && *parser.content_length() > r.body_limit) ec = http::error::body_limit;
  if (!ec) {
    auto read = http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    co_await std::move(read);
  }
  if (ec == http::error::body_limit) co_return Status::IoError(fmt::format("reply longer than {} bytes", r.body_limit));
  if (ec) co_return Status::IoError("no reply: " + Describe(ec, r.timeout));
  HttpResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  out.body = std::move(parser.get().body());
  co_return out;
}

}  // namespace

Result<std::optional<Url>> ProxyFor(const Url& target, EnvReader env) {
  if (env == nullptr) env = GetEnv;
  if (IsLoopback(target.host)) return std::optional<Url>();
  auto no_proxy = env("NO_PROXY");
  if (!no_proxy) no_proxy = env("no_proxy");
  if (no_proxy && NoProxyCovers(*no_proxy, target.host)) return std::optional<Url>();
  std::optional<std::string> proxy = target.tls ? env("HTTPS_PROXY") : env("HTTP_PROXY");
  if (!proxy) proxy = target.tls ? env("https_proxy") : env("http_proxy");
  if (!proxy) return std::optional<Url>();
  auto u = ParseUrl(*proxy);
  if (!u.ok()) return Status::InvalidArgument(fmt::format("proxy from the environment: {}", u.status().message()));
  if (u.value().tls) return Status::InvalidArgument("proxy from the environment: only http:// proxies are supported");
  return std::optional<Url>(u.value());
}

asio::awaitable<Result<HttpResponse>> Fetch(HttpRequest r) {
  for (const auto& [name, value] : r.headers) {
    if (!IsHeaderName(name) || !IsHeaderValue(value)) co_return Status::InvalidArgument(fmt::format("header \"{}\" is not a valid HTTP header", name));
  }
  if (r.url.host.empty()) co_return Status::InvalidArgument("no URL");
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  const Url& hop = r.proxy ? *r.proxy : r.url;
  auto connect = Connect(stream, hop.host, hop.port, r.timeout);
  Status s = co_await std::move(connect);
  if (!s.ok()) co_return r.proxy ? Status::IoError("proxy: " + s.message()) : s;
  if (!r.url.tls) {
    // Through a proxy a plain request names the whole URL.
    std::string target = r.proxy ? "http://" + Authority(r.url) + r.url.path : r.url.path;
    auto exchange = Exchange(stream, r, std::move(target));
    co_return co_await std::move(exchange);
  }
  if (r.proxy) {
    auto tunnel = Tunnel(stream, r);
    Status t = co_await std::move(tunnel);
    if (!t.ok()) co_return t;
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  if (Status p = ApplyTlsPolicy(ctx, r.tls_policy); !p.ok()) co_return p;
  error_code ec;
  if (r.ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(r.ca_file, ec);
  }
  if (ec) co_return Status::IoError(fmt::format("TLS: trust anchors {}: {}", r.ca_file.empty() ? "(system)" : r.ca_file, ec.message()));
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), ctx);
  SSL* ssl = tls.native_handle();
  const bool ip = IsIpLiteral(r.url.host);
  if (!ip) SSL_set_tlsext_host_name(ssl, r.url.host.c_str());
  if (r.check_host_name) {
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), r.url.host.c_str());
    } else {
      SSL_set1_host(ssl, r.url.host.c_str());
    }
  }
  auto handshake = tls.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  co_await std::move(handshake);
  if (ec) {
    const long v = SSL_get_verify_result(ssl);
    co_return Status::IoError("TLS: " + (v != X509_V_OK ? std::string(X509_verify_cert_error_string(v)) : Describe(ec, r.timeout)));
  }
  auto exchange = Exchange(tls, r, r.url.path);
  co_return co_await std::move(exchange);
}

Result<HttpResponse> FetchBlocking(HttpRequest r) {
  asio::io_context io;
  auto done = asio::co_spawn(io, Fetch(std::move(r)), asio::use_future);
  io.run();
  return done.get();
}

}  // namespace sluice
