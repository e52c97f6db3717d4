#include "spool/spool.h"

#include <gtest/gtest.h>

#include <rocksdb/db.h>

#include <atomic>
#include <set>
#include <thread>

#include "common/test_util.h"
#include "spool/record_format.h"

namespace sluice::spool {
namespace {

Envelope Sample() {
  Envelope e;
  e.sender = "s@x.example";
  e.helo = "client";
  e.client_address = "192.0.2.1";
  e.esmtp = true;
  e.body_8bit = true;
  e.received_unix = 1'790'000'000;
  e.rcpt_to = {"A@ours.example", "b@ours.example"};
  e.routes = {{"a@ours.example", "t1", "na-1", "local", ""},
              {"b@ours.example", "t1", "na-1", "relay", "box"}};
  return e;
}

TEST(RecordFormat, EnvelopeRoundTrip) {
  Envelope in = Sample();
  std::string raw = EncodeEnvelope(in, "Received: x\r\n");
  Envelope out;
  std::string header;
  ASSERT_TRUE(DecodeEnvelope(raw, &out, &header));
  EXPECT_EQ(header, "Received: x\r\n");
  EXPECT_EQ(out.sender, in.sender);
  EXPECT_EQ(out.received_unix, in.received_unix);
  EXPECT_TRUE(out.body_8bit);
  EXPECT_EQ(out.rcpt_to, in.rcpt_to);
  EXPECT_EQ(out.routes[1].mailbox, "box");
  EXPECT_EQ(out.routes[1].destination, "relay");
  EXPECT_EQ(out.quarantine, "");
  // The quarantine's reason, a later field: kept when set, absent when not.
  in.quarantine = "malware: clamav: Eicar FOUND";
  Envelope q;
  ASSERT_TRUE(DecodeEnvelope(EncodeEnvelope(in, ""), &q, &header));
  EXPECT_EQ(q.quarantine, "malware: clamav: Eicar FOUND");
  EXPECT_LT(raw.size(), EncodeEnvelope(in, "Received: x\r\n").size());
}

TEST(RecordFormat, TruncatedOrCorruptRecordsAreRejected) {
  std::string raw = EncodeEnvelope(Sample(), "h");
  for (size_t n = 0; n < raw.size(); ++n) {
    Envelope e;
    std::string h;
    EXPECT_FALSE(DecodeEnvelope(raw.substr(0, n), &e, &h)) << n;
  }
  std::string bad = raw;
  bad[0] = 99;  // unknown format version
  Envelope e;
  std::string h;
  EXPECT_FALSE(DecodeEnvelope(bad, &e, &h));
  EXPECT_FALSE(DecodeRecipients("\x01\x05"));
}

TEST(RecordFormat, RecipientsRoundTrip) {
  std::vector<RecipientStatus> in(3);
  in[1] = {RecipientState::kDelivered, 2, 1'790'000'100, "250 ok"};
  in[2] = {RecipientState::kHeld, 1, -5, "550 no", true};
  auto out = DecodeRecipients(EncodeRecipients(in));
  ASSERT_TRUE(out);
  ASSERT_EQ(out->size(), 3u);
  EXPECT_EQ((*out)[2].state, RecipientState::kHeld);
  EXPECT_TRUE((*out)[2].delay_warned);
  EXPECT_FALSE((*out)[1].delay_warned);
  EXPECT_EQ((*out)[1].state, RecipientState::kDelivered);
  EXPECT_EQ((*out)[1].attempts, 2u);
  EXPECT_EQ((*out)[2].next_attempt_unix, -5);
  EXPECT_EQ((*out)[2].last_reply, "550 no");
}

TEST(RecordFormat, FormatOneRecipientRecordsAreStillRead) {
  // One recipient, failed, 2 attempts, next attempt 1 (zig-zag 2), reply "x".
  auto out = DecodeRecipients(std::string("\x01\x01\x02\x02\x02\x01x", 7));
  ASSERT_TRUE(out);
  EXPECT_EQ((*out)[0].state, RecipientState::kFailed);
  EXPECT_EQ((*out)[0].last_reply, "x");
  EXPECT_FALSE((*out)[0].delay_warned);
  // Format 1 had no held state.
  EXPECT_FALSE(DecodeRecipients(std::string("\x01\x01\x03\x02\x02\x01x", 7)));
}

// The shadow copies' journal: a removal leaves its discard in the same
// batch, numbered in removal order and on from the last after a reopen.
TEST(Spool, RemovalsJournalTheirDiscards) {
  testing::TempDir dir;
  SpoolOptions o{dir.path(), true};
  o.journal_discards = true;
  {
    auto spool = OpenSpool(o);
    ASSERT_TRUE(spool.ok());
    for (const char* id : {"m1", "m2", "m3"}) ASSERT_TRUE(spool.value()->Commit(id, Sample(), "body\r\n").ok());
    ASSERT_TRUE(spool.value()->WriteAndWait(Change::Remove("m2")).ok());
    ASSERT_TRUE(spool.value()->WriteAndWait(Change::Remove("m1")).ok());
  }
  auto spool = OpenSpool(o);
  ASSERT_TRUE(spool.ok());
  ASSERT_TRUE(spool.value()->WriteAndWait(Change::Remove("m3")).ok());
  auto all = spool.value()->Discards("", 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all.value().size(), 3u);
  EXPECT_EQ(all.value()[0].second, "m2");
  EXPECT_EQ(all.value()[1].second, "m1");
  EXPECT_EQ(all.value()[2].second, "m3");
  auto after = spool.value()->Discards(all.value()[0].first, 1);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after.value().size(), 1u);
  EXPECT_EQ(after.value()[0].second, "m1");
  ASSERT_TRUE(spool.value()->ForgetDiscards(all.value()[1].first).ok());
  auto left = spool.value()->Discards("", 10);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left.value().size(), 1u);
  EXPECT_EQ(left.value()[0].second, "m3");
  // Without the option, removals leave nothing.
  testing::TempDir plain;
  auto other = OpenSpool({plain.path(), true});
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other.value()->Commit("m1", Sample(), "body\r\n").ok());
  ASSERT_TRUE(other.value()->WriteAndWait(Change::Remove("m1")).ok());
  EXPECT_TRUE(other.value()->Discards("", 10).value().empty());
}

