// Structured logs: one line per SMTP transaction and per delivery attempt,
// always with the queue id. JSON lines for collectors, text for a terminal.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace sluice::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };
enum class Format { kText, kJson };  // text for a terminal, JSON lines for collectors
const char* ToString(Level l);

// Sets up the process-wide logger.
Status Init(Level level, Format format);
// Live: the level a reload sets.
void SetLevel(Level level);
// Only the format, for tests of Render().
void SetFormat(Format format);

// The version of the config in force, added to every line as "config"
// (unless the line names its own, as a session does with the version it
// started under). 0: not shown.
void SetConfigVersion(int64_t version);

// A log event: a message plus key/value fields, rendered as one line.
class Event {
 public:
  explicit Event(std::string_view message) : message_(message) {}
  Event& With(std::string_view key, std::string_view value);
  Event& With(std::string_view key, const char* value) { return With(key, std::string_view(value)); }
  Event& With(std::string_view key, const std::string& value) { return With(key, std::string_view(value)); }
  Event& With(std::string_view key, int64_t value);
  Event& With(std::string_view key, double value);
  void Info() const;
  void Warn() const;
  void Error() const;
  // The line as it will be written (without time and level), for tests.
  std::string Render() const;

 private:
  std::string message_;
  std::vector<std::pair<std::string, std::string>> fields_;  // value already JSON-encoded
  std::vector<bool> quoted_;
};

// JSON string escaping, shared with anything else that writes JSON by hand.
std::string JsonEscape(std::string_view s);

// One line per interval for a condition that can repeat thousands of times
// a second (accept failures under descriptor exhaustion): Allow() says yes
// at most once per interval, with how many were held back since the last
// yes. Thread-safe, lock-free.
class RateLimit {
 public:
  explicit RateLimit(std::chrono::milliseconds every) : every_(every) {}
  std::optional<uint64_t> Allow();

 private:
  const std::chrono::milliseconds every_;
  std::atomic<int64_t> next_ns_{0};
  std::atomic<uint64_t> held_back_{0};
};

}  // namespace sluice::log
