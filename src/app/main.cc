// sluice: the daemon. `sluice serve --config FILE`, `sluice check-config FILE`.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <boost/asio/thread_pool.hpp>
#include <thread>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "app/admin_client.h"
#include "app/service.h"
#include "common/descriptors.h"
#include "control/descriptors.h"
#include "control/config.h"
#include "control/flight.h"
#include "control/reload.h"
#include "cluster/dedup.h"
#include "delivery/dedup.h"
#include "delivery/delivery.h"
#include "cluster/fleet.h"
#include "control/fleet_flight.h"
#include "directory/directory.h"
#include "admin/admin.h"
#include "server/edge_metrics.h"
#include "server/held_scans.h"
#include "common/log.h"
#include "queue/intake.h"
#include "queue/quarantine.h"
#include "queue/queue.h"
#include "common/periodic.h"
#include "server/server.h"
#include "spool/spool.h"

namespace sluice {
namespace {

// Loads config and seed, printing every error as "file:line: key: what".
bool Load(const std::string& path, control::Config* config, directory::SeedData* seed) {
  control::LoadResult r = control::LoadConfig(path);
  std::vector<control::ConfigError> errors = r.errors;
  if (r.ok() && !r.config.directory.seed.empty()) {
    control::SeedResult s = control::LoadSeed(r.config.directory.seed, r.config);
    errors.insert(errors.end(), s.errors.begin(), s.errors.end());
    if (seed) *seed = std::move(s.seed);
  }
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
  if (!errors.empty()) return false;
  for (const auto& w : r.warnings) {
    std::fprintf(stderr, "%s: warning: %s: %s\n", w.file.c_str(), w.key.c_str(), w.what.c_str());
  }
  *config = std::move(r.config);
  return true;
}

// Deliveries' own event loops: one per core, as the edge's workers.
size_t DeliveryThreads() { return std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 16); }

int CheckConfig(const std::string& path) {
  control::Config config;
  if (!Load(path, &config, nullptr)) return 1;
  // What `serve` would get: the limit raised to its hard ceiling.
  const auto plan = control::PlanDescriptors(config, RaiseDescriptorLimit().soft);
  if (!plan.fits()) std::fprintf(stderr, "%s: warning: limits.max_connections: %s\n", path.c_str(), plan.Explain().c_str());
  std::printf("%s: ok\n", path.c_str());
  return 0;
}

// DSNs go to senders in our own domains by the directory's route, and to
// everyone else by [queue] notify_destination.
boost::asio::awaitable<RecipientRoute> RouteNotice(directory::Directory* dir, std::string fallback,
                                                  std::string address) {
  auto lookup = dir->Resolve(address);
  directory::LookupResult r = co_await std::move(lookup);
  if (r.found == directory::Found::kYes) co_return r.route;
  co_return RecipientRoute{address, "", "", fallback, "", false};
}

int Fail(const Status& s) {
  log::Event("fatal").With("error", s.ToString()).Error();
  return 1;
}

int Serve(const std::string& path) {
  control::Config config;
  directory::SeedData seed;
  if (!Load(path, &config, &seed)) return 1;
  log::Init(config.log.level, config.log.format);
  const DescriptorLimit fds = RaiseDescriptorLimit();
  const auto plan = control::PlanDescriptors(config, fds.soft);
  if (!plan.fits()) log::Event("descriptor limit").With("warning", plan.Explain()).Warn();

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);  // reload
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto spool = spool::OpenSpool(config.spool);
  if (!spool.ok()) return Fail(spool.status());
  auto numbered = control::NumberConfig(*spool.value(), path);
  if (!numbered.ok()) return Fail(numbered.status());
  const admin::ConfigInfo info = numbered.value();
  config.server.config_version = info.version;
  log::SetConfigVersion(info.version);
  TenantGroups groups;  // a flight's tenants and how they fare beside the others
  auto opened =
      directory::OpenDirectory(config.directory, config.directory.seed.empty() ? nullptr : &seed, &groups);
  if (!opened.ok()) return Fail(opened.status());
  auto dir = std::move(opened).value();
  control::ApplyPlacement(*dir, config.placement);  // [placement] over the catalog

