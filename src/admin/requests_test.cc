// The admin API's request parsing: what is accepted, and the 400 for each
// kind of bad body, without any stage behind it.
#include "admin/requests.h"

#include <gtest/gtest.h>

namespace sluice::admin {
namespace {

using nlohmann::json;

TEST(Requests, ObjectsOnly) {
  EXPECT_TRUE(ParseObject(R"({"a":1})").ok());
  EXPECT_EQ(ParseObject("{").status().message(), "malformed JSON");
  EXPECT_EQ(ParseObject("[1]").status().message(), "the body must be a JSON object");
  EXPECT_EQ(ParseObject("").status().code(), Status::Code::kInvalidArgument);
}

TEST(Requests, FilterFieldsAndBounds) {
  bool all = false;
  auto f = ParseFilter(json::parse(R"({"ids":["A"],"state":"hold","tenant":"acme","min_age":60,"all":true})"), &all);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(all);
  EXPECT_EQ(f.value().ids, std::vector<std::string>{"A"});
  EXPECT_EQ(f.value().min_age.count(), 60);
  for (const char* bad : {R"({"state":"lost"})", R"({"min_age":-1})", R"({"min_age":1.5})", R"({"ids":"A"})",
                          R"({"ids":[1]})", R"({"tenant":7})", R"({"all":"yes"})", R"({"colour":"red"})",
                          R"({"min_age":1e300})"}) {
    EXPECT_EQ(ParseFilter(json::parse(bad), &all).status().code(), Status::Code::kInvalidArgument) << bad;
  }
}

TEST(Requests, FilterFromAQueryString) {
  auto f = ParseFilterQuery("state=deferred&rcpt=al%40acme&id=0123456789ABCDEF01&min_age=5");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f.value().rcpt, "al@acme");
  EXPECT_EQ(f.value().ids.size(), 1u);
  EXPECT_EQ(f.value().min_age.count(), 5);
  EXPECT_FALSE(ParseFilterQuery("min_age=x").ok());
  auto limited = ParseFilterQuery("limit=500&category=malware");  // as the dashboard's quarantine panel asks
  ASSERT_TRUE(limited.ok()) << limited.status().ToString();
  EXPECT_EQ(limited.value().limit, 500u);
  EXPECT_EQ(limited.value().category, "malware");
  EXPECT_FALSE(ParseFilterQuery("ids=1&id=2").ok());
  EXPECT_FALSE(ParseFilterQuery("all=true").ok());
  EXPECT_EQ(UrlDecode("a+b%2Fc%zz"), "a b/c%zz");
}

TEST(Requests, LimitsFaultsMovesHoldsFlights) {
  EXPECT_EQ(ParseLimit(json::parse(R"({"limit":40})")).value(), 40u);
  for (const char* bad : {R"({"limit":0})", R"({"limit":100001})", R"({"limit":-3})", R"({"limit":"9"})", "{}"}) {
    EXPECT_FALSE(ParseLimit(json::parse(bad)).ok()) << bad;
  }
  auto fault = ParseFault(json::parse(R"({"latency_ms":250,"error_rate":0.5,"hang":true})"));
  ASSERT_TRUE(fault.ok());
  EXPECT_EQ(fault.value().latency.count(), 250);
  EXPECT_TRUE(fault.value().hang);
  for (const char* bad : {R"({"latency_ms":-1})", R"({"latency_ms":1e20})", R"({"error_rate":2})",
                          R"({"hang":1})", R"({"lag":1})"}) {
    EXPECT_FALSE(ParseFault(json::parse(bad)).ok()) << bad;
  }
  EXPECT_EQ(ParseMove(json::parse(R"({"forest":"na-2"})")).value(), "na-2");
  EXPECT_EQ(ParseMove(json::parse("{}")).status().message(), "\"forest\" (a string) is required");
  auto hold = ParseHold(json::parse(R"({"kind":"tenant","name":"acme","hold":false})"));
  ASSERT_TRUE(hold.ok());
  EXPECT_FALSE(hold.value().on);
  EXPECT_FALSE(ParseHold(json::parse(R"({"kind":"tenant"})")).ok());
  auto flight = ParseFlightStart(json::parse(R"({"candidate":"c.toml","share":10})"));
  ASSERT_TRUE(flight.ok());
  EXPECT_EQ(flight.value().share, 10);
  EXPECT_FALSE(ParseFlightStart(json::parse(R"({"candidate":"c.toml","share":"10"})")).ok());
  // Out of range is the flight's to refuse (422), but never overflows an int.
  EXPECT_EQ(ParseFlightStart(json::parse(R"({"candidate":"c","share":99999999999})")).value().share, 1'000'000);
}

}  // namespace
}  // namespace sluice::admin
