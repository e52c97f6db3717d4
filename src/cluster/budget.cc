#include "cluster/budget.h"

#include <algorithm>

namespace sluice::cluster {
namespace {

// KEYS: 1 the nodes' blocks (hash node → "block in_use want"), 2 their
// lease expiries (sorted set, milliseconds of Redis's clock), 3 the
// forest's state (limit, controller lease, pending samples).
// ARGV: node, ttl_ms, max_limit, in_use, want, samples, sum_us, drops,
// proposed limit (-1 none), min_limit, held (what the node may have in
// flight until it applies this answer: its current grant or more).
constexpr const char* kRenew = R"LUA(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local node, ttl = ARGV[1], tonumber(ARGV[2])
local max_limit, in_use, want = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[1], gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)

redis.call('HINCRBY', KEYS[3], 'n', ARGV[6])
redis.call('HINCRBY', KEYS[3], 'sum_us', ARGV[7])
redis.call('HINCRBY', KEYS[3], 'drops', ARGV[8])
local ctl = redis.call('HGET', KEYS[3], 'ctl')
local ctl_until = tonumber(redis.call('HGET', KEYS[3], 'ctl_until') or '0')
local is_ctl = 0
if ctl == node or not ctl or ctl_until < now then
  is_ctl = 1
  redis.call('HSET', KEYS[3], 'ctl', node, 'ctl_until', now + ttl)
end
local limit = tonumber(redis.call('HGET', KEYS[3], 'limit') or max_limit)
if is_ctl == 1 and tonumber(ARGV[9]) >= 0 then limit = tonumber(ARGV[9]) end
limit = math.floor(math.max(tonumber(ARGV[10]), math.min(limit, max_limit)))
redis.call('HSET', KEYS[3], 'limit', limit)
local n, sum, drops = 0, 0, 0
if is_ctl == 1 then
  n = tonumber(redis.call('HGET', KEYS[3], 'n'))
  sum = tonumber(redis.call('HGET', KEYS[3], 'sum_us'))
  drops = tonumber(redis.call('HGET', KEYS[3], 'drops'))
  redis.call('HSET', KEYS[3], 'n', 0, 'sum_us', 0, 'drops', 0)
end

local others, fleet_in_use, wants, holders = 0, in_use, {want}, {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= node then
    local b, u, w = string.match(all[i + 1], '(%d+) (%d+) (%d+)')
    others = others + tonumber(b)
    fleet_in_use = fleet_in_use + tonumber(u)
    table.insert(wants, tonumber(w))
    table.insert(holders, all[i])
    table.insert(holders, tonumber(b))
  end
end
-- Max-min fairness: the level no want above it may pass. When every want
-- fits, what is left is split evenly on top: room for bursts between
-- renewals.
table.sort(wants)
local remaining, level, total = limit, nil, 0
for i, w in ipairs(wants) do
  local fair = remaining / (#wants - i + 1)
  if w > fair then level = fair break end
  remaining = remaining - w
  total = total + w
end
local target
if level then
  target = math.min(want, math.floor(level))
else
  target = want + math.floor((limit - total) / #wants)
end
-- The node admits up to grant once it has this answer; until then it may
-- still admit up to its current grant, and lookups above the new grant
-- finish later: its block counts all of it.
local grant = math.min(target, math.max(limit - others, 0))
local block = math.max(grant, in_use, tonumber(ARGV[11]))
redis.call('HSET', KEYS[1], node, block .. ' ' .. in_use .. ' ' .. want)
redis.call('ZADD', KEYS[2], now + ttl, node)
for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], ttl * 30) end
table.insert(holders, node)
table.insert(holders, block)
return {grant, limit, #wants, is_ctl, n, sum, drops, fleet_in_use, holders}
)LUA";

constexpr const char* kRelease = R"LUA(
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
)LUA";

std::vector<std::string> Keys(const std::string& forest) {
  // One hash tag per forest: a Redis Cluster would keep its keys together.
  const std::string tag = "sluice:{" + forest + "}:";
  return {tag + "nodes", tag + "leases", tag + "state"};
}

uint64_t Int(const RedisReply& r) { return r.type == RedisReply::Type::kInteger ? static_cast<uint64_t>(r.integer) : 0; }

}  // namespace

size_t WantFor(size_t used, size_t limit) { return std::min(limit, used + std::max<size_t>(2, used / 2)); }

SharedBudget::SharedBudget(Redis& redis, std::string node, std::chrono::milliseconds lease_ttl)
    : redis_(redis), node_(std::move(node)), ttl_(lease_ttl), script_(redis_.AddScript(kRenew)) {
  redis_.AddScript(kRelease);
}

std::vector<Redis::Command> SharedBudget::Commands(const std::vector<Demand>& demands) const {
  std::vector<Redis::Command> cmds;
  for (const auto& d : demands) {
    auto keys = Keys(d.name);
    cmds.push_back({{"3", keys[0], keys[1], keys[2], node_, std::to_string(ttl_.count()), std::to_string(d.max_limit),
                     std::to_string(d.in_use), std::to_string(d.want), std::to_string(d.samples),
                     std::to_string(d.latency_sum_us), std::to_string(d.drops), std::to_string(d.proposed_limit),
                     std::to_string(d.min_limit), std::to_string(std::max(d.held, d.in_use))},
                    static_cast<int>(script_)});
  }
  return cmds;
}

Result<std::vector<Grant>> SharedBudget::Parse(const std::vector<Demand>& demands, const RedisReply* replies) const {
  std::vector<Grant> out;
  for (size_t i = 0; i < demands.size(); ++i) {
    const RedisReply& r = replies[i];
    if (r.type != RedisReply::Type::kArray || r.elements.size() != 9) {
      return Status::Unavailable("redis: the budget script answered " + (r.str.empty() ? "no array" : r.str));
    }
    const auto& e = r.elements;
    Grant g;
    g.name = demands[i].name;
    g.share = Int(e[0]);
    g.limit = Int(e[1]);
    g.live = std::max<size_t>(1, Int(e[2]));
    g.controller = Int(e[3]) == 1;
    g.samples = Int(e[4]);
    g.latency_sum_us = Int(e[5]);
    g.drops = Int(e[6]);
    g.fleet_in_use = Int(e[7]);
    for (size_t k = 0; k + 1 < e[8].elements.size(); k += 2) {
      g.holders.emplace_back(e[8].elements[k].str, Int(e[8].elements[k + 1]));
    }
    out.push_back(std::move(g));
  }
  return out;
}

void SharedBudget::Release(const std::vector<std::string>& forests) {
  std::vector<Redis::Command> cmds;
  for (const auto& f : forests) {
    auto keys = Keys(f);
    cmds.push_back({{"2", keys[0], keys[1], node_}, static_cast<int>(script_ + 1)});
  }
  (void)redis_.Run(cmds);
}

}  // namespace sluice::cluster
