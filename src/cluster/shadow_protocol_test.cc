#include "cluster/shadow_protocol.h"

#include <gtest/gtest.h>

namespace sluice::cluster {
namespace {

TEST(ShadowProtocol, FramesArriveWholeWhateverTheSplit) {
  const std::string wire = ShadowLine("HELLO", {"n1", "e1a2"}) + ShadowCopyHead("n1", "e1a2", "Q1", "ENV", 15) + "From: x\r\n\r\nhi\r\n" +
                           ShadowLine("OK");
  for (size_t step : {1u, 3u, 7u, 1000u}) {
    ShadowParser p;
    std::vector<ShadowFrame> frames;
    for (size_t i = 0; i < wire.size(); i += step) {
      p.Feed(std::string_view(wire).substr(i, step));
      while (auto f = p.Next()) frames.push_back(*f);
    }
    ASSERT_EQ(frames.size(), 3u) << step;
    EXPECT_EQ(frames[0].verb, "HELLO");
    EXPECT_EQ(frames[0].args, (std::vector<std::string>{"n1", "e1a2"}));
    EXPECT_EQ(frames[1].verb, "COPY");
    EXPECT_EQ(frames[1].args[2], "Q1");
    EXPECT_EQ(frames[1].envelope, "ENV");
    EXPECT_EQ(frames[1].content, "From: x\r\n\r\nhi\r\n");
    EXPECT_EQ(frames[2].verb, "OK");
    EXPECT_TRUE(p.error().empty());
  }
}

TEST(ShadowProtocol, IdListsAndTakesRoundTrip) {
  const std::string wire = ShadowIdList("DISCARD", {"n1", "e1"}, {"Q1", "Q2"}) + ShadowIdList("DISCARD", {"n1", "e1"}, {}) +
                           ShadowIdList("TAKEN", {}, {"Q3"}) + ShadowCopyHead("n1", "e1", "Q4", "E", 2, "TAKE") + "hi";
  ShadowParser p;
  p.Feed(wire);
  std::vector<ShadowFrame> frames;
  while (auto f = p.Next()) frames.push_back(*f);
  ASSERT_EQ(frames.size(), 4u) << p.error();
  EXPECT_EQ(frames[0].verb, "DISCARD");
  EXPECT_EQ(frames[0].args[1], "e1");
  EXPECT_EQ(frames[0].ids, (std::vector<std::string>{"Q1", "Q2"}));
  EXPECT_TRUE(frames[1].ids.empty());
  EXPECT_EQ(frames[2].verb, "TAKEN");
  EXPECT_EQ(frames[2].ids, (std::vector<std::string>{"Q3"}));
  EXPECT_EQ(frames[3].verb, "TAKE");
  EXPECT_EQ(frames[3].content, "hi");
}

TEST(ShadowProtocol, HostileInputIsRefusedWithAReason) {
  auto error_of = [](const std::string& wire, size_t max_content = kMaxShadowContent) {
    ShadowParser p(max_content);
    p.Feed(wire);
    while (p.Next()) {
    }
    return p.error();
  };
  EXPECT_EQ(error_of(std::string(2000, 'A')), "line too long");
  EXPECT_EQ(error_of("FROB x\r\n"), "unknown verb");
  EXPECT_NE(error_of("COPY n1 e1 ../../etc 3 3\r\n"), "");               // a name that is not a name
  EXPECT_NE(error_of("COPY n1 e1 Q1 3 99999999999999\r\n"), "");          // a size past any limit
  EXPECT_NE(error_of("COPY n1 e1 Q1 3 100\r\n", 50), "");                 // above this peer's content limit
  EXPECT_NE(error_of("COPY n1 e1 Q1 -3 1\r\n"), "");
  EXPECT_NE(error_of("AUTH zz\r\n"), "");
  EXPECT_NE(error_of("HELLO n1\r\n"), "");
  EXPECT_NE(error_of("OK a\x01\r\n"), "");
  EXPECT_NE(error_of("DISCARD n1 e1 4\r\n../\n"), "");                  // an id that is not a name
  EXPECT_NE(error_of("DISCARD n1 e1 3\r\nQ12"), "");                     // a list that does not end in LF
  EXPECT_NE(error_of("TAKEN 99999999\r\n"), "");                         // past the list limit
  EXPECT_NE(error_of("DISCARD n1 e1 3\r\nQ1\n", 0), "");                 // before the secret: nothing buffered
  // After an error nothing more comes out, whatever follows.
  ShadowParser p;
  p.Feed("FROB\r\nOK\r\n");
  EXPECT_FALSE(p.Next());
  EXPECT_FALSE(p.Next());
}

TEST(ShadowProtocol, TheProofNeedsTheSecret) {
  const std::string nonce = ShadowNonce();
  EXPECT_EQ(nonce.size(), 32u);
  EXPECT_NE(nonce, ShadowNonce());
  const std::string proof = ShadowProof("a shared secret of the fleet", nonce);
  EXPECT_TRUE(ShadowVerify("a shared secret of the fleet", nonce, proof));
  EXPECT_FALSE(ShadowVerify("another secret entirely", nonce, proof));
  EXPECT_FALSE(ShadowVerify("a shared secret of the fleet", ShadowNonce(), proof));
  EXPECT_FALSE(ShadowVerify("a shared secret of the fleet", nonce, proof.substr(1)));
}

}  // namespace
}  // namespace sluice::cluster
