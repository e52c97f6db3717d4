#include "cluster/backoff.h"

namespace sluice::cluster {
namespace {

// KEYS: 1 the destination's window (a string "node why" expiring with it).
// ARGV: node, ms to publish (0: none), why. Returns {ms left, "node why"}.
constexpr const char* kExchange = R"LUA(
local ms = tonumber(ARGV[2])
if ms > 0 and redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[3], 'PX', ms)
end
local left = redis.call('PTTL', KEYS[1])
if left <= 0 then return {0, ''} end
return {left, redis.call('GET', KEYS[1])}
)LUA";

constexpr const char* kPrefix = "fleet ";

}  // namespace

std::string FleetReason(const std::string& node, const std::string& why) { return kPrefix + node + ": " + why; }
bool IsFleetReason(const std::string& why) { return why.rfind(kPrefix, 0) == 0; }

SharedBackoff::SharedBackoff(Redis& redis, std::string node)
    : redis_(redis), node_(std::move(node)), script_(redis_.AddScript(kExchange)) {}

std::vector<Redis::Command> SharedBackoff::Commands(const std::vector<BackoffWindow>& mine) const {
  std::vector<Redis::Command> cmds;
  for (const auto& w : mine) {
    cmds.push_back({{"1", "sluice:{dest:" + w.destination + "}:backoff", node_, std::to_string(w.left.count()),
                     w.why.substr(0, 200)},
                    static_cast<int>(script_)});
  }
  return cmds;
}

std::vector<BackoffWindow> SharedBackoff::Parse(const std::vector<BackoffWindow>& mine,
                                                const RedisReply* replies) const {
  std::vector<BackoffWindow> out;
  for (size_t i = 0; i < mine.size(); ++i) {
    const RedisReply& r = replies[i];
    BackoffWindow w;
    w.destination = mine[i].destination;
    if (r.type == RedisReply::Type::kArray && r.elements.size() == 2 && r.elements[0].integer > 0) {
      w.left = std::chrono::milliseconds(r.elements[0].integer);
      const std::string& v = r.elements[1].str;
      const size_t space = v.find(' ');
      w.node = v.substr(0, space);
      w.why = space == std::string::npos ? "" : v.substr(space + 1);
    }
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace sluice::cluster