TEST(Spool, MetaRecordsListAndDelete) {
  testing::TempDir dir;
  auto spool = OpenSpool({dir.path(), true});
  ASSERT_TRUE(spool.ok());
  ASSERT_TRUE(spool.value()->PutMeta("taken/a", "1").ok());
  ASSERT_TRUE(spool.value()->PutMeta("taken/b", "2").ok());
  ASSERT_TRUE(spool.value()->PutMeta("takeover", "3").ok());
  auto listed = spool.value()->ListMeta("taken/");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed.value().size(), 2u);
  EXPECT_EQ(listed.value()[1].first, "taken/b");
  EXPECT_EQ(listed.value()[1].second, "2");
  ASSERT_TRUE(spool.value()->DeleteMeta("taken/a").ok());
  EXPECT_EQ(spool.value()->ListMeta("taken/").value().size(), 1u);
}

TEST(Spool, MetaRecordsPersist) {
  testing::TempDir dir;
  {
    auto spool = OpenSpool({dir.path(), true});
    ASSERT_TRUE(spool.ok());
    ASSERT_TRUE(spool.value()->PutMeta("holds", "tenant:acme").ok());
  }
  auto spool = OpenSpool({dir.path(), true});
  ASSERT_TRUE(spool.ok());
  auto v = spool.value()->GetMeta("holds");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v.value(), "tenant:acme");
  EXPECT_EQ(spool.value()->GetMeta("absent").status().code(), Status::Code::kNotFound);
  // Meta records are not messages.
  size_t messages = 0;
  ASSERT_TRUE(spool.value()->Recover([&](std::string, std::vector<RecipientStatus>) { ++messages; }).ok());
  ASSERT_TRUE(spool.value()->Scan([&](StoredMessage) { return ++messages > 0; }).ok());
  EXPECT_EQ(messages, 0u);
}

