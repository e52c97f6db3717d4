#include "queue/dsn.h"

#include <gtest/gtest.h>

namespace sluice::queue {
namespace {

Envelope TwoRecipients() {
  Envelope e;
  e.sender = "alice@example.org";
  e.rcpt_to = {"bob@acme.test", "carol@acme.test"};
  e.routes = {{"bob@acme.test", "acme", "na-1", "store", ""}, {"carol@acme.test", "acme", "na-1", "store", ""}};
  e.dsn.resize(2);
  e.received_unix = 1'790'000'000;
  return e;
}

TEST(WantsDsn, FollowsNotifyAndNeverAnswersTheNullSender) {
  Envelope e = TwoRecipients();
  EXPECT_TRUE(WantsDsn(e, 0, DsnAction::kFailed, false));
  EXPECT_FALSE(WantsDsn(e, 0, DsnAction::kDelayed, false));
  EXPECT_TRUE(WantsDsn(e, 0, DsnAction::kDelayed, true));
  EXPECT_FALSE(WantsDsn(e, 0, DsnAction::kDelivered, true));
  e.dsn[0].notify = "NEVER";
  EXPECT_FALSE(WantsDsn(e, 0, DsnAction::kFailed, true));
  e.dsn[0].notify = "success,DELAY";
  EXPECT_FALSE(WantsDsn(e, 0, DsnAction::kFailed, true));
  EXPECT_TRUE(WantsDsn(e, 0, DsnAction::kDelivered, false));
  EXPECT_TRUE(WantsDsn(e, 0, DsnAction::kDelayed, false));
  e.sender.clear();
  e.dsn[1].notify = "FAILURE";
  EXPECT_FALSE(WantsDsn(e, 1, DsnAction::kFailed, true));
}

TEST(StatusOf, PrefersTheEnhancedCode) {
  EXPECT_EQ(StatusOf("550 5.1.1 <bob>: no such user"), "5.1.1");
  EXPECT_EQ(StatusOf("452-4.2.2 over quota"), "4.2.2");
  EXPECT_EQ(StatusOf("554 transaction failed"), "5.0.0");
  EXPECT_EQ(StatusOf("connection refused"), "4.0.0");
}

TEST(MakeDsn, FailureReportHasTheThreeParts) {
  Envelope e = TwoRecipients();
  e.dsn_envid = "ID+2B1";
  e.dsn[0].orcpt = "rfc822;bob+2Bx@acme.test";
  const std::string original = "Received: x\r\nSubject: hello\r\n\r\nbody line\r\n";
  DsnInput in{"mx.sluice.test", "0123ABC", &e, original,
              {{0, DsnAction::kFailed, "550 5.1.1 no such user", "lmtp.acme.test", 1'790'000'100}},
              1'790'000'200, 0};
  std::string m = MakeDsn(in);
  EXPECT_NE(m.find("To: <alice@example.org>\r\n"), std::string::npos);
  EXPECT_NE(m.find("Auto-Submitted: auto-replied\r\n"), std::string::npos);
  EXPECT_NE(m.find("multipart/report; report-type=delivery-status"), std::string::npos);
  EXPECT_NE(m.find("Reporting-MTA: dns; mx.sluice.test\r\n"), std::string::npos);
  EXPECT_NE(m.find("Original-Envelope-Id: ID+1\r\n"), std::string::npos);
  EXPECT_NE(m.find("Original-Recipient: rfc822;bob+x@acme.test\r\n"), std::string::npos);
  EXPECT_NE(m.find("Final-Recipient: rfc822; bob@acme.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("Remote-MTA: dns; lmtp.acme.test\r\n"), std::string::npos);
  EXPECT_NE(m.find("Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"), std::string::npos);
  EXPECT_EQ(m.find("carol@acme.test"), std::string::npos);  // only the failed recipient
  EXPECT_NE(m.find("Content-Type: message/rfc822\r\n\r\n" + original), std::string::npos);
  EXPECT_TRUE(m.ends_with("--\r\n"));
}

TEST(MakeDsn, ReturnsHeadersOnlyWhenAskedOrTooBig) {
  Envelope e = TwoRecipients();
  const std::string original = "Subject: big\r\n\r\n" + std::string(100, 'x') + "\r\n";
  DsnInput in{"h", "Q", &e, original, {{1, DsnAction::kFailed, "554 no", "", 0}}, 1'790'000'200, 0, 50};
  std::string m = MakeDsn(in);
  EXPECT_NE(m.find("Content-Type: text/rfc822-headers\r\n\r\nSubject: big\r\n"), std::string::npos);
  EXPECT_EQ(m.find("xxxx"), std::string::npos);
  in.full_content_limit = 100'000;
  e.dsn_ret = "HDRS";
  EXPECT_EQ(MakeDsn(in).find("xxxx"), std::string::npos);
  e.dsn_ret = "FULL";
  EXPECT_NE(MakeDsn(in).find("xxxx"), std::string::npos);
}

TEST(MakeDsn, DelayReportSaysWhenItGivesUp) {
  Envelope e = TwoRecipients();
  e.smtputf8 = true;
  DsnInput in{"h", "Q", &e, "Subject: s\r\n\r\nb\r\n", {{0, DsnAction::kDelayed, "421 4.3.2 busy", "", 0}},
              1'790'000'200, 1'790'400'000};
  std::string m = MakeDsn(in);
  EXPECT_NE(m.find("Subject: Delayed Mail"), std::string::npos);
  EXPECT_NE(m.find("Action: delayed\r\nStatus: 4.3.2\r\n"), std::string::npos);
  EXPECT_NE(m.find("Will-Retry-Until: "), std::string::npos);
  EXPECT_NE(m.find("message/global-delivery-status"), std::string::npos);  // RFC 6533
  EXPECT_NE(m.find("Final-Recipient: utf-8; bob@acme.test"), std::string::npos);
}

}  // namespace
}  // namespace sluice::queue
