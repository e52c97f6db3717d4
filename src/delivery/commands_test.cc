// Which MAIL and RCPT parameters travel on, by what the next hop offered.
#include "delivery/commands.h"

#include <gtest/gtest.h>

namespace sluice::delivery {
namespace {

Envelope Sample() {
  Envelope e;
  e.sender = "a@x.example";
  e.rcpt_to = {"b@y.example", "c@y.example", "d@y.example"};
  e.routes = {{"b@y.example", "t", "f", "lmtp", "b-box"}, {"c@y.example", "t", "f", "lmtp", ""},
              {"d@y.example", "t", "f", "lmtp", "d-box"}};
  e.dsn = {{"SUCCESS,FAILURE", "rfc822;B@y.example"}, {"", ""}, {"NEVER", ""}};
  e.body_8bit = true;
  e.dsn_ret = "HDRS";
  e.dsn_envid = "QQ314159";
  return e;
}

TEST(Commands, EverythingTravelsToAHopThatOffersIt) {
  Commands c = TransactionCommands(Sample(), {0, 2}, Offered{true, true, true}, false);
  EXPECT_EQ(c.mail, "MAIL FROM:<a@x.example> BODY=8BITMIME RET=HDRS ENVID=QQ314159\r\n");
  ASSERT_EQ(c.rcpts.size(), 2u);
  EXPECT_EQ(c.rcpts[0], "RCPT TO:<b@y.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B@y.example\r\n");
  EXPECT_EQ(c.rcpts[1], "RCPT TO:<d@y.example> NOTIFY=NEVER\r\n");
}

TEST(Commands, NothingAHopDidNotOffer) {
  Commands c = TransactionCommands(Sample(), {0, 1}, Offered{}, false);
  EXPECT_EQ(c.mail, "MAIL FROM:<a@x.example>\r\n");
  ASSERT_EQ(c.rcpts.size(), 2u);
  EXPECT_EQ(c.rcpts[0], "RCPT TO:<b@y.example>\r\n");
  EXPECT_EQ(c.rcpts[1], "RCPT TO:<c@y.example>\r\n");
}

TEST(Commands, SmtpUtf8IsAlwaysSaidAndNullSenderKept) {
  Envelope e = Sample();
  e.sender.clear();
  e.smtputf8 = true;
  e.body_8bit = false;
  Commands c = TransactionCommands(e, {1}, Offered{true, true, false}, false);
  EXPECT_EQ(c.mail, "MAIL FROM:<> SMTPUTF8\r\n");
}

TEST(Commands, LmtpNamesTheMailboxWhenThereIsOne) {
  Commands c = TransactionCommands(Sample(), {0, 1}, Offered{}, true);
  ASSERT_EQ(c.rcpts.size(), 2u);
  EXPECT_EQ(c.rcpts[0], "RCPT TO:<b-box>\r\n");
  EXPECT_EQ(c.rcpts[1], "RCPT TO:<c@y.example>\r\n");
}

}  // namespace
}  // namespace sluice::delivery
