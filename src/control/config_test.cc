#include "control/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/test_util.h"

namespace sluice::control {
namespace {

std::string Write(const testing::TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir / name;
  std::ofstream(path) << text;
  return path;
}

const char* kMinimal = R"(
[destinations.local]
type = "maildir"
root = "/tmp/mail"
)";

TEST(Config, DefaultsAndValues) {
  testing::TempDir dir;
  auto r = LoadConfig(Write(dir, "c.toml", std::string(kMinimal) + R"(
[server]
hostname = "mx.test"
listen = ["127.0.0.1:2600", "[::1]:2601"]
workers = 3
command_timeout = "2m"
[limits]
max_message_size = "10MiB"
[queue]
retry_initial = "30s"
retry_max = "1h"
max_lifetime = "2d"
active_limit = 500
[destinations.relay]
type = "lmtp"
host = "127.0.0.1"
)"));
  ASSERT_TRUE(r.ok()) << r.errors[0].ToString();
  const Config& c = r.config;
  EXPECT_EQ(c.session.hostname, "mx.test");
  ASSERT_EQ(c.server.listeners.size(), 2u);
  EXPECT_EQ(c.server.listeners[1].address, "::1");
  EXPECT_EQ(c.server.listeners[1].port, 2601);
  EXPECT_EQ(c.server.workers, 3u);
  EXPECT_EQ(c.server.command_timeout.count(), 120);
  EXPECT_EQ(c.server.data_timeout.count(), 600);  // default kept
  EXPECT_EQ(c.session.max_message_size, 10u * 1024 * 1024);
  EXPECT_EQ(c.queue.retry_initial.count(), 30);
  EXPECT_EQ(c.queue.retry_max.count(), 3600);
  EXPECT_EQ(c.queue.max_lifetime.count(), 2 * 86400);
  EXPECT_EQ(c.queue.active_limit, 500u);
  ASSERT_EQ(c.destinations.size(), 2u);
  EXPECT_EQ(c.destinations[1].kind, delivery::DestinationKind::kLmtp);
  EXPECT_EQ(c.destinations[1].port, 24);  // LMTP's default port
}

TEST(Config, ErrorsNameFileLineAndKey) {
  testing::TempDir dir;
  std::string path = Write(dir, "c.toml", std::string(kMinimal) + R"(
[server]
workers = "two"
listn = ["127.0.0.1:25"]
[queue]
retry_initial = "5 minutes"
)");
  auto r = LoadConfig(path);
  ASSERT_EQ(r.errors.size(), 3u);
  std::vector<std::string> lines;
  for (const auto& e : r.errors) lines.push_back(e.ToString());
  EXPECT_EQ(lines[0], path + ":7: server.workers: expected an integer");
  EXPECT_EQ(lines[1], path + ":8: server.listn: unknown key (did you mean \"listen\"?)");
  EXPECT_EQ(lines[2], path + ":10: queue.retry_initial: expected a duration such as \"30s\", \"5m\", \"2h\" or \"5d\"");
}

TEST(Config, RateLimits) {
  testing::TempDir dir;
  auto good = LoadConfig(Write(dir, "good.toml", std::string(kMinimal) + R"(
[rate_limits]
client_per_minute = 120
tenant_per_minute = 6000
tenant_burst = 100
[rate_limits.tenants.acme]
per_minute = 60
)"));
  ASSERT_TRUE(good.errors.empty()) << good.errors[0].ToString();
  const RateLimits& r = good.config.server.rate_limits;
  EXPECT_EQ(r.client, (RateLimit{120, 0}));
  EXPECT_EQ(r.ForTenant("globex"), (RateLimit{6000, 100}));
  EXPECT_EQ(r.ForTenant("acme"), (RateLimit{60, 0}));
  std::string path = Write(dir, "bad.toml", std::string(kMinimal) + R"(
[rate_limits]
client_burst = 5
tenant_per_minute = -1
)");
  auto bad = LoadConfig(path);
  ASSERT_EQ(bad.errors.size(), 2u);
  EXPECT_EQ(bad.errors[0].ToString(), path + ":7: rate_limits.client_burst: needs a client_per_minute");
  EXPECT_EQ(bad.errors[1].key, "rate_limits.tenant_per_minute");
}

TEST(Config, SyntaxErrorHasLine) {
  testing::TempDir dir;
  std::string path = Write(dir, "c.toml", "[server]\nhostname = \"x\nworkers = 2\n");
  auto r = LoadConfig(path);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].what.find("syntax"), std::string::npos);
}

TEST(Config, MissingFileAndBadValues) {
  auto r = LoadConfig("/nonexistent/sluice.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(), "/nonexistent/sluice.toml: cannot open file");

  testing::TempDir dir;
  r = LoadConfig(Write(dir, "c.toml", R"(
[server]
listen = ["127.0.0.1:99999"]
[destinations.x]
type = "pigeon"
[log]
format = "xml"
)"));
  std::string all;
  for (const auto& e : r.errors) all += e.ToString() + "\n";
  EXPECT_NE(all.find(":3: server.listen: \"127.0.0.1:99999\" has a bad port"), std::string::npos) << all;
  EXPECT_NE(all.find(":5: destinations.x.type: \"pigeon\" is not one of maildir, smtp, lmtp"), std::string::npos) << all;
  EXPECT_NE(all.find(":7: log.format: \"xml\" is not one of text, json"), std::string::npos) << all;
}

TEST(Config, DeliveryAndQueueSettings) {
  testing::TempDir dir;
  auto r = LoadConfig(Write(dir, "c.toml", std::string(kMinimal) + R"(
[dns]
servers = ["127.0.0.1:5353"]
[destinations.internet]
type = "mx"
port = 2525
max_mx_addresses = 3
tls = "required"
tls_server_name = "mx.example"
[queue]
delay_warning = "4h"
notify_destination = "internet"
)"));
  ASSERT_TRUE(r.ok()) << r.errors.front().ToString();
  const auto& d = *std::find_if(r.config.destinations.begin(), r.config.destinations.end(),
                                [](const auto& x) { return x.name == "internet"; });
  EXPECT_EQ(d.kind, delivery::DestinationKind::kMx);
  EXPECT_EQ(d.port, 2525);
  EXPECT_EQ(d.max_mx_addresses, 3u);
  EXPECT_EQ(d.tls, delivery::DestinationOptions::Tls::kRequired);
  EXPECT_EQ(d.dns.servers, std::vector<std::string>{"127.0.0.1:5353"});
  EXPECT_EQ(r.config.queue.delay_warning, std::chrono::hours(4));
  EXPECT_EQ(r.config.queue.notify_destination, "internet");

  std::string path = Write(dir, "bad.toml", std::string(kMinimal) + R"(
[destinations.relay]
type = "smtp"
host = "127.0.0.1"
tls = "maybe"
tls_ca_file = "/nonexistent/ca.pem"
[queue]
notify_destination = "nowhere"
)");
  r = LoadConfig(path);
  std::string all;
  for (const auto& e : r.errors) all += e.ToString() + "\n";
  EXPECT_NE(all.find(":9: destinations.relay.tls: \"maybe\" is not one of none, opportunistic, required"),
            std::string::npos) << all;
  EXPECT_NE(all.find(":10: destinations.relay.tls_ca_file: cannot load /nonexistent/ca.pem"), std::string::npos) << all;
  EXPECT_NE(all.find(":12: queue.notify_destination: destination \"nowhere\" is not defined"), std::string::npos)
      << all;
}

TEST(Config, SeedReferencesAreChecked) {
  testing::TempDir dir;
  auto c = LoadConfig(Write(dir, "c.toml", kMinimal));
  ASSERT_TRUE(c.ok());
  auto s = LoadSeed(Write(dir, "d.toml", R"(
forests = ["na-1"]
[[tenants]]
name = "acme"
forest = "na-9"
domains = ["acme.example"]
destination = "nowhere"
  [[tenants.recipients]]
  address = "alice"
  colour = "blue"
)"), c.config);
  std::string all;
  for (const auto& e : s.errors) all += e.ToString() + "\n";
  EXPECT_NE(all.find(":5: tenants[0].forest: forest \"na-9\" is not in forests"), std::string::npos) << all;
  EXPECT_NE(all.find(":7: tenants[0].destination: destination \"nowhere\" is not defined"), std::string::npos) << all;
  EXPECT_NE(all.find(":9: tenants[0].recipients[0].address: \"alice\" is not an address"), std::string::npos) << all;
  EXPECT_NE(all.find(":10: tenants[0].recipients[0].colour: unknown key"), std::string::npos) << all;
}

TEST(Config, SeedRecipientsLiveInTheirTenantsDomains) {
  testing::TempDir dir;
  auto c = LoadConfig(Write(dir, "c.toml", kMinimal));
  ASSERT_TRUE(c.ok());
  auto s = LoadSeed(Write(dir, "d.toml", R"(
forests = ["na-1"]
[[tenants]]
name = "acme"
forest = "na-1"
domains = ["acme.example"]
destination = "local"
[[tenants]]
name = "globex"
forest = "na-1"
domains = ["globex.example"]
destination = "local"
  [[tenants.recipients]]
  address = "hank@globex.example"
  aliases = ["ceo@ACME.example", "sales@Globex.example"]
  [[tenants.recipients]]
  address = "eve@acme.example"
)"), c.config);
  std::string all;
  for (const auto& e : s.errors) all += e.ToString() + "\n";
  EXPECT_NE(all.find(":15: tenants[1].recipients[0].aliases: ceo@ACME.example is not in a domain of tenant globex"),
            std::string::npos) << all;
  EXPECT_NE(all.find(":17: tenants[1].recipients[1].address: eve@acme.example is not in a domain of tenant globex"),
            std::string::npos) << all;
  EXPECT_EQ(all.find("sales@"), std::string::npos) << all;  // its own domain, in any case
}

}  // namespace
}  // namespace sluice::control

namespace sluice::control {
namespace {

TEST(Config, AlertRulesAndWebhooks) {
  testing::TempDir dir;
  auto r = LoadConfig(Write(dir, "c.toml", std::string(kMinimal) + R"(
[alerts]
interval = "500ms"
[[alerts.rule]]
name = "forest-saturated"
kind = "forest_saturation"
above = 0.5
for = "2s"
[[alerts.rule]]
name = "bounces"
kind = "reply_rate"
code = "5xx"
above = 100
severity = "critical"
[[alerts.webhook]]
url = "http://127.0.0.1:9000/hook"
format = "slack"
proxy = "http://proxy.corp:3128"
headers = { "X-Api-Key" = "k1" }
)"));
  ASSERT_TRUE(r.ok()) << r.errors[0].ToString();
  const auto& a = r.config.admin.alerts;
  EXPECT_EQ(a.interval, std::chrono::milliseconds(500));
  ASSERT_EQ(a.rules.size(), admin::DefaultAlertRules().size() + 1);  // one replaced, one added
  auto sat = std::find_if(a.rules.begin(), a.rules.end(), [](const auto& x) { return x.name == "forest-saturated"; });
  EXPECT_DOUBLE_EQ(sat->above, 0.5);
  EXPECT_EQ(sat->for_duration, std::chrono::seconds(2));
  ASSERT_EQ(a.webhooks.size(), 1u);
  EXPECT_EQ(a.webhooks[0].format, admin::WebhookOptions::Format::kSlack);
  EXPECT_EQ(a.webhooks[0].name, "webhook1");
  EXPECT_EQ(a.webhooks[0].proxy, "http://proxy.corp:3128");
  ASSERT_EQ(a.webhooks[0].headers.size(), 1u);
  EXPECT_EQ(a.webhooks[0].headers[0], std::make_pair(std::string("X-Api-Key"), std::string("k1")));
}

TEST(Config, BadWebhookHeadersAndProxyNameTheKey) {
  testing::TempDir dir;
  std::string path = Write(dir, "c.toml", std::string(kMinimal) + R"(
[[alerts.webhook]]
url = "https://hooks.example/x"
proxy = "https://proxy.corp"
headers = { "Bad Name" = "v", "X-Split" = "a\r\nX-Injected: 1", "Host" = "other" }
)");
  auto r = LoadConfig(path);
  std::vector<std::string> got;
  for (const auto& e : r.errors) got.push_back(e.ToString());
  ASSERT_EQ(got.size(), 4u) << ::testing::PrintToString(got);
  std::string all = ::testing::PrintToString(got);
  EXPECT_NE(all.find("alerts.webhook[0].headers: \\\"Bad Name\\\" is not an HTTP header name"), std::string::npos) << all;
  EXPECT_NE(all.find("alerts.webhook[0].headers: the value of \\\"X-Split\\\" has a line break"), std::string::npos) << all;
  EXPECT_NE(all.find("alerts.webhook[0].headers: \\\"Host\\\" is set by Sluice"), std::string::npos) << all;
  EXPECT_NE(all.find("alerts.webhook[0].proxy: only http:// proxies"), std::string::npos) << all;
}

TEST(Config, BadAlertsNameTheKey) {
  testing::TempDir dir;
  std::string path = Write(dir, "c.toml", std::string(kMinimal) + R"(
[[alerts.rule]]
name = "x"
kind = "forest_saturaton"
[[alerts.rule]]
name = "y"
kind = "reply_rate"
[[alerts.webhook]]
url = "ftp://nowhere/"
format = "email"
)");
  auto r = LoadConfig(path);
  std::vector<std::string> got;
  for (const auto& e : r.errors) got.push_back(e.ToString());
  ASSERT_EQ(got.size(), 4u) << ::testing::PrintToString(got);
  EXPECT_NE(got[0].find(path + ":8: alerts.rule[0].kind: \"forest_saturaton\" is not one of"), std::string::npos) << got[0];
  EXPECT_NE(got[1].find("alerts.rule[1].code: reply_rate needs a code"), std::string::npos) << got[1];
  EXPECT_NE(got[2].find("alerts.webhook[0].url: \"ftp://nowhere/\" is not an http"), std::string::npos) << got[2];
  EXPECT_NE(got[3].find("alerts.webhook[0].format: \"email\" is not one of json, slack, teams"), std::string::npos) << got[3];
}

TEST(Config, ClusterIsOffUnlessGivenAndChecked) {
  testing::TempDir dir;
  auto alone = LoadConfig(Write(dir, "a.toml", kMinimal));
  ASSERT_TRUE(alone.ok());
  EXPECT_FALSE(alone.config.cluster.enabled);

  auto fleet = LoadConfig(Write(dir, "f.toml", std::string(kMinimal) + R"(
[cluster]
node = "edge-1"
redis_sentinels = ["10.0.0.1:26379", "[::1]:26379"]
redis_master = "mail"
lease_ttl = "3s"
)"));
  ASSERT_TRUE(fleet.ok()) << fleet.errors[0].ToString();
  EXPECT_TRUE(fleet.config.cluster.enabled);
  EXPECT_EQ(fleet.config.cluster.node, "edge-1");
  EXPECT_EQ(fleet.config.cluster.redis.sentinels.size(), 2u);
  EXPECT_EQ(fleet.config.cluster.redis.master, "mail");
  EXPECT_EQ(fleet.config.cluster.lease_ttl, std::chrono::seconds(3));
  EXPECT_EQ(fleet.config.cluster.redis.timeout, std::chrono::milliseconds(50));

  std::string path = Write(dir, "b.toml", std::string(kMinimal) + R"(
[cluster]
node = "two words"
redis = "localhost"
redis_timeout = "5s"
lease_ttl = "100ms"
)");
  auto bad = LoadConfig(path);
  std::vector<std::string> got;
  for (const auto& e : bad.errors) got.push_back(e.ToString());
  ASSERT_EQ(got.size(), 4u) << ::testing::PrintToString(got);
  EXPECT_NE(got[0].find("cluster.node: must be a name without spaces"), std::string::npos) << got[0];
  EXPECT_NE(got[1].find(path + ":8: cluster.redis: \"localhost\" is not host:port"), std::string::npos) << got[1];
  EXPECT_NE(got[2].find("cluster.redis_timeout: must be between 1ms and 1s"), std::string::npos) << got[2];
  EXPECT_NE(got[3].find("cluster.lease_ttl: must be at least 5 × renew_interval"), std::string::npos) << got[3];
}

TEST(Config, ShadowSettingsAreCheckedAndJournalTheSpool) {
  testing::TempDir dir;
  auto good = LoadConfig(Write(dir, "s.toml", std::string(kMinimal) + R"(
[cluster]
node = "edge-1"
failure_domain = "rack-b"
etcd = ["http://127.0.0.1:2379"]
[shadow]
listen = "10.0.0.1:2626"
secret = "sixteen chars at least"
heartbeat = "5s"
resubmit_after = "2m"
safety_net_hold = "1d"
dedup_window = "30m"
)"));
  ASSERT_TRUE(good.ok()) << good.errors[0].ToString();
  const auto& o = good.config.shadow;
  EXPECT_TRUE(o.peers.empty());  // learned from etcd
  EXPECT_EQ(o.advertise, "10.0.0.1:2626");
  EXPECT_EQ(o.failure_domain, "rack-b");
  EXPECT_EQ(o.heartbeat, std::chrono::seconds(5));
  EXPECT_EQ(o.resubmit_after, std::chrono::minutes(2));
  EXPECT_EQ(o.safety_net_hold, std::chrono::hours(24));
  EXPECT_EQ(o.dedup_window, std::chrono::minutes(30));
  EXPECT_TRUE(good.config.spool.journal_discards);
  EXPECT_FALSE(LoadConfig(Write(dir, "n.toml", kMinimal)).config.spool.journal_discards);

  std::string path = Write(dir, "b.toml", std::string(kMinimal) + R"(
[shadow]
listen = "0.0.0.0:2626"
secret = "sixteen chars at least"
heartbeat = "50ms"
dedup_window = "1m"
)");
  auto bad = LoadConfig(path);
  std::vector<std::string> got;
  for (const auto& e : bad.errors) got.push_back(e.ToString());
  ASSERT_EQ(got.size(), 3u) << ::testing::PrintToString(got);
  EXPECT_NE(got[0].find("shadow.peers: name at least one other node's shadow listener"), std::string::npos) << got[0];
  EXPECT_NE(got[1].find("shadow.heartbeat: must be at least 100ms"), std::string::npos) << got[1];
  EXPECT_NE(got[2].find("shadow.dedup_window: must cover resubmit_after"), std::string::npos) << got[2];
  auto hasty = LoadConfig(Write(dir, "h.toml", std::string(kMinimal) + R"(
[shadow]
listen = "127.0.0.1:2626"
secret = "sixteen chars at least"
peers = ["127.0.0.1:2627"]
heartbeat = "1s"
resubmit_after = "2s"
)"));
  ASSERT_EQ(hasty.errors.size(), 1u);
  EXPECT_NE(hasty.errors[0].ToString().find("shadow.resubmit_after: must be at least 3 × heartbeat"), std::string::npos)
      << hasty.errors[0].ToString();
}

TEST(Config, ProtectionListsAndClientRates) {
  testing::TempDir dir;
  auto good = LoadConfig(Write(dir, "p.toml", std::string(kMinimal) + R"(
[protection]
block = ["192.0.2.0/24", "2001:db8::/32"]
allow = ["192.0.2.7"]
[protection.tenants.acme]
block = ["198.51.100.0/24"]
[rate_limits]
client_connections_per_minute = 30
client_connections_burst = 10
client_recipients_per_minute = 600
)"));
  ASSERT_TRUE(good.ok()) << good.errors[0].ToString();
  const auto& p = good.config.server.protection;
  EXPECT_TRUE(p.global.Blocks("192.0.2.1"));
  EXPECT_FALSE(p.global.Blocks("192.0.2.7"));  // the allow list wins
  EXPECT_TRUE(p.global.Blocks("2001:db8::5"));
  EXPECT_TRUE(p.BlocksTenant("acme", "198.51.100.9"));
  EXPECT_FALSE(p.BlocksTenant("globex", "198.51.100.9"));
  EXPECT_EQ(good.config.server.rate_limits.client_connections.per_minute, 30u);
  EXPECT_EQ(good.config.server.rate_limits.client_connections.burst, 10u);
  EXPECT_EQ(good.config.server.rate_limits.client_recipients.per_minute, 600u);

  std::string path = Write(dir, "b.toml", std::string(kMinimal) + R"(
[protection]
block = ["192.0.2.1/24"]
[protection.tenants.acme]
allow = ["mail.example"]
)");
  auto bad = LoadConfig(path);
  ASSERT_EQ(bad.errors.size(), 2u);
  EXPECT_EQ(bad.errors[0].ToString(), path + ":7: protection.block: \"192.0.2.1/24\" has host bits set past its prefix");
  EXPECT_NE(bad.errors[1].ToString().find("protection.tenants.acme.allow: \"mail.example\" is not an IPv4 or IPv6"),
            std::string::npos) << bad.errors[1].ToString();
}

// What runs but is probably a mistake in production: warned, not refused.
TEST(Config, WarningsForWhatIsProbablyAMistake) {
  testing::TempDir dir;
  auto quiet = LoadConfig(Write(dir, "w0.toml", std::string(kMinimal) + "[server]\nhostname = \"mx.test\"\n"));
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet.warnings.empty()) << quiet.warnings[0].what;
  auto loud = LoadConfig(Write(dir, "w1.toml", std::string(kMinimal) + R"(
[admin]
listen = "0.0.0.0:8025"
token = "sluice-example-admin-token"
)"));
  ASSERT_TRUE(loud.ok()) << loud.errors[0].ToString();
  std::vector<std::string> keys;
  for (const auto& w : loud.warnings) keys.push_back(w.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"server.hostname", "admin.token", "admin.listen"}));
  auto bad = LoadConfig(Write(dir, "w2.toml", std::string(kMinimal) + "[server]\nworkers = 0\n"));
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.warnings.empty());  // errors first: a broken config gets no advice
}

TEST(Config, ContentFiltersAndTheirChains) {
  testing::TempDir dir;
  auto good = LoadConfig(Write(dir, "f.toml", std::string(kMinimal) + R"(
[filters.rspamd]
type = "milter"
address = "127.0.0.1:11332"
max_concurrency = 8
content_timeout = "4s"
on_error = "accept"
[filters.clamav]
type = "milter"
address = "[::1]:7357"
kind = "malware"
[protection]
filters = ["clamav"]
[protection.tenants.acme]
filters = ["rspamd", "clamav"]
on_error = "tempfail"
[protection.tenants.initech]
on_error = "hold"
)"));
  ASSERT_TRUE(good.ok()) << good.errors[0].ToString();
  const auto& p = good.config.server.protection;
  ASSERT_EQ(p.definitions.size(), 2u);
  const auto& rspamd = p.definitions[0].name == "rspamd" ? p.definitions[0] : p.definitions[1];
  const auto& clamav = p.definitions[0].name == "rspamd" ? p.definitions[1] : p.definitions[0];
  EXPECT_EQ(rspamd.port, 11332);
  EXPECT_EQ(rspamd.max_concurrency, 8u);
  EXPECT_EQ(rspamd.timeouts.content, std::chrono::seconds(4));
  EXPECT_EQ(rspamd.on_error, filter::OnError::kAccept);
  EXPECT_EQ(clamav.host, "::1");
  EXPECT_EQ(clamav.kind, filter::FilterKind::kMalware);
  EXPECT_EQ(p.ChainOf("acme"), (std::vector<std::string>{"rspamd", "clamav"}));
  EXPECT_EQ(p.ChainOf("globex"), (std::vector<std::string>{"clamav"}));
  EXPECT_EQ(p.tenants.at("acme").on_error, filter::OnError::kTempFail);
  EXPECT_EQ(p.tenants.at("initech").on_error, filter::OnError::kHold);

  std::string path = Write(dir, "b.toml", std::string(kMinimal) + R"(
[filters.x]
type = "spamc"
content_timeout = "10m"
[protection]
filters = ["x", "nosuch"]
)");
  auto bad = LoadConfig(path);
  ASSERT_EQ(bad.errors.size(), 4u);
  EXPECT_EQ(bad.errors[0].ToString(), path + ":7: filters.x.type: \"spamc\" is not one of milter");
  EXPECT_NE(bad.errors[1].ToString().find("filters.x.address: a filter needs an address"), std::string::npos);
  EXPECT_NE(bad.errors[2].ToString().find("filters.x.content_timeout: must be at most 5 minutes"), std::string::npos)
      << bad.errors[2].ToString();
  EXPECT_NE(bad.errors[3].ToString().find("protection.filters: \"nosuch\" is not a filter defined under [filters]"),
            std::string::npos) << bad.errors[3].ToString();
}

TEST(Config, ConnectorsAndTheirErrors) {
  testing::TempDir dir;
  auto good = LoadConfig(Write(dir, "k.toml", std::string(kMinimal) + R"(
[connectors.acme-out]
tenant = "acme"
addresses = ["192.0.2.0/24", "2001:db8::/32"]
restrict_domains = true
destination = "local"
on_error = "accept"
)"));
  ASSERT_TRUE(good.ok()) << good.errors[0].ToString();
  const auto& k = good.config.server.protection.connectors;
  ASSERT_EQ(k.size(), 1u);
  EXPECT_EQ(k[0].name, "acme-out");
  EXPECT_EQ(k[0].tenant, "acme");
  EXPECT_TRUE(k[0].addresses.Contains("2001:db8::25"));
  EXPECT_TRUE(k[0].restrict_domains);
  EXPECT_FALSE(k[0].require_tls);
  EXPECT_EQ(k[0].destination, "local");
  EXPECT_EQ(k[0].on_error, filter::OnError::kAccept);
  EXPECT_FALSE(k[0].filters.has_value());

  std::string path = Write(dir, "kb.toml", std::string(kMinimal) + R"(
[connectors."bad name"]
destination = "nowhere"
certificate_fingerprints = ["sha256:12"]
certificate_subjects = ["mx.acme.example"]
on_error = "hold"
)");
  auto bad = LoadConfig(path);
  std::string all;
  for (const auto& e : bad.errors) all += e.ToString() + "\n";
  for (const char* want : {"connectors.bad name.name: a connector's name is letters",
                           "connectors.bad name.tenant: a connector belongs to a tenant",
                           "certificate_fingerprints: \"sha256:12\" is not a SHA-256 fingerprint",
                           "certificate_subjects: needs [tls] client_ca",
                           "certificate_subjects: needs [tls] cert and key",
                           "destination: \"nowhere\" is not a destination defined under [destinations]",
                           "on_error: \"hold\" is for inbound mail; a connector's own servers retry a 451"}) {
    EXPECT_NE(all.find(want), std::string::npos) << want << " in\n" << all;
  }
  EXPECT_NE(all.find(path + ":"), std::string::npos) << all;
  auto empty = LoadConfig(Write(dir, "ke.toml", std::string(kMinimal) + R"(
[connectors.x]
tenant = "acme"
destination = "local"
)"));
  ASSERT_EQ(empty.errors.size(), 1u);
  EXPECT_NE(empty.errors[0].ToString().find("a connector needs addresses, certificate_subjects or"),
            std::string::npos) << empty.errors[0].ToString();
}

TEST(Config, QuarantineSettingsAndTheDesksToken) {
  testing::TempDir dir;
  auto good = LoadConfig(Write(dir, "q.toml", std::string(kMinimal) + R"(
[protection]
quarantine_score = 15
quarantine_retention = "30d"
[protection.tenants.acme]
quarantine_score = 8.5
[admin]
token = "operator-token-0123456789"
quarantine_token = "desk-token-0123456789"
)"));
  ASSERT_TRUE(good.ok()) << good.errors[0].ToString();
  const auto& p = good.config.server.protection;
  EXPECT_EQ(p.QuarantineScore("acme"), 8.5);
  EXPECT_EQ(p.QuarantineScore("globex"), 15);
  EXPECT_EQ(p.QuarantineRetention("acme"), std::chrono::hours(24 * 30));
  EXPECT_EQ(good.config.admin.quarantine_token, "desk-token-0123456789");

  auto bad = LoadConfig(Write(dir, "qb.toml", std::string(kMinimal) + R"(
[protection]
quarantine_retention = "10m"
[admin]
token = "operator-token-0123456789"
quarantine_token = "operator-token-0123456789"
)"));
  ASSERT_EQ(bad.errors.size(), 2u);
  EXPECT_NE(bad.errors[0].ToString().find("protection.quarantine_retention: must be at least 1h"), std::string::npos)
      << bad.errors[0].ToString();
  EXPECT_NE(bad.errors[1].ToString().find("admin.quarantine_token: must differ from token"), std::string::npos)
      << bad.errors[1].ToString();
}

}  // namespace
}  // namespace sluice::control
