#include "control/descriptors.h"

#include <fmt/format.h>

#include <algorithm>

namespace sluice::control {

// Counted generously: a warning that is a little early beats EMFILE.
DescriptorPlan PlanDescriptors(const Config& c, uint64_t limit) {
  DescriptorPlan p;
  p.limit = limit;
  p.wanted = c.server.max_connections;
  uint64_t n = 32;  // stdio, logs, the admin and queue loops, DNS sockets, webhooks
  // Each worker: its event loop (epoll, eventfd, timerfd), a spare, an acceptor per listener.
  n += c.server.workers * (4 + c.server.listeners.size());
  n += 256 + 16;                   // RocksDB's open files (rocksdb_spool.cc) and its WAL, manifest
  n += 64;                         // admin connections (admin.cc caps them)
  n += c.queue.max_deliveries;     // outbound connections in use
  for (const auto& d : c.destinations) {
    const uint64_t hops = d.kind == delivery::DestinationKind::kMx ? d.max_mx_addresses : 1;
    n += d.max_concurrency * hops;  // idle pooled connections, per next hop
  }
  auto forest = [&](const directory::ForestOptions& f) { n += f.threads * f.replicas.size(); };
  forest(c.directory.defaults);
  for (const auto& f : c.directory.forests) forest(f);
  p.others = n;
  p.sessions = std::max<uint64_t>(16, limit > n ? limit - n : 0);
  return p;
}

std::string DescriptorPlan::Explain() const {
  return fmt::format(
      "the descriptor limit {} leaves room for {} SMTP sessions after {} for the spool, queue, destinations, "
      "forests and admin, fewer than max_connections {}; raise the limit (ulimit -n, LimitNOFILE) or lower "
      "max_connections",
      limit, sessions, others, wanted);
}

}  // namespace sluice::control
