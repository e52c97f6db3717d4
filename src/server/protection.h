// The connection filter ([protection], doc/protection.md): allow and block
// lists of client address ranges, for the whole edge and per tenant. A
// client on the global block list gets `554 5.7.1` as its greeting and
// nothing else (RFC 5321 §3.1); one a tenant blocks gets `550 5.7.1` at
// RCPT for that tenant's recipients only. An allow list wins over a block
// list at the same level, so an operator can open a hole in a blocked range.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/cidr.h"

namespace sluice::server {

struct AddressLists {
  CidrList allow, block;
  bool Blocks(std::string_view client) const { return block.Contains(client) && !allow.Contains(client); }
  bool operator==(const AddressLists&) const = default;
};

struct ProtectionOptions {
  AddressLists global;
  std::map<std::string, AddressLists> tenants;  // by tenant name
  bool BlocksTenant(const std::string& tenant, std::string_view client) const {
    auto t = tenants.find(tenant);
    return t != tenants.end() && t->second.Blocks(client);
  }
  bool operator==(const ProtectionOptions&) const = default;
};

}  // namespace sluice::server