TEST(Spool, CommitRecoverUpdateRemove) {
  testing::TempDir dir;
  std::string id1 = NewQueueId(), id2 = NewQueueId();
  {
    auto spool = OpenSpool({dir.path(), true});
    ASSERT_TRUE(spool.ok()) << spool.status().ToString();
    ASSERT_TRUE(spool.value()->Commit(id1, Sample(), "Received: 1\r\nbody one\r\n").ok());
    ASSERT_TRUE(spool.value()->Commit(id2, Sample(), "Received: 2\r\nbody two\r\n").ok());
    std::vector<RecipientStatus> st(2);
    st[0].state = RecipientState::kDelivered;
    ASSERT_TRUE(spool.value()->WriteAndWait(Change::Update(id2, st)).ok());
  }
  // Reopen: what was committed is there, in id order, with its states.
  auto spool = OpenSpool({dir.path(), true});
  ASSERT_TRUE(spool.ok());
  std::vector<std::pair<std::string, std::vector<RecipientStatus>>> found;
  auto recover = [&] {
    found.clear();
    return spool.value()->Recover([&](std::string id, std::vector<RecipientStatus> st) {
      found.emplace_back(std::move(id), std::move(st));
    });
  };
  ASSERT_TRUE(recover().ok());
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].first, id1);
  EXPECT_EQ(found[1].second[0].state, RecipientState::kDelivered);
  EXPECT_EQ(found[1].second[1].state, RecipientState::kPending);
  auto loaded = spool.value()->Load(id2);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.value().envelope.sender, "s@x.example");
  EXPECT_EQ(loaded.value().recipients[0].state, RecipientState::kDelivered);
  auto content = spool.value()->ReadContent(id1);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content.value(), "Received: 1\r\nbody one\r\n");

  ASSERT_TRUE(spool.value()->WriteAndWait(Change::Remove(id1)).ok());
  ASSERT_TRUE(recover().ok());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].first, id2);
  EXPECT_EQ(spool.value()->ReadContent(id1).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(spool.value()->Load(id1).status().code(), Status::Code::kNotFound);
  std::vector<std::string> scanned;
  ASSERT_TRUE(spool.value()->Scan([&](StoredMessage m) {
    scanned.push_back(m.id);
    return true;
  }).ok());
  EXPECT_EQ(scanned, std::vector<std::string>{id2});
}

TEST(Spool, ContentWrittenBeforeTheHeaderMovedIntoTheBodyIsStillRead) {
  // Spools of earlier versions keep the trace header in the envelope record.
  testing::TempDir dir;
  const std::string id = NewQueueId();
  {
    auto spool = OpenSpool({dir.path(), true});
    ASSERT_TRUE(spool.ok());
    ASSERT_TRUE(spool.value()->Commit(id, Sample(), "body\r\n").ok());
  }
  {
    rocksdb::DB* raw = nullptr;
    rocksdb::Options opt;
    ASSERT_TRUE(rocksdb::DB::Open(opt, dir.path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), Key(kEnvelopeKey, id), EncodeEnvelope(Sample(), "Received: old\r\n")).ok());
  }
  auto spool = OpenSpool({dir.path(), true});
  ASSERT_TRUE(spool.ok());
  auto content = spool.value()->ReadContent(id);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content.value(), "Received: old\r\nbody\r\n");
}

TEST(Spool, ChangesFromManyThreadsShareBatches) {
  testing::TempDir dir;
  auto spool = OpenSpool({dir.path(), true});
  ASSERT_TRUE(spool.ok());
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) ok += spool.value()->Commit(NewQueueId(), Sample(), "x\r\n").ok();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  size_t n = 0;
  ASSERT_TRUE(spool.value()->Recover([&](std::string, std::vector<RecipientStatus>) { ++n; }).ok());
  EXPECT_EQ(n, static_cast<size_t>(kThreads * kEach));
  // Commits that waited while another synced went out together.
  const SpoolHealth h = spool.value()->Health();
  EXPECT_EQ(h.changes, static_cast<uint64_t>(kThreads * kEach));
  EXPECT_LT(h.batches, h.changes);
}

TEST(Spool, QueueIdsAreUniqueAndOrdered) {
  std::set<std::string> ids;
  std::string prev;
  for (int i = 0; i < 10000; ++i) {
    std::string id = NewQueueId();
    EXPECT_EQ(id.size(), 18u);
    EXPECT_TRUE(ids.insert(id).second);
    EXPECT_GE(id.substr(0, 13), prev.substr(0, std::min<size_t>(13, prev.size())));
    prev = id;
  }
}

TEST(Spool, OpenFailureIsReported) {
  auto spool = OpenSpool({"/proc/definitely/not/writable", true});
  EXPECT_FALSE(spool.ok());
  EXPECT_NE(spool.status().message().find("/proc/definitely"), std::string::npos);
}

}  // namespace
}  // namespace sluice::spool
