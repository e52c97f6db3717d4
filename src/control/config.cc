// TOML → Config. Every key the daemon reads is named here once, with its
// bounds; anything else in the file is an error (doc/design.md, convention 9).
#include "control/config.h"

#include <boost/asio/ssl/context.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>

#include "control/config_parts.h"
#include "control/toml_reader.h"
#include "mail/address.h"
#include "mail/ascii.h"

namespace sluice::control {
namespace {

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

// tls = "none" | "opportunistic" | "required", with verification settings.
void ReadOutboundTls(TomlTable& t, delivery::DestinationOptions* d) {
  using Tls = delivery::DestinationOptions::Tls;
  if (d->kind == delivery::DestinationKind::kLmtp) d->tls = Tls::kNone;  // mailbox stores sit beside us
  std::string mode = d->tls == Tls::kNone ? "none" : d->tls == Tls::kRequired ? "required" : "opportunistic";
  t.String("tls", &mode);
  if (mode == "none") {
    d->tls = Tls::kNone;
  } else if (mode == "opportunistic") {
    d->tls = Tls::kOpportunistic;
  } else if (mode == "required") {
    d->tls = Tls::kRequired;
  } else {
    t.Error("tls", fmt::format("\"{}\" is not one of none, opportunistic, required", mode));
  }
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
  delivery::DestinationOptions d;
  d.name = name;
  std::string type;
  t.String("type", &type);
  if (type == "maildir") {
    d.kind = delivery::DestinationKind::kMaildir;
    t.String("root", &d.root);
    if (d.root.empty()) t.Error("root", "a maildir destination needs a root folder");
  } else if (type == "smtp" || type == "lmtp" || type == "mx") {
    d.kind = type == "smtp" ? delivery::DestinationKind::kSmtp
             : type == "mx" ? delivery::DestinationKind::kMx
                            : delivery::DestinationKind::kLmtp;
    d.port = type == "lmtp" ? 24 : 25;
    d.dns = c->dns;
    if (type == "mx") {
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
    if (d.host.empty() && type != "mx") t.Error("host", "an smtp or lmtp destination needs a host");
  } else {
    t.Error("type", fmt::format("\"{}\" is not one of maildir, smtp, lmtp, mx", type));
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
  std::string on_saturation = f->close_on_saturation ? "close" : "defer";
  s.String("on_saturation", &on_saturation);
  if (on_saturation != "defer" && on_saturation != "close") {
    s.Error("on_saturation", fmt::format("\"{}\" is not one of defer, close", on_saturation));
  }
  f->close_on_saturation = on_saturation == "close";
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

LoadResult LoadConfigTable(const toml::table& root, const std::string& path);

std::string ConfigError::ToString() const {
  std::string where = line > 0 ? fmt::format("{}:{}", file, line) : file;
  return key.empty() ? fmt::format("{}: {}", where, what) : fmt::format("{}: {}: {}", where, key, what);
}

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

LoadResult LoadConfigTable(const toml::table& root, const std::string& path) {
  LoadResult r;
  Config& c = r.config;
  c.source = path;
  bool min_free_set = false;
  {
    TomlTable t(root, "", path, &r.errors);
    t.Table("server", [&](TomlTable& s) {
      s.String("hostname", &c.hostname);
      s.Int("workers", &c.server.workers, 1, 256);
      std::vector<std::string> listen;
      s.StringList("listen", &listen);
      if (s.Has("listen")) c.server.listeners.clear();
      for (const auto& spec : listen) ReadListener(spec, s, &c.server.listeners);
      s.Duration("command_timeout", &c.server.command_timeout);
      s.Duration("data_timeout", &c.server.data_timeout);
      s.Duration("tls_handshake_timeout", &c.server.tls_handshake_timeout);
      s.Int("min_data_rate", &c.server.min_data_rate, 1, size_t{1} << 30);
      s.Duration("max_session_time", &c.server.max_session_time);
      s.Double("stress_threshold", &c.server.stress_threshold, 0.1, 1);
      s.Duration("stress_timeout", &c.server.stress_timeout);
      for (auto [key, value] : {std::pair{"command_timeout", c.server.command_timeout},
                                {"data_timeout", c.server.data_timeout},
                                {"max_session_time", c.server.max_session_time},
                                {"stress_timeout", c.server.stress_timeout}}) {
        if (value.count() < 1) s.Error(key, "must be at least 1s");
      }
      s.Duration("shutdown_grace", &c.server.shutdown_grace);
      s.Int("blocking_threads", &c.blocking_threads, 1, 256);
    });
    // Listeners with settings of their own, e.g. submission on 587.
    bool named_listeners = false;
    t.NamedTables("listeners", [&](const std::string& name, TomlTable& s) {
      if (!named_listeners && !root["server"]["listen"]) c.server.listeners.clear();
      named_listeners = true;
      server::ListenerOptions l;
      l.name = name;
      std::string address;
      s.String("address", &address);
      if (address.empty()) return s.Error("address", "a listener needs an address (host:port)");
      if (!ParseHostPort(address, s, "address", &l)) return;
      s.Bool("starttls", &l.starttls);
      s.Bool("require_tls", &l.require_tls);
      c.server.listeners.push_back(std::move(l));
    });
    t.Table("tls", [&](TomlTable& s) {
      s.String("cert", &c.server.tls_cert);
      s.String("key", &c.server.tls_key);
      s.String("ciphers", &c.server.tls_policy.ciphers);
      s.String("min_tls_version", &c.server.tls_policy.min_version);
      boost::asio::ssl::context probe(boost::asio::ssl::context::tls_client);
      if (Status st = ApplyTlsPolicy(probe, c.server.tls_policy); !st.ok()) {
        s.Error(c.server.tls_policy.min_version == "1.2" || c.server.tls_policy.min_version == "1.3" ? "ciphers"
                                                                                                     : "min_tls_version",
                st.message());
        c.server.tls_policy = TlsPolicy{};  // checks below use a policy that loads
      }
      if (c.server.tls_cert.empty() != c.server.tls_key.empty()) {
        s.Error(c.server.tls_cert.empty() ? "key" : "cert", "cert and key go together");
      } else if (Status st = server::CheckTls(c.server); !st.ok()) {
        s.Error("cert", st.message());
      }
    });
    t.Table("limits", [&](TomlTable& s) {
      s.Size("max_message_size", &c.session.max_message_size, 1024, size_t{1} << 32);
      s.Int("max_recipients", &c.session.max_recipients, 1, 100'000);
      s.Int("max_errors", &c.session.max_errors, 1, 1000);
      s.Int("max_connections", &c.server.max_connections, 1, 1'000'000);
      s.Int("max_connections_per_ip", &c.server.max_connections_per_ip, 1, 1'000'000);
      s.Int("max_command_line", &c.session.max_command_line, 512, 65536);
      s.Int("max_text_line", &c.session.max_text_line, 1000, 1'000'000);
      s.Size("max_buffered_bytes", &c.server.max_buffered_bytes, 1 << 20, uint64_t{1} << 40);
      s.Duration("buffer_wait", &c.server.buffer_wait);
    });
    t.Table("smtp", [&](TomlTable& s) {
      std::string bare = "reject";
      s.String("bare_line_endings", &bare);
      if (bare == "normalize") {
        c.session.bare_line_endings = smtp::BareLineEndings::kNormalize;
      } else if (bare != "reject") {
        s.Error("bare_line_endings", fmt::format("\"{}\" is not one of reject, normalize", bare));
      }
      s.Bool("chunking", &c.session.chunking);
      s.Bool("smtputf8", &c.session.smtputf8);
      s.Bool("dsn", &c.session.dsn);
    });
    t.Table("spool", [&](TomlTable& s) {
      s.String("path", &c.spool.path);
      min_free_set = s.Has("min_free");
      s.Size("min_free", &c.spool.min_free, 1 << 20, uint64_t{1} << 50);
      s.Size("reserve", &c.spool.reserve, 0, uint64_t{1} << 40);
    });
    t.Table("directory", [&](TomlTable& s) {
      std::string backend = "sqlite";
      s.String("backend", &backend);
      if (backend != "sqlite") s.Error("backend", fmt::format("\"{}\" is not one of sqlite", backend));
      s.String("path", &c.directory.path);
      s.String("seed", &c.directory.seed);
      s.Bool("fault_injection", &c.directory.fault_injection);
    });
    t.Table("forest_defaults", [&](TomlTable& s) { ReadForest(s, &c.directory.defaults); });
    t.NamedTables("forests", [&](const std::string& name, TomlTable& s) {
      directory::ForestOptions f = c.directory.defaults;
      f.name = name;
      ReadForest(s, &f);
      c.directory.forests.push_back(std::move(f));
    });
    t.Table("dns", [&](TomlTable& s) {
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
    });
    t.NamedTables("destinations", [&](const std::string& name, TomlTable& d) {
      ReadDestination(name, d, &c);
    });
    t.StringMap("placement", [&](const std::string& tenant, const std::string& forest, int line) {
      c.placement.push_back(Placement{tenant, forest, line});
    });
    t.Table("flight", [&](TomlTable& s) {
      s.IntList("stages", &c.flight.stages, 1, 100);
      if (c.flight.stages.empty() || c.flight.stages.back() != 100 ||
          !std::is_sorted(c.flight.stages.begin(), c.flight.stages.end(), std::less_equal<>())) {
        s.Error("stages", "expected rising shares ending at 100, e.g. [10, 50, 100]");
      }
      s.Duration("interval", &c.flight.interval);
      if (c.flight.interval.count() < 1) s.Error("interval", "must be at least 1s");
      s.Int("min_lookups", &c.flight.min_lookups, 1, 1'000'000);
      s.Int("min_deliveries", &c.flight.min_deliveries, 1, 1'000'000);
      s.Double("max_deferral_increase", &c.flight.max_deferral_increase, 0, 1);
      s.Double("max_latency_ratio", &c.flight.max_latency_ratio, 1, 1000);
      s.Duration("latency_slack", &c.flight.latency_slack);
      s.Double("max_failure_increase", &c.flight.max_failure_increase, 0, 1);
    });
    t.Table("queue", [&](TomlTable& s) {
      s.Duration("retry_initial", &c.queue.retry_initial);
      s.Duration("retry_max", &c.queue.retry_max);
      s.Duration("max_lifetime", &c.queue.max_lifetime);
      s.Int("max_deliveries", &c.queue.max_deliveries, 1, 100'000);
      s.Duration("delay_warning", &c.queue.delay_warning);
      s.Size("bounce_size_limit", &c.queue.bounce_size_limit, 0, 1ull << 30);
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
    });
    t.Table("admin", [&](TomlTable& s) {
      s.Bool("enabled", &c.admin.enabled);
      std::string listen;
      s.String("listen", &listen);
      if (!listen.empty()) {
        server::ListenerOptions l;
        if (ParseHostPort(listen, s, "listen", &l)) {
          c.admin.address = l.address;
          c.admin.port = l.port;
        }
      }
      s.String("token", &c.admin.token);
      s.String("read_token", &c.admin.read_token);
      s.StringList("hosts", &c.admin.hosts);
      std::string metrics_listen;
      s.String("metrics_listen", &metrics_listen);
      if (!metrics_listen.empty()) {
        server::ListenerOptions l;
        if (ParseHostPort(metrics_listen, s, "metrics_listen", &l)) {
          c.admin.metrics_address = l.address;
          c.admin.metrics_port = l.port;
        }
      }
      if (!c.admin.read_token.empty() && c.admin.read_token.size() < 16) {
        s.Error("read_token", "must be at least 16 characters");
      }
      if (!c.admin.read_token.empty() && c.admin.read_token == c.admin.token) {
        s.Error("read_token", "must differ from token");
      }
      s.String("tls_cert", &c.admin.tls_cert);
      s.String("tls_key", &c.admin.tls_key);
      if (c.admin.tls_cert.empty() != c.admin.tls_key.empty()) {
        s.Error(c.admin.tls_cert.empty() ? "tls_key" : "tls_cert", "tls_cert and tls_key go together");
      } else if (!c.admin.tls_cert.empty()) {
        server::ServerOptions probe;
        probe.tls_cert = c.admin.tls_cert;
        probe.tls_key = c.admin.tls_key;
        if (Status st = server::CheckTls(probe); !st.ok()) s.Error("tls_cert", st.message());
      }
      if (!c.admin.token.empty() && c.admin.token.size() < 16) {
        s.Error("token", "must be at least 16 characters");
      }
    });
    t.Table("alerts", [&](TomlTable& s) { ReadAlerts(s, &c.admin.alerts); });
    t.Table("log", [&](TomlTable& s) {
      s.String("level", &c.log.level);
      s.String("format", &c.log.format);
      static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
      if (std::find(std::begin(kLevels), std::end(kLevels), c.log.level) == std::end(kLevels)) {
        s.Error("level", fmt::format("\"{}\" is not one of trace, debug, info, warn, error, off",
                                     c.log.level));
      }
      if (c.log.format != "text" && c.log.format != "json") {
        s.Error("format", fmt::format("\"{}\" is not one of text, json", c.log.format));
      }
    });
  }
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
  if (c.destinations.empty()) {
    r.errors.push_back({path, 0, "destinations", "at least one destination is needed"});
  }
  for (const auto& l : c.server.listeners) {
    if (l.require_tls && c.server.tls_cert.empty()) {
      r.errors.push_back({path, 0, "listeners." + l.name + ".require_tls",
                          "needs a certificate in [tls]"});
    }
  }
  if (c.server.listeners.empty()) {
    r.errors.push_back({path, 0, "server.listen", "at least one listener is needed"});
  }
  return r;
}

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
