#include "app/admin_client.h"

#include <fmt/format.h>

#include <cctype>
#include <iostream>
#include <stdexcept>
#include <nlohmann/json.hpp>

namespace sluice::app {

HttpResponse Call(const Target& t, bool post, const std::string& path, const std::string& body) {
  HttpRequest r;
  r.method = post ? "POST" : "GET";
  r.url.tls = t.tls;
  r.url.host = t.host;
  try {
    r.url.port = static_cast<uint16_t>(std::stoi(t.port));
  } catch (const std::exception&) {
    throw std::runtime_error("bad admin port \"" + t.port + "\"");
  }
  r.url.path = path;
  r.user_agent = "sluicectl";
  if (!t.token.empty()) r.headers.emplace_back("Authorization", "Bearer " + t.token);
  if (post) {
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = body;
  }
  r.timeout = std::chrono::seconds(90);
  r.body_limit = 256 << 20;  // a queue listing can be large; still bounded
  // Public trust: the certificate must also name the host. With an anchor
  // of the operator's own (the server's certificate, pinned) the chain is enough.
  r.ca_file = t.ca_file;
  r.check_host_name = t.ca_file.empty();
  auto reply = FetchBlocking(std::move(r));
  if (!reply.ok()) throw std::runtime_error(reply.status().message());
  return std::move(reply).value();
}

int Done(const HttpResponse& r, const std::string& ok_text) {
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
  } catch (const CLI::CallForVersion& e) {
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

std::string FormatAge(long long s) {
  if (s < 120) return fmt::format("{}s", s);
  if (s < 7200) return fmt::format("{}m", s / 60);
  if (s < 172800) return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
  return fmt::format("{}d{:02}h", s / 86400, s / 3600 % 24);
}

std::string QueryString(const nlohmann::json& fields, const std::string& skip) {
  std::string query;
  for (const auto& [key, value] : fields.items()) {
    if (key == skip) continue;
    std::string v = value.is_string() ? value.get<std::string>() : value.dump();
    std::string enc;
    for (unsigned char c : v) {
      enc += std::isalnum(c) || c == '.' || c == '-' || c == '_' ? std::string(1, static_cast<char>(c))
                                                               : fmt::format("%{:02X}", c);
    }
    query += (query.empty() ? "?" : "&") + key + "=" + enc;
  }
  return query;
}

}  // namespace sluice::app
