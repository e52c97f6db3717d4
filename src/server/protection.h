// The connection filter ([protection], doc/protection.md): allow and block
// lists of client address ranges, for the whole edge and per tenant. A
// client on the global block list gets `554 5.7.1` as its greeting and
// nothing else (RFC 5321 §3.1); one a tenant blocks gets `550 5.7.1` at
// RCPT for that tenant's recipients only. An allow list wins over a block
// list at the same level, so an operator can open a hole in a blocked range.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.h"
#include "filter/filter.h"
#include "server/connectors.h"

namespace sluice::server {

struct AddressLists {
  CidrList allow, block;
  bool Blocks(std::string_view client) const { return block.Contains(client) && !allow.Contains(client); }
  bool operator==(const AddressLists&) const = default;
};

// One tenant's own settings ([protection.tenants.NAME]).
struct TenantProtection {
  AddressLists lists;
  std::optional<std::vector<std::string>> filters;  // its chain; unset: [protection] filters
  std::optional<filter::OnError> on_error;          // over each filter's own
  std::optional<double> quarantine_score;           // spam at or above it is quarantined
  std::optional<std::chrono::seconds> quarantine_retention;
  bool operator==(const TenantProtection&) const = default;
};

struct ProtectionOptions {
  std::vector<filter::FilterOptions> definitions;  // [filters.NAME], as configured
  AddressLists global;
  std::vector<std::string> filters;  // every tenant's chain, in order, unless it has its own
  std::map<std::string, TenantProtection> tenants;  // by tenant name
  std::vector<ConnectorOptions> connectors;         // [connectors.NAME], in file order
  // The quarantine (doc/protection.md, "Quarantine"): spam scored at or
  // above quarantine_score (unset: none) is quarantined; quarantined mail
  // is deleted after quarantine_retention. Each per tenant too.
  std::optional<double> quarantine_score;
  std::chrono::seconds quarantine_retention{15 * 86400};
  std::optional<double> QuarantineScore(const std::string& tenant) const {
    auto t = tenants.find(tenant);
    return t != tenants.end() && t->second.quarantine_score ? t->second.quarantine_score : quarantine_score;
  }
  std::chrono::seconds QuarantineRetention(const std::string& tenant) const {
    auto t = tenants.find(tenant);
    return t != tenants.end() && t->second.quarantine_retention ? *t->second.quarantine_retention
                                                                : quarantine_retention;
  }
  const ConnectorOptions* Connector(const std::string& name) const {
    for (const auto& c : connectors) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }
  bool BlocksTenant(const std::string& tenant, std::string_view client) const {
    auto t = tenants.find(tenant);
    return t != tenants.end() && t->second.lists.Blocks(client);
  }
  // The client is on the global allow list or `tenant`'s: its mail skips
  // spam scoring, never malware scanning.
  bool Allows(const std::string& tenant, std::string_view client) const {
    if (global.allow.Contains(client)) return true;
    auto t = tenants.find(tenant);
    return t != tenants.end() && t->second.lists.allow.Contains(client);
  }
  const std::vector<std::string>& ChainOf(const std::string& tenant) const {
    auto t = tenants.find(tenant);
    return t != tenants.end() && t->second.filters ? *t->second.filters : filters;
  }
  bool operator==(const ProtectionOptions&) const = default;
};

}  // namespace sluice::server
