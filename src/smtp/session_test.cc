// Table-driven tests of the SMTP state machine: bytes in, replies out,
// with a fake directory and a fake spool answering its actions.
#include "smtp/session.h"

#include <gtest/gtest.h>

#include <cctype>

#include "smtp/test_driver.h"

namespace sluice::smtp {
namespace {

using test::Codes;
using test::Driver;

const char* kHead = "EHLO client.example\r\nMAIL FROM:<s@sender.example>\r\n";

struct Row {
  const char* name;
  std::string input;     // after EHLO + MAIL unless `fresh`
  std::string expected;  // the last reply: code and enhanced code
  bool fresh = false;    // start from a new connection, no EHLO/MAIL sent
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

class SessionTable : public ::testing::TestWithParam<Row> {};

TEST_P(SessionTable, LastReply) {
  const Row& row = GetParam();
  Driver d;
  if (!row.fresh) d.Send(kHead);
  auto codes = Codes(d.Send(row.input));
  ASSERT_FALSE(codes.empty()) << row.name;
  EXPECT_EQ(codes.back(), row.expected) << row.name;
}

INSTANTIATE_TEST_SUITE_P(
    Commands, SessionTable,
    ::testing::Values(
        Row{"rcpt ok", "RCPT TO:<a@ours.example>\r\n", "250 2.1.5"},
        Row{"rcpt case-insensitive verb", "rcpt to:<a@ours.example>\r\n", "250 2.1.5"},
        Row{"unknown user", "RCPT TO:<nobody@ours.example>\r\n", "550 5.1.1"},
        Row{"relay denied", "RCPT TO:<x@elsewhere.example>\r\n", "550 5.7.1"},
        Row{"saturated forest", "RCPT TO:<slow@ours.example>\r\n", "451 4.3.2"},
        Row{"lookup timeout", "RCPT TO:<late@ours.example>\r\n", "451 4.4.3"},
        Row{"bad rcpt syntax", "RCPT TO:<a@@b>\r\n", "501 5.1.3"},
        Row{"rcpt without brackets", "RCPT TO:a@ours.example\r\n", "501 5.1.3"},
        Row{"rcpt null path", "RCPT TO:<>\r\n", "501 5.1.3"},
        Row{"rcpt unknown param", "RCPT TO:<a@ours.example> FOO=1\r\n", "555 5.5.4"},
        Row{"rcpt missing TO", "RCPT <a@ours.example>\r\n", "501 5.5.4"},
        Row{"nested mail", "MAIL FROM:<x@y.example>\r\n", "503 5.5.1"},
        Row{"data without rcpt", "DATA\r\n", "503 5.5.1"},
        Row{"data after failed rcpts", "RCPT TO:<nobody@ours.example>\r\nDATA\r\n", "554 5.5.1"},
        Row{"data with argument", "RCPT TO:<a@ours.example>\r\nDATA x\r\n", "501 5.5.4"},
        Row{"data", "RCPT TO:<a@ours.example>\r\nDATA\r\n", "354"},
        Row{"rset", "RSET\r\n", "250 2.0.0"},
        Row{"rcpt after rset", "RSET\r\nRCPT TO:<a@ours.example>\r\n", "503 5.5.1"},
        Row{"noop", "NOOP\r\n", "250 2.0.0"},
        Row{"vrfy discloses nothing", "VRFY a@ours.example\r\n", "252 2.5.0"},
        Row{"vrfy unknown is the same", "VRFY nobody@ours.example\r\n", "252 2.5.0"},
        Row{"vrfy needs argument", "VRFY\r\n", "501 5.5.4"},
        Row{"help", "HELP\r\n", "214 2.0.0"},
        Row{"expn", "EXPN list\r\n", "502 5.5.1"},
        Row{"quit", "QUIT\r\n", "221 2.0.0"},
        Row{"unknown command", "FOO\r\n", "500 5.5.2"},
        Row{"bare LF command", "NOOP\n", "500 5.5.2"},
        Row{"NUL in command", std::string("NO\0OP\r\n", 7), "500 5.5.2"},
        Row{"8-bit in command", "NOOP \xff\r\n", "500 5.5.2"},
        Row{"line too long", "NOOP " + std::string(600, 'x') + "\r\n", "500 5.5.2"},
        Row{"overlong without CRLF", std::string(2000, 'x'), "500 5.5.2"},
        Row{"mail before helo", "MAIL FROM:<a@b.example>\r\n", "503 5.5.1", true},
        Row{"rcpt before helo", "RCPT TO:<a@ours.example>\r\n", "503 5.5.1", true},
        Row{"data before helo", "DATA\r\n", "503 5.5.1", true},
        Row{"rcpt before mail", "HELO c.example\r\nRCPT TO:<a@ours.example>\r\n", "503 5.5.1", true},
        Row{"helo without domain", "HELO\r\n", "501 5.5.4", true},
        Row{"ehlo with spaces", "EHLO a b\r\n", "501 5.5.2", true},
        Row{"ehlo with a TAB", "EHLO a\tb\r\n", "501 5.5.2", true},
        Row{"ehlo forging a comment", "EHLO evil.example(forged)\r\n", "501 5.5.2", true},
        Row{"ehlo bad literal", "EHLO [not-an-ip]\r\n", "501 5.5.2", true},
        Row{"ehlo ipv4 literal", "EHLO [192.0.2.1]\r\n", "250", true},
        Row{"ehlo ipv6 literal", "EHLO [IPv6:2001:db8::1]\r\n", "250", true},
        Row{"ehlo bare host with underscore", "EHLO DESKTOP_7Q2\r\n", "250", true},
        Row{"helo trailing dot", "HELO mx.example.\r\n", "250", true},
        Row{"mail bad sender", "EHLO c\r\nMAIL FROM:<a b@c>\r\n", "501 5.1.7", true},
        Row{"mail null sender", "EHLO c\r\nMAIL FROM:<>\r\n", "250 2.1.0", true},
        Row{"mail space after colon", "EHLO c\r\nMAIL FROM: <a@b.example>\r\n", "250 2.1.0", true},
        Row{"mail source route", "EHLO c\r\nMAIL FROM:<@r.example:a@b.example>\r\n", "250 2.1.0", true},
        Row{"mail quoted local part", "EHLO c\r\nMAIL FROM:<\"a b\"@b.example>\r\n", "250 2.1.0", true},
        Row{"mail SIZE ok", "EHLO c\r\nMAIL FROM:<a@b.example> SIZE=1000\r\n", "250 2.1.0", true},
        Row{"mail SIZE too big", "EHLO c\r\nMAIL FROM:<a@b.example> SIZE=999999999999\r\n", "552 5.3.4", true},
        Row{"mail SIZE overflow", "EHLO c\r\nMAIL FROM:<a@b.example> SIZE=99999999999999999999999\r\n", "552 5.3.4", true},
        Row{"mail SIZE garbage", "EHLO c\r\nMAIL FROM:<a@b.example> SIZE=12x\r\n", "501 5.5.4", true},
        Row{"mail BODY=8BITMIME", "EHLO c\r\nMAIL FROM:<a@b.example> BODY=8BITMIME\r\n", "250 2.1.0", true},
        Row{"mail BODY bad", "EHLO c\r\nMAIL FROM:<a@b.example> BODY=9BIT\r\n", "501 5.5.4", true},
        Row{"mail params after HELO", "HELO c\r\nMAIL FROM:<a@b.example> SIZE=10\r\n", "555 5.5.4", true},
        Row{"mail unknown param", "EHLO c\r\nMAIL FROM:<a@b.example> XYZ=1\r\n", "555 5.5.4", true}),
    // Each case named after its row ("Commands/SessionTable.LastReply/rcpt_ok"), not its bytes;
    // and printed as its name too.
    [](const ::testing::TestParamInfo<Row>& info) {
      std::string name = info.param.name;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

TEST(Session, GreetingAndEhloAdvertiseExtensions) {
  SessionOptions o;
  o.hostname = "mx.test";
  o.max_message_size = 12345;
  Driver d(o);
  std::string r = d.Send("EHLO client\r\n");
  EXPECT_EQ(r, "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 12345\r\n250-8BITMIME\r\n"
               "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250-DSN\r\n"
               "250 HELP\r\n");
  // Each extension is advertised only when enabled.
  o.chunking = o.smtputf8 = o.dsn = false;
  o.starttls = true;
  Driver d2(o);
  EXPECT_EQ(d2.Send("EHLO client\r\n"),
            "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 12345\r\n250-8BITMIME\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250 HELP\r\n");
  EXPECT_EQ(d.Send("HELO client\r\n"), "250 mx.test\r\n");
}

TEST(Session, StoresMessageWithDotStuffingUndone) {
  Driver d;
  std::string r = d.Send(std::string(kHead) +
                         "RCPT TO:<a@ours.example>\r\nRCPT TO:<b@ours.example>\r\nDATA\r\n");
  EXPECT_EQ(Codes(r).back(), "354");
  r = d.Send("Subject: x\r\n\r\n..leading dot\r\n.\r\n");
  EXPECT_EQ(Codes(r).back(), "250 2.0.0");
  EXPECT_NE(r.find("queued as QID1"), std::string::npos);
  ASSERT_EQ(d.stored.size(), 1u);
  EXPECT_EQ(d.stored[0].body, "Subject: x\r\n\r\n.leading dot\r\n");
  EXPECT_EQ(d.stored[0].envelope.sender, "s@sender.example");
  ASSERT_EQ(d.stored[0].envelope.rcpt_to.size(), 2u);
  EXPECT_EQ(d.stored[0].envelope.routes[1].address, "b@ours.example");
  EXPECT_EQ(d.stored[0].envelope.helo, "client.example");
}

TEST(Session, DataSplitAcrossFeedsAtEveryByte) {
  const std::string msg = "a\r\n.\r\n..\r\nb\r\n.\r\n";
  for (size_t split = 1; split < msg.size(); ++split) {
    Driver d;
    d.Send(std::string(kHead) + "RCPT TO:<a@ours.example>\r\nDATA\r\n");
    d.Send(msg.substr(0, split));
    d.Send(msg.substr(split));
    ASSERT_EQ(d.stored.size(), 1u) << split;
    EXPECT_EQ(d.stored[0].body, "a\r\n") << split;
    // The rest (".\r\nb\r\n.\r\n" after the end) is read as commands.
  }
}

TEST(Session, PipelinedTransactionRepliesInOrder) {
  Driver d;
  d.Send("EHLO c\r\n");
  std::string r = d.Send(
      "MAIL FROM:<s@x.example>\r\nRCPT TO:<a@ours.example>\r\nRCPT TO:<nobody@ours.example>\r\n"
      "RCPT TO:<b@ours.example>\r\nDATA\r\n");
  std::vector<std::string> expected = {"250 2.1.0", "250 2.1.5", "550 5.1.1", "250 2.1.5", "354"};
  EXPECT_EQ(Codes(r), expected);
  r = d.Send("hi\r\n.\r\nMAIL FROM:<t@x.example>\r\nRCPT TO:<c@ours.example>\r\nDATA\r\nyo\r\n.\r\nQUIT\r\n");
  expected = {"250 2.0.0", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"};
  EXPECT_EQ(Codes(r), expected);
  ASSERT_EQ(d.stored.size(), 2u);
  EXPECT_EQ(d.stored[0].envelope.rcpt_to.size(), 2u);
  EXPECT_EQ(d.stored[1].body, "yo\r\n");
  EXPECT_TRUE(d.closed);
}

TEST(Session, SizeExceededWhileReceivingStoresNothing) {
  SessionOptions o;
  o.max_message_size = 1024;
  Driver d(o);
  d.Send(std::string(kHead) + "RCPT TO:<a@ours.example>\r\nDATA\r\n");
  std::string r = d.Send(std::string(50, 'x') + "\r\n");
  for (int i = 0; i < 30; ++i) r = d.Send(std::string(50, 'y') + "\r\n");
  r = d.Send(".\r\n");
  EXPECT_EQ(Codes(r).back(), "552 5.3.4");
  EXPECT_TRUE(d.stored.empty());
  // The session goes on: a new transaction works.
  r = d.Send("MAIL FROM:<a@b.example>\r\n");
  EXPECT_EQ(Codes(r).back(), "250 2.1.0");
}

// Each end-of-data look-alike must neither end the message nor let a second
// message be smuggled; the message carrying it is refused whole.
TEST(Session, SmugglingVariantsNeverEndDataEarly) {
  const char* variants[] = {"\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r", "\r.\r\n", "\n.\r"};
  for (const char* v : variants) {
    Driver d;
    d.Send(std::string(kHead) + "RCPT TO:<a@ours.example>\r\nDATA\r\n");
    std::string r = d.Send(std::string("x") + v +
                           "MAIL FROM:<evil@x.example>\r\nRCPT TO:<b@ours.example>\r\nDATA\r\n"
                           "smuggled\r\n.\r\n");
    EXPECT_EQ(Codes(r).back(), "550 5.6.0") << testing::PrintToString(v);
    EXPECT_TRUE(d.stored.empty()) << testing::PrintToString(v);
    EXPECT_EQ(d.looked_up.size(), 1u) << "a smuggled RCPT was parsed";
  }
}

TEST(Session, TextLineTooLongIsRefused) {
  Driver d;
  d.Send(std::string(kHead) + "RCPT TO:<a@ours.example>\r\nDATA\r\n");
  std::string r = d.Send(std::string(1001, 'x') + "\r\n.\r\n");
  EXPECT_EQ(Codes(r).back(), "554 5.6.0");
  EXPECT_TRUE(d.stored.empty());
  // Exactly 998 octets plus CRLF is allowed.
  d.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\nDATA\r\n");
  r = d.Send(std::string(998, 'x') + "\r\n.\r\n");
  EXPECT_EQ(Codes(r).back(), "250 2.0.0");
}

TEST(Session, TooManyRecipients) {
  SessionOptions o;
  o.max_recipients = 2;
  Driver d(o);
  d.Send(kHead);
  std::string r = d.Send("RCPT TO:<a@ours.example>\r\nRCPT TO:<b@ours.example>\r\nRCPT TO:<c@ours.example>\r\n");
  std::vector<std::string> expected = {"250 2.1.5", "250 2.1.5", "452 4.5.3"};
  EXPECT_EQ(Codes(r), expected);
}

TEST(Session, TooManyErrorsCloses) {
  SessionOptions o;
  o.max_errors = 3;
  Driver d(o);
  std::string r = d.Send("FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n");
  std::vector<std::string> expected = {"220", "500 5.5.2", "500 5.5.2", "500 5.5.2", "421 4.7.0"};
  // The greeting came from the constructor; Send returns only new replies.
  expected.erase(expected.begin());
  EXPECT_EQ(Codes(r), expected);
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(d.session().closed());
}

TEST(Session, StorageFailuresAreTemporary) {
  Driver d;
  d.store_status = Status::NoSpace("disk full");
  d.Send(std::string(kHead) + "RCPT TO:<a@ours.example>\r\nDATA\r\n");
  EXPECT_EQ(Codes(d.Send("x\r\n.\r\n")).back(), "452 4.3.1");
  d.store_status = Status::IoError("boom");
  d.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\nDATA\r\n");
  EXPECT_EQ(Codes(d.Send("x\r\n.\r\n")).back(), "451 4.3.0");
}

TEST(Session, InputWaitsWhileLookupOutstanding) {
  auto opts = std::make_shared<const SessionOptions>();
  Session s(opts, ClientInfo{"192.0.2.1"});
  s.Start();
  std::string_view head = "EHLO c\r\nMAIL FROM:<a@b.example>\r\n";
  auto admit = s.Feed(std::span<const char>(head.data(), head.size()));
  ASSERT_TRUE(std::holds_alternative<AdmitMail>(admit.back()));
  s.Resume(AdmitResult{});
  std::string_view rest = "RCPT TO:<a@ours.example>\r\nNOOP\r\n";
  auto actions = s.Feed(std::span<const char>(rest.data(), rest.size()));
  ASSERT_EQ(actions.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<LookupRecipient>(actions[0]));
  EXPECT_TRUE(s.waiting());
  // More input is buffered, not processed, until the lookup answers.
  EXPECT_TRUE(s.Feed(std::span<const char>("NOOP\r\n", 6)).empty());
  actions = s.Resume(Driver::Lookup("a@ours.example"));
  ASSERT_EQ(actions.size(), 3u);
  EXPECT_EQ(std::get<Reply>(actions[0]).code, 250);
  EXPECT_EQ(std::get<Reply>(actions[1]).code, 250);
  EXPECT_EQ(std::get<Reply>(actions[2]).code, 250);
}

// A client on the global block list (RFC 5321 §3.1): a 554 greeting, 503
// to everything but QUIT, and a close after max_errors of them.
TEST(Session, ARefusedClientGetsOnlyQuit) {
  auto opts = std::make_shared<SessionOptions>();
  opts->max_errors = 3;
  Session s(opts, ClientInfo{"192.0.2.1"});
  s.RefuseService(replies::Blocked());
  auto greeting = s.Start();
  ASSERT_EQ(greeting.size(), 1u);
  EXPECT_EQ(std::get<Reply>(greeting[0]).text, "554 5.7.1 Access denied: your address is blocked by policy\r\n");
  std::string_view in = "EHLO c\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n";
  auto actions = s.Feed(std::span<const char>(in.data(), in.size()));
  ASSERT_EQ(actions.size(), 4u);  // no lookup, no admission: nothing but replies
  EXPECT_EQ(std::get<Reply>(actions[0]).text.substr(0, 9), "503 5.7.1");
  EXPECT_EQ(std::get<Reply>(actions[1]).text.substr(0, 9), "503 5.7.1");
  EXPECT_EQ(std::get<Reply>(actions[2]).code, 221);
  EXPECT_TRUE(s.closed());
  Session t(opts, ClientInfo{"192.0.2.1"});
  t.RefuseService(replies::Blocked());
  t.Start();
  std::string_view noise = "HELO a\r\nHELO b\r\nHELO c\r\nHELO d\r\n";
  t.Feed(std::span<const char>(noise.data(), noise.size()));
  EXPECT_TRUE(t.closed());  // max_errors of them, then closed
}

}  // namespace
}  // namespace sluice::smtp
