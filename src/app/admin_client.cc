#include "app/admin_client.h"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

namespace sluice::app {

namespace beast = boost::beast;
namespace http = beast::http;

Reply Call(const Target& t, bool post, const std::string& path, const std::string& body) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(90));
  stream.connect(resolver.resolve(t.host, t.port));
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
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return {static_cast<int>(res.result_int()), res.body()};
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
