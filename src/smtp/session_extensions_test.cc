// STARTTLS, BDAT, SMTPUTF8, DSN parameters, the normalize policy and
// shutdown, with exact reply codes.
#include <gtest/gtest.h>

#include "smtp/line_check.h"
#include "smtp/test_driver.h"

namespace sluice::smtp {
namespace {

using test::Codes;
using test::Driver;

SessionOptions Tls(bool required = false) {
  SessionOptions o;
  o.starttls = true;
  o.require_tls = required;
  return o;
}

TEST(StartTls, DiscardsPipelinedCommandsAndRequiresNewEhlo) {
  Driver d(Tls());
  d.Send("EHLO c\r\n");
  // CVE-2011-0411: MAIL pipelined after STARTTLS was sent in the clear.
  std::string r = d.Send("STARTTLS\r\nMAIL FROM:<injected@x.example>\r\n");
  EXPECT_EQ(Codes(r), std::vector<std::string>{"220 2.0.0"});
  EXPECT_EQ(d.tls_handshakes, 1);
  EXPECT_TRUE(d.session().tls_active());
  EXPECT_EQ(Codes(d.Send("MAIL FROM:<a@b.example>\r\n")).back(), "503 5.5.1");  // EHLO again first
  r = d.Send("EHLO c\r\n");
  EXPECT_EQ(r.find("STARTTLS"), std::string::npos);  // not offered twice
  EXPECT_EQ(Codes(d.Send("STARTTLS\r\n")).back(), "503 5.5.1");
  d.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@ours.example>\r\nDATA\r\n");
  d.Send("hi\r\n.\r\n");
  ASSERT_EQ(d.stored.size(), 1u);
  EXPECT_TRUE(d.stored[0].envelope.tls);
  EXPECT_EQ(d.stored[0].envelope.sender, "a@b.example");
}

TEST(StartTls, RulesAndFailures) {
  Driver off;  // not configured
  off.Send("EHLO c\r\n");
  EXPECT_EQ(Codes(off.Send("STARTTLS\r\n")).back(), "502 5.5.1");
  Driver d(Tls());
  EXPECT_EQ(Codes(d.Send("STARTTLS\r\n")).back(), "503 5.5.1");  // before EHLO
  d.Send("EHLO c\r\n");
  EXPECT_EQ(Codes(d.Send("STARTTLS now\r\n")).back(), "501 5.5.4");
  d.Send("MAIL FROM:<a@b.example>\r\n");
  EXPECT_EQ(Codes(d.Send("STARTTLS\r\n")).back(), "503 5.5.1");  // mid-transaction
  Driver fail(Tls());
  fail.tls_ok = false;
  fail.Send("EHLO c\r\nSTARTTLS\r\n");
  EXPECT_TRUE(fail.closed);
}

TEST(StartTls, RequiredBeforeMail) {
  Driver d(Tls(/*required=*/true));
  d.Send("EHLO c\r\n");
  EXPECT_EQ(Codes(d.Send("MAIL FROM:<a@b.example>\r\n")).back(), "530 5.7.0");
  d.Send("STARTTLS\r\n");
  d.Send("EHLO c\r\n");
  EXPECT_EQ(Codes(d.Send("MAIL FROM:<a@b.example>\r\n")).back(), "250 2.1.0");
}

// The command table's rules, enumerated: on a listener that requires TLS,
// each command without kBeforeTls is refused in the clear, each with it is
// not (doc/design.md, convention 3).
TEST(CommandTable, TlsRulesHoldForEveryCommand) {
  auto rules = Session::CommandRules();
  ASSERT_EQ(rules.size(), 13u);
  for (const auto& [verb, flags] : rules) {
    Driver d(Tls(/*required=*/true));
    d.Send("EHLO c\r\n");
    const std::string arg = verb == "MAIL" ? " FROM:<a@b.example>" : verb == "RCPT" ? " TO:<a@ours.example>"
                            : verb == "VRFY" || verb == "EXPN" ? " x" : verb == "BDAT" ? " 0 LAST" : "";
    const std::string last = Codes(d.Send(verb + arg + "\r\n")).back();
    if (flags & Session::kBeforeTls) {
      EXPECT_NE(last, "530 5.7.0") << verb;
    } else {
      EXPECT_EQ(last, "530 5.7.0") << verb;
    }
  }
  std::vector<std::string> ends;
  for (const auto& [verb, flags] : rules) {
    if (flags & Session::kEndsGroup) ends.push_back(verb);
  }
  EXPECT_EQ(ends, (std::vector<std::string>{"EHLO", "DATA", "NOOP", "QUIT", "VRFY", "EXPN", "STARTTLS"}));
}

TEST(Help, ListsOnlyWhatThisSessionTakes) {
  SessionOptions o;
  o.starttls = false;
  o.chunking = false;
  Driver plain(o);
  const std::string help = plain.Send("HELP\r\n");
  EXPECT_EQ(help.find("STARTTLS"), std::string::npos) << help;
  EXPECT_EQ(help.find("BDAT"), std::string::npos) << help;
  EXPECT_NE(help.find("MAIL"), std::string::npos) << help;
  Driver tls(Tls(/*required=*/false));
  EXPECT_NE(tls.Send("HELP\r\n").find("STARTTLS"), std::string::npos);
  tls.Send("EHLO c\r\nSTARTTLS\r\n");
  tls.Send("EHLO c\r\n");
  EXPECT_EQ(tls.Send("HELP\r\n").find("STARTTLS"), std::string::npos);  // already in use
}

TEST(Limits, TheLineTooLongReplyNamesTheLimitInForce) {
  SessionOptions o;
  o.max_text_line = 2000;
  Driver d(o);
  d.Send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<a@ours.example>\r\nDATA\r\n");
  const std::string reply = d.Send(std::string(2500, 'x') + "\r\n.\r\n");
  EXPECT_NE(reply.find("554 5.6.0 Message contains a line longer than 2000 octets"), std::string::npos) << reply;
}

TEST(Bdat, ChunksMakeOneMessage) {
  Driver d;
  d.Send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@ours.example>\r\n");
  // Chunks are raw octets: dots and CRLF.CRLF mean nothing inside them.
  std::string r = d.Send("BDAT 10\r\n.\r\nhello\r\nBDAT 8 LAST\r\n.\r\nbye\r\n");
  EXPECT_EQ(Codes(r), (std::vector<std::string>{"250 2.0.0", "250 2.0.0"}));
  ASSERT_EQ(d.stored.size(), 1u);
  EXPECT_EQ(d.stored[0].body, ".\r\nhello\r\n.\r\nbye\r\n");
  // A chunk split over many reads.
  d.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@ours.example>\r\nBDAT 5 LAST\r\nab");
  d.Send("c\r");
  r = d.Send("\n");
  EXPECT_EQ(Codes(r).back(), "250 2.0.0");
  ASSERT_EQ(d.stored.size(), 2u);
  EXPECT_EQ(d.stored[1].body, "abc\r\n");
}

TEST(Bdat, RefusedChunksAreStillConsumed) {
  Driver d;
  d.Send("EHLO c\r\n");
  // Without MAIL: 503, and "NOOP\r\n" inside the chunk is not a command.
  std::string r = d.Send("BDAT 6\r\nNOOP\r\nNOOP\r\n");
  EXPECT_EQ(Codes(r), (std::vector<std::string>{"503 5.5.1", "250 2.0.0"}));
  d.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<nobody@ours.example>\r\n");
  r = d.Send("BDAT 4 LAST\r\nRSET");
  EXPECT_EQ(Codes(r).back(), "554 5.5.1");
  EXPECT_TRUE(d.stored.empty());
  EXPECT_EQ(Codes(d.Send("BDAT x\r\n")).back(), "501 5.5.4");
  EXPECT_EQ(Codes(d.Send("BDAT 1 NOTLAST\r\n")).back(), "501 5.5.4");
}

TEST(Bdat, EmptyLastChunkAndNoDataAfterBdat) {
  Driver d;
  d.Send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@ours.example>\r\nBDAT 3\r\nab\n");
  EXPECT_EQ(Codes(d.Send("DATA\r\n")).back(), "503 5.5.1");
  std::string r = d.Send("BDAT 0 LAST\r\n");
  EXPECT_EQ(Codes(r).back(), "550 5.6.0");  // "ab\n" has a bare LF: same rule as DATA
  d.Send("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@ours.example>\r\nBDAT 4\r\nab\r\n");
  EXPECT_EQ(Codes(d.Send("BDAT 0 LAST\r\n")).back(), "250 2.0.0");
  ASSERT_EQ(d.stored.size(), 1u);
}

TEST(Bdat, SizeLimitAcrossChunks) {
  SessionOptions o;
  o.max_message_size = 1024;
  Driver d(o);
  d.Send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@ours.example>\r\n");
  std::string chunk(600, 'x');
  EXPECT_EQ(Codes(d.Send("BDAT 600\r\n" + chunk)).back(), "250 2.0.0");
  EXPECT_EQ(Codes(d.Send("BDAT 600\r\n" + chunk)).back(), "552 5.3.4");
  EXPECT_TRUE(d.stored.empty());
  EXPECT_EQ(Codes(d.Send("NOOP\r\n")).back(), "250 2.0.0");  // still in step
}

TEST(Bdat, DisabledIsUnknown) {
  SessionOptions o;
  o.chunking = false;
  Driver d(o);
  d.Send("EHLO c\r\n");
  EXPECT_EQ(Codes(d.Send("BDAT 1 LAST\r\n")).back(), "500 5.5.2");
}

TEST(SmtpUtf8, NonAsciiAddressesNeedTheParameter) {
  Driver d;
  d.Send("EHLO c\r\n");
  EXPECT_EQ(Codes(d.Send("MAIL FROM:<j\xc3\xb6rg@b.example>\r\n")).back(), "553 5.6.7");
  EXPECT_EQ(Codes(d.Send("MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8\r\n")).back(), "250 2.1.0");
  EXPECT_EQ(Codes(d.Send("RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@ours.example>\r\n")).back(), "250 2.1.5");
  EXPECT_EQ(Codes(d.Send("RCPT TO:<bad\xc3@ours.example>\r\n")).back(), "501 5.1.3");   // truncated UTF-8
  EXPECT_EQ(Codes(d.Send("RCPT TO:<o\xc0\xafps@ours.example>\r\n")).back(), "501 5.1.3");  // overlong
  d.Send("DATA\r\nhi\r\n.\r\n");
  ASSERT_EQ(d.stored.size(), 1u);
  EXPECT_TRUE(d.stored[0].envelope.smtputf8);
  EXPECT_EQ(d.stored[0].envelope.sender, "j\xc3\xb6rg@b.example");
  // Without SMTPUTF8 on the transaction, a UTF-8 recipient is refused.
  d.Send("MAIL FROM:<a@b.example>\r\n");
  EXPECT_EQ(Codes(d.Send("RCPT TO:<\xe7\x94\xa8@ours.example>\r\n")).back(), "553 5.6.7");
  // 8-bit octets in other commands are still refused.
  EXPECT_EQ(Codes(d.Send("NOOP \xc3\xb6\r\n")).back(), "500 5.5.2");
}

TEST(Dsn, ParametersAreValidatedAndKept) {
  Driver d;
  d.Send("EHLO c\r\n");
  struct {
    const char* cmd;
    const char* want;
  } rows[] = {
      {"MAIL FROM:<a@b.example> RET=BOGUS\r\n", "501 5.5.4"},
      {"MAIL FROM:<a@b.example> ENVID=has=equals\r\n", "501 5.5.4"},
      {"MAIL FROM:<a@b.example> RET=FULL RET=HDRS\r\n", "555 5.5.4"},
      // xtext that decodes to CR LF would forge DSN header fields.
      {"MAIL FROM:<a@b.example> ENVID=x+0D+0AAction:+20failed\r\n", "501 5.5.4"},
      {"MAIL FROM:<a@b.example> ENVID=nul+00\r\n", "501 5.5.4"},
      {"MAIL FROM:<a@b.example> RET=hdrs ENVID=QQ+2B123\r\n", "250 2.1.0"},
      {"RCPT TO:<x@ours.example> NOTIFY=NEVER,SUCCESS\r\n", "501 5.5.4"},
      {"RCPT TO:<x@ours.example> NOTIFY=SOMETIMES\r\n", "501 5.5.4"},
      {"RCPT TO:<x@ours.example> ORCPT=noxtext\r\n", "501 5.5.4"},
      {"RCPT TO:<x@ours.example> ORCPT=rfc822;a+2\r\n", "501 5.5.4"},
      {"RCPT TO:<x@ours.example> ORCPT=rfc822;a+0D+0AAction:+20failed\r\n", "501 5.5.4"},
      {"RCPT TO:<x@ours.example> NOTIFY=success,DELAY ORCPT=rfc822;X+40ours.example\r\n", "250 2.1.5"},
      {"RCPT TO:<y@ours.example> NOTIFY=NEVER\r\n", "250 2.1.5"},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(Codes(d.Send(row.cmd)).back(), row.want) << row.cmd;
  }
  d.Send("DATA\r\nhi\r\n.\r\n");
  ASSERT_EQ(d.stored.size(), 1u);
  const Envelope& e = d.stored[0].envelope;
  EXPECT_EQ(e.dsn_ret, "HDRS");
  EXPECT_EQ(e.dsn_envid, "QQ+2B123");
  ASSERT_EQ(e.dsn.size(), 2u);
  EXPECT_EQ(e.dsn[0].notify, "SUCCESS,DELAY");
  EXPECT_EQ(e.dsn[0].orcpt, "rfc822;X+40ours.example");
  EXPECT_EQ(e.dsn[1].notify, "NEVER");
  SessionOptions off;
  off.dsn = false;
  Driver d2(off);
  d2.Send("EHLO c\r\n");
  EXPECT_EQ(Codes(d2.Send("MAIL FROM:<a@b.example> RET=FULL\r\n")).back(), "555 5.5.4");
}

TEST(BareLineEndings, NormalizePolicyRewritesAndAccepts) {
  SessionOptions o;
  o.bare_line_endings = BareLineEndings::kNormalize;
  Driver d(o);
  d.Send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@ours.example>\r\nDATA\r\n");
  std::string r = d.Send("one\ntwo\rthree\r\nx\n.\nsmuggled\r\n.\r\n");
  ASSERT_FALSE(Codes(r).empty());
  EXPECT_EQ(Codes(r).back(), "250 2.0.0");
  ASSERT_EQ(d.stored.size(), 1u);
  // "\n.\n" stayed content: one message, with the dot line kept.
  EXPECT_EQ(d.stored[0].body, "one\r\ntwo\r\nthree\r\nx\r\n.\r\nsmuggled\r\n");
}

TEST(Shutdown, RepliesServiceShuttingDown) {
  Driver d;
  auto actions = d.session().Shutdown();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(std::get<Reply>(actions[0]).text, "421 4.3.2 Service shutting down\r\n");
  EXPECT_TRUE(std::holds_alternative<Close>(actions[1]));
}

TEST(LineCheck, FindsBareEndingsAcrossPieces) {
  LineCheck c;
  c.Feed("abc\r");
  c.Feed("\ndef\r\n");
  c.Finish();
  EXPECT_FALSE(c.bare_line_ending());
  for (const char* s : {"a\nb", "a\rb", "a\r", "\n", "a\r\r\n"}) {
    LineCheck k;
    k.Feed(s);
    k.Finish();
    EXPECT_TRUE(k.bare_line_ending()) << ::testing::PrintToString(s);
  }
  LineCheck l(10);
  l.Feed("12345678\r\n");
  EXPECT_FALSE(l.long_line());
  l.Feed("123456789\r\n");
  EXPECT_TRUE(l.long_line());
  EXPECT_EQ(NormalizeLineEndings("a\nb\rc\r\nd"), "a\r\nb\r\nc\r\nd");
}

}  // namespace
}  // namespace sluice::smtp
