#include "server/content_scan.h"

#include <gtest/gtest.h>

namespace sluice::server {
namespace {

filter::FilterOptions Named(const char* name, filter::OnError e) {
  filter::FilterOptions o;
  o.name = name;
  o.port = 1;
  o.on_error = e;
  return o;
}

Envelope For(std::vector<std::string> tenants) {
  Envelope e;
  e.client_address = "192.0.2.1";
  for (auto& t : tenants) {
    RecipientRoute r;
    r.tenant = t;
    e.routes.push_back(r);
    e.rcpt_to.push_back("x@" + t);
  }
  return e;
}

TEST(ContentScan, TheChainIsTheUnionOfTheTenantsChainsWithTheStricterOnError) {
  ProtectionOptions p;
  p.definitions = {Named("spam", filter::OnError::kAccept), Named("virus", filter::OnError::kTempFail)};
  filter::FilterSet set;
  set.Reconfigure(p.definitions);
  p.filters = {"virus"};
  p.tenants["acme"].filters = std::vector<std::string>{"spam", "virus"};
  p.tenants["lax"].filters = std::vector<std::string>{"virus"};
  p.tenants["lax"].on_error = filter::OnError::kAccept;
  p.tenants["none"].filters = std::vector<std::string>{};

  auto chain = ChainFor(p, set, For({"acme", "lax", "acme"}));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0].filter->options().name, "spam");
  EXPECT_EQ(chain[0].on_error, filter::OnError::kAccept);
  EXPECT_EQ(chain[1].filter->options().name, "virus");
  EXPECT_EQ(chain[1].on_error, filter::OnError::kTempFail);  // acme's (the filter's) beats lax's accept

  auto lax = ChainFor(p, set, For({"lax"}));
  ASSERT_EQ(lax.size(), 1u);
  EXPECT_EQ(lax[0].on_error, filter::OnError::kAccept);
  EXPECT_EQ(ChainFor(p, set, For({"globex"})).size(), 1u);  // the global chain
  EXPECT_TRUE(ChainFor(p, set, For({"none"})).empty());     // its own, empty chain: never waits
}

TEST(ContentScan, SpamScoringIsSkippedOnlyWhenEveryTenantAllowsTheClient) {
  ProtectionOptions p;
  p.tenants["acme"].lists.allow = CidrList::Parse({"192.0.2.0/24"}).value();
  EXPECT_TRUE(AllAllow(p, For({"acme"})));
  EXPECT_FALSE(AllAllow(p, For({"acme", "globex"})));
  p.global.allow = CidrList::Parse({"192.0.2.1"}).value();
  EXPECT_TRUE(AllAllow(p, For({"acme", "globex"})));
}

TEST(ContentScan, TheVerdictFieldSaysWhatRanAndWhetherItWasComplete) {
  filter::ScanOutcome o;
  o.report = "rspamd=accept; clamav=not scanned (timeout)";
  o.not_scanned = true;
  EXPECT_EQ(VerdictField("192.0.2.1", "", o),
            "X-Sluice-Report: cip=192.0.2.1; connector=none; rspamd=accept; clamav=not scanned (timeout); scan=incomplete\r\n");
}

TEST(ContentScan, AConnectorsOwnChainReplacesTheTenantsChains) {
  ProtectionOptions p;
  p.definitions = {Named("spam", filter::OnError::kAccept), Named("virus", filter::OnError::kTempFail)};
  filter::FilterSet set;
  set.Reconfigure(p.definitions);
  p.filters = {"spam", "virus"};
  ConnectorOptions out;
  out.name = "acme-out";
  out.filters = std::vector<std::string>{"virus"};
  out.on_error = filter::OnError::kAccept;
  p.connectors = {out};
  Envelope e = For({"acme"});
  e.connector = "acme-out";
  auto chain = ChainFor(p, set, e);
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0].filter->options().name, "virus");
  EXPECT_EQ(chain[0].on_error, filter::OnError::kAccept);
  // Its mail is never held for a later scan (the connector is not kept
  // with it): a filter's hold is a tempfail on the connector's chain.
  p.connectors[0].on_error.reset();
  p.definitions[1].on_error = filter::OnError::kHold;
  set.Reconfigure(p.definitions);
  chain = ChainFor(p, set, e);
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0].on_error, filter::OnError::kTempFail);
  EXPECT_EQ(ChainFor(p, set, For({"acme"}))[1].on_error, filter::OnError::kHold);  // inbound mail is held
  // A connector without its own chain: the tenants' chains, as for anyone.
  p.connectors[0].filters.reset();
  EXPECT_EQ(ChainFor(p, set, e).size(), 2u);
}

TEST(ContentScan, TheLowestThresholdAmongTheTenantsQuarantinesSpam) {
  ProtectionOptions p;
  p.quarantine_score = 15;
  p.tenants["strict"].quarantine_score = 5;
  filter::ScanOutcome o;
  o.score = 8;
  EXPECT_FALSE(ApplySpamThreshold(p, For({"lax"}), o));
  EXPECT_EQ(o.action, filter::ScanOutcome::Action::kAccept);
  EXPECT_TRUE(ApplySpamThreshold(p, For({"lax", "strict"}), o));
  EXPECT_EQ(o.action, filter::ScanOutcome::Action::kQuarantine);
  EXPECT_EQ(o.category, "spam");
  EXPECT_EQ(o.reason, "8 >= 5");
  filter::ScanOutcome unscored;
  EXPECT_FALSE(ApplySpamThreshold(p, For({"strict"}), unscored));
  filter::ScanOutcome rejected;
  rejected.score = 50;
  rejected.action = filter::ScanOutcome::Action::kReject;
  EXPECT_FALSE(ApplySpamThreshold(p, For({"strict"}), rejected));
  EXPECT_EQ(rejected.action, filter::ScanOutcome::Action::kReject);
}

}  // namespace
}  // namespace sluice::server