  boost::asio::thread_pool blocking(config.blocking_threads);
  auto delivery = delivery::MakeDelivery(config.destinations, config.hostname, DeliveryThreads());
  queue::NotifyRouter router = [d = dir.get(), fallback = config.queue.notify_destination](std::string a) {
    return RouteNotice(d, fallback, std::move(a));
  };
  // In a fleet, the forests' limits are budgets shared in Redis, and so are
  // the destinations' backoff windows; the first renewal runs before the
  // edge opens.
  std::unique_ptr<cluster::Fleet> fleet;
  if (config.cluster.enabled && config.cluster.shared_budgets()) {
    fleet = std::make_unique<cluster::Fleet>(config.cluster, *dir, *delivery);
  }
  // With shadow copies, a dedup window in front of the mailbox stores: a
  // copy delivered after a takeover does not show up twice (in Redis when
  // the fleet has it, so one node's delivery is seen by all).
  std::unique_ptr<delivery::DedupWindow> dedup;
  std::unique_ptr<delivery::Delivery> deduped;
  if (config.shadow.enabled && config.shadow.dedup_window.count() > 0) {
    if (config.cluster.enabled && config.cluster.shared_budgets()) {
      dedup = std::make_unique<cluster::SharedDedup>(config.cluster.redis, config.shadow.dedup_window);
    } else {
      dedup = std::make_unique<delivery::LocalDedup>(config.shadow.dedup_window);
    }
    std::set<std::string> stores;
    for (const auto& d : config.destinations) {
      if (d.kind == delivery::DestinationKind::kMaildir || d.kind == delivery::DestinationKind::kLmtp) stores.insert(d.name);
    }
    deduped = delivery::WithDedup(*delivery, *dedup, std::move(stores));
  }
  auto queue = queue::MakeQueue(config.queue, *spool.value(), deduped ? *deduped : *delivery, blocking, router, &groups);
  // Shadow copies: this node's copies go to a peer before the 250, and
  // the copies it holds for others live in a spool of their own. Before
  // the queue reads the spool, the peers say what they delivered for this
  // node while it was away.
  std::unique_ptr<spool::Spool> shadow_store;
  std::unique_ptr<cluster::Shadow> shadow;
  if (config.shadow.enabled) {
    spool::SpoolOptions so = config.spool;
    so.path += "-shadow";
    so.journal_discards = false;
    auto opened_store = spool::OpenSpool(so);
    if (!opened_store.ok()) return Fail(opened_store.status());
    shadow_store = std::move(opened_store).value();
    auto epoch = cluster::Shadow::EpochOf(*spool.value());
    if (!epoch.ok()) return Fail(epoch.status());
    const std::string node = !config.shadow.node.empty() ? config.shadow.node
                             : config.cluster.node.empty() ? config.hostname : config.cluster.node;
    shadow = std::make_unique<cluster::Shadow>(config.shadow, node, epoch.value(), *shadow_store, *spool.value(), *queue);
    shadow->SetDedup(dedup.get());
    const size_t dropped = shadow->Reconcile();
    log::Event("shadow copies on").With("node", node).With("epoch", epoch.value())
        .With("peers", static_cast<int64_t>(config.shadow.peers.size()))
        .With("dropped_taken_over", static_cast<int64_t>(dropped)).Info();
  }
  if (Status s = queue->Start(); !s.ok()) return Fail(s);
  // In a fleet, placement, live limits and holds come from etcd (the last
  // snapshot first).
  std::unique_ptr<cluster::ControlPlane> control;
  if (config.cluster.enabled && !config.cluster.control.etcd.empty()) {
    cluster::MemberInfo me{config.cluster.node,
                           config.server.listeners.empty() ? "" : fmt::format("{}:{}", config.server.listeners[0].address,
                                                                              config.server.listeners[0].port),
                           config.admin.enabled ? fmt::format("{}:{}", config.admin.address, config.admin.port) : "",
                           SLUICE_VERSION_STRING, std::to_string(info.version),
                           config.shadow.enabled ? config.shadow.advertise : "", config.cluster.failure_domain};
    control = std::make_unique<cluster::ControlPlane>(config.cluster.control, me, *dir, *queue);
  }
  if (shadow) {
    if (control) {
      // A takeover waits for the primary to be gone from the membership
      // too, not only silent to this node.
      shadow->SetMembers([c = control.get()] {
        std::vector<cluster::Shadow::Member> out;
        for (const auto& m : c->View().members) out.push_back({m.node, m.shadow, m.failure_domain});
        return out;
      });
    }
    if (Status s = shadow->Start(); !s.ok()) {
      queue->Stop(std::chrono::seconds(0));
      delivery->Stop();
      return Fail(s);
    }
  }
  auto session = std::make_shared<const smtp::SessionOptions>(config.session);
  server::EdgeMetrics edge_metrics;
  filter::FilterSet filters;  // configured by the server, from [filters]
  server::ServerOptions edge = config.server;
  edge.session_cap = plan.sessions;  // a fact of this process, not of the config
  auto intake = queue::MakeIntake(*spool.value(), *queue, config.hostname, shadow.get());
  // Rate limits: the fleet's table in Redis, or this node's own.
  LocalRateLimiter local_rates;
  RateLimiter& rates = fleet ? fleet->rates() : static_cast<RateLimiter&>(local_rates);
  // Mail the edge holds for its scan (on_error = "hold") is scanned again
  // from here; its passes start once the config can be read live.
  server::HeldScans held({*spool.value(), *queue, filters, config.hostname});
  auto server = server::MakeServer(edge, session, server::Stages{*dir, *intake, edge_metrics, rates, filters, &held});
  if (Status s = server->Start(); !s.ok()) {
    queue->Stop(std::chrono::seconds(0));
    delivery->Stop();
    return Fail(s);
  }
  control::Reloader reloader(config, control::LiveStages{*server, *dir, *spool.value(), *delivery}, info);
  auto flight = std::make_unique<control::Flight>(config.flight, reloader, *dir, *spool.value(), groups);
  flight->Resume();
  // A flight to a share of the fleet's nodes watches the control plane:
  // made before it starts polling, gone only after it stopped.
  std::unique_ptr<control::FleetFlight> fleet_flight;
  if (control) {
    fleet_flight = std::make_unique<control::FleetFlight>(config.flight, reloader, *dir, *delivery, *control,
                                                          config.cluster.node);
    control->Start();
  }
  std::unique_ptr<admin::AdminServer> admin;
  if (config.admin.enabled) {
    admin::AdminStages stages{*dir, *queue, *delivery, edge_metrics};
    stages.config = &reloader;
    stages.spool = spool.value().get();
    stages.filters = &filters;
    stages.flight = flight.get();
    stages.fleet = fleet.get();
    stages.control = control.get();
    stages.fleet_flight = fleet_flight.get();
    stages.shadow = shadow.get();
    stages.dedup = dedup.get();
    stages.held = &held;
    admin = admin::MakeAdminServer(config.admin, stages);
    if (Status s = admin->Start(); !s.ok()) {
      if (control) control->Stop();
      server->Stop();
      queue->Stop(std::chrono::seconds(0));
      delivery->Stop();
      return Fail(s);
    }
  }
  // The quarantine's retention, and its giving way when the spool is short
  // of space (queue/quarantine.h), once a minute and once at start.
  Periodic quarantine_sweep;
  quarantine_sweep.Start(std::chrono::minutes(1), [&reloader, &queue, &intake] {
    const server::ProtectionOptions protection = reloader.Running().server.protection;
    const bool short_of_space = intake->CheckRoom(0).code() == Status::Code::kNoSpace;
    queue::SweepQuarantine(*queue, [&](const std::string& tenant) { return protection.QuarantineRetention(tenant); },
                           short_of_space);
  }, true);
  held.Start(std::chrono::seconds(5), [&reloader] { return reloader.Running().server.protection; });
  log::Event("sluice started")
      .With("file", path)
      .With("hash", info.hash.substr(0, 12))
      .With("hostname", config.hostname)
      .Info();
  // Every listener is bound and answering: the service manager may go on.
  app::NotifyReady(fmt::format("accepting mail; config version {}", info.version));

