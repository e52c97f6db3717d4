// The pipeline's sections of the config: [spool], [directory], forests,
// [dns], [destinations.NAME], [queue], [placement], [flight].
#include <boost/asio/ssl/context.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "control/config_parts.h"

namespace sluice::control {
namespace {

// tls = "none" | "opportunistic" | "required", with verification settings.
void ReadOutboundTls(TomlTable& t, delivery::DestinationOptions* d) {
  using Tls = delivery::DestinationOptions::Tls;
  if (d->kind == delivery::DestinationKind::kLmtp) d->tls = Tls::kNone;  // mailbox stores sit beside us
  t.Enum("tls", &d->tls, {{"none", Tls::kNone}, {"opportunistic", Tls::kOpportunistic}, {"required", Tls::kRequired}});
  t.Bool("tls_verify", &d->tls_verify);
  t.String("tls_ca_file", &d->tls_ca_file);
  t.String("tls_server_name", &d->tls_server_name);
  if (!d->tls_ca_file.empty()) {
    // The trust anchors must load now, not at the first delivery.
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
    boost::system::error_code ec;
    ctx.load_verify_file(d->tls_ca_file, ec);
    if (ec) t.Error("tls_ca_file", fmt::format("cannot load {}: {}", d->tls_ca_file, ec.message()));
  }
  for (const char* key : {"tls_verify", "tls_ca_file"}) {
    if (d->tls != Tls::kRequired && t.Has(key)) {
      t.Error(key, "certificate checks apply only with tls = \"required\"");
    }
  }
}

void ReadDestination(const std::string& name, TomlTable& t, Config* c) {
  using Kind = delivery::DestinationKind;
  delivery::DestinationOptions d;
  d.name = name;
  if (!t.Has("type")) {
    t.Error("type", "a destination needs a type: maildir, smtp, lmtp or mx");
    return;
  }
  if (!t.Enum("type", &d.kind, {{"maildir", Kind::kMaildir}, {"smtp", Kind::kSmtp}, {"lmtp", Kind::kLmtp}, {"mx", Kind::kMx}})) {
    return;
  }
  if (d.kind == Kind::kMaildir) {
    t.String("root", &d.root);
    if (d.root.empty()) t.Error("root", "a maildir destination needs a root folder");
  } else {
    d.port = d.kind == Kind::kLmtp ? 24 : 25;
    d.dns = c->dns;
    if (d.kind == Kind::kMx) {
      t.Int("max_mx_hosts", &d.max_mx_hosts, 1, 50);
      t.Int("max_mx_addresses", &d.max_mx_addresses, 1, 100);
      t.Duration("dns_cache_ttl", &d.dns_cache_ttl);
      t.Duration("dns_negative_ttl", &d.dns_negative_ttl);
    } else {
      t.String("host", &d.host);
    }
    t.Port("port", &d.port);
    t.Duration("connect_timeout", &d.connect_timeout);
    t.Duration("reply_timeout", &d.reply_timeout);
    t.Int("max_concurrency", &d.max_concurrency, 1, 10'000);
    t.Duration("backoff_min", &d.backoff_min);
    t.Duration("backoff_max", &d.backoff_max);
    t.Duration("idle_connection", &d.idle_connection);
    t.Int("messages_per_connection", &d.messages_per_connection, 1, 1'000'000);
    if (d.backoff_max < d.backoff_min) t.Error("backoff_max", "must not be shorter than backoff_min");
    ReadOutboundTls(t, &d);
    if (d.host.empty() && d.kind != Kind::kMx) t.Error("host", "an smtp or lmtp destination needs a host");
  }
  c->destinations.push_back(std::move(d));
}

// The keys of [forest_defaults] and [forests.NAME].
void ReadForest(TomlTable& s, directory::ForestOptions* f) {
  s.StringList("replicas", &f->replicas);
  for (const auto& r : f->replicas) {
    if (r != "sqlite" && r.rfind("ldap://", 0) != 0) {
      s.Error("replicas", fmt::format("\"{}\" is neither \"sqlite\" nor an ldap:// URL", r));
    }
  }
  if (s.Has("replicas") && f->replicas.empty()) s.Error("replicas", "a forest needs a replica");
  s.Int("limit", &f->limit, 1, 100'000);
  s.Bool("adaptive", &f->adaptive);
  s.Int("min_limit", &f->min_limit, 1, 100'000);
  if (f->min_limit > f->limit) {
    if (s.Has("min_limit")) s.Error("min_limit", "must not exceed limit");
    f->min_limit = f->limit;
  }
  s.Int("queue", &f->queue, 0, 1'000'000);
  s.Duration("wait_timeout", &f->wait_timeout);
  s.Duration("lookup_timeout", &f->lookup_timeout);
  s.Enum("on_saturation", &f->close_on_saturation, {{"defer", false}, {"close", true}});
  s.Int("threads", &f->threads, 1, 1024);
  s.Int("cache_entries", &f->cache.max_entries, 0, 100'000'000);
  s.Int("cache_negative_entries", &f->cache.max_negative_entries, 0, 100'000'000);
  s.Duration("cache_positive_ttl", &f->cache.positive_ttl);
  s.Duration("cache_negative_ttl", &f->cache.negative_ttl);
  s.Duration("cache_stale_for", &f->cache.stale_for);
  s.Int("breaker_failures", &f->breaker.failures, 1, 1000);
  s.Duration("breaker_cooldown", &f->breaker.cooldown);
  s.Table("fault", [&](TomlTable& fault) {
    fault.Duration("latency", &f->fault.latency);
    fault.Double("error_rate", &f->fault.error_rate, 0, 1);
    fault.Bool("hang", &f->fault.hang);
  });
}

}  // namespace

void ReadSpool(TomlTable& s, Config& c, bool* min_free_set) {
  s.String("path", &c.spool.path);
  *min_free_set = s.Has("min_free");
  s.Size("min_free", &c.spool.min_free, 1 << 20, uint64_t{1} << 50);
  s.Size("reserve", &c.spool.reserve, 0, uint64_t{1} << 40);
}

void ReadDirectory(TomlTable& s, Config& c) {
  int backend = 0;  // the embedded SQLite catalog is the only one (forests may be LDAP)
  s.Enum("backend", &backend, {{"sqlite", 0}});
  s.String("path", &c.directory.path);
  s.String("seed", &c.directory.seed);
  s.Bool("fault_injection", &c.directory.fault_injection);
}

void ReadForestDefaults(TomlTable& s, Config& c) { ReadForest(s, &c.directory.defaults); }

void ReadForestTable(const std::string& name, TomlTable& s, Config& c) {
  directory::ForestOptions f = c.directory.defaults;
  f.name = name;
  ReadForest(s, &f);
  c.directory.forests.push_back(std::move(f));
}

void ReadDns(TomlTable& s, Config& c) {
  s.StringList("servers", &c.dns.servers);
  for (const auto& server : c.dns.servers) {
    server::ListenerOptions l;
    std::string spec = server.find(':') == std::string::npos ? server + ":53" : server;
    if (!ParseHostPort(spec, s, "servers", &l)) break;
  }
  s.Duration("timeout", &c.dns.timeout);
  s.Int("tries", &c.dns.tries, 1, 10);
  s.Duration("deadline", &c.dns.deadline);
  if (c.dns.deadline.count() < 100) s.Error("deadline", "must be at least 100ms");
}

void ReadDestinationTable(const std::string& name, TomlTable& d, Config& c) { ReadDestination(name, d, &c); }

void ReadQueue(TomlTable& s, Config& c) {
  s.Duration("retry_initial", &c.queue.retry_initial);
  s.Duration("retry_max", &c.queue.retry_max);
  s.Duration("max_lifetime", &c.queue.max_lifetime);
  s.Int("max_deliveries", &c.queue.max_deliveries, 1, 100'000);
  s.Duration("delay_warning", &c.queue.delay_warning);
  s.Size("bounce_size_limit", &c.queue.bounce_size_limit, 0, 1ull << 30);
  s.Int("active_limit", &c.queue.active_limit, 100, 10'000'000);
  s.String("notify_destination", &c.queue.notify_destination);
  // [destinations] are read before [queue], whatever their order in the file.
  if (!c.queue.notify_destination.empty() &&
      std::none_of(c.destinations.begin(), c.destinations.end(), [&](const delivery::DestinationOptions& d) {
        return d.name == c.queue.notify_destination;
      })) {
    s.Error("notify_destination", fmt::format("destination \"{}\" is not defined", c.queue.notify_destination));
  }
  if (c.queue.retry_initial.count() < 1) s.Error("retry_initial", "must be at least 1s");
  if (c.queue.retry_max < c.queue.retry_initial) {
    s.Error("retry_max", "must not be shorter than retry_initial");
  }
}

void ReadFlight(TomlTable& s, Config& c) {
  if (s.Has("stages")) {
    std::vector<size_t> old;  // read so it is not also reported as unknown
    s.IntList("stages", &old, 1, 100);
    s.Error("stages", "renamed to shares");
  }
  s.IntList("shares", &c.flight.shares, 1, 100);
  if (c.flight.shares.empty() || c.flight.shares.back() != 100 ||
      !std::is_sorted(c.flight.shares.begin(), c.flight.shares.end(), std::less_equal<>())) {
    s.Error("shares", "expected rising shares ending at 100, e.g. [10, 50, 100]");
  }
  s.Duration("interval", &c.flight.interval);
  if (c.flight.interval.count() < 1) s.Error("interval", "must be at least 1s");
  s.Int("min_lookups", &c.flight.min_lookups, 1, 1'000'000);
  s.Int("min_deliveries", &c.flight.min_deliveries, 1, 1'000'000);
  s.Double("max_deferral_increase", &c.flight.max_deferral_increase, 0, 1);
  s.Double("max_latency_ratio", &c.flight.max_latency_ratio, 1, 1000);
  s.Duration("latency_slack", &c.flight.latency_slack);
  s.Double("max_failure_increase", &c.flight.max_failure_increase, 0, 1);
}

}  // namespace sluice::control
