#include "filter/message.h"

#include <gtest/gtest.h>

namespace sluice::filter {
namespace {

const char* kMail =
    "From: a@example.org\r\n"
    "Subject: hello\r\n"
    "  folded\r\n"
    "X-Spam: no\r\n"
    "x-spam: twice\r\n"
    "\r\n"
    "body line\r\n";

TEST(FilterMessage, SplitsFieldsAndJoinsThemBackByteForByte) {
  Message m = SplitMessage(kMail);
  ASSERT_EQ(m.fields.size(), 4u);
  EXPECT_EQ(m.fields[1].name, "Subject");
  EXPECT_EQ(m.fields[1].value, " hello\r\n  folded");
  EXPECT_EQ(m.body, "body line\r\n");
  EXPECT_EQ(JoinMessage(m), kMail);
  EXPECT_EQ(MilterValue(m.fields[1].value), "hello\n  folded");
  EXPECT_EQ(FieldValue(m, "subject"), "hello  folded");
}

TEST(FilterMessage, ALineThatIsNoFieldEndsTheHeaderSectionAndNothingIsLost) {
  const std::string odd = "From: a@example.org\r\nnot a field\r\nmore\r\n";
  Message m = SplitMessage(odd);
  ASSERT_EQ(m.fields.size(), 1u);
  EXPECT_TRUE(m.malformed);
  EXPECT_EQ(JoinMessage(m), odd);
}

TEST(FilterMessage, EditsAddInsertChangeAndDelete) {
  Message m = SplitMessage(kMail);
  AddField(m, "X-Added", "1");
  InsertField(m, 0, "X-Top", "first");
  ChangeField(m, 2, "X-Spam", "changed");  // the second X-Spam, whatever its case
  ChangeField(m, 1, "Subject", "");        // deleted
  ChangeField(m, 1, "X-Missing", "added");  // fewer than asked: added at the end
  ChangeField(m, 3, "X-Spam", "");          // no third one: nothing happens
  EXPECT_EQ(JoinMessage(m),
            "X-Top: first\r\n"
            "From: a@example.org\r\n"
            "X-Spam: no\r\n"
            "x-spam: changed\r\n"
            "X-Added: 1\r\n"
            "X-Missing: added\r\n"
            "\r\n"
            "body line\r\n");
}

TEST(FilterMessage, AFilterValueCannotStartANewFieldOrEndTheHeaders) {
  // A value with line breaks not followed by white space, and a blank
  // line inside it: folded, never a second field or the body's start.
  Message m = SplitMessage(kMail);
  AddField(m, "X-Report", "a\nInjected: yes\n\nb\r\n");
  const std::string out = JoinMessage(m);
  EXPECT_NE(out.find("X-Report: a\r\n\tInjected: yes\r\n\tb\r\n\r\nbody"), std::string::npos) << out;
  EXPECT_EQ(SplitMessage(out).fields.size(), 5u);
}

TEST(FilterMessage, AReplacementBodyGetsCrlfLineEnds) {
  EXPECT_EQ(NormalizeBody("a\nb\rc\r\nd"), "a\r\nb\r\nc\r\nd");
}

TEST(FilterMessage, SpamScoresOfTheCommonFilters) {
  EXPECT_EQ(SpamScore("X-Spam-Score", " 12.5"), 12.5);
  EXPECT_EQ(SpamScore("x-spamd-result", "default: True [15.20 / 15.00];\r\n\tGTUBE(0.00)"), 15.2);
  EXPECT_EQ(SpamScore("X-Spam-Status", "Yes, score=-1.3 required=5.0 tests=ALL_TRUSTED"), -1.3);
  EXPECT_FALSE(SpamScore("X-Spam-Score", "high"));
  EXPECT_FALSE(SpamScore("X-Spamd-Result", "default: False"));
  EXPECT_FALSE(SpamScore("Subject", "12"));
  EXPECT_FALSE(SpamScore("X-Spam-Score", std::string(30, '9')));  // no number is that long
}

}  // namespace
}  // namespace sluice::filter
