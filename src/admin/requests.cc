#include "admin/requests.h"

#include <fmt/format.h>

#include <algorithm>

#include "mail/ascii.h"

namespace sluice::admin {

using nlohmann::json;

namespace {

constexpr size_t kMaxIds = 100'000;
constexpr size_t kMaxListed = 1'000'000;  // messages one listing may return
constexpr size_t kMaxText = 1000;  // any single string field

Status Bad(std::string what) { return Status::InvalidArgument(std::move(what)); }

// A string field of bounded length; `out` untouched when absent.
Status GetString(const json& j, const char* key, std::string* out, bool required = false) {
  auto it = j.find(key);
  if (it == j.end()) return required ? Bad(fmt::format("\"{}\" (a string) is required", key)) : Status::Ok();
  if (!it->is_string()) return Bad(fmt::format("\"{}\" must be a string", key));
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > kMaxText) return Bad(fmt::format("\"{}\" is longer than {} characters", key, kMaxText));
  *out = s;
  return Status::Ok();
}

}  // namespace

Result<json> ParseObject(std::string_view body) {
  json out = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) return Bad("malformed JSON");
  if (!out.is_object()) return Bad("the body must be a JSON object");
  return out;
}

Result<queue::Filter> ParseFilter(const json& body, bool* all) {
  queue::Filter f;
  *all = false;
  for (const auto& [key, value] : body.items()) {
    Status s;
    if (key == "ids") {
      if (!value.is_array() || value.size() > kMaxIds) return Bad("\"ids\" must be a list of queue ids");
      for (const auto& id : value) {
        if (!id.is_string() || id.get_ref<const std::string&>().size() > 64) {
          return Bad("\"ids\" must be a list of queue ids");
        }
        f.ids.push_back(id.get<std::string>());
      }
    } else if (key == "state") {
      std::string state;
      s = GetString(body, "state", &state);
      if (s.ok() && !(f.state = queue::ParseMessageState(state))) {
        return Bad(fmt::format("state \"{}\" is not one of ready, deferred, hold, active", state));
      }
    } else if (key == "tenant" || key == "destination" || key == "sender" || key == "rcpt" || key == "category") {
      std::string* field = key == "tenant" ? &f.tenant : key == "destination" ? &f.destination
                           : key == "sender" ? &f.sender : key == "category" ? &f.category : &f.rcpt;
      s = GetString(body, key.c_str(), field);
    } else if (key == "min_age") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > (int64_t{1} << 40)) {
        return Bad("min_age must be whole seconds, not negative");
      }
      f.min_age = std::chrono::seconds(value.get<int64_t>());
    } else if (key == "limit") {
      if (!value.is_number_unsigned() || value.get<uint64_t>() < 1 || value.get<uint64_t>() > kMaxListed) {
        return Bad(fmt::format("limit must be a whole number from 1 to {}", kMaxListed));
      }
      f.limit = value.get<size_t>();
    } else if (key == "all") {
      if (!value.is_boolean()) return Bad("\"all\" must be true or false");
      *all = value.get<bool>();
    } else {
      return Bad(fmt::format("unknown filter \"{}\" (ids, state, tenant, destination, sender, rcpt, category, min_age, limit, all)",
                             key.substr(0, 64)));
    }
    if (!s.ok()) return s;
  }
  return f;
}

std::string UrlDecode(std::string_view s) {
  auto hex = [](char h) {
    return mail::IsDigit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

Result<queue::Filter> ParseFilterQuery(std::string_view query) {
  json filter = json::object();
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(start, amp - start);
    start = amp + 1;
    size_t eq = pair.find('=');
    std::string key = UrlDecode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : UrlDecode(pair.substr(eq + 1));
    if (key == "min_age" || key == "limit") {
      uint64_t v = 0;  // unsigned, as ParseFilter wants a limit
      if (value.empty() || value.size() > 12 || !std::all_of(value.begin(), value.end(), mail::IsDigit)) {
        return Bad(key == "limit" ? "limit must be a whole number" : "min_age must be whole seconds");
      }
      for (char c : value) v = v * 10 + (c - '0');
      filter[key] = v;
    } else if (key == "id") {
      filter["ids"].push_back(value);
    } else if (key == "ids") {
      return Bad("give each queue id as id=...");
    } else if (key == "all") {
      return Bad("\"all\" is for actions, not for listing");
    } else if (!key.empty()) {
      filter[key] = value;
    }
  }
  bool all = false;
  return ParseFilter(filter, &all);
}

Result<std::string> ParseMove(const json& body) {
  std::string forest;
  if (Status s = GetString(body, "forest", &forest, true); !s.ok()) return s;
  if (forest.empty()) return Bad("\"forest\" must name a forest");
  return forest;
}

Result<size_t> ParseLimit(const json& body) {
  auto it = body.find("limit");
  if (it == body.end() || !it->is_number_unsigned() || it->get<uint64_t>() < 1 || it->get<uint64_t>() > 100'000) {
    return Bad("\"limit\" (an integer from 1 to 100000) is required");
  }
  return static_cast<size_t>(it->get<uint64_t>());
}

Result<directory::FaultOptions> ParseFault(const json& body) {
  directory::FaultOptions f;
  for (const auto& [key, value] : body.items()) {
    if (key == "latency_ms") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 3'600'000) {
        return Bad("latency_ms must be whole milliseconds from 0 to 3600000");
      }
      f.latency = std::chrono::milliseconds(value.get<int64_t>());
    } else if (key == "error_rate") {
      if (!value.is_number() || !(value.get<double>() >= 0 && value.get<double>() <= 1)) {
        return Bad("error_rate must be a number in [0, 1]");
      }
      f.error_rate = value.get<double>();
    } else if (key == "hang") {
      if (!value.is_boolean()) return Bad("hang must be true or false");
      f.hang = value.get<bool>();
    } else {
      return Bad(fmt::format("unknown fault \"{}\" (latency_ms, error_rate, hang)", key.substr(0, 64)));
    }
  }
  return f;
}

Result<HoldRequest> ParseHold(const json& body) {
  HoldRequest h;
  std::string kind;
  Status s = GetString(body, "kind", &kind, true);
  if (s.ok()) s = GetString(body, "name", &h.policy.name, true);
  if (s.ok()) s = GetString(body, "reason", &h.policy.reason);
  if (!s.ok()) return Bad("\"kind\" (tenant or destination) and \"name\" are required strings; \"hold\" is a boolean");
  auto parsed = queue::ParseHoldKind(kind);
  if (!parsed) {
    return Bad(fmt::format("a hold policy is for a \"tenant\" or a \"destination\", not \"{}\"", kind.substr(0, 64)));
  }
  h.policy.kind = *parsed;
  if (auto it = body.find("hold"); it != body.end()) {
    if (!it->is_boolean()) return Bad("\"hold\" must be true or false");
    h.on = it->get<bool>();
  }
  return h;
}

Result<FlightStart> ParseFlightStart(const json& body) {
  FlightStart f;
  auto share = body.find("share");
  if (!GetString(body, "candidate", &f.candidate, true).ok() || f.candidate.empty() || share == body.end() ||
      !share->is_number_integer()) {
    return Bad("\"candidate\" (the path of a config file) and \"share\" (percent) are required");
  }
  // The range is the flight's to judge (422); here only what fits an int.
  const int64_t v = share->is_number_unsigned() && share->get<uint64_t>() > 1'000'000 ? 1'000'000 : share->get<int64_t>();
  f.share = static_cast<int>(std::clamp<int64_t>(v, -1'000'000, 1'000'000));
  return f;
}

}  // namespace sluice::admin
