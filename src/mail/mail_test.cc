// The mail vocabulary: reply lines and their reader, safe text, xtext.
#include <gtest/gtest.h>

#include "mail/ascii.h"
#include "mail/content.h"
#include "mail/reply_line.h"
#include "mail/text.h"
#include "mail/xtext.h"

namespace sluice::mail {
namespace {

TEST(ReplyLine, CodeEnhancedCodeAndText) {
  ReplyLine r = ParseReplyLine("421 4.3.2 Busy, try later");
  EXPECT_EQ(r.code, 421);
  EXPECT_TRUE(r.last);
  EXPECT_EQ(r.enhanced, "4.3.2");
  EXPECT_EQ(r.text, "Busy, try later");
  r = ParseReplyLine("250-PIPELINING");
  EXPECT_EQ(r.code, 250);
  EXPECT_FALSE(r.last);
  EXPECT_TRUE(r.enhanced.empty());
  EXPECT_EQ(r.text, "PIPELINING");
  EXPECT_EQ(ParseReplyLine("354").code, 354);
  EXPECT_EQ(ParseReplyLine("550 5.1.1").enhanced, "5.1.1");
  // Not reply lines: too short, no digits, a 1yz or 6yz code, a bad separator.
  for (const char* bad : {"", "25", "abc def", "150 ok", "650 no", "250+x"}) EXPECT_EQ(ParseReplyLine(bad).code, 0) << bad;
  // An enhanced code of another class than the reply is not believed.
  EXPECT_TRUE(ParseReplyLine("250 5.1.1 odd").enhanced.empty());
  EXPECT_EQ(EnhancedCodeOf("4.7.1000 x"), "");
  EXPECT_EQ(EnhancedCodeOf("4.7.100 x"), "4.7.100");
  EXPECT_EQ(EnhancedCodeOf("4.7x"), "");
}

TEST(ReplyReader, JoinsAMultilineReply) {
  ReplyReader r;
  EXPECT_EQ(r.Add("250-mx.example"), ReplyReader::State::kMore);
  EXPECT_EQ(r.Add("250-PIPELINING"), ReplyReader::State::kMore);
  EXPECT_EQ(r.Add("250 DSN"), ReplyReader::State::kDone);
  EXPECT_EQ(r.code(), 250);
  EXPECT_EQ(r.text(), "250 mx.example PIPELINING DSN");
  ASSERT_EQ(r.lines().size(), 3u);
  EXPECT_EQ(r.lines()[1], "PIPELINING");
}

TEST(ReplyReader, AnEndlessReplyIsCutOff) {
  ReplyReader r(ReplyLimits{10, 100'000});
  ReplyReader::State s = ReplyReader::State::kMore;
  int n = 0;
  while (s == ReplyReader::State::kMore && n < 1000) s = r.Add("220-" + std::string(100, 'A')), ++n;
  EXPECT_EQ(s, ReplyReader::State::kTooLong);
  EXPECT_EQ(n, 11);
  EXPECT_NE(r.error().find("too long"), std::string::npos);
  ReplyReader bytes(ReplyLimits{1000, 1000});
  n = 0;
  do s = bytes.Add("220-" + std::string(200, 'B')), ++n; while (s == ReplyReader::State::kMore && n < 100);
  EXPECT_EQ(s, ReplyReader::State::kTooLong);
  EXPECT_LE(n, 5);
}

TEST(ReplyReader, MixedCodesAndGarbageAreMalformed) {
  ReplyReader r;
  EXPECT_EQ(r.Add("250-a"), ReplyReader::State::kMore);
  EXPECT_EQ(r.Add("550 b"), ReplyReader::State::kMalformed);
  ReplyReader g;
  EXPECT_EQ(g.Add("HTTP/1.1 400 Bad Request\x01"), ReplyReader::State::kMalformed);
  EXPECT_FALSE(HasControl(g.error()));
}

TEST(ReplyReader, PeerTextIsMadeSafe) {
  ReplyReader r;
  EXPECT_EQ(r.Add("451 4.7.0 \xff\xfe bad \x1b[31m colour\tTAB"), ReplyReader::State::kDone);
  EXPECT_TRUE(IsValidUtf8(r.text()));
  EXPECT_FALSE(HasControl(r.text()));
  EXPECT_NE(r.text().find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD
  EXPECT_NE(r.text().find("\\x1B"), std::string::npos);
  EXPECT_NE(r.text().find("\\x09"), std::string::npos);
}

TEST(SafeText, ValidUtf8KeptControlsEscapedLengthBounded) {
  EXPECT_EQ(SafeText("j\xc3\xb6rg"), "j\xc3\xb6rg");
  EXPECT_EQ(SafeText("a\r\nb"), "a\\x0D\\x0Ab");
  EXPECT_EQ(SafeText("\xc3"), "\xEF\xBF\xBD");         // truncated sequence
  EXPECT_EQ(SafeText("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(SafeText(std::string(50, 'x'), 10), std::string(10, 'x') + "...");
  EXPECT_EQ(ToValidUtf8("ok\x80"), "ok\xEF\xBF\xBD");
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x93\xa8"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));  // overlong
}

TEST(Xtext, ControlBytesAreNotSafe) {
  EXPECT_TRUE(IsValidXtext("abc+2Bdef"));
  EXPECT_EQ(DecodeXtext("abc+2Bdef"), "abc+def");
  EXPECT_TRUE(IsSafeXtext("abc+2Bdef"));
  // RFC 3461 xtext may encode CR LF; decoded into a DSN header it would
  // forge fields, so the edge refuses it (501 5.5.4).
  EXPECT_TRUE(IsValidXtext("x+0D+0AAction:+20failed"));
  EXPECT_FALSE(IsSafeXtext("x+0D+0AAction:+20failed"));
  EXPECT_FALSE(IsSafeXtext("a+00b"));
  EXPECT_FALSE(IsSafeXtext("a+7Fb"));
  EXPECT_FALSE(IsValidXtext("a=b"));
  EXPECT_FALSE(IsValidXtext("a+4"));
  EXPECT_FALSE(IsValidXtext("a+4g"));
}

TEST(DotStuff, WhatSendsAsIsIsWhatDotStuffingLeavesAlone) {
  for (std::string_view c : {"", "a\r\nb\r\n", "Subject: x\r\n\r\nbody. dots. inside.\r\n"}) {
    EXPECT_TRUE(SendsAsIs(c)) << c;
    EXPECT_EQ(DotStuff(c), std::string(c) + ".\r\n") << c;
  }
  for (std::string_view c : {".a\r\n", "a\r\n.b\r\n", "no end", "a\r\nb", "bare\nlf\r\n", "bare\rcr\r\n",
                             "x\r.\r\n", "a\r"}) {
    EXPECT_FALSE(SendsAsIs(c)) << c;
    EXPECT_NE(DotStuff(c), std::string(c) + ".\r\n") << c;
  }
}

TEST(DotStuff, LinesEndInCrlfAndDotsAreDoubled) {
  EXPECT_EQ(DotStuff("a\r\n.b\r\n"), "a\r\n..b\r\n.\r\n");
  EXPECT_EQ(DotStuff("no end"), "no end\r\n.\r\n");
  EXPECT_EQ(DotStuff(""), ".\r\n");
  EXPECT_EQ(DotStuff(".\r\n"), "..\r\n.\r\n");
  // A bare CR or LF becomes a line end of its own, and a dot after it is
  // stuffed: "<CR>.<CR><LF>" cannot end the data early on the wire.
  EXPECT_EQ(DotStuff("x\r.\r\nMAIL FROM:<evil>\r\n"), "x\r\n..\r\nMAIL FROM:<evil>\r\n.\r\n");
  EXPECT_EQ(DotStuff("x\n.\n"), "x\r\n..\r\n.\r\n");
  const std::string out = DotStuff("a\rb\nc\r\r\nd");
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\r') {
      EXPECT_EQ(out[i + 1], '\n') << i;
    }
    if (out[i] == '\n') {
      EXPECT_EQ(out[i - 1], '\r') << i;
    }
  }
}

TEST(Ascii, FoldingIsLocaleFree) {
  EXPECT_TRUE(EqualsNoCase("MAIL", "mail"));
  EXPECT_FALSE(EqualsNoCase("MAIL", "mails"));
  EXPECT_EQ(Lowered("ACME.Example"), "acme.example");
  EXPECT_EQ(Uppered("notify=success"), "NOTIFY=SUCCESS");
  EXPECT_EQ(Lowered("\xc3\x96"), "\xc3\x96");  // bytes ≥ 0x80 untouched
  EXPECT_TRUE(ContainsNoCase("Alice@ACME.example", "acme"));
  EXPECT_TRUE(StartsWithNoCase("Received: x", "received:"));
}

}  // namespace
}  // namespace sluice::mail