  int sig = 0;
  while (sigwait(&stop, &sig) == 0 && sig == SIGHUP) {
    app::NotifyReloading();
    reloader.Reload();
    app::NotifyReady(fmt::format("accepting mail; config version {}", reloader.Current().version));
  }
  app::NotifyStopping();
  log::Event("stopping").With("signal", static_cast<int64_t>(sig)).Info();
  // Order matters: stop the edge first (nothing new is accepted), then the
  // queue, then drain the pools, and only then free the event loops.
  server->Stop();
  if (admin) admin->Stop();
  quarantine_sweep.Stop();
  held.Stop();  // before the queue: a pass resolves through it
  flight.reset();
  if (control) control->Stop();
  fleet_flight.reset();
  if (shadow) shadow->Stop();  // before the queue: a promotion submits to it
  queue->Stop(std::chrono::seconds(10));
  if (fleet) fleet->Stop();  // the blocks go back to the fleet at once; before delivery stops
  delivery->Stop();  // before the queue goes: a late delivery resumes on the queue's loop
  blocking.join();
  dir.reset();
  server.reset();
  log::Event("stopped").Info();
  return 0;
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
  CLI::App app{"Sluice mail-flow gateway"};
  app.set_version_flag("--version", "sluice " SLUICE_VERSION_STRING);
  app.require_subcommand(1);
  std::string config_path;
  auto* serve = app.add_subcommand("serve", "run the gateway");
  config_path = "/etc/sluice/sluice.toml";  // where the package puts it
  serve->add_option("--config,-c", config_path, "configuration file (TOML)")->capture_default_str();
  std::string check_path;
  auto* check = app.add_subcommand("check-config", "validate a configuration file and exit");
  check->add_option("file", check_path, "configuration file (TOML)")->required();
  if (auto exit = sluice::app::ParseCommandLine(app, argc, argv, "sluice")) return *exit;
  if (*serve) return sluice::Serve(config_path);
  return sluice::CheckConfig(check_path);
}
