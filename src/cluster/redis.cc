#include "cluster/redis.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>


namespace sluice::cluster {
namespace {

timeval ToTimeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>(d.count() % 1000 * 1000)};
}

RedisReply Convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.type = r->type == REDIS_REPLY_STRING   ? RedisReply::Type::kString
                 : r->type == REDIS_REPLY_STATUS ? RedisReply::Type::kStatus
                                                 : RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      break;
  }
  return out;
}

// "host:port" split; false if it is not one.
bool Split(const std::string& hp, std::string* host, int* port) {
  const size_t colon = hp.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = hp.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  try {
    *port = std::stoi(hp.substr(colon + 1));
  } catch (...) {
    return false;
  }
  return *port > 0 && *port < 65536;
}

}  // namespace

Redis::Redis(RedisOptions o) : o_(std::move(o)) {}
Redis::~Redis() { Drop(); }

size_t Redis::AddScript(std::string lua) {
  scripts_.push_back(std::move(lua));
  return scripts_.size() - 1;
}

void Redis::Drop() {
  if (c_) redisFree(c_);
  c_ = nullptr;
  where_.clear();
  shas_.clear();
}

Status Redis::ConnectTo(const std::string& hp) {
  std::string host;
  int port = 0;
  if (!Split(hp, &host, &port)) return Status::InvalidArgument(fmt::format("\"{}\" is not host:port", hp));
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, ToTimeval(o_.timeout));
  if (!c || c->err) {
    std::string why = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    return Status::Unavailable(fmt::format("redis {}: {}", hp, why));
  }
  redisSetTimeout(c, ToTimeval(o_.timeout));
  c_ = c;
  where_ = hp;
  return Status::Ok();
}

// Directly, or: ask each sentinel for the master's address, connect there
// and check that it is a master (a sentinel may not have noticed a
// failover yet).
Status Redis::Connect() {
  Status last = Status::Unavailable("no redis address");
  if (o_.sentinels.empty()) {
    last = ConnectTo(o_.address);
  } else {
    for (const auto& s : o_.sentinels) {
      if (Status st = ConnectTo(s); !st.ok()) {
        last = st;
        continue;
      }
      auto* r = static_cast<redisReply*>(redisCommand(c_, "SENTINEL get-master-addr-by-name %s", o_.master.c_str()));
      std::string master;
      if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        master = fmt::format("{}:{}", std::string(r->element[0]->str, r->element[0]->len),
                             std::string(r->element[1]->str, r->element[1]->len));
      }
      if (r) freeReplyObject(r);
      Drop();
      if (master.empty()) {
        last = Status::Unavailable(fmt::format("sentinel {} knows no master \"{}\"", s, o_.master));
        continue;
      }
      if (last = ConnectTo(master); !last.ok()) continue;
      auto* role = static_cast<redisReply*>(redisCommand(c_, "ROLE"));
      const bool is_master = role && role->type == REDIS_REPLY_ARRAY && role->elements > 0 &&
                             std::string(role->element[0]->str, role->element[0]->len) == "master";
      if (role) freeReplyObject(role);
      if (is_master) break;
      Drop();
      last = Status::Unavailable(fmt::format("redis {} is not a master", master));
    }
  }
  if (!c_) return last;
  for (const auto& lua : scripts_) {
    auto* r = static_cast<redisReply*>(redisCommand(c_, "SCRIPT LOAD %b", lua.data(), lua.size()));
    if (!r || r->type != REDIS_REPLY_STRING) {
      std::string why = r && r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "no reply";
      if (r) freeReplyObject(r);
      Drop();
      return Status::Unavailable("redis SCRIPT LOAD: " + why);
    }
    shas_.emplace_back(r->str, r->len);
    freeReplyObject(r);
  }
  return Status::Ok();
}

Result<std::vector<RedisReply>> Redis::Run(const std::vector<Command>& commands) {
  if (!c_) {
    if (Status st = Connect(); !st.ok()) return st;
  }
  for (const auto& cmd : commands) {
    std::vector<std::string> argv;
    if (cmd.script >= 0) {
      argv = {"EVALSHA", shas_.at(cmd.script)};
    }
    argv.insert(argv.end(), cmd.argv.begin(), cmd.argv.end());
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(c_, static_cast<int>(argv.size()), ptrs.data(), lens.data()) != REDIS_OK) {
      Drop();
      return Status::Unavailable("redis: cannot queue a command");
    }
  }
  std::vector<RedisReply> out;
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(c_, &raw) != REDIS_OK || !raw) {
      std::string why = c_->errstr[0] ? c_->errstr : "no reply";
      std::string at = where_;
      Drop();
      return Status::Unavailable(fmt::format("redis {}: {}", at, why));
    }
    out.push_back(Convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return out;
}

}  // namespace sluice::cluster
