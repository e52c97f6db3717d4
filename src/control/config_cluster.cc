// [cluster]: this node as one of a fleet (doc/cluster.md). Absent, Sluice
// runs alone exactly as without it.
#include <unistd.h>

#include "cluster/shadow_protocol.h"
#include "common/url.h"
#include "control/config_parts.h"

namespace sluice::control {

void ReadCluster(TomlTable& s, Config& c) {
  cluster::ClusterOptions& o = c.cluster;
  o.enabled = true;
  char host[256] = {};
  if (o.node.empty() && gethostname(host, sizeof host - 1) == 0) o.node = host;
  s.String("node", &o.node);
  if (o.node.empty() || o.node.find_first_of(" \t\r\n") != std::string::npos) {
    s.Error("node", "must be a name without spaces");
  }
  s.String("failure_domain", &o.failure_domain);
  s.String("redis", &o.redis.address);
  s.StringList("redis_sentinels", &o.redis.sentinels);
  s.String("redis_master", &o.redis.master);
  s.Duration("redis_timeout", &o.redis.timeout);
  s.Duration("renew_interval", &o.renew_interval);
  s.Duration("lease_ttl", &o.lease_ttl);
  s.StringList("etcd", &o.control.etcd);
  s.Duration("etcd_timeout", &o.control.timeout);
  s.Duration("member_ttl", &o.control.member_ttl);
  s.String("snapshot", &o.control.snapshot);
  if (o.control.snapshot.empty()) o.control.snapshot = c.spool.path + "-control.json";
  for (const auto& e : o.control.etcd) {
    auto url = ParseUrl(e);
    if (!url.ok() || url.value().tls || url.value().path.size() > 1) {
      s.Error("etcd", "\"" + e + "\" is not http://host:port");
      break;
    }
  }
  if (o.control.member_ttl.count() < 2) s.Error("member_ttl", "must be at least 2s");
  server::ListenerOptions probe;
  if (!o.redis.address.empty() && !o.redis.sentinels.empty()) {
    s.Error("redis", "give either redis (host:port) or redis_sentinels, not both");
  } else if (o.redis.address.empty() && o.redis.sentinels.empty() && o.control.etcd.empty()) {
    s.Error("redis", "[cluster] needs redis (or redis_sentinels) for shared budgets, etcd for the control plane, or both");
  } else if (!o.redis.address.empty()) {
    ParseHostPort(o.redis.address, s, "redis", &probe);
  }
  for (const auto& sentinel : o.redis.sentinels) {
    if (!ParseHostPort(sentinel, s, "redis_sentinels", &probe)) break;
  }
  if (o.redis.timeout.count() < 1 || o.redis.timeout.count() > 1000) {
    s.Error("redis_timeout", "must be between 1ms and 1s: it sits on no reply path, but a stalled Redis must be noticed fast");
  }
  if (o.renew_interval.count() < 10) s.Error("renew_interval", "must be at least 10ms");
  if (o.lease_ttl < 5 * o.renew_interval) s.Error("lease_ttl", "must be at least 5 × renew_interval");
}

// [shadow]: a copy of each message on a peer before the 250.
void ReadShadow(TomlTable& s, Config& c) {
  cluster::ShadowOptions& o = c.shadow;
  o.enabled = true;
  c.spool.journal_discards = true;  // the peers learn discards from it
  std::string listen;
  s.String("listen", &listen);
  server::ListenerOptions at;
  if (listen.empty()) {
    s.Error("listen", "[shadow] needs listen = \"host:port\" on the fleet's internal network");
  } else if (ParseHostPort(listen, s, "listen", &at)) {
    o.address = at.address;
    o.port = at.port;
  }
  s.String("secret", &o.secret);
  if (o.secret.size() < 16) s.Error("secret", "must be at least 16 characters, the same on every node");
  s.StringList("peers", &o.peers);
  for (const auto& p : o.peers) {
    if (!ParseHostPort(p, s, "peers", &at)) break;
  }
  if (o.peers.empty() && c.cluster.control.etcd.empty()) {
    s.Error("peers", "name at least one other node's shadow listener (host:port), or give [cluster] etcd to learn them");
  }
  s.String("advertise", &o.advertise);
  if (!o.advertise.empty()) {
    ParseHostPort(o.advertise, s, "advertise", &at);
  } else if (!listen.empty() && (o.address == "0.0.0.0" || o.address == "::")) {
    if (!c.cluster.control.etcd.empty()) s.Error("advertise", "listen is a wildcard: say which host:port peers reach");
  } else {
    o.advertise = listen;
  }
  o.failure_domain = c.cluster.failure_domain;
  s.Duration("deadline", &o.deadline);
  s.String("node", &o.node);
  if (!o.node.empty() && !cluster::ShadowName(o.node)) s.Error("node", "must be 1-128 of A-Z a-z 0-9 . _ -");
  // The listeners without a setting of their own take [shadow] mode.
  queue::ShadowMode mode = queue::ShadowMode::kBestEffort;
  ReadShadowMode(s, "mode", &mode);
  for (auto& l : c.server.listeners) {
    if (!l.shadow_given) l.shadow = mode;
  }
  if (o.deadline.count() < 10 || o.deadline.count() > 30'000) s.Error("deadline", "must be between 10ms and 30s");
  s.Duration("heartbeat", &o.heartbeat);
  s.Duration("resubmit_after", &o.resubmit_after);
  s.Duration("safety_net_hold", &o.safety_net_hold);
  s.Duration("dedup_window", &o.dedup_window);
  if (o.heartbeat.count() < 100) s.Error("heartbeat", "must be at least 100ms");
  // A takeover sooner than a few heartbeats would take mail from a node
  // that is only slow to say it lives.
  if (o.resubmit_after < 3 * o.heartbeat) s.Error("resubmit_after", "must be at least 3 × heartbeat");
  if (o.safety_net_hold.count() < 0) s.Error("safety_net_hold", "must not be negative");
  if (o.dedup_window.count() < 0) s.Error("dedup_window", "must not be negative (0 turns it off)");
  if (o.dedup_window.count() > 0 && o.dedup_window < o.resubmit_after) {
    s.Error("dedup_window", "must cover resubmit_after, or a takeover's duplicates pass it");
  }
}

}  // namespace sluice::control
