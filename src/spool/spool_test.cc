#include "spool/spool.h"

#include <gtest/gtest.h>

#include <set>

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
  ASSERT_TRUE(spool.value()->Recover([&](StoredMessage) { ++messages; }).ok());
  EXPECT_EQ(messages, 0u);
}

TEST(Spool, CommitRecoverUpdateRemove) {
  testing::TempDir dir;
  std::string id1 = NewQueueId(), id2 = NewQueueId();
  {
    auto spool = OpenSpool({dir.path(), true});
    ASSERT_TRUE(spool.ok()) << spool.status().ToString();
    ASSERT_TRUE(spool.value()->Commit(id1, Sample(), "Received: 1\r\n", "body one\r\n").ok());
    ASSERT_TRUE(spool.value()->Commit(id2, Sample(), "Received: 2\r\n", "body two\r\n").ok());
    std::vector<RecipientStatus> st(2);
    st[0].state = RecipientState::kDelivered;
    ASSERT_TRUE(spool.value()->UpdateRecipients(id2, st).ok());
  }
  // Reopen: what was committed is there, in id order, with its states.
  auto spool = OpenSpool({dir.path(), true});
  ASSERT_TRUE(spool.ok());
  std::vector<StoredMessage> found;
  ASSERT_TRUE(spool.value()->Recover([&](StoredMessage m) { found.push_back(std::move(m)); }).ok());
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].id, id1);
  EXPECT_EQ(found[1].recipients[0].state, RecipientState::kDelivered);
  EXPECT_EQ(found[1].recipients[1].state, RecipientState::kPending);
  auto content = spool.value()->ReadContent(id1);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(content.value(), "Received: 1\r\nbody one\r\n");

  ASSERT_TRUE(spool.value()->Remove(id1).ok());
  found.clear();
  ASSERT_TRUE(spool.value()->Recover([&](StoredMessage m) { found.push_back(std::move(m)); }).ok());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, id2);
  EXPECT_EQ(spool.value()->ReadContent(id1).status().code(), Status::Code::kNotFound);
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
