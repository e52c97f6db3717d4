// etcd's v3 JSON gateway replies, parsed: pure, no I/O, every byte hostile
// (fuzz/etcd_reply_fuzz.cc). Keys and values are base64; int64 fields are
// strings. A reply that does not parse is an Unavailable status, never an
// exception.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace sluice::cluster {

struct EtcdKv {
  std::string key, value;
  int64_t mod_revision = 0;
};

struct EtcdRange {
  int64_t revision = 0;  // the store's revision when it answered
  std::vector<EtcdKv> kvs;
};

std::string Base64(const std::string& in);
std::string Unbase64(const std::string& in);  // "" when it is not base64
std::string PrefixEnd(std::string prefix);   // the key just past every key with this prefix

Result<EtcdRange> ParseRange(const std::string& body);
// A compare-and-put: whether the compare held, and the store's revision
// after it (the put's own when it did).
struct EtcdTxn {
  bool succeeded = false;
  int64_t revision = 0;
};
Result<EtcdTxn> ParseTxn(const std::string& body);
Result<int64_t> ParseGrant(const std::string& body);    // the lease id
Result<bool> ParseKeepAlive(const std::string& body);   // false: the lease is gone

}  // namespace sluice::cluster
