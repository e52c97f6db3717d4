#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/test_util.h"
#include "delivery/delivery.h"

namespace sluice::delivery {
namespace {

namespace fs = std::filesystem;

std::vector<Outcome> DeliverNow(Delivery& d, const Job& job) {
  boost::asio::io_context io;
  auto op = d.Deliver(job);
  auto f = boost::asio::co_spawn(io, std::move(op), boost::asio::use_future);
  io.run();
  return f.get();
}

Job MakeJob(bool retry) {
  auto e = std::make_shared<Envelope>();
  e->received_unix = 1'790'000'000;
  e->rcpt_to = {"a@ours.example", "b@ours.example", "c@ours.example"};
  e->routes = {{"a@ours.example", "t", "f", "local", ""},
               {"b@ours.example", "t", "f", "local", "custom/b"},
               {"c@ours.example", "t", "f", "local", "../escape"}};
  Job j;
  j.queue_id = "QID";
  j.envelope = e;
  j.recipients = {0, 1, 2};
  j.content = std::make_shared<const std::string>("Received: x\r\n\r\nhello\r\n");
  j.retry = retry;
  return j;
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().string());
  return out;
}

TEST(Maildir, DeliversOncePerRecipientAndRefusesEscapes) {
  testing::TempDir dir;
  boost::asio::thread_pool pool(1);
  DestinationOptions o;
  o.name = "local";
  o.root = dir.path();
  auto d = MakeMaildirDelivery(o, pool);

  auto out = DeliverNow(*d, MakeJob(false));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(out[1].kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(out[2].kind, Outcome::Kind::kFailed);  // ".." in a mailbox path
  auto a = Files(dir / "ours.example/a/new");
  ASSERT_EQ(a.size(), 1u);
  std::stringstream content;
  content << std::ifstream(a[0]).rdbuf();
  EXPECT_EQ(content.str(), "Received: x\r\n\r\nhello\r\n");
  EXPECT_EQ(Files(dir / "custom/b/new").size(), 1u);
  EXPECT_TRUE(Files(dir / "ours.example/a/tmp").empty());

  // A retry (as after a crash before the spool recorded the outcome) finds
  // the earlier copy, also after a reader moved it to cur/.
  fs::rename(a[0], dir / ("ours.example/a/cur/" + fs::path(a[0]).filename().string() + ":2,S"));
  out = DeliverNow(*d, MakeJob(true));
  EXPECT_EQ(out[0].kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(Files(dir / "ours.example/a/new").size(), 0u);
  EXPECT_EQ(Files(dir / "ours.example/a/cur").size(), 1u);
  EXPECT_EQ(Files(dir / "custom/b/new").size(), 1u);
  pool.join();
}

TEST(Maildir, UnwritableRootDefers) {
  boost::asio::thread_pool pool(1);
  DestinationOptions o;
  o.root = "/proc/sluice-cannot-write-here";
  auto d = MakeMaildirDelivery(o, pool);
  auto out = DeliverNow(*d, MakeJob(false));
  EXPECT_EQ(out[0].kind, Outcome::Kind::kDeferred);
  EXPECT_EQ(out[0].reply.substr(0, 9), "451 4.3.0");
  pool.join();
}

}  // namespace
}  // namespace sluice::delivery
