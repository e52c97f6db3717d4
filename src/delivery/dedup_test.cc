#include "delivery/dedup.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace sluice::delivery {
namespace {

// The mailbox store: delivers everything, and remembers whom.
class Store final : public Delivery {
 public:
  boost::asio::awaitable<std::vector<Outcome>> Deliver(const Job& job) override {
    std::vector<Outcome> out;
    for (size_t i : job.recipients) {
      sent.push_back(job.envelope->routes[i].address);
      out.emplace_back(Outcome::Kind::kDelivered, "250 2.0.0 Ok");
    }
    co_return out;
  }
  std::vector<DestinationStats> Stats() override { return {}; }
  std::vector<std::string> sent;
};

Job MakeJob(const std::string& destination, const std::string& content) {
  auto e = std::make_shared<Envelope>();
  for (const char* a : {"a@x.example", "b@x.example"}) {
    e->rcpt_to.push_back(a);
    e->routes.push_back({a, "t", "f", destination, ""});
  }
  Job j;
  j.queue_id = "Q1";
  j.envelope = e;
  j.recipients = {0, 1};
  j.content = std::make_shared<const std::string>(content);
  return j;
}

std::vector<Outcome> DeliverNow(Delivery& d, const Job& j) {
  boost::asio::io_context io;
  auto f = boost::asio::co_spawn(io, d.Deliver(j), boost::asio::use_future);
  io.run();
  return f.get();
}

TEST(Dedup, KeyIsTheMessageIdAndTheRecipient) {
  const std::string m = "Received: by x\r\nMessage-ID:\r\n <m1@test>\r\nSubject: hi\r\n\r\nMessage-ID: <body@not>\r\n";
  EXPECT_EQ(DedupKey(m, "A@x.example"), DedupKey("message-id: <m1@test>\r\n\r\n", "a@x.example"));  // folded, any case
  EXPECT_NE(DedupKey(m, "a@x.example"), DedupKey(m, "b@x.example"));
  EXPECT_NE(DedupKey(m, "a@x.example"), DedupKey("Message-ID: <m2@test>\r\n\r\n", "a@x.example"));
  EXPECT_EQ(DedupKey("Subject: no id\r\n\r\nMessage-ID: <body@not>\r\n", "a@x.example"), "");  // only the header
}

TEST(Dedup, ARecipientDeliveredWithinTheWindowIsNotDeliveredAgain) {
  Store store;
  LocalDedup window(std::chrono::seconds(60));
  auto d = WithDedup(store, window, {"store"});
  const std::string content = "Message-ID: <m1@test>\r\n\r\nhello\r\n";
  auto first = DeliverNow(*d, MakeJob("store", content));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(store.sent.size(), 2u);
  // The same message again (a takeover's copy): answered, not sent.
  auto again = DeliverNow(*d, MakeJob("store", content));
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(store.sent.size(), 2u);
  EXPECT_EQ(window.suppressed(), 2u);
  // Forgotten (a resubmit), it goes again; a next hop is never filtered.
  window.Forget({DedupKey(content, "a@x.example")});
  DeliverNow(*d, MakeJob("store", content));
  EXPECT_EQ(store.sent, (std::vector<std::string>{"a@x.example", "b@x.example", "a@x.example"}));
  DeliverNow(*d, MakeJob("relay", content));
  DeliverNow(*d, MakeJob("relay", content));
  EXPECT_EQ(store.sent.size(), 7u);
  // Without a Message-ID nothing is deduplicated.
  DeliverNow(*d, MakeJob("store", "Subject: x\r\n\r\nhi\r\n"));
  DeliverNow(*d, MakeJob("store", "Subject: x\r\n\r\nhi\r\n"));
  EXPECT_EQ(store.sent.size(), 11u);
}

TEST(Dedup, TheWindowExpires) {
  LocalDedup window(std::chrono::seconds(0));
  window.Record({"k"});
  EXPECT_FALSE(window.SeenNow({"k"})[0]);
  LocalDedup bounded(std::chrono::seconds(60), 2);
  bounded.Record({"a", "b", "c"});
  EXPECT_EQ(bounded.SeenNow({"a", "b", "c"}), (std::vector<bool>{false, true, true}));
}

}  // namespace
}  // namespace sluice::delivery
