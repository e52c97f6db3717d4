#include "app/admin_client.h"

#include "common/tls_policy.h"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

namespace sluice::app {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

template <class Stream>
Reply Exchange(Stream& stream, const Target& t, bool post, const std::string& path, const std::string& body) {
  http::request<http::string_body> req{post ? http::verb::post : http::verb::get, path, 11};
  req.set(http::field::host, t.host);
  req.set(http::field::user_agent, "sluicectl");
  if (!t.token.empty()) req.set(http::field::authorization, "Bearer " + t.token);
  if (post) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);  // a queue listing can be large; still bounded
  http::read(stream, buffer, parser);
  const auto& res = parser.get();
  return {static_cast<int>(res.result_int()), res.body()};
}

}  // namespace

Reply Call(const Target& t, bool post, const std::string& path, const std::string& body) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream tcp(io);
  tcp.expires_after(std::chrono::seconds(90));
  tcp.connect(resolver.resolve(t.host, t.port));
  if (!t.tls) return Exchange(tcp, t, post, path, body);
  boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
  ApplyTlsPolicy(ctx, TlsPolicy{}).ok();
  if (t.ca_file.empty()) {
    ctx.set_default_verify_paths();
    // Public trust: the certificate must also name the host. With an anchor
    // of the operator's own (the server's certificate, pinned) the chain is enough.
    ctx.set_verify_callback(boost::asio::ssl::host_name_verification(t.host));
  } else {
    ctx.load_verify_file(t.ca_file);
  }
  ctx.set_verify_mode(boost::asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), ctx);
  SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str());
  stream.handshake(boost::asio::ssl::stream_base::client);
  return Exchange(stream, t, post, path, body);
}

int Done(const Reply& r, const std::string& ok_text) {
  if (r.status == 200) {
    std::cout << ok_text << "\n";
    return 0;
  }
  std::string what = r.body;
  try {
    what = nlohmann::json::parse(r.body).value("error", r.body);
  } catch (...) {
  }
  std::cerr << fmt::format("sluicectl: {} ({})\n", what, r.status);
  return 1;
}

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv, const char* program) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << program << ": " << e.what() << " (see " << program << " --help)\n";
    return 2;
  }
  return std::nullopt;
}

std::optional<long long> ParseAge(const std::string& s) {
  if (s.empty()) return std::nullopt;
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  long long n = std::stoll(s.substr(0, digits));
  std::string unit = s.substr(digits);
  if (unit.empty() || unit == "s") return n;
  if (unit == "m") return n * 60;
  if (unit == "h") return n * 3600;
  if (unit == "d") return n * 86400;
  return std::nullopt;
}

}  // namespace sluice::app
