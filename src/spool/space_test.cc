// Disk space: the guard's thresholds with the free space in the test's
// hands, and the real RocksDB spool behind it meeting a "full" file system
// (a probe that says so) without aborting, and resuming when space returns.
#include "spool/space.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include "common/test_util.h"
#include "spool/spool.h"

namespace sluice::spool {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// A file system whose free space the test sets.
struct FakeDisk {
  std::shared_ptr<std::atomic<uint64_t>> free = std::make_shared<std::atomic<uint64_t>>(1024 * kMiB);
  SpaceProbe probe() const {
    return [f = free] { return FsSpace{f->load(), 2048 * kMiB, true}; };
  }
};

TEST(SpaceGuard, ThresholdsForMailAndForRocksDbWrites) {
  FakeDisk disk;
  SpaceGuard g(64 * kMiB, disk.probe());
  EXPECT_EQ(g.floor(), 8 * kMiB);
  EXPECT_TRUE(g.AdmitMail(10 * kMiB).ok());
  EXPECT_EQ(g.state(), SpoolState::kOk);

  // A declared size that would take the disk under min_free is refused,
  // while smaller mail still flows.
  *disk.free = 80 * kMiB;
  g.Invalidate();
  EXPECT_EQ(g.AdmitMail(20 * kMiB).code(), Status::Code::kNoSpace);
  EXPECT_TRUE(g.AdmitMail(1 * kMiB).ok());
  // And the operator sees it: "low" while mail is being turned away, with
  // the reason, though what is free is above min_free.
  EXPECT_EQ(g.state(), SpoolState::kLow);
  EXPECT_NE(g.reason().find("refused in the last 5 s"), std::string::npos) << g.reason();

  // Under min_free: no new mail, but RocksDB's writes (deliveries,
  // removals) go on down to the floor.
  *disk.free = 60 * kMiB;
  g.Invalidate();
  EXPECT_EQ(g.state(), SpoolState::kLow);
  EXPECT_EQ(g.AdmitMail(0).code(), Status::Code::kNoSpace);
  EXPECT_NE(g.reason().find("below min_free"), std::string::npos);
  EXPECT_TRUE(g.AdmitWrite(kMiB, /*background=*/false));

  // At the floor the foreground stops and the state is full; background
  // jobs (a flush that frees the WAL) still have half the floor.
  *disk.free = 7 * kMiB;
  g.Invalidate();
  EXPECT_FALSE(g.AdmitWrite(kMiB, false));
  EXPECT_EQ(g.state(), SpoolState::kFull);
  EXPECT_TRUE(g.AdmitWrite(kMiB, true));
  EXPECT_FALSE(g.AdmitWrite(4 * kMiB, true));

  // Space back: the refusal settles, mail is admitted again.
  *disk.free = 500 * kMiB;
  g.Invalidate();
  g.Settle();
  EXPECT_EQ(g.state(), SpoolState::kOk);
  EXPECT_TRUE(g.AdmitMail(kMiB).ok());
}

TEST(SpaceGuard, WritesCountAgainstTheLastProbe) {
  FakeDisk disk;
  *disk.free = 100 * kMiB;
  SpaceGuard g(64 * kMiB, disk.probe(), std::chrono::hours(1));
  // Within the probe interval the estimate falls with every admitted write.
  for (int i = 0; i < 40; ++i) EXPECT_TRUE(g.AdmitWrite(kMiB, false));
  EXPECT_EQ(g.Free(), 60 * kMiB);
  EXPECT_EQ(g.state(), SpoolState::kLow);
}

TEST(SpaceGuard, StoreErrorsDecideTheState) {
  FakeDisk disk;
  SpaceGuard g(64 * kMiB, disk.probe());
  g.OnStoreError(/*no_space=*/false, "IO error: EIO");
  EXPECT_EQ(g.state(), SpoolState::kError);
  EXPECT_EQ(g.AdmitMail(0).code(), Status::Code::kIoError);
  g.OnStoreRecovered();
  g.OnStoreError(/*no_space=*/true, "No space left on device");
  EXPECT_EQ(g.state(), SpoolState::kFull);
  EXPECT_EQ(g.AdmitMail(0).code(), Status::Code::kNoSpace);
  g.Settle();  // a stopped store is not settled by space alone
  EXPECT_EQ(g.state(), SpoolState::kFull);
  g.OnStoreRecovered();
  EXPECT_EQ(g.state(), SpoolState::kOk);
}

TEST(SpaceGuard, AFailedProbeMeansNoSpace) {
  SpaceGuard g(64 * kMiB, [] { return FsSpace{}; });
  EXPECT_EQ(g.Free(), 0u);
  EXPECT_FALSE(g.AdmitWrite(1, false));
  EXPECT_EQ(g.AdmitMail(0).code(), Status::Code::kNoSpace);
}

Envelope OneRecipient() {
  Envelope e;
  e.sender = "s@x.example";
  e.rcpt_to = {"a@ours.example"};
  e.routes = {{"a@ours.example", "t", "na-1", "local", ""}};
  e.dsn.resize(1);
  return e;
}

// Waits up to 10 s for the spool's monitor to see what it should.
bool Eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 200; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return f();
}

