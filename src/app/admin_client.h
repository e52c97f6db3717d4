// sluicectl's side of the admin API: one HTTP call per command, and the
// command-line conventions every sluice binary shares.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "common/http_client.h"

namespace sluice::app {

struct Target {
  std::string host = "127.0.0.1";
  std::string port = "8025";
  std::string token;
  bool tls = false;     // https: the admin server has [admin] tls_cert
  std::string ca_file;  // trust anchor for it (e.g. that self-signed cert); empty: the system's
};

// GET when body is empty and post is false. Throws std::runtime_error
// with the reason on a network or TLS error.
HttpResponse Call(const Target& t, bool post, const std::string& path, const std::string& body = "");

// For a call that changes state: "ok" (or `ok_text`) and 0, or the API's
// error as one line on stderr and 1.
int Done(const HttpResponse& r, const std::string& ok_text = "ok");

// Parses the command line. On --help prints it and returns 0; on a bad call
// prints one line naming the program and returns 2; otherwise nullopt.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv, const char* program);

// "90", "90s", "15m", "4h", "2d" as seconds; nullopt when malformed.
std::optional<long long> ParseAge(const std::string& s);
// Seconds as a list shows them: "45s", "12m", "3h05m", "2d04h".
std::string FormatAge(long long seconds);
// "?key=value&..." from a flat object of strings and numbers, URL-encoded;
// `skip` is left out.
std::string QueryString(const nlohmann::json& fields, const std::string& skip = "");

}  // namespace sluice::app
