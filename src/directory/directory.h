// The directory stage: recipient → tenant → forest → mailbox destination.
// Other stages include only this header.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/tenant_groups.h"
#include "directory/forest.h"
#include "directory/lookup.h"

namespace sluice::directory {

// The data a directory is seeded with (examples/directory.toml).
struct SeedRecipient {
  std::string address;
  std::vector<std::string> aliases;
  std::string destination;  // empty: the tenant's default
  std::string mailbox;      // empty: the destination's default for the address
};
struct SeedTenant {
  std::string name;
  std::string forest;
  std::vector<std::string> domains;
  std::string destination;  // default destination of its recipients
  std::vector<SeedRecipient> recipients;
};
struct SeedData {
  std::vector<std::string> forests;
  std::vector<SeedTenant> tenants;
};

struct DirectoryOptions {
  std::string path = "var/directory.db";  // the embedded SQLite database and catalog
  std::string seed;                       // TOML seed, loaded when the database is empty
  bool fault_injection = false;           // honour [forests.X.fault]; never in production
  ForestOptions defaults;                 // for forests without a [forests.X] table
  std::vector<ForestOptions> forests;     // [forests.X] tables
  bool operator==(const DirectoryOptions&) const = default;  // a reload applies what changed
};

// Which forest holds each tenant, and which tenant owns each domain: the
// catalog the router consults before it asks any forest.
struct Catalog {
  std::map<std::string, std::string> domain_tenant;
  std::map<std::string, std::string> tenant_forest;
  std::vector<std::string> forests;
};

// A back end of a forest replica. Thread-safe.
class Backend {
 public:
  using Done = std::function<void(LookupResult)>;
  virtual ~Backend() = default;
  // `address` is canonical (domain lower-cased); `tenant` owns its domain
  // by the catalog: only that tenant's entries may answer (another
  // tenant's alias never takes its mail). Empty: the back end's own
  // catalog decides. Blocks; called only from the forest's own threads.
  virtual LookupResult Lookup(const std::string& address, const std::string& tenant) = 0;
  // Starts a lookup and calls `done` exactly once with its answer, on a
  // thread of the forest's or of the back end's own. A back end that can
  // keep many lookups in flight without a thread each (LDAP) returns at
  // once; the default answers with Lookup on the calling thread.
  virtual void Start(const std::string& address, const std::string& tenant, Done done) {
    done(Lookup(address, tenant));
  }
};

// Opens the SQLite back end, creating and seeding it on first start.
Result<std::unique_ptr<Backend>> OpenSqliteBackend(const std::string& path, const SeedData* seed);
// An LDAP forest replica: "ldap://host:port/base-dn" (examples/ldap/ has the
// schema). Asynchronous: searches go out on one connection, driven by the
// replica's own event-loop thread, so lookups in flight are bounded by the
// forest's bulkhead, not by threads; reopened after an error.
Result<std::unique_ptr<Backend>> OpenLdapBackend(const std::string& url);
// The catalog in the embedded database.
Result<Catalog> LoadCatalog(const std::string& path);
Status SaveTenantForest(const std::string& path, const std::string& tenant, const std::string& forest);

// What the edge talks to: recipient → domain → tenant → forest, then the
// forest's bulkhead, cache and replicas. Resolve never blocks the calling
// event loop and always answers within the forest's deadlines.
class Directory {
 public:
  virtual ~Directory() = default;
  virtual boost::asio::awaitable<LookupResult> Resolve(std::string address) = 0;
  // Moves a tenant to another forest, live: lookups started before the
  // move finish where they began; later ones go to the new forest.
  virtual Status MoveTenant(const std::string& tenant, const std::string& forest) = 0;
  virtual Status SetForestLimit(const std::string& forest, size_t limit) = 0;
  virtual Status SetForestFault(const std::string& forest, FaultOptions fault) = 0;
  // A flight: tenants in its group (TenantGroups' share) look up in a lane
  // of each listed forest sized candidate limit × share, the others in one
  // of current limit × (100 − share). Empty or share 0: no split.
  virtual Status SetFlightLanes(std::map<std::string, size_t> candidate_limits, int share) = 0;
  // The block of the forest's fleet budget this node holds (Forest::SetFleetShare).
  virtual Status SetFleetShare(const std::string& forest, std::optional<size_t> share) = 0;
  virtual std::vector<ForestStats> Stats() = 0;
  virtual Catalog catalog() = 0;
  // The tenant owning `domain` (lower-case), or empty. No forest is asked.
  virtual std::string TenantOfDomain(const std::string& domain) {
    const Catalog c = catalog();
    auto d = c.domain_tenant.find(domain);
    return d == c.domain_tenant.end() ? std::string() : d->second;
  }
};

// Opens the catalog (seeding it on first start) and one Forest per forest.
// With `groups`, every lookup is counted for its tenant's group and marked
// when the tenant is in a flight.
Result<std::unique_ptr<Directory>> OpenDirectory(const DirectoryOptions& options, const SeedData* seed,
                                                 TenantGroups* groups = nullptr);

}  // namespace sluice::directory
