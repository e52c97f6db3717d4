// Mail held for its scan: what each verdict makes of it (JudgeHeld), and a
// pass over a real queue on a fake spool — a filter still down is probed
// once per pass and the rest wait; once nothing stands in the way, each
// held message goes on exactly once, with its verdict header.
#include "server/held_scans.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include "queue/queue_fakes.h"
#include "queue/spool_queue.h"

namespace sluice::server {
namespace {

using queue::testing::Eventually;

const std::string kStored =
    "Received: from mx.example (mx.example [192.0.2.1])\r\n\tby sluice; Tue, 1 Dec 2026\r\n"
    "Subject: hi\r\n\r\nbody\r\n";

Envelope Held(const std::string& tenant) {
  Envelope e;
  e.client_address = "192.0.2.1";
  e.sender = "a@example.org";
  e.rcpt_to = {"b@" + tenant + ".example"};
  e.routes.push_back({"b@" + tenant + ".example", tenant, "f1", "store", ""});
  e.dsn.push_back({});
  e.quarantine = "pending: rspamd: timeout: no reply";
  return e;
}

filter::ScanOutcome Outcome(filter::ScanOutcome::Action a, std::string category = "spam") {
  filter::ScanOutcome o;
  o.action = a;
  o.filter = "rspamd";
  o.category = std::move(category);
  o.report = "rspamd=" + std::string(filter::ToString(a));
  return o;
}

TEST(HeldScans, TheTraceFieldEndsAfterItsFoldedLines) {
  EXPECT_EQ(kStored.substr(TraceEnd(kStored)), "Subject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(TraceEnd("no line end"), 11u);
}

TEST(HeldScans, EachVerdictDecidesWhereHeldMailGoes) {
  ProtectionOptions p;
  using A = filter::ScanOutcome::Action;
  using K = HeldVerdict::Kind;
  const Envelope e = Held("acme");

  // Accepted with the filter's edit: released, the verdict header after the
  // trace field and the edited message after it.
  filter::ScanOutcome ok = Outcome(A::kAccept);
  ok.content = std::make_shared<const std::string>("Subject: hi\r\nX-Spam: no\r\n\r\nbody\r\n");
  HeldVerdict v = JudgeHeld(p, e, kStored, ok);
  ASSERT_EQ(v.kind, K::kRelease);
  EXPECT_EQ(*v.content, kStored.substr(0, TraceEnd(kStored)) +
                            "X-Sluice-Report: cip=192.0.2.1; connector=none; rspamd=accept; scan=complete\r\n"
                            "Subject: hi\r\nX-Spam: no\r\n\r\nbody\r\n");
  // Unchanged by the filters: the message as it was, verdict header added.
  v = JudgeHeld(p, e, kStored, Outcome(A::kAccept));
  ASSERT_EQ(v.kind, K::kRelease);
  EXPECT_NE(v.content->find("rspamd=accept; scan=complete\r\nSubject: hi\r\n"), std::string::npos);

  // A reject after the 250 cannot be a reply any more: kept in quarantine.
  filter::ScanOutcome reject = Outcome(A::kReject);
  reject.reply = "554 5.7.1 Gtube pattern";
  v = JudgeHeld(p, e, kStored, reject);
  EXPECT_EQ(v.kind, K::kQuarantine);
  EXPECT_EQ(v.quarantine, "spam: rspamd: rejected after acceptance: 554 5.7.1 Gtube pattern");
  ASSERT_TRUE(v.content);

  filter::ScanOutcome malware = Outcome(A::kQuarantine, "malware");
  malware.filter = "clamav";
  malware.reason = "Eicar FOUND";
  v = JudgeHeld(p, e, kStored, malware);
  EXPECT_EQ(v.kind, K::kQuarantine);
  EXPECT_EQ(v.quarantine, "malware: clamav: Eicar FOUND");

  // A score at the tenant's threshold is a quarantine too.
  p.tenants["acme"].quarantine_score = 10;
  filter::ScanOutcome scored = Outcome(A::kAccept);
  scored.score = 12.5;
  v = JudgeHeld(p, e, kStored, scored);
  EXPECT_EQ(v.kind, K::kQuarantine);
  EXPECT_EQ(v.quarantine, "spam: score: 12.5 >= 10");

  EXPECT_EQ(JudgeHeld(p, e, kStored, Outcome(A::kDiscard)).kind, K::kDiscard);
  // No verdict yet, or the filter's own tempfail: it waits, nothing changes.
  filter::ScanOutcome failed = Outcome(A::kHold);
  failed.failed = true;
  EXPECT_EQ(JudgeHeld(p, e, kStored, failed).kind, K::kWait);
  v = JudgeHeld(p, e, kStored, Outcome(A::kTempFail));
  EXPECT_EQ(v.kind, K::kWait);
  EXPECT_FALSE(v.content);
}

// A real queue over a fake spool, three messages held for their scan.
struct Rig {
  queue::testing::FakeSpool spool;
  queue::testing::FakeDelivery delivery;
  boost::asio::thread_pool reads{1};
  std::unique_ptr<queue::SpoolQueue> q;
  filter::FilterSet filters;
  std::vector<std::string> ids;

  Rig() {
    for (int i = 0; i < 3; ++i) {
      ids.push_back(spool::NewQueueId());
      spool.Put(ids.back(), Held("acme"), kStored,
                {RecipientStatus{RecipientState::kHeld, 0, 0, "", false}});
    }
    q = std::make_unique<queue::SpoolQueue>(queue::QueueOptions{},
                                            queue::SpoolQueue::Parts{spool, delivery, reads, nullptr, nullptr, nullptr});
    EXPECT_TRUE(q->Start().ok());
  }
  ~Rig() {
    q->Stop(std::chrono::seconds(0));
    reads.join();
  }
};

// A port nothing listens on: every connection is refused at once.
uint16_t ClosedPort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

TEST(HeldScans, AFilterStillDownIsProbedOnceAndWhatIsHeldWaits) {
  Rig r;
  ProtectionOptions p;
  filter::FilterOptions down;
  down.name = "rspamd";
  down.port = ClosedPort();
  down.on_error = filter::OnError::kHold;
  p.definitions = {down};
  p.filters = {"rspamd"};
  r.filters.Reconfigure(p.definitions);
  HeldScans held({r.spool, *r.q, r.filters, "sluice.test"});
  for (const auto& id : r.ids) held.Add(id);

  EXPECT_EQ(held.Pass(p), 0u);
  HeldStats s = held.Stats();
  EXPECT_EQ(s.scans, 1u);  // the probe alone: the other two were not tried
  EXPECT_EQ(s.waits, 1u);
  EXPECT_EQ(s.held, 3u);
  EXPECT_GT(s.oldest_unix, 0);
  EXPECT_TRUE(r.delivery.calls().empty());

  // The tenant is taken off the filter: nothing is left to wait for, and
  // each message is delivered once, with its verdict header.
  p.filters.clear();
  EXPECT_EQ(held.Pass(p), 3u);
  ASSERT_TRUE(Eventually([&] { return r.delivery.calls().size() == 3 && r.spool.messages().empty(); }));
  for (const auto& c : r.delivery.calls()) {
    EXPECT_NE(c.content.find("X-Sluice-Report: cip=192.0.2.1; connector=none; filters=none; scan=complete\r\n"
                             "Subject: hi"),
              std::string::npos) << c.content;
  }
  EXPECT_EQ(held.Stats().held, 0u);
  EXPECT_EQ(held.Stats().released, 3u);
  EXPECT_EQ(held.Pass(p), 0u);  // nothing twice
  EXPECT_EQ(r.delivery.calls().size(), 3u);
}

// An operator released a held message by hand: the pass lets it be.
TEST(HeldScans, MailAnOperatorReleasedIsForgotten) {
  Rig r;
  ProtectionOptions p;
  HeldScans held({r.spool, *r.q, r.filters, "sluice.test"});
  queue::Filter f;
  f.ids = {r.ids[0]};
  ASSERT_TRUE(r.q->Apply(queue::OperatorAction::kRelease, f).ok());
  ASSERT_TRUE(Eventually([&] { return r.delivery.calls().size() == 1; }));
  held.Add(r.ids[0]);
  EXPECT_EQ(held.Pass(p), 0u);
  EXPECT_EQ(held.Stats().held, 0u);
  EXPECT_EQ(r.delivery.calls().size(), 1u);
}

}  // namespace
}  // namespace sluice::server
