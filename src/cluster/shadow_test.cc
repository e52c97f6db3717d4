#include "cluster/shadow.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "common/test_util.h"

namespace sluice::cluster {
namespace {

// The queue a promotion submits to: it only remembers what it was given.
class RecordingQueue final : public queue::Queue {
 public:
  Status Start() override { return Status::Ok(); }
  void Submit(std::string id, std::shared_ptr<const Envelope>, spool::Content, bool) override {
    std::lock_guard lock(mu);
    submitted.push_back(std::move(id));
  }
  void Stop(std::chrono::seconds) override {}
  queue::QueueStats Stats() override { return {}; }
  std::vector<queue::MessageInfo> List(const queue::Filter&) override { return {}; }
  Result<spool::Content> Content(const std::string&) override { return Status::NotFound("none"); }
  Result<size_t> Apply(queue::OperatorAction, const queue::Filter&) override { return size_t{0}; }
  Status Resolve(const std::string&, const std::string&, queue::Rescanned) override { return Status::Ok(); }
  std::vector<queue::HoldPolicy> Holds() override { return {}; }
  Status SetHold(const queue::HoldPolicy&, bool) override { return Status::Ok(); }
  size_t count() {
    std::lock_guard lock(mu);
    return submitted.size();
  }
  std::mutex mu;
  std::vector<std::string> submitted;
};

Envelope Sample() {
  Envelope e;
  e.sender = "s@outside.example";
  e.rcpt_to = {"a@ours.example"};
  e.routes = {{"a@ours.example", "t1", "na-1", "relay", ""}};
  e.dsn = {{}};
  e.received_unix = 1'790'000'000;
  return e;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// A primary that falls silent is taken over only once the membership no
// longer lists it: silent to one peer is not gone from the fleet.
TEST(Shadow, ATakeoverWaitsForThePrimaryToLeaveTheMembership) {
  testing::TempDir dir;
  auto store = spool::OpenSpool({dir / "store", true});
  auto spool = spool::OpenSpool({dir / "spool", true});
  ASSERT_TRUE(store.ok() && spool.ok());
  ASSERT_TRUE(store.value()->Commit("n1/e1/Q1", Sample(), "Subject: x\r\n\r\nhi\r\n").ok());
  RecordingQueue queue;
  ShadowOptions o;
  o.enabled = true;
  o.secret = "a secret of sixteen+";
  o.heartbeat = std::chrono::milliseconds(200);
  o.resubmit_after = std::chrono::seconds(1);
  Shadow shadow(o, "n2", "e2", *store.value(), *spool.value(), queue);
  EXPECT_EQ(shadow.Stats().held, 1u);
  std::atomic<bool> listed{true};
  shadow.SetMembers([&] {
    std::vector<Shadow::Member> m = {{"n2", "", ""}};
    if (listed) m.push_back({"n1", "", ""});
    return m;
  });
  ASSERT_TRUE(shadow.Start().ok());
  // Silent for well past resubmit_after, but still a member: nothing moves.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(shadow.Stats().takeovers, 0u);
  EXPECT_EQ(queue.count(), 0u);
  // Gone from the membership: its copy becomes this node's mail.
  listed = false;
  ASSERT_TRUE(WaitFor([&] { return shadow.Stats().takeovers == 1; }, std::chrono::seconds(5)));
  EXPECT_EQ(queue.count(), 1u);
  EXPECT_TRUE(spool.value()->Load(queue.submitted[0]).ok());  // committed here before it was submitted
  EXPECT_EQ(store.value()->Load("n1/e1/Q1").status().code(), Status::Code::kNotFound);
  auto taken = store.value()->GetMeta("taken/n1/e1");  // what n1 hears at its next HELLO
  ASSERT_TRUE(taken.ok());
  EXPECT_NE(taken.value().find("\nQ1"), std::string::npos);
  EXPECT_EQ(shadow.Stats().held, 0u);
  shadow.Stop();
}

// The safety net keeps a delivered copy for safety_net_hold and no
// longer; while the disk is short its oldest copies go first, and a held
// copy never does.
TEST(Shadow, TheSafetyNetExpiresAndGivesWayWhenTheDiskIsShort) {
  testing::TempDir dir;
  std::atomic<uint64_t> free{uint64_t{8} << 30};
  auto probe = [&] { return spool::FsSpace{free.load(), uint64_t{16} << 30, true}; };
  auto store = spool::OpenSpool({dir / "store", true}, probe);
  auto spool = spool::OpenSpool({dir / "spool", true});
  ASSERT_TRUE(store.ok() && spool.ok());
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  auto net = [&](const std::string& id, int64_t discarded) {
    ASSERT_TRUE(store.value()->Commit(id, Sample(), "Subject: x\r\n\r\nhi\r\n").ok());
    RecipientStatus done;
    done.state = RecipientState::kDelivered;
    done.next_attempt_unix = discarded;
    ASSERT_TRUE(store.value()->WriteAndWait(spool::Change::Update(id, {done})).ok());
  };
  net("n1/e1/OLD", now - 100);  // past the hold
  for (int i = 0; i < 10; ++i) net("n1/e1/N" + std::to_string(i), now - 20 + i);  // N0 the oldest
  ASSERT_TRUE(store.value()->Commit("n1/e1/HELD", Sample(), "Subject: y\r\n\r\nhi\r\n").ok());
  RecordingQueue queue;
  ShadowOptions o;
  o.enabled = true;
  o.secret = "a secret of sixteen+";
  o.heartbeat = std::chrono::milliseconds(200);
  o.safety_net_hold = std::chrono::seconds(50);
  Shadow shadow(o, "n2", "e2", *store.value(), *spool.value(), queue);
  EXPECT_EQ(store.value()->Load("n1/e1/OLD").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(shadow.Stats().net, 10u);
  EXPECT_EQ(shadow.Stats().expired, 1u);
  EXPECT_EQ(shadow.Stats().held, 1u);
  // The disk runs short (under min_free): a tenth of the net, the oldest, per sweep.
  free = uint64_t{40} << 20;
  ASSERT_TRUE(shadow.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return shadow.Stats().net <= 8; }, std::chrono::seconds(10)));
  EXPECT_EQ(store.value()->Load("n1/e1/N0").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store.value()->Load("n1/e1/N1").status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(store.value()->Load("n1/e1/HELD").ok());
  EXPECT_EQ(shadow.Stats().held, 1u);
  shadow.Stop();
}

}  // namespace
}  // namespace sluice::cluster
