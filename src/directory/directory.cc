// The router: recipient → tenant → forest, then that forest's Lookup.
#include "directory/directory.h"

#include <fmt/format.h>

#include <shared_mutex>

#include "common/log.h"
#include "mail/address.h"
#include "mail/text.h"

namespace sluice::directory {
namespace {

namespace asio = boost::asio;


Result<std::unique_ptr<Backend>> OpenReplica(const std::string& spec, const std::string& db_path) {
  if (spec == "sqlite") return OpenSqliteBackend(db_path, nullptr);
  if (spec.rfind("ldap://", 0) == 0) return OpenLdapBackend(spec);
  return Status::InvalidArgument(fmt::format("replica \"{}\" is neither sqlite nor ldap://", spec));
}

class Router final : public Directory {
 public:
  Router(DirectoryOptions o, Catalog p, TenantGroups* groups)
      : o_(std::move(o)), catalog_(std::move(p)), groups_(groups) {}

  Status Init() {
    std::vector<std::string> names = catalog_.forests;
    for (const auto& f : o_.forests) {
      if (std::find(names.begin(), names.end(), f.name) == names.end()) names.push_back(f.name);
    }
    for (const auto& name : names) {
      ForestOptions fo = o_.defaults;
      for (const auto& f : o_.forests) {
        if (f.name == name) fo = f;
      }
      fo.name = name;
      std::vector<Forest::Replica> replicas;
      for (const auto& spec : fo.replicas) {
        auto b = OpenReplica(spec, o_.path);
        if (!b.ok()) return Status::InvalidArgument(fmt::format("forest {}: {}", name, b.status().message()));
        replicas.push_back(Forest::Replica{spec, std::move(b).value()});
      }
      forests_[name] = std::make_unique<Forest>(fo, std::move(replicas), o_.fault_injection);
    }
    return Status::Ok();
  }

  asio::awaitable<LookupResult> Resolve(std::string address) override {
    Forest* forest = nullptr;
    bool flight = false, lane = false;
    std::string tenant;
    {
      std::shared_lock lock(mu_);
      auto d = catalog_.domain_tenant.find(mail::DomainOf(address));
      if (d == catalog_.domain_tenant.end()) co_return LookupResult::No(Reason::kUnknownDomain);
      tenant = d->second;
      flight = groups_ && groups_->InFlight(d->second);
      auto t = catalog_.tenant_forest.find(d->second);
      if (t != catalog_.tenant_forest.end()) {
        auto f = forests_.find(t->second);
        if (f != forests_.end()) forest = f->second.get();
        lane = flight && flight_limits_.count(t->second);
      }
    }
    if (forest == nullptr) co_return LookupResult::TryLater(Reason::kBackendError, "");
    const bool counting = groups_ && groups_->share() > 0;  // only a flight's gates read the counts
    const auto t0 = counting ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    auto op = forest->Lookup(address, tenant, lane);  // see common/offload.h on temporaries
    LookupResult r = co_await std::move(op);
    if (r.found == Found::kYes) r = Checked(std::move(r), address, tenant);
    if (counting) {
      groups_->CountLookup(flight, r.found == Found::kTryLater,
                           std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0));
    }
    r.route.flight = flight;
    co_return r;
  }

  Status MoveTenant(const std::string& tenant, const std::string& forest) override {
    std::string from;
    {
      std::unique_lock lock(mu_);
      auto t = catalog_.tenant_forest.find(tenant);
      if (t == catalog_.tenant_forest.end()) return Status::NotFound("no tenant " + tenant);
      if (!forests_.count(forest)) return Status::NotFound("no forest " + forest);
      from = t->second;
      if (from == forest) return Status::Ok();
      if (Status s = SaveTenantForest(o_.path, tenant, forest); !s.ok()) return s;
      t->second = forest;
    }
    forests_.at(from)->DropTenant(tenant);
    log::Event("tenant moved").With("tenant", tenant).With("from", from).With("to", forest).Info();
    return Status::Ok();
  }

  Status SetForestLimit(const std::string& forest, size_t limit) override {
    auto f = forests_.find(forest);
    if (f == forests_.end()) return Status::NotFound("no forest " + forest);
    if (limit < 1) return Status::InvalidArgument("limit must be at least 1");
    f->second->SetLimit(limit);
    {
      std::unique_lock lock(mu_);
      SplitLanes(forest);
    }
    log::Event("forest limit changed").With("forest", forest).With("limit", static_cast<int64_t>(limit)).Info();
    return Status::Ok();
  }

  Status SetForestFault(const std::string& forest, FaultOptions fault) override {
    if (!o_.fault_injection) return Status::InvalidArgument("fault injection is off ([directory] fault_injection)");
    auto f = forests_.find(forest);
    if (f == forests_.end()) return Status::NotFound("no forest " + forest);
    f->second->SetFault(fault);
    log::Event("forest fault set").With("forest", forest)
        .With("latency_ms", static_cast<int64_t>(fault.latency.count()))
        .With("error_rate", fault.error_rate).With("hang", fault.hang ? "yes" : "no").Warn();
    return Status::Ok();
  }

