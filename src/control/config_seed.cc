// The directory seed (examples/directory.toml): forests, tenants, their
// domains and recipients, checked against the config it is loaded with.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "control/config.h"
#include "control/toml_reader.h"
#include "mail/address.h"
#include "mail/ascii.h"

namespace sluice::control {

SeedResult LoadSeed(const std::string& path, const Config& config) {
  SeedResult r;
  toml::table root;
  if (!ParseTomlFile(path, &root, &r.errors)) return r;
  directory::SeedData& seed = r.seed;
  {  // scoped: the reader reports unknown keys when it goes away
  TomlTable t(root, "", path, &r.errors);
  t.StringList("forests", &seed.forests);
  std::map<std::string, std::string> domain_owner;
  t.TableArray("tenants", [&](TomlTable& tt) {
    directory::SeedTenant tenant;
    tt.String("name", &tenant.name);
    tt.String("forest", &tenant.forest);
    tt.StringList("domains", &tenant.domains);
    tt.String("destination", &tenant.destination);
    if (tenant.name.empty()) tt.Error("name", "a tenant needs a name");
    if (std::find(seed.forests.begin(), seed.forests.end(), tenant.forest) == seed.forests.end()) {
      tt.Error("forest", fmt::format("forest \"{}\" is not in forests", tenant.forest));
    }
    for (const auto& d : tenant.domains) {
      auto [it, fresh] = domain_owner.emplace(d, tenant.name);
      if (!fresh) tt.Error("domains", fmt::format("domain {} already belongs to {}", d, it->second));
    }
    auto check_destination = [&](TomlTable& where, const std::string& name) {
      bool known = std::any_of(config.destinations.begin(), config.destinations.end(),
                               [&](const delivery::DestinationOptions& d) { return d.name == name; });
      if (!known) {
        where.Error("destination",
                    fmt::format("destination \"{}\" is not defined in {}", name, config.source));
      }
    };
    if (tenant.destination.empty()) {
      tt.Error("destination", "a tenant needs a default destination");
    } else {
      check_destination(tt, tenant.destination);
    }
    tt.TableArray("recipients", [&](TomlTable& rt) {
      directory::SeedRecipient rcpt;
      rt.String("address", &rcpt.address);
      rt.StringList("aliases", &rcpt.aliases);
      rt.String("destination", &rcpt.destination);
      rt.String("mailbox", &rcpt.mailbox);
      // A tenant's recipients live in its own domains: an alias in another
      // tenant's domain would take that tenant's mail.
      auto own = [&](const std::string& a) {
        const std::string d = mail::DomainOf(a);
        return std::any_of(tenant.domains.begin(), tenant.domains.end(),
                           [&](const std::string& x) { return mail::EqualsNoCase(x, d); });
      };
      if (!mail::IsValidMailbox(rcpt.address, /*utf8=*/true)) {
        rt.Error("address", fmt::format("\"{}\" is not an address", rcpt.address));
      } else if (!own(rcpt.address)) {
        rt.Error("address", fmt::format("{} is not in a domain of tenant {}", rcpt.address, tenant.name));
      }
      for (const auto& alias : rcpt.aliases) {
        if (!mail::IsValidMailbox(alias, /*utf8=*/true)) {
          rt.Error("aliases", fmt::format("\"{}\" is not an address", alias));
        } else if (!own(alias)) {
          rt.Error("aliases", fmt::format("{} is not in a domain of tenant {}", alias, tenant.name));
        }
      }
      if (!rcpt.destination.empty()) check_destination(rt, rcpt.destination);
      tenant.recipients.push_back(std::move(rcpt));
    });
    seed.tenants.push_back(std::move(tenant));
  });
  }
  // The config's [placement] must name tenants and forests of the seed.
  for (const auto& p : config.placement) {
    const bool tenant = std::any_of(seed.tenants.begin(), seed.tenants.end(),
                                    [&](const directory::SeedTenant& t) { return t.name == p.tenant; });
    const bool forest = std::find(seed.forests.begin(), seed.forests.end(), p.forest) != seed.forests.end();
    if (!tenant || !forest) {
      r.errors.push_back(ConfigError{config.source, p.line, "placement." + p.tenant,
                                     !tenant ? fmt::format("no tenant \"{}\" in {}", p.tenant, path)
                                             : fmt::format("forest \"{}\" is not in the forests of {}", p.forest, path)});
    }
  }
  return r;
}

}  // namespace sluice::control
