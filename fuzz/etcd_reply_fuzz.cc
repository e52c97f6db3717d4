// libFuzzer target: etcd's gateway replies as the control plane reads them
// (cluster/etcd_reply.h). Any bytes: a parsed reply or an Unavailable
// status with a reason, never an exception; and base64 round-trips.
#include <cstdlib>
#include <string>

#include "cluster/etcd_reply.h"

using namespace sluice;

static void Check(bool ok) {
  if (!ok) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  auto range = cluster::ParseRange(in);
  if (range.ok()) {
    for (const auto& kv : range.value().kvs) Check(kv.key.size() <= in.size() && kv.value.size() <= in.size());
  } else {
    Check(range.status().code() == Status::Code::kUnavailable && !range.status().message().empty());
  }
  auto txn = cluster::ParseTxn(in);
  if (!txn.ok()) Check(!txn.status().message().empty());
  auto grant = cluster::ParseGrant(in);
  if (grant.ok()) Check(grant.value() != 0);
  auto alive = cluster::ParseKeepAlive(in);
  if (!alive.ok()) Check(!alive.status().message().empty());
  Check(cluster::Unbase64(cluster::Base64(in)) == in);
  const std::string end = cluster::PrefixEnd(in);
  Check(in.empty() || end > in.substr(0, end.size()) || end == std::string(1, '\0'));
  return 0;
}