  Status SetFlightLanes(std::map<std::string, size_t> candidate_limits, int share) override {
    for (const auto& [name, limit] : candidate_limits) {
      if (!forests_.count(name)) return Status::NotFound("no forest " + name);
      if (limit < 1) return Status::InvalidArgument("forest " + name + ": limit must be at least 1");
    }
    std::unique_lock lock(mu_);
    flight_limits_ = share > 0 && share < 100 ? std::move(candidate_limits) : std::map<std::string, size_t>{};
    flight_share_ = share;
    for (const auto& [name, f] : forests_) SplitLanes(name);
    return Status::Ok();
  }

  Status SetFleetShare(const std::string& forest, std::optional<size_t> share) override {
    auto f = forests_.find(forest);
    if (f == forests_.end()) return Status::NotFound("no forest " + forest);
    f->second->SetFleetShare(share);
    return Status::Ok();
  }

  std::vector<ForestStats> Stats() override {
    std::vector<ForestStats> out;
    for (auto& [name, f] : forests_) out.push_back(f->Stats());
    return out;
  }

  Catalog catalog() override {
    std::shared_lock lock(mu_);
    return catalog_;
  }

  std::string TenantOfDomain(const std::string& domain) override {
    std::shared_lock lock(mu_);
    auto d = catalog_.domain_tenant.find(domain);
    return d == catalog_.domain_tenant.end() ? std::string() : d->second;
  }

 private:
  // What a directory says becomes SMTP commands and file names: an entry
  // of another tenant, or values no mailbox can have, are refused (a
  // directory fault: 451 4.4.3, logged, never delivered somewhere else).
  LookupResult Checked(LookupResult r, const std::string& address, const std::string& tenant) {
    RecipientRoute& route = r.route;
    const char* problem = nullptr;
    if (!route.tenant.empty() && route.tenant != tenant) {
      problem = "the entry belongs to another tenant";
    } else if (!mail::IsValidMailbox(route.address, /*utf8=*/true)) {
      problem = "its address is not a mailbox";
    } else if (route.destination.empty() || mail::HasControl(route.destination) ||
               route.destination.find(' ') != std::string::npos) {
      problem = "its destination is not a name";
    } else if (mail::HasControl(route.mailbox) || !mail::IsValidUtf8(route.mailbox)) {
      problem = "its mailbox has control characters";
    }
    if (problem == nullptr) {
      route.tenant = tenant;
      return r;
    }
    if (auto held_back = refused_log_.Allow()) {
      log::Event("directory entry refused").With("rcpt", address).With("tenant", tenant)
          .With("entry_tenant", mail::SafeText(route.tenant, 100)).With("entry_address", mail::SafeText(route.address, 300))
          .With("problem", problem).With("suppressed", static_cast<int64_t>(*held_back)).Warn();
    }
    if (route.tenant != tenant && !route.tenant.empty()) return LookupResult::No(Reason::kUnknownUser, r.forest);
    return LookupResult::TryLater(Reason::kBackendError, r.forest);
  }

  // Each group gets its share of the limit it runs under, so the two
  // compare fairly: flight = candidate × share, control = current × rest.
  void SplitLanes(const std::string& name) {  // REQUIRES: mu_ held
    Forest& f = *forests_.at(name);
    auto c = flight_limits_.find(name);
    if (c == flight_limits_.end()) {
      f.SetLanes(0, 0);
      return;
    }
    auto part = [](size_t limit, int percent) { return std::max<size_t>(1, (limit * percent + 50) / 100); };
    f.SetLanes(part(f.limit(), 100 - flight_share_), part(c->second, flight_share_));
  }

  DirectoryOptions o_;
  std::shared_mutex mu_;  // guards catalog_ and the flight's lanes
  Catalog catalog_;
  TenantGroups* groups_;  // may be null
  std::map<std::string, size_t> flight_limits_;
  int flight_share_ = 0;
  std::map<std::string, std::unique_ptr<Forest>> forests_;  // fixed after Init
  log::RateLimit refused_log_{std::chrono::seconds(1)};
};

}  // namespace

Result<std::unique_ptr<Directory>> OpenDirectory(const DirectoryOptions& options, const SeedData* seed,
                                                 TenantGroups* groups) {
  // Opening the embedded back end creates and seeds the catalog.
  auto embedded = OpenSqliteBackend(options.path, seed);
  if (!embedded.ok()) return embedded.status();
  auto catalog = LoadCatalog(options.path);
  if (!catalog.ok()) return catalog.status();
  auto router = std::make_unique<Router>(options, std::move(catalog).value(), groups);
  if (Status s = router->Init(); !s.ok()) return s;
  return std::unique_ptr<Directory>(std::move(router));
}

}  // namespace sluice::directory
