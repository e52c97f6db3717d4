#include "smtp/address.h"
#include "mail/address.h"

#include <gtest/gtest.h>

namespace sluice::smtp {
namespace {

TEST(Address, ValidMailboxes) {
  for (const char* m : {"a@b.example", "first.last@sub.domain.example", "a+tag@b.example",
                        "\"quoted local\"@b.example", "\"a\\\"b\"@c.example", "user@[192.0.2.1]",
                        "user@[IPv6:2001:db8::1]", "x@localhost"}) {
    EXPECT_TRUE(mail::IsValidMailbox(m)) << m;
  }
}

TEST(Address, InvalidMailboxes) {
  for (const char* m : {"", "a", "@b.example", "a@", "a..b@c.example", ".a@b.example",
                        "a.@b.example", "a b@c.example", "a@-b.example", "a@b-.example",
                        "a@b..example", "a@[unterminated", "\"unterminated@b.example",
                        "a@b@c.example"}) {
    EXPECT_FALSE(mail::IsValidMailbox(m)) << m;
  }
  EXPECT_FALSE(mail::IsValidMailbox(std::string(65, 'a') + "@b.example"));
  EXPECT_FALSE(mail::IsValidMailbox("a@" + std::string(64, 'b') + ".example"));
}

TEST(Address, ParsesParameters) {
  auto r = ParsePathArgument("FROM:<a@b.example> SIZE=100 body=8BITMIME", "FROM", true,
                             SyntaxError::kBadSender);
  ASSERT_TRUE(std::holds_alternative<PathArgument>(r));
  const auto& p = std::get<PathArgument>(r);
  EXPECT_EQ(p.address, "a@b.example");
  ASSERT_EQ(p.params.size(), 2u);
  EXPECT_EQ(p.params[0].first, "SIZE");
  EXPECT_EQ(p.params[0].second, "100");
  EXPECT_EQ(p.params[1].first, "BODY");
}

TEST(Address, RejectsMalformedArguments) {
  struct {
    const char* arg;
    SyntaxError want;
  } rows[] = {
      {"FROM:<a@b.example", SyntaxError::kBadSender},
      {"FROM:a@b.example", SyntaxError::kBadSender},
      {"FROM<a@b.example>", SyntaxError::kMissingArgument},
      {"TO:<a@b.example>", SyntaxError::kMissingArgument},
      {"FROM:<a@b.example>SIZE=1", SyntaxError::kBadSender},
      {"FROM:<a@b.example> =1", SyntaxError::kBadParameter},
      {"FROM:<a@b.example> SIZE=", SyntaxError::kBadParameter},
      {"FROM:<@route.example>", SyntaxError::kBadSender},
  };
  for (const auto& row : rows) {
    auto r = ParsePathArgument(row.arg, "FROM", true, SyntaxError::kBadSender);
    ASSERT_TRUE(std::holds_alternative<SyntaxError>(r)) << row.arg;
    EXPECT_EQ(std::get<SyntaxError>(r), row.want) << row.arg;
  }
}

TEST(Address, CanonicalLowercasesDomainOnly) {
  EXPECT_EQ(mail::CanonicalAddress("Alice@ACME.Example"), "Alice@acme.example");
}

}  // namespace
}  // namespace sluice::smtp
