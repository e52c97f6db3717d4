#include <gtest/gtest.h>

#include "common/test_util.h"
#include "directory/directory.h"

namespace sluice::directory {
namespace {

SeedData Seed() {
  SeedData s;
  s.forests = {"na-1", "de-1"};
  SeedTenant acme{"acme", "na-1", {"Acme.Example"}, "local", {}};
  acme.recipients.push_back({"Alice@acme.example", {"al@acme.example"}, "", ""});
  acme.recipients.push_back({"bob@acme.example", {}, "relay", "bob-box"});
  SeedTenant ini{"initech", "de-1", {"initech.example"}, "local", {}};
  ini.recipients.push_back({"erin@initech.example", {}, "", ""});
  s.tenants = {acme, ini};
  return s;
}

TEST(SqliteBackend, ResolvesRecipientsAliasesAndForests) {
  testing::TempDir dir;
  SeedData seed = Seed();
  auto b = OpenSqliteBackend(dir / "d.db", &seed);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  LookupResult r = b.value()->Lookup("alice@acme.example", "");
  ASSERT_EQ(r.found, Found::kYes);
  EXPECT_EQ(r.route.tenant, "acme");
  EXPECT_EQ(r.route.forest, "na-1");
  EXPECT_EQ(r.route.destination, "local");

  r = b.value()->Lookup("AL@acme.example", "");  // alias, any case
  ASSERT_EQ(r.found, Found::kYes);
  EXPECT_EQ(r.route.address, "alice@acme.example");

  r = b.value()->Lookup("bob@acme.example", "");
  EXPECT_EQ(r.route.destination, "relay");
  EXPECT_EQ(r.route.mailbox, "bob-box");

  r = b.value()->Lookup("erin@initech.example", "");
  EXPECT_EQ(r.route.forest, "de-1");

  r = b.value()->Lookup("nobody@acme.example", "");
  EXPECT_EQ(r.found, Found::kNo);
  EXPECT_EQ(r.reason, Reason::kUnknownUser);
  EXPECT_EQ(r.forest, "na-1");

  r = b.value()->Lookup("alice@elsewhere.example", "");
  EXPECT_EQ(r.found, Found::kNo);
  EXPECT_EQ(r.reason, Reason::kUnknownDomain);
}

TEST(SqliteBackend, SeedsOnlyAnEmptyDatabase) {
  testing::TempDir dir;
  SeedData seed = Seed();
  ASSERT_TRUE(OpenSqliteBackend(dir / "d.db", &seed).ok());
  // A second start with a different seed keeps what is there.
  SeedData other;
  other.forests = {"x"};
  other.tenants.push_back({"other", "x", {"other.example"}, "local", {}});
  auto b = OpenSqliteBackend(dir / "d.db", &other);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.value()->Lookup("alice@acme.example", "").found, Found::kYes);
  EXPECT_EQ(b.value()->Lookup("a@other.example", "").reason, Reason::kUnknownDomain);
}

TEST(SqliteBackend, BadSeedIsRefusedWhole) {
  testing::TempDir dir;
  SeedData seed = Seed();
  seed.tenants.push_back({"dup", "na-1", {"acme.example"}, "local", {}});  // domain taken
  auto b = OpenSqliteBackend(dir / "d.db", &seed);
  EXPECT_FALSE(b.ok());
  // Nothing half-seeded: the next start seeds from scratch.
  SeedData good = Seed();
  auto again = OpenSqliteBackend(dir / "d.db", &good);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value()->Lookup("alice@acme.example", "").found, Found::kYes);
}

}  // namespace
}  // namespace sluice::directory

namespace sluice::directory {
namespace {

// Found in review: another tenant's entry with an alias in acme's domain
// took acme's mail.
TEST(SqliteBackend, OnlyTheDomainsTenantAnswers) {
  testing::TempDir dir;
  SeedData seed = Seed();
  seed.tenants[1].recipients.push_back({"mallory@initech.example", {"ceo@acme.example"}, "", "stolen"});
  auto b = OpenSqliteBackend(dir / "d.db", &seed);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  LookupResult r = b.value()->Lookup("ceo@acme.example", "acme");
  EXPECT_EQ(r.found, Found::kNo);
  EXPECT_EQ(r.reason, Reason::kUnknownUser);
  EXPECT_EQ(b.value()->Lookup("ceo@acme.example", "").found, Found::kNo);
  // Asked for another tenant than the domain's, nothing answers either.
  EXPECT_EQ(b.value()->Lookup("alice@acme.example", "initech").found, Found::kNo);
  EXPECT_EQ(b.value()->Lookup("alice@acme.example", "acme").found, Found::kYes);
}

}  // namespace
}  // namespace sluice::directory
