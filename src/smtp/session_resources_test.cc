// The session's side of the edge's resource limits: a transaction the
// driver does not admit (spool space), content dropped for the memory
// budget, and the size limit after normalizing bare line endings.
#include <gtest/gtest.h>

#include "smtp/session.h"
#include "smtp/test_driver.h"

namespace sluice::smtp {
namespace {

using test::Codes;
using test::Driver;

TEST(AdmitMail, AsksWithTheDeclaredSize) {
  Driver d;
  d.Send("EHLO c\r\n");
  EXPECT_EQ(Codes(d.Send("MAIL FROM:<a@b.example> SIZE=12345\r\n")).back(), "250 2.1.0");
  EXPECT_EQ(Codes(d.Send("RSET\r\nMAIL FROM:<a@b.example>\r\n")).back(), "250 2.1.0");
  ASSERT_EQ(d.admitted_sizes.size(), 2u);
  EXPECT_EQ(d.admitted_sizes[0], 12345u);
  EXPECT_EQ(d.admitted_sizes[1], 0u);
}

TEST(AdmitMail, RefusalIsTemporaryAndStartsNoTransaction) {
  SessionOptions o;
  o.max_errors = 3;  // the two 503s below count; the 452s must not
  Driver d(o);
  d.admit_refusal = replies::StorageFull();
  d.Send("EHLO c\r\n");
  // Pipelined: the refused MAIL leaves RCPT and DATA without a transaction.
  auto codes = Codes(d.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\nDATA\r\n"));
  ASSERT_EQ(codes.size(), 3u);
  EXPECT_EQ(codes[0], "452 4.3.1");
  EXPECT_EQ(codes[1], "503 5.5.1");
  EXPECT_EQ(codes[2], "503 5.5.1");
  EXPECT_FALSE(d.closed);
  // A refusal is not the client's error: repeated ones never close the session.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Codes(d.Send("MAIL FROM:<a@b.example>\r\n")).back(), "452 4.3.1");
  EXPECT_FALSE(d.closed);
  // Once admitted again, mail flows in the same session.
  d.admit_refusal = Reply{};
  d.Send("RSET\r\n");
  EXPECT_EQ(Codes(d.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\nDATA\r\nx\r\n.\r\n")).back(),
            "250 2.0.0");
  EXPECT_EQ(d.stored.size(), 1u);
}

TEST(DropContent, DataIsReadToTheEndAndRefused) {
  Driver d;
  d.Send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\nDATA\r\n");
  d.Send(std::string(50'000, 'a') + "\r\n");
  const size_t before = d.session().buffered_bytes();
  EXPECT_GT(before, 50'000u);
  d.session().DropContent(replies::BufferFull());
  EXPECT_LE(d.session().buffered_bytes() + 40'000, before);
  // The rest is read but not kept; a dot-line inside is content, not the end.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(d.Send(std::string(50'000, 'b') + "\r\n..not the end\r\n").empty());
  EXPECT_LT(d.session().buffered_bytes(), 150'000u);  // kept, it would be over 300,000
  EXPECT_EQ(Codes(d.Send(".\r\n")).back(), "452 4.3.1");
  EXPECT_TRUE(d.stored.empty());
  EXPECT_FALSE(d.closed);
  // The next transaction keeps its content again.
  EXPECT_EQ(Codes(d.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\nDATA\r\nok\r\n.\r\n")).back(),
            "250 2.0.0");
  ASSERT_EQ(d.stored.size(), 1u);
  EXPECT_EQ(d.stored[0].body, "ok\r\n");
}

TEST(DropContent, BdatChunkIsAnsweredWithTheRefusal) {
  Driver d;
  d.Send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\nBDAT 10\r\n12345");
  d.session().DropContent(replies::BufferFull());
  EXPECT_EQ(Codes(d.Send("67890")).back(), "452 4.3.1");
  // The transaction is over: a further chunk needs a new MAIL.
  EXPECT_EQ(Codes(d.Send("BDAT 2 LAST\r\nxy")).back(), "503 5.5.1");
  EXPECT_TRUE(d.stored.empty());
  EXPECT_FALSE(d.closed);
}

TEST(DropContent, OutsideDataChangesNothing) {
  Driver d;
  d.Send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\n");
  d.session().DropContent(replies::BufferFull());
  EXPECT_EQ(Codes(d.Send("DATA\r\nhello\r\n.\r\n")).back(), "250 2.0.0");
  EXPECT_EQ(d.stored.size(), 1u);
}

// Found by fuzzing: normalizing bare LFs to CRLF grew a message past the
// limit after the size check had passed (fuzz/regressions/session).
TEST(BareLineEndings, NormalizedMessageStillHonoursTheSizeLimit) {
  SessionOptions o;
  o.bare_line_endings = BareLineEndings::kNormalize;
  o.max_message_size = 4096;
  Driver d(o);
  d.Send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\nDATA\r\n");
  // 4,000 octets as received; 4,000 + 200 once each bare LF becomes CRLF.
  std::string body;
  for (int i = 0; i < 200; ++i) body += std::string(19, 'x') + "\n";
  const std::string line(98, 'y');
  ASSERT_EQ(body.size(), 4000u);
  EXPECT_EQ(Codes(d.Send(body + "\r\n.\r\n")).back(), "552 5.3.4");
  EXPECT_TRUE(d.stored.empty());
  // Just under the limit after normalizing is accepted, and stored normalized.
  d.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\nDATA\r\n");
  std::string near;
  for (int i = 0; i < 40; ++i) near += line + "\n";  // 3,960 octets, 4,000 normalized
  EXPECT_EQ(Codes(d.Send(near + "\r\n.\r\n")).back(), "250 2.0.0");
  ASSERT_EQ(d.stored.size(), 1u);
  EXPECT_EQ(d.stored[0].body.size(), 4002u);
}

}  // namespace
}  // namespace sluice::smtp
