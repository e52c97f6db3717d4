#include "common/log.h"

#include "mail/text.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

namespace sluice::log {
namespace {

bool g_json = false;
std::atomic<int64_t> g_config_version{0};

}  // namespace

namespace {
spdlog::level::level_enum SpdLevel(Level l) {
  switch (l) {
    case Level::kTrace: return spdlog::level::trace;
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
    case Level::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}
}  // namespace

const char* ToString(Level l) {
  switch (l) {
    case Level::kTrace: return "trace";
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
    case Level::kOff: return "off";
  }
  return "info";
}

void SetLevel(Level level) { spdlog::set_level(SpdLevel(level)); }

Status Init(Level level, Format format) {
  auto logger = spdlog::stderr_logger_mt("sluice");
  spdlog::set_default_logger(logger);
  g_json = format == Format::kJson;
  // JSON lines carry their own timestamp and level fields.
  spdlog::set_pattern(g_json ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v)"
                            : "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v",
                     spdlog::pattern_time_type::utc);
  SetLevel(level);
  spdlog::flush_on(spdlog::level::info);
  return Status::Ok();
}

void SetFormat(Format format) { g_json = format == Format::kJson; }

std::string JsonEscape(std::string_view raw) {
  // JSON collectors reject invalid UTF-8: a peer's bytes become U+FFFD.
  const std::string valid = mail::IsValidUtf8(raw) ? std::string() : mail::ToValidUtf8(raw);
  const std::string_view s = valid.empty() ? raw : std::string_view(valid);
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

Event& Event::With(std::string_view key, std::string_view value) {
  fields_.emplace_back(std::string(key), std::string(value));
  quoted_.push_back(true);
  return *this;
}

Event& Event::With(std::string_view key, int64_t value) {
  fields_.emplace_back(std::string(key), std::to_string(value));
  quoted_.push_back(false);
  return *this;
}

Event& Event::With(std::string_view key, double value) {
  fields_.emplace_back(std::string(key), fmt::format("{:.3f}", value));
  quoted_.push_back(false);
  return *this;
}

std::optional<uint64_t> RateLimit::Allow() {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  int64_t next = next_ns_.load(std::memory_order_relaxed);
  if (now < next || !next_ns_.compare_exchange_strong(next, now + std::chrono::nanoseconds(every_).count())) {
    held_back_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  return held_back_.exchange(0, std::memory_order_relaxed);
}

void SetConfigVersion(int64_t version) { g_config_version = version; }

std::string Event::Render() const {
  const int64_t version = g_config_version.load(std::memory_order_relaxed);
  const bool add_version =
      version > 0 && std::none_of(fields_.begin(), fields_.end(), [](const auto& f) { return f.first == "config"; });
  std::string out;
  if (g_json) {
    out = fmt::format("{{\"msg\":\"{}\"", JsonEscape(message_));
    for (size_t i = 0; i < fields_.size(); ++i) {
      const auto& [k, v] = fields_[i];
      if (quoted_[i]) {
        out += fmt::format(",\"{}\":\"{}\"", k, JsonEscape(v));
      } else {
        out += fmt::format(",\"{}\":{}", k, v);
      }
    }
    if (add_version) out += fmt::format(",\"config\":{}", version);
    out += '}';
  } else {
    out = message_;
    for (size_t i = 0; i < fields_.size(); ++i) {
      const auto& [k, v] = fields_[i];
      // Quoted and escaped when a value could forge a field or a line:
      // spaces, quotes, '=', any control byte, or bytes that are not UTF-8.
      bool plain = !v.empty() && v.find_first_of(" \"=\\") == std::string::npos && !mail::HasControl(v) &&
                   mail::IsValidUtf8(v);
      out += plain ? fmt::format(" {}={}", k, v) : fmt::format(" {}=\"{}\"", k, JsonEscape(v));
    }
    if (add_version) out += fmt::format(" config={}", version);
  }
  return out;
}

// In JSON mode the pattern already opened the object with ts and level.
void Event::Info() const {
  if (!spdlog::should_log(spdlog::level::info)) return;
  spdlog::info(g_json ? Render().substr(1) : Render());
}
void Event::Warn() const {
  if (!spdlog::should_log(spdlog::level::warn)) return;
  spdlog::warn(g_json ? Render().substr(1) : Render());
}
void Event::Error() const { spdlog::error(g_json ? Render().substr(1) : Render()); }

}  // namespace sluice::log
