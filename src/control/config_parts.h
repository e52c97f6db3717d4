// The section readers of the config, shared by the files of control/ that
// hold them (internal to control/). Each reads one table of the file into
// the Config, reporting problems with file, line and key.
#pragma once

#include <string>

#include "admin/alerts.h"
#include "control/config.h"
#include "control/toml_reader.h"

namespace sluice::control {

// "host:port" or "[v6]:port" into a listener's address; errors on `key`.
bool ParseHostPort(const std::string& spec, TomlTable& t, const char* key, server::ListenerOptions* l);

// A [server] listen entry: a listener with default settings.
void ReadListener(const std::string& spec, TomlTable& t, std::vector<server::ListenerOptions>* out);
// The whole file, once parsed.
LoadResult LoadConfigTable(const toml::table& root, const std::string& path);

// config_edge.cc
void ReadServer(TomlTable& s, Config& c);
void ReadListenerTable(const std::string& name, TomlTable& s, Config& c, bool first, bool listen_given);
void ReadTls(TomlTable& s, Config& c);
void ReadLimits(TomlTable& s, Config& c);
void ReadRateLimits(TomlTable& s, Config& c);
void ReadFilterTable(const std::string& name, TomlTable& s, Config& c);
void ReadProtection(TomlTable& s, Config& c);  // after [filters]
void ReadConnectorTable(const std::string& name, TomlTable& s, Config& c);  // after [destinations]
void ReadSmtp(TomlTable& s, Config& c);
void ReadAdmin(TomlTable& s, Config& c);
void ReadLog(TomlTable& s, Config& c);

// config_stages.cc
void ReadSpool(TomlTable& s, Config& c, bool* min_free_set);
void ReadDirectory(TomlTable& s, Config& c);
void ReadForestDefaults(TomlTable& s, Config& c);
void ReadForestTable(const std::string& name, TomlTable& s, Config& c);
void ReadDns(TomlTable& s, Config& c);
void ReadDestinationTable(const std::string& name, TomlTable& d, Config& c);
void ReadQueue(TomlTable& s, Config& c);
void ReadFlight(TomlTable& s, Config& c);

// config_cluster.cc
void ReadCluster(TomlTable& s, Config& c);
void ReadShadow(TomlTable& s, Config& c);
void ReadShadowMode(TomlTable& s, const char* key, queue::ShadowMode* out);

// config_alerts.cc
void ReadAlerts(TomlTable& t, admin::AlertOptions* a);  // [alerts]

}  // namespace sluice::control
