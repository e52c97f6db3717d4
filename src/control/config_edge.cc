// The edge's sections of the config: [server], [listeners.NAME], [tls],
// [limits], [smtp], [admin], [log].
#include <boost/asio/ssl/context.hpp>

#include <algorithm>
#include <fmt/format.h>

#include "control/config_parts.h"

namespace sluice::control {

void ReadServer(TomlTable& s, Config& c) {
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
}

void ReadShadowMode(TomlTable& s, const char* key, queue::ShadowMode* out) {
  s.Enum(key, out, {{"best-effort", queue::ShadowMode::kBestEffort}, {"required", queue::ShadowMode::kRequired},
                    {"off", queue::ShadowMode::kOff}});
}

// Listeners with settings of their own, e.g. submission on 587. The first
// named listener replaces the default one unless [server] listen names some.
void ReadListenerTable(const std::string& name, TomlTable& s, Config& c, bool first, bool listen_given) {
  if (first && !listen_given) c.server.listeners.clear();
  server::ListenerOptions l;
  l.name = name;
  std::string address;
  s.String("address", &address);
  if (address.empty()) return s.Error("address", "a listener needs an address (host:port)");
  if (!ParseHostPort(address, s, "address", &l)) return;
  s.Bool("starttls", &l.starttls);
  s.Bool("require_tls", &l.require_tls);
  l.shadow_given = s.Has("shadow");
  ReadShadowMode(s, "shadow", &l.shadow);
  c.server.listeners.push_back(std::move(l));
}

void ReadTls(TomlTable& s, Config& c) {
  s.String("cert", &c.server.tls_cert);
  s.String("key", &c.server.tls_key);
  s.String("ciphers", &c.server.tls_policy.ciphers);
  s.String("min_tls_version", &c.server.tls_policy.min_version);
  s.String("client_ca", &c.server.tls_client_ca);
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
}

void ReadLimits(TomlTable& s, Config& c) {
  s.Size("max_message_size", &c.session.max_message_size, 1024, size_t{1} << 32);
  s.Int("max_recipients", &c.session.max_recipients, 1, 100'000);
  s.Int("max_errors", &c.session.max_errors, 1, 1000);
  s.Int("max_connections", &c.server.max_connections, 1, 1'000'000);
  s.Int("max_connections_per_ip", &c.server.max_connections_per_ip, 1, 1'000'000);
  s.Int("max_command_line", &c.session.max_command_line, 512, 65536);
  s.Int("max_text_line", &c.session.max_text_line, 1000, 1'000'000);
  s.Size("max_buffered_bytes", &c.server.max_buffered_bytes, 1 << 20, uint64_t{1} << 40);
  s.Duration("buffer_wait", &c.server.buffer_wait);
}

// A limit is `PREFIXper_minute` (messages) with `PREFIXburst`.
static void ReadRate(TomlTable& s, const std::string& prefix, RateLimit* out) {
  size_t per_minute = out->per_minute, burst = out->burst;
  s.Int((prefix + "per_minute").c_str(), &per_minute, 0, 10'000'000);
  s.Int((prefix + "burst").c_str(), &burst, 0, 10'000'000);
  if (burst > 0 && per_minute == 0) s.Error((prefix + "burst").c_str(), "needs a " + prefix + "per_minute");
  *out = RateLimit{static_cast<uint32_t>(per_minute), static_cast<uint32_t>(burst)};
}

void ReadRateLimits(TomlTable& s, Config& c) {
  RateLimits& r = c.server.rate_limits;
  ReadRate(s, "client_", &r.client);
  ReadRate(s, "client_connections_", &r.client_connections);
  ReadRate(s, "client_recipients_", &r.client_recipients);
  ReadRate(s, "tenant_", &r.tenant);
  s.NamedTables("tenants", [&](const std::string& name, TomlTable& t) {
    RateLimit own;
    ReadRate(t, "", &own);
    r.tenants[name] = own;  // 0: this tenant has no limit, whatever the default
  });
}

// An allow and a block list of address ranges.
static void ReadLists(TomlTable& s, server::AddressLists* out) {
  for (const char* key : {"allow", "block"}) {
    std::vector<std::string> entries;
    s.StringList(key, &entries);
    auto parsed = CidrList::Parse(entries);
    if (!parsed.ok()) {
      s.Error(key, parsed.status().message());
      continue;
    }
    (std::string_view(key) == "allow" ? out->allow : out->block) = std::move(parsed).value();
  }
}

// [filters.NAME]: one content filter and its bulkhead.
void ReadFilterTable(const std::string& name, TomlTable& s, Config& c) {
  filter::FilterOptions f;
  f.name = name;
  std::string type = "milter";
  s.String("type", &type);
  if (type != "milter") s.Error("type", "\"" + type + "\" is not one of milter");
  std::string address;
  s.String("address", &address);
  server::ListenerOptions at;
  if (address.empty()) {
    s.Error("address", "a filter needs an address (\"host:port\")");
  } else if (ParseHostPort(address, s, "address", &at)) {
    f.host = at.address;
    f.port = at.port;
  }
  s.Enum("kind", &f.kind, {{"spam", filter::FilterKind::kSpam}, {"malware", filter::FilterKind::kMalware}});
  s.Int("max_concurrency", &f.max_concurrency, 1, 10'000);
  s.Int("max_queue", &f.max_queue, 0, 100'000);
  s.Duration("queue_wait", &f.queue_wait);
  s.Duration("connect_timeout", &f.timeouts.connect);
  s.Duration("command_timeout", &f.timeouts.command);
  s.Duration("content_timeout", &f.timeouts.content);
  s.Int("breaker_failures", &f.breaker.failures, 1, 1000);
  s.Duration("breaker_cooldown", &f.breaker.cooldown);
  s.Enum("on_error", &f.on_error, {{"tempfail", filter::OnError::kTempFail}, {"accept", filter::OnError::kAccept},
                                   {"hold", filter::OnError::kHold}});
  if (f.timeouts.content.count() <= 0 || f.timeouts.command.count() <= 0 || f.timeouts.connect.count() <= 0) {
    s.Error("content_timeout", "the filter's timeouts must be above zero");
  } else if (f.timeouts.content > std::chrono::minutes(5)) {
    // The sender waits for the scan after its final dot; RFC 5321
    // §4.5.3.2.6 gives it 10 minutes, and far less is kind.
    s.Error("content_timeout", "must be at most 5 minutes: the sender waits for it");
  }
  c.server.protection.definitions.push_back(std::move(f));
}

// A chain of filter names, each one defined under [filters].
static void CheckChain(TomlTable& s, const Config& c, const std::vector<std::string>& chain) {
  for (const auto& name : chain) {
    const auto& defs = c.server.protection.definitions;
    if (std::none_of(defs.begin(), defs.end(), [&](const filter::FilterOptions& f) { return f.name == name; })) {
      s.Error("filters", "\"" + name + "\" is not a filter defined under [filters]");
    }
  }
}

// A tenant's or connector's on_error, over each filter's own. Mail through
// a connector is never held for a later scan (server/content_scan.h).
static void ReadOnError(TomlTable& t, std::optional<filter::OnError>* out, bool connector = false) {
  if (!t.Has("on_error")) return;
  filter::OnError e = filter::OnError::kTempFail;
  if (t.Enum("on_error", &e, {{"tempfail", filter::OnError::kTempFail}, {"accept", filter::OnError::kAccept},
                              {"hold", filter::OnError::kHold}})) {
    *out = e;
    if (connector && e == filter::OnError::kHold) {
      t.Error("on_error", "\"hold\" is for inbound mail; a connector's own servers retry a 451: use tempfail or accept");
    }
  }
}

// quarantine_score and quarantine_retention, where given.
static void ReadQuarantine(TomlTable& t, std::optional<double>* score, std::optional<std::chrono::seconds>* retention) {
  if (t.Has("quarantine_score")) {
    double v = 0;
    t.Double("quarantine_score", &v, -1000, 1000);
    *score = v;
  }
  if (t.Has("quarantine_retention")) {
    std::chrono::seconds v{0};
    t.Duration("quarantine_retention", &v);
    if (v < std::chrono::hours(1)) t.Error("quarantine_retention", "must be at least 1h");
    *retention = v;
  }
}

void ReadProtection(TomlTable& s, Config& c) {
  server::ProtectionOptions& p = c.server.protection;
  ReadLists(s, &p.global);
  s.StringList("filters", &p.filters);
  CheckChain(s, c, p.filters);
  s.NamedTables("tenants", [&](const std::string& name, TomlTable& t) {
    server::TenantProtection& tenant = p.tenants[name];
    ReadLists(t, &tenant.lists);
    if (t.Has("filters")) {
      tenant.filters.emplace();
      t.StringList("filters", &*tenant.filters);
      CheckChain(t, c, *tenant.filters);
    }
    ReadOnError(t, &tenant.on_error);
    ReadQuarantine(t, &tenant.quarantine_score, &tenant.quarantine_retention);
  });
  std::optional<std::chrono::seconds> retention;
  ReadQuarantine(s, &p.quarantine_score, &retention);
  if (retention) p.quarantine_retention = *retention;
}

// [connectors.NAME]: a tenant's own servers (after [destinations] and [tls]).
void ReadConnectorTable(const std::string& name, TomlTable& s, Config& c) {
  server::ConnectorOptions k;
  k.name = name;
  if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
      std::string::npos) {
    s.Error("name", "a connector's name is letters, digits, '.', '_' and '-' (it goes into headers)");
  }
  s.String("tenant", &k.tenant);
  if (k.tenant.empty()) s.Error("tenant", "a connector belongs to a tenant");
  std::vector<std::string> addresses, fingerprints;
  s.StringList("addresses", &addresses);
  if (auto parsed = CidrList::Parse(addresses); parsed.ok()) {
    k.addresses = std::move(parsed).value();
  } else {
    s.Error("addresses", parsed.status().message());
  }
  s.StringList("certificate_subjects", &k.subjects);
  s.StringList("certificate_fingerprints", &fingerprints);
  for (const auto& f : fingerprints) {
    std::string hex = server::NormalizeFingerprint(f);
    if (hex.empty()) s.Error("certificate_fingerprints", "\"" + f + "\" is not a SHA-256 fingerprint (64 hex digits)");
    k.fingerprints.push_back(std::move(hex));
  }
  if (addresses.empty() && k.subjects.empty() && fingerprints.empty()) {
    s.Error("addresses", "a connector needs addresses, certificate_subjects or certificate_fingerprints");
  }
  if (!k.subjects.empty() && c.server.tls_client_ca.empty()) {
    s.Error("certificate_subjects", "needs [tls] client_ca: an unverified certificate can name anyone");
  }
  s.Bool("require_tls", &k.require_tls);
  if ((k.require_tls || !k.subjects.empty() || !fingerprints.empty()) && c.server.tls_cert.empty()) {
    s.Error(k.require_tls ? "require_tls" : "certificate_subjects", "needs [tls] cert and key: no STARTTLS without them");
  }
  s.Bool("restrict_domains", &k.restrict_domains);
  s.String("destination", &k.destination);
  if (k.destination.empty()) {
    s.Error("destination", "a connector needs a destination for the mail it relays");
  } else if (std::none_of(c.destinations.begin(), c.destinations.end(),
                          [&](const delivery::DestinationOptions& d) { return d.name == k.destination; })) {
    s.Error("destination", "\"" + k.destination + "\" is not a destination defined under [destinations]");
  }
  if (s.Has("filters")) {
    k.filters.emplace();
    s.StringList("filters", &*k.filters);
    CheckChain(s, c, *k.filters);
  }
  ReadOnError(s, &k.on_error, true);
  c.server.protection.connectors.push_back(std::move(k));
}

void ReadSmtp(TomlTable& s, Config& c) {
  s.Enum("bare_line_endings", &c.session.bare_line_endings,
         {{"reject", smtp::BareLineEndings::kReject}, {"normalize", smtp::BareLineEndings::kNormalize}});
  s.Bool("chunking", &c.session.chunking);
  s.Bool("smtputf8", &c.session.smtputf8);
  s.Bool("dsn", &c.session.dsn);
}

// "host:port" under `key`, if given, into address and port.
static void ReadAddress(TomlTable& s, const char* key, std::string* address, uint16_t* port) {
  std::string value;
  s.String(key, &value);
  server::ListenerOptions l;
  if (value.empty() || !ParseHostPort(value, s, key, &l)) return;
  *address = l.address;
  *port = l.port;
}

void ReadAdmin(TomlTable& s, Config& c) {
  s.Bool("enabled", &c.admin.enabled);
  ReadAddress(s, "listen", &c.admin.address, &c.admin.port);
  s.String("token", &c.admin.token);
  s.String("read_token", &c.admin.read_token);
  s.StringList("hosts", &c.admin.hosts);
  ReadAddress(s, "metrics_listen", &c.admin.metrics_address, &c.admin.metrics_port);
  if (!c.admin.read_token.empty() && c.admin.read_token.size() < 16) {
    s.Error("read_token", "must be at least 16 characters");
  }
  if (!c.admin.read_token.empty() && c.admin.read_token == c.admin.token) {
    s.Error("read_token", "must differ from token");
  }
  s.String("quarantine_token", &c.admin.quarantine_token);
  if (!c.admin.quarantine_token.empty() && c.admin.quarantine_token.size() < 16) {
    s.Error("quarantine_token", "must be at least 16 characters");
  }
  if (!c.admin.quarantine_token.empty() &&
      (c.admin.quarantine_token == c.admin.token || c.admin.quarantine_token == c.admin.read_token)) {
    s.Error("quarantine_token", "must differ from token and read_token");
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
}

void ReadLog(TomlTable& s, Config& c) {
  using log::Level;
  s.Enum("level", &c.log.level,
         {{"trace", Level::kTrace}, {"debug", Level::kDebug}, {"info", Level::kInfo}, {"warn", Level::kWarn},
          {"error", Level::kError}, {"off", Level::kOff}});
  s.Enum("format", &c.log.format, {{"text", log::Format::kText}, {"json", log::Format::kJson}});
}

}  // namespace sluice::control
