#include "filter/milter_protocol.h"

#include <gtest/gtest.h>

namespace sluice::filter {
namespace {

std::string Reply(char command, std::string data) {
  std::string out;
  const uint32_t len = static_cast<uint32_t>(data.size() + 1);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(len >> shift));
  out.push_back(command);
  return out + data;
}

std::string Int(uint32_t v) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
  return out;
}

TEST(MilterProtocol, PacketsToTheFilterAreFramed) {
  EXPECT_EQ(MilterOptNeg(actions::kAddHeaders | actions::kQuarantine, steps::kSkip),
            std::string("\0\0\0\x0dO\0\0\0\x06\0\0\0\x21\0\0\x04\0", 17));
  EXPECT_EQ(MilterConnect("mx.example", '4', 25, "192.0.2.1"),
            std::string("\0\0\0\x19" "Cmx.example\0" "4\0\x19" "192.0.2.1\0", 29));
  EXPECT_EQ(MilterConnect("unknown", 'U', 0, ""), std::string("\0\0\0\x0a" "Cunknown\0U", 14));
  EXPECT_EQ(MilterHeader("Subject", "hi"), std::string("\0\0\0\x0cLSubject\0hi\0", 16));
  EXPECT_EQ(MilterMail({"<a@b.example>", "SIZE=10"}), std::string("\0\0\0\x17M<a@b.example>\0SIZE=10\0", 27));
  EXPECT_EQ(MilterMacros('C', {{"j", "mx"}, {"{client_addr}", "192.0.2.1"}}),
            std::string("\0\0\0\x1f" "DCj\0mx\0{client_addr}\0" "192.0.2.1\0", 35));
  EXPECT_EQ(MilterBody(std::string(70000, 'x')).size(), 4 + 1 + kMilterChunk);  // one chunk at most
  EXPECT_EQ(MilterEndOfBody(), std::string("\0\0\0\x01" "E", 5));
  EXPECT_EQ(MilterHelo(std::string("a\0b", 3)), std::string("\0\0\0\x03Ha\0", 7));  // a NUL ends the string
}

TEST(MilterProtocol, RepliesArriveWholeWhateverTheSplit) {
  const std::string wire = Reply('O', Int(6) + Int(0x21) + Int(0x400) + Int(1) + std::string("{client_addr} j\0", 16)) +
                           Reply('c', "") + Reply('h', std::string("X-Spam\0yes\0", 11)) +
                           Reply('m', Int(1) + std::string("Subject\0\0", 9)) +
                           Reply('y', std::string("554 5.7.1 Gtube pattern\0", 24)) + Reply('q', std::string("virus\0", 6)) +
                           Reply('b', "new body\r\n") + Reply('a', "");
  for (size_t step : {1u, 5u, 1000u}) {
    MilterReader r;
    std::vector<MilterReply> got;
    for (size_t i = 0; i < wire.size(); i += step) {
      r.Feed(std::string_view(wire).substr(i, step));
      while (auto x = r.Next()) got.push_back(*x);
    }
    ASSERT_EQ(got.size(), 8u) << r.error();
    EXPECT_EQ(got[0].kind, MilterReply::Kind::kOptNeg);
    EXPECT_EQ(got[0].version, 6u);
    EXPECT_EQ(got[0].actions, 0x21u);
    ASSERT_EQ(got[0].macros.size(), 1u);
    EXPECT_EQ(got[0].macros[0].first, MacroStage::kHelo);
    EXPECT_EQ(got[0].macros[0].second, "{client_addr} j");
    EXPECT_EQ(got[1].kind, MilterReply::Kind::kContinue);
    EXPECT_EQ(got[2].name, "X-Spam");
    EXPECT_EQ(got[2].value, "yes");
    EXPECT_EQ(got[3].kind, MilterReply::Kind::kChangeHeader);
    EXPECT_EQ(got[3].index, 1u);
    EXPECT_EQ(got[3].value, "");  // delete it
    EXPECT_EQ(got[4].text, "554 5.7.1 Gtube pattern");
    EXPECT_EQ(got[5].kind, MilterReply::Kind::kQuarantine);
    EXPECT_EQ(got[6].text, "new body\r\n");
    EXPECT_EQ(got[7].kind, MilterReply::Kind::kAccept);
    EXPECT_EQ(r.buffered(), 0u);
  }
}

TEST(MilterProtocol, HostileRepliesAreRefusedWithAReason) {
  auto error_of = [](const std::string& wire) {
    MilterReader r;
    r.Feed(wire);
    while (r.Next()) {
    }
    return r.error();
  };
  EXPECT_EQ(error_of(std::string("\0\0\0\0", 4)), "a packet without a command");
  EXPECT_EQ(error_of(std::string("\x7f\0\0\0", 4)), "a packet of 2130706432 bytes, above the limit");
  EXPECT_EQ(error_of(Reply('Z', "")), "unknown reply 'Z'");
  EXPECT_EQ(error_of(Reply('c', "x")), "malformed 'c' reply");             // data where there is none
  EXPECT_NE(error_of(Reply('y', std::string("250 ok\0", 7))), "");         // not a refusal
  EXPECT_NE(error_of(Reply('y', std::string("554 5.7.1 no", 12))), "");    // no NUL
  EXPECT_NE(error_of(Reply('y', std::string("550-a\n550 b\0", 12))), "");  // a bare LF would reach the sender
  EXPECT_NE(error_of(Reply('y', std::string("550-a\r\n551 b\0", 13))), "");  // codes differ
  EXPECT_EQ(error_of(Reply('y', std::string("550-a\r\n550 b\0", 13))), "");  // a multi-line reply
  EXPECT_NE(error_of(Reply('h', std::string("Bad Name\0v\0", 11))), "");   // a space in a header name
  EXPECT_NE(error_of(Reply('h', std::string("X\0v\x01\0", 5))), "");       // a control character
  EXPECT_NE(error_of(Reply('m', std::string("\0\0", 2))), "");             // an index cut short
  EXPECT_NE(error_of(Reply('O', Int(6) + Int(0) + Int(0) + Int(9) + std::string("x\0", 2))), "");  // no such stage
  // After an error nothing more comes out, whatever follows.
  MilterReader r;
  r.Feed(Reply('Z', "") + Reply('c', ""));
  EXPECT_FALSE(r.Next());
  EXPECT_FALSE(r.Next());
}

}  // namespace
}  // namespace sluice::filter
