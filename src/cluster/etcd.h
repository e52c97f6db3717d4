// etcd's v3 API over its HTTP/JSON gateway (keys and values base64, int64
// as strings), blocking, for the control plane's own thread: ranges from a
// revision, compare-and-put on a key's revision, and leases. Each call
// tries the endpoints in turn, starting with the last one that answered,
// within `timeout` each.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cluster/etcd_reply.h"
#include "common/status.h"

namespace sluice::cluster {

class Etcd {
 public:
  Etcd(std::vector<std::string> endpoints, std::chrono::milliseconds timeout);

  using Range = EtcdRange;
  // Every key under `prefix` changed after `after` (0: all of them).
  // Linearizable: without quorum it fails rather than answer stale.
  Result<Range> Get(const std::string& prefix, int64_t after = 0);
  // Puts `value` if the key's mod revision is still `expected` (0: the key
  // does not exist). Not succeeded: someone else wrote it first.
  Result<EtcdTxn> PutIf(const std::string& key, const std::string& value, int64_t expected);
  Result<int64_t> Grant(std::chrono::seconds ttl);                  // a lease id
  Status Put(const std::string& key, const std::string& value, int64_t lease = 0);
  Result<bool> KeepAlive(int64_t lease);                            // false: the lease is gone

  const std::string& endpoint() const { return endpoints_[current_]; }

 private:
  Result<std::string> Call(const std::string& path, const std::string& body);

  std::vector<std::string> endpoints_;
  std::chrono::milliseconds timeout_;
  size_t current_ = 0;
};

}  // namespace sluice::cluster
