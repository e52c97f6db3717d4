#include "common/cidr.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(Cidr, RangesOfBothFamilies) {
  auto l = CidrList::Parse({"192.0.2.0/24", "2001:db8::/32", "198.51.100.7", "10.0.0.0/8"});
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_TRUE(l.value().Contains("192.0.2.200"));
  EXPECT_FALSE(l.value().Contains("192.0.3.1"));
  EXPECT_TRUE(l.value().Contains("198.51.100.7"));
  EXPECT_FALSE(l.value().Contains("198.51.100.8"));
  EXPECT_TRUE(l.value().Contains("10.255.0.1"));
  EXPECT_TRUE(l.value().Contains("2001:db8:ffff::1"));
  EXPECT_FALSE(l.value().Contains("2001:db9::1"));
  EXPECT_TRUE(l.value().Contains("::ffff:192.0.2.9"));  // a v4 client on a dual-stack socket
  EXPECT_FALSE(l.value().Contains("unknown"));
  EXPECT_FALSE(CidrList().Contains("192.0.2.1"));
  auto all = CidrList::Parse({"0.0.0.0/0"});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all.value().Contains("203.0.113.1"));
  EXPECT_FALSE(all.value().Contains("2001:db8::1"));  // v4's everything is not v6's
}

TEST(Cidr, BadEntriesAreNamed) {
  EXPECT_EQ(CidrList::Parse({"192.0.2.0/33"}).status().message(), "\"192.0.2.0/33\": the prefix length must be 0 to 32");
  EXPECT_EQ(CidrList::Parse({"192.0.2.1/24"}).status().message(), "\"192.0.2.1/24\" has host bits set past its prefix");
  EXPECT_EQ(CidrList::Parse({"example.com"}).status().message(),
            "\"example.com\" is not an IPv4 or IPv6 address or range");
  EXPECT_FALSE(CidrList::Parse({"2001:db8::/x"}).ok());
  EXPECT_FALSE(CidrList::Parse({"10.0.0.0/"}).ok());
}

}  // namespace
}  // namespace sluice