TEST(RocksSpoolSpace, FullDiskRefusesCleanlyAndResumes) {
  testing::TempDir dir;
  FakeDisk disk;
  SpoolOptions o;
  o.path = dir / "spool";
  o.min_free = 64 * kMiB;
  o.reserve = 0;
  auto opened = OpenSpool(o, disk.probe());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Spool& spool = *opened.value();
  const std::string body(8192, 'x');
  ASSERT_TRUE(spool.Commit("A1", OneRecipient(), "Received: x\r\n" + body).ok());
  ASSERT_TRUE(spool.Commit("A2", OneRecipient(), "Received: x\r\n" + body).ok());

  // Low: new mail is refused before anything is written; the rest works.
  *disk.free = 40 * kMiB;
  EXPECT_TRUE(Eventually([&] { return spool.Health().state == SpoolState::kLow; }));
  EXPECT_EQ(spool.CheckRoom(0).code(), Status::Code::kNoSpace);
  EXPECT_EQ(spool.Commit("A3", OneRecipient(), "h" + body).code(), Status::Code::kNoSpace);
  EXPECT_TRUE(spool.WriteAndWait(Change::Remove("A1")).ok());
  EXPECT_EQ(spool.ReadContent("A3").status().code(), Status::Code::kNotFound);

  // Full: even RocksDB's own writes are refused — as an error, not an abort.
  *disk.free = 1 * kMiB;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // older than the guard's last probe
  std::vector<RecipientStatus> st(1);
  st[0].attempts = 1;
  Status refused = spool.WriteAndWait(Change::Update("A2", st));
  EXPECT_EQ(refused.code(), Status::Code::kNoSpace) << refused.ToString();
  EXPECT_TRUE(Eventually([&] { return spool.Health().state == SpoolState::kFull; }));
  EXPECT_FALSE(spool.Health().reason.empty());

  // Space back: the monitor resumes RocksDB and mail is accepted again.
  *disk.free = 1024 * kMiB;
  EXPECT_TRUE(Eventually([&] { return spool.Health().state == SpoolState::kOk; })) << spool.Health().reason;
  EXPECT_TRUE(spool.WriteAndWait(Change::Update("A2", st)).ok());
  EXPECT_TRUE(spool.Commit("A4", OneRecipient(), "h" + body).ok());
  auto content = spool.ReadContent("A2");
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content.value(), "Received: x\r\n" + body);
}

TEST(RocksSpoolSpace, NoInfoLogOnTheSpoolDisk) {
  testing::TempDir dir;
  SpoolOptions o;
  o.path = dir / "spool";
  o.reserve = 0;
  auto opened = OpenSpool(o);
  ASSERT_TRUE(opened.ok());
  EXPECT_FALSE(std::filesystem::exists(o.path + "/LOG"));
}

TEST(RocksSpoolSpace, BallastIsHeldAndGivenBackWhenTheDiskFills) {
  testing::TempDir dir;
  FakeDisk disk;
  SpoolOptions o;
  o.path = dir / "spool";
  o.min_free = 64 * kMiB;
  o.reserve = kMiB;
  auto opened = OpenSpool(o, disk.probe());
  ASSERT_TRUE(opened.ok());
  Spool& spool = *opened.value();
  const std::string ballast = o.path + "/sluice-reserve";
  EXPECT_TRUE(Eventually([&] { return spool.Health().reserve_bytes == kMiB; }));
  ASSERT_TRUE(std::filesystem::exists(ballast));
  EXPECT_EQ(std::filesystem::file_size(ballast), kMiB);
  *disk.free = 2 * kMiB;  // under twice the floor
  EXPECT_TRUE(Eventually([&] { return !std::filesystem::exists(ballast); }));
  EXPECT_EQ(spool.Health().reserve_bytes, 0u);
}

}  // namespace
}  // namespace sluice::spool
