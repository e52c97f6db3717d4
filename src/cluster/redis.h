// A connection to the fleet's Redis (hiredis, blocking, with deadlines):
// found directly or through Sentinel, scripts loaded once per connection,
// commands sent in one round trip. Any failure drops the connection; the
// next call connects again. Contract: one thread uses it; every call
// returns within about two timeouts per address tried.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

struct redisContext;

namespace sluice::cluster {

struct RedisOptions {
  std::string address;                 // "host:port", or empty with sentinels
  std::vector<std::string> sentinels;  // "host:port" each
  std::string master = "sluice";       // the name Sentinel knows the master by
  std::chrono::milliseconds timeout{50};  // connect and each round trip
  bool operator==(const RedisOptions&) const = default;
};

struct RedisReply {
  enum class Type { kNil, kInteger, kString, kArray, kError, kStatus };
  Type type = Type::kNil;
  long long integer = 0;
  std::string str;
  std::vector<RedisReply> elements;
};

class Redis {
 public:
  explicit Redis(RedisOptions o);
  ~Redis();
  Redis(const Redis&) = delete;

  // A Lua script to load on every (re)connection; returns its handle for
  // Script below. Call before the first command.
  size_t AddScript(std::string lua);
  struct Command {
    std::vector<std::string> argv;  // empty argv[0] with script >= 0: EVALSHA
    int script = -1;
  };
  // Sends every command, then reads every reply: one round trip. A reply
  // of type kError is a reply, not a failure; a timeout or a broken
  // connection is.
  Result<std::vector<RedisReply>> Run(const std::vector<Command>& commands);

  const std::string& where() const { return where_; }  // the server in use, "" if none

 private:
  Status Connect();
  Status ConnectTo(const std::string& host_port);
  void Drop();

  RedisOptions o_;
  redisContext* c_ = nullptr;
  std::string where_;
  std::vector<std::string> scripts_, shas_;
};

}  // namespace sluice::cluster
