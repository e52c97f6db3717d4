// TOML → Config. Every key the daemon reads is named once, in the reader
// of its section (config_edge.cc, config_stages.cc, config_alerts.cc,
// config_cluster.cc), with
// its bounds; anything else in the file is an error (doc/design.md,
// convention 9). This file runs the readers in order and checks what spans
// sections.
#include "control/config.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/url.h"
#include "control/config_parts.h"
#include "control/toml_reader.h"

namespace sluice::control {

// "host:port" or "[v6]:port"; errors are reported on `key`.
bool ParseHostPort(const std::string& spec, TomlTable& t, const char* key, server::ListenerOptions* l) {
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon + 1 == spec.size()) {
    t.Error(key, fmt::format("\"{}\" is not host:port", spec));
    return false;
  }
  l->address = spec.substr(0, colon);
  if (l->address.size() > 2 && l->address.front() == '[' && l->address.back() == ']') {
    l->address = l->address.substr(1, l->address.size() - 2);
  }
  unsigned port = 0;
  for (char c : spec.substr(colon + 1)) {
    if (c < '0' || c > '9' || (port = port * 10 + static_cast<unsigned>(c - '0')) > 65535) {
      t.Error(key, fmt::format("\"{}\" has a bad port", spec));
      return false;
    }
  }
  if (port == 0) {
    t.Error(key, fmt::format("\"{}\" has a bad port", spec));
    return false;
  }
  l->port = static_cast<uint16_t>(port);
  return true;
}

void ReadListener(const std::string& spec, TomlTable& t, std::vector<server::ListenerOptions>* out) {
  server::ListenerOptions l;
  l.name = "smtp-" + spec;
  if (ParseHostPort(spec, t, "listen", &l)) out->push_back(std::move(l));
}

std::string ConfigError::ToString() const {
  std::string where = line > 0 ? fmt::format("{}:{}", file, line) : file;
  return key.empty() ? fmt::format("{}: {}", where, what) : fmt::format("{}: {}: {}", where, key, what);
}

namespace {

// Values derived from more than one section, and checks across them.
void Finish(Config& c, const std::string& path, bool min_free_set, std::vector<ConfigError>* errors) {
  // Room for a few messages of the largest size, as Postfix's smtpd asks
  // for 1.5 × message_size_limit above queue_minfree.
  if (!min_free_set) c.spool.min_free = std::max<uint64_t>(c.spool.min_free, 3 * uint64_t{c.session.max_message_size});
  // One TLS policy everywhere: outbound, admin and webhooks follow [tls].
  for (auto& d : c.destinations) d.tls_policy = c.server.tls_policy;
  c.admin.tls_policy = c.server.tls_policy;
  for (auto& w : c.admin.alerts.webhooks) w.tls_policy = c.server.tls_policy;
  c.session.hostname = c.hostname;
  c.queue.hostname = c.hostname;
  c.admin.hostname = c.hostname;
  if (c.destinations.empty()) errors->push_back({path, 0, "destinations", "at least one destination is needed"});
  for (const auto& l : c.server.listeners) {
    if (l.require_tls && c.server.tls_cert.empty()) {
      errors->push_back({path, 0, "listeners." + l.name + ".require_tls", "needs a certificate in [tls]"});
    }
  }
  if (c.server.listeners.empty()) errors->push_back({path, 0, "server.listen", "at least one listener is needed"});
}

std::vector<ConfigError> Warnings(const Config& c, const std::string& path) {
  std::vector<ConfigError> w;
  if (c.hostname == "localhost") {
    w.push_back({path, 0, "server.hostname", "is \"localhost\": every greeting, Received: field and DSN names this "
                                            "node by it; set the name the world reaches it by"});
  }
  if (c.admin.enabled && c.admin.token == "sluice-example-admin-token") {
    w.push_back({path, 0, "admin.token", "is the example's token: anyone who read the example can change this node"});
  }
  if (c.admin.enabled && !IsLoopback(c.admin.address) && c.admin.tls_cert.empty()) {
    w.push_back({path, 0, "admin.listen", "is off loopback without tls_cert: tokens and mail cross the network in the clear"});
  }
  return w;
}

}  // namespace

LoadResult LoadConfig(const std::string& path) {
  LoadResult r;
  toml::table root;
  if (!ParseTomlFile(path, &root, &r.errors)) return r;
  return LoadConfigTable(root, path);
}

LoadResult LoadConfigText(std::string_view text, const std::string& path) {
  LoadResult r;
  toml::table root;
  if (!ParseTomlText(text, path, &root, &r.errors)) return r;
  return LoadConfigTable(root, path);
}

// The sections in the order their values are needed: [dns] before the
// destinations that copy it, [tls] before [admin]'s check of its own
// certificate. A section's reader sees only its table.
LoadResult LoadConfigTable(const toml::table& root, const std::string& path) {
  LoadResult r;
  Config& c = r.config;
  c.source = path;
  bool min_free_set = false;
  {
    TomlTable t(root, "", path, &r.errors);
    t.Table("server", [&](TomlTable& s) { ReadServer(s, c); });
    const bool listen_given = static_cast<bool>(root["server"]["listen"]);
    bool first = true;
    t.NamedTables("listeners", [&](const std::string& name, TomlTable& s) {
      ReadListenerTable(name, s, c, std::exchange(first, false), listen_given);
    });
    t.Table("tls", [&](TomlTable& s) { ReadTls(s, c); });
    t.Table("limits", [&](TomlTable& s) { ReadLimits(s, c); });
    t.Table("rate_limits", [&](TomlTable& s) { ReadRateLimits(s, c); });
    t.NamedTables("filters", [&](const std::string& name, TomlTable& s) { ReadFilterTable(name, s, c); });
    t.Table("protection", [&](TomlTable& s) { ReadProtection(s, c); });
    t.Table("smtp", [&](TomlTable& s) { ReadSmtp(s, c); });
    t.Table("spool", [&](TomlTable& s) { ReadSpool(s, c, &min_free_set); });
    t.Table("directory", [&](TomlTable& s) { ReadDirectory(s, c); });
    t.Table("forest_defaults", [&](TomlTable& s) { ReadForestDefaults(s, c); });
    t.NamedTables("forests", [&](const std::string& name, TomlTable& s) { ReadForestTable(name, s, c); });
    t.Table("dns", [&](TomlTable& s) { ReadDns(s, c); });
    t.NamedTables("destinations", [&](const std::string& name, TomlTable& s) { ReadDestinationTable(name, s, c); });
    t.NamedTables("connectors", [&](const std::string& name, TomlTable& s) { ReadConnectorTable(name, s, c); });
    t.StringMap("placement", [&](const std::string& tenant, const std::string& forest, int line) {
      c.placement.push_back(Placement{tenant, forest, line});
    });
    t.Table("flight", [&](TomlTable& s) { ReadFlight(s, c); });
    t.Table("queue", [&](TomlTable& s) { ReadQueue(s, c); });
    t.Table("admin", [&](TomlTable& s) { ReadAdmin(s, c); });
    t.Table("alerts", [&](TomlTable& s) { ReadAlerts(s, &c.admin.alerts); });
    t.Table("log", [&](TomlTable& s) { ReadLog(s, c); });
    t.Table("cluster", [&](TomlTable& s) { ReadCluster(s, c); });
    t.Table("shadow", [&](TomlTable& s) { ReadShadow(s, c); });
  }
  Finish(c, path, min_free_set, &r.errors);
  if (r.errors.empty()) r.warnings = Warnings(c, path);
  return r;
}

}  // namespace sluice::control
