#include "server/connectors.h"

#include <gtest/gtest.h>

namespace sluice::server {
namespace {

const std::string kPrint(64, 'a');

ConnectorOptions Acme() {
  ConnectorOptions c;
  c.name = "acme-out";
  c.tenant = "acme";
  c.addresses = CidrList::Parse({"192.0.2.0/24"}).value();
  c.destination = "internet";
  return c;
}

PeerCertificate Cert(bool verified, std::string subject, std::vector<std::string> names, std::string print) {
  return PeerCertificate{verified, std::move(subject), std::move(names), std::move(print)};
}

TEST(Connectors, AnAddressConnectorMatchesItsRangeOnly) {
  std::vector<ConnectorOptions> cs{Acme()};
  EXPECT_EQ(MatchConnector(cs, {"192.0.2.9", false, std::nullopt}), &cs[0]);
  EXPECT_EQ(MatchConnector(cs, {"198.51.100.1", false, std::nullopt}), nullptr);
}

TEST(Connectors, EveryCriterionGivenMustHold) {
  ConnectorOptions c = Acme();
  c.fingerprints = {kPrint};
  std::vector<ConnectorOptions> cs{c};
  PeerIdentity right{"192.0.2.9", true, Cert(false, "CN=x", {"x"}, kPrint)};
  EXPECT_EQ(MatchConnector(cs, right), &cs[0]);
  PeerIdentity wrong_cert{"192.0.2.9", true, Cert(false, "CN=x", {"x"}, std::string(64, 'b'))};
  EXPECT_EQ(MatchConnector(cs, wrong_cert), nullptr);
  PeerIdentity no_cert{"192.0.2.9", true, std::nullopt};
  EXPECT_EQ(MatchConnector(cs, no_cert), nullptr);
  PeerIdentity elsewhere{"203.0.113.1", true, Cert(false, "CN=x", {"x"}, kPrint)};
  EXPECT_EQ(MatchConnector(cs, elsewhere), nullptr);
}

TEST(Connectors, ASubjectCountsOnlyOnAVerifiedChain) {
  ConnectorOptions c;
  c.name = "by-name";
  c.tenant = "acme";
  c.subjects = {"*.acme.example", "CN=relay,O=Acme"};
  std::vector<ConnectorOptions> cs{c};
  auto peer = [](bool verified, std::string subject, std::vector<std::string> names) {
    return PeerIdentity{"203.0.113.1", true, Cert(verified, std::move(subject), std::move(names), kPrint)};
  };
  EXPECT_EQ(MatchConnector(cs, peer(true, "CN=mx1.acme.example", {"mx1.ACME.example"})), &cs[0]);
  EXPECT_EQ(MatchConnector(cs, peer(false, "CN=mx1.acme.example", {"mx1.acme.example"})), nullptr);
  EXPECT_EQ(MatchConnector(cs, peer(true, "cn=relay,o=acme", {"relay"})), &cs[0]);
  // "*." stands for one label, not for the domain itself or a deeper one's suffix trick.
  EXPECT_EQ(MatchConnector(cs, peer(true, "CN=acme.example", {"acme.example"})), nullptr);
  EXPECT_EQ(MatchConnector(cs, peer(true, "CN=x", {"mx1.evilacme.example"})), nullptr);
}

TEST(Connectors, RequireTlsInTheClearIs530AndOverTlsMatches) {
  ConnectorOptions c = Acme();
  c.require_tls = true;
  std::vector<ConnectorOptions> cs{c};
  MailDecision clear = DecideMail(cs, {"192.0.2.9", false, std::nullopt}, "a@acme.example", "acme");
  EXPECT_EQ(clear.refusal.code, 530);
  EXPECT_EQ(clear.refusal.enhanced, "5.7.0");
  MailDecision tls = DecideMail(cs, {"192.0.2.9", true, std::nullopt}, "a@acme.example", "acme");
  EXPECT_EQ(tls.refusal.code, 0);
  EXPECT_EQ(tls.connector, &cs[0]);
  EXPECT_TRUE(tls.may_relay);
  // The internet in the clear is not told to use TLS.
  EXPECT_EQ(DecideMail(cs, {"198.51.100.1", false, std::nullopt}, "b@other.example", "").refusal.code, 0);
}

TEST(Connectors, AConnectorRelaysForItsOwnTenantsSendersAndBounces) {
  std::vector<ConnectorOptions> cs{Acme()};
  PeerIdentity own{"192.0.2.9", false, std::nullopt};
  EXPECT_TRUE(DecideMail(cs, own, "a@acme.example", "acme").may_relay);
  EXPECT_TRUE(DecideMail(cs, own, "", "").may_relay);
  MailDecision foreign = DecideMail(cs, own, "x@other.example", "other");
  EXPECT_FALSE(foreign.may_relay);
  EXPECT_EQ(foreign.connector, &cs[0]);
  EXPECT_FALSE(DecideMail(cs, own, "x@nowhere.example", "").may_relay);
  EXPECT_FALSE(DecideMail(cs, {"198.51.100.1", false, std::nullopt}, "a@acme.example", "acme").may_relay);
}

TEST(Connectors, RestrictedDomainsAreRefusedFromElsewhere) {
  ConnectorOptions c = Acme();
  c.restrict_domains = true;
  ConnectorOptions other = Acme();
  other.name = "globex-out";
  other.tenant = "globex";
  other.addresses = CidrList::Parse({"203.0.113.0/24"}).value();
  std::vector<ConnectorOptions> cs{c, other};
  MailDecision spoof = DecideMail(cs, {"198.51.100.1", false, std::nullopt}, "ceo@Acme.Example", "acme");
  EXPECT_EQ(spoof.refusal.code, 550);
  EXPECT_EQ(spoof.refusal.enhanced, "5.7.1");
  EXPECT_NE(spoof.refusal.text.find("acme.example"), std::string::npos);
  // Through another tenant's connector it is still elsewhere.
  EXPECT_EQ(DecideMail(cs, {"203.0.113.5", false, std::nullopt}, "ceo@acme.example", "acme").refusal.code, 550);
  EXPECT_EQ(DecideMail(cs, {"192.0.2.9", false, std::nullopt}, "ceo@acme.example", "acme").refusal.code, 0);
  // Unrestricted tenants and strangers are unaffected.
  EXPECT_EQ(DecideMail(cs, {"198.51.100.1", false, std::nullopt}, "x@globex.example", "globex").refusal.code, 0);
  EXPECT_EQ(DecideMail(cs, {"198.51.100.1", false, std::nullopt}, "", "").refusal.code, 0);
}

TEST(Connectors, OnlyUnknownDomainsAreRelayed) {
  std::vector<ConnectorOptions> cs{Acme()};
  MailDecision mail = DecideMail(cs, {"192.0.2.9", false, std::nullopt}, "a@acme.example", "acme");
  auto r = directory::LookupResult::No(directory::Reason::kUnknownDomain);
  ASSERT_TRUE(RelayOutbound(mail, "bob@far.example", r));
  EXPECT_EQ(r.found, directory::Found::kYes);
  EXPECT_EQ(r.route.destination, "internet");
  EXPECT_EQ(r.route.tenant, "acme");
  EXPECT_TRUE(r.route.forest.empty());
  auto unknown_user = directory::LookupResult::No(directory::Reason::kUnknownUser, "f1");
  EXPECT_FALSE(RelayOutbound(mail, "nobody@acme.example", unknown_user));
  auto later = directory::LookupResult::TryLater(directory::Reason::kTimedOut, "f1");
  EXPECT_FALSE(RelayOutbound(mail, "bob@far.example", later));
  auto stranger = directory::LookupResult::No(directory::Reason::kUnknownDomain);
  EXPECT_FALSE(RelayOutbound(MailDecision{}, "bob@far.example", stranger));
}

TEST(Connectors, FingerprintsAreNormalized) {
  const std::string hex = "ab" + std::string(62, '0');
  std::string colons = "AB";
  for (int i = 0; i < 31; ++i) colons += ":00";
  EXPECT_EQ(NormalizeFingerprint("sha256:" + colons), hex);
  EXPECT_EQ(NormalizeFingerprint(hex), hex);
  EXPECT_EQ(NormalizeFingerprint("abc"), "");
  EXPECT_EQ(NormalizeFingerprint(std::string(63, '0') + "g"), "");
}

}  // namespace
}  // namespace sluice::server
