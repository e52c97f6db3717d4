// The queue's core against a fake spool, a fake delivery and a clock in
// hand: what an attempt does to each recipient, that reports are stored
// before the states that caused them (a crash at every write in between
// loses nothing), that destinations of one message do not wait on each
// other, and that only the window is in memory.
#include "queue/queue.h"

#include <gtest/gtest.h>

#include <boost/asio/thread_pool.hpp>

#include "queue/attempt.h"
#include "queue/backlog.h"
#include "queue/queue_fakes.h"
#include "queue/spool_queue.h"

namespace sluice::queue {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::FakeDelivery;
using testing::FakeSpool;
using testing::ThreadSafeClock;
using Kind = delivery::Outcome::Kind;

constexpr int64_t kNow = 1'790'000'000;

// A message from alice to `rcpts` (address, destination), NOTIFY per recipient.
Envelope Message(const std::vector<std::pair<std::string, std::string>>& rcpts, const std::string& notify = "",
                 int64_t received = kNow) {
  Envelope e;
  e.sender = "alice@example.org";
  e.received_unix = received;
  for (const auto& [address, destination] : rcpts) {
    e.rcpt_to.push_back(address);
    e.routes.push_back({address, "t-" + destination, "f1", destination, ""});
    e.dsn.push_back({notify, ""});
  }
  return e;
}

// A queue over fakes, on a thread of its own as in production.
struct Rig {
  FakeSpool spool;
  FakeDelivery delivery;
  ThreadSafeClock clock{kNow};
  QueueOptions o;
  std::unique_ptr<boost::asio::thread_pool> reads;
  std::unique_ptr<SpoolQueue> q;

  Rig() {
    o.retry_initial = 60s;
    o.notify_destination = "bounces";
  }
  void Start() {
    reads = std::make_unique<boost::asio::thread_pool>(1);
    q = std::make_unique<SpoolQueue>(o, SpoolQueue::Parts{spool, delivery, *reads, nullptr, nullptr, &clock});
    ASSERT_TRUE(q->Start().ok());
  }
  // What the intake does for a message the edge took: commit, then submit.
  std::string Accept(const Envelope& e, const std::string& content = "m") {
    const std::string id = spool::NewQueueId();
    spool.Put(id, e, content);
    q->Submit(id, std::make_shared<const Envelope>(e), std::make_shared<const std::string>(content), false);
    return id;
  }
  // The process dies: nothing more is written, nothing more completes.
  void Crash() {
    q->Stop(0s);
    reads->join();
    spool.DropHung();
    q.reset();
  }
  ~Rig() {
    if (q) Crash();
  }
  // Nothing has moved for a while: no attempt runs, or the spool stopped.
  bool Quiet() {
    size_t writes = spool.writes(), calls = delivery.calls().size();
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(10ms);
      if (spool.writes() != writes || delivery.calls().size() != calls) return false;
    }
    QueueStats s = q->Stats();
    return spool.stopped() || (s.in_flight == 0 && s.ready == 0);
  }
};

// ---- Classify: one outcome, one recipient ----

struct ClassifyRow {
  const char* name;
  std::string reply;
  int64_t retry_after_ms = 0;
  int64_t age = 0;
  std::string notify;
  int64_t delay_warning = 0;
  RecipientState state;
  uint32_t attempts;
  std::optional<DsnAction> report;
  Kind kind;
};

void PrintTo(const ClassifyRow& r, std::ostream* os) { *os << r.name; }

class ClassifyTable : public ::testing::TestWithParam<ClassifyRow> {};

TEST_P(ClassifyTable, Verdict) {
  const ClassifyRow& row = GetParam();
  QueueOptions o;
  o.retry_initial = 60s;
  o.max_lifetime = 86400s;
  o.delay_warning = std::chrono::seconds(row.delay_warning);
  const Envelope e = Message({{"bob@acme.example", "store"}}, row.notify, kNow - row.age);
  delivery::Outcome oc = delivery::FromReply(std::stoi(row.reply.substr(0, 3)), row.reply);
  oc.retry_after = std::chrono::milliseconds(row.retry_after_ms);
  std::vector<RecipientStatus> before(1);
  auto v = Classify(o, e, before, {0}, {oc}, kNow, [] { return 0.5; });
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].after.state, row.state);
  EXPECT_EQ(v[0].after.attempts, row.attempts);
  EXPECT_EQ(v[0].kind, row.kind);
  ASSERT_EQ(v[0].report.has_value(), row.report.has_value());
  if (row.report) {
    EXPECT_EQ(v[0].report->action, *row.report);
  }
  if (row.state == RecipientState::kPending) {
    EXPECT_GT(v[0].after.next_attempt_unix, kNow);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Outcomes, ClassifyTable,
    ::testing::Values(
        ClassifyRow{"delivered", "250 2.0.0 ok", 0, 0, "", 0, RecipientState::kDelivered, 1, std::nullopt,
                    Kind::kDelivered},
        ClassifyRow{"delivered notify success", "250 2.0.0 ok", 0, 0, "SUCCESS", 0, RecipientState::kDelivered, 1,
                    DsnAction::kDelivered, Kind::kDelivered},
        ClassifyRow{"failed", "550 5.1.1 no", 0, 0, "", 0, RecipientState::kFailed, 1, DsnAction::kFailed,
                    Kind::kFailed},
        ClassifyRow{"failed notify never", "550 5.1.1 no", 0, 0, "NEVER", 0, RecipientState::kFailed, 1,
                    std::nullopt, Kind::kFailed},
        ClassifyRow{"deferred", "451 4.3.0 later", 0, 0, "", 0, RecipientState::kPending, 1, std::nullopt,
                    Kind::kDeferred},
        ClassifyRow{"backing off counts no attempt", "451 4.4.5 backing off", 2000, 0, "", 0,
                    RecipientState::kPending, 0, std::nullopt, Kind::kDeferred},
        ClassifyRow{"expired", "451 4.3.0 later", 0, 86400, "", 0, RecipientState::kFailed, 1, DsnAction::kFailed,
                    Kind::kFailed},
        ClassifyRow{"delay warning", "451 4.3.0 later", 0, 7200, "", 3600, RecipientState::kPending, 1,
                    DsnAction::kDelayed, Kind::kDeferred},
        ClassifyRow{"delay warning not yet", "451 4.3.0 later", 0, 60, "", 3600, RecipientState::kPending, 1,
                    std::nullopt, Kind::kDeferred}),
    [](const ::testing::TestParamInfo<ClassifyRow>& info) {
      std::string name = info.param.name;
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST(Classify, ExpiryNamesTheAgeAndUnreportRestoresWhatBringsTheReportBack) {
  QueueOptions o;
  o.max_lifetime = 100s;
  const Envelope e = Message({{"bob@acme.example", "store"}}, "", kNow - 150);
  auto v = Classify(o, e, std::vector<RecipientStatus>(1), {0}, {delivery::FromReply(451, "451 4.3.0 later")}, kNow,
                    [] { return 0.5; });
  EXPECT_NE(v[0].after.last_reply.find("expired after 150s"), std::string::npos) << v[0].after.last_reply;
  RecipientStatus st = v[0].after;
  Unreport(o, DsnAction::kFailed, kNow, st);
  EXPECT_EQ(st.state, RecipientState::kPending);
  EXPECT_EQ(st.next_attempt_unix, kNow + o.retry_initial.count());
  st.delay_warned = true;
  Unreport(o, DsnAction::kDelayed, kNow, st);
  EXPECT_FALSE(st.delay_warned);
}

// ---- Crash at every write of an attempt ----

struct CrashRow {
  const char* name;
  std::vector<std::pair<std::string, std::string>> rcpts;  // address, destination
  std::map<std::string, std::string> replies;               // address → first attempt's reply
  std::string notify;
  int64_t delay_warning = 0;
  int64_t age = 0;
};

void PrintTo(const CrashRow& r, std::ostream* os) { *os << r.name; }

class CrashAtEveryWrite : public ::testing::TestWithParam<CrashRow> {};

// Runs the row's first attempt, stopping the spool after `crash_at`
// writes (SIZE_MAX: never). Returns the writes made.
size_t FirstRun(const CrashRow& row, size_t crash_at, Rig& r, const std::string& id) {
  r.o.delay_warning = std::chrono::seconds(row.delay_warning);
  r.spool.Put(id, Message(row.rcpts, row.notify, kNow - row.age), "Subject: x\r\n\r\nbody\r\n");
  r.delivery.SetScript([&row](const std::string& rcpt) {
    auto it = row.replies.find(rcpt);
    return it == row.replies.end() ? std::string("250 2.0.0 ok") : it->second;
  });
  r.spool.StopAfter(crash_at);
  r.Start();
  EXPECT_TRUE(Eventually([&] { return r.Quiet(); }));
  return r.spool.writes();
}

// A DSN (null sender, to alice) about `rcpt` is in the spool or went out.
bool Reported(FakeSpool& spool, const std::vector<FakeDelivery::Call>& calls, const std::string& rcpt) {
  for (const auto& [id, m] : spool.messages()) {
    if (m.envelope.sender.empty() && m.content->find(rcpt) != std::string::npos) return true;
  }
  for (const auto& c : calls) {
    if (c.sender.empty() && c.content.find(rcpt) != std::string::npos) return true;
  }
  return false;
}

TEST_P(CrashAtEveryWrite, NothingIsLostOrLeftUnreported) {
  const CrashRow& row = GetParam();
  const std::string id = spool::NewQueueId();
  size_t writes = 0;
  {
    Rig clean;
    writes = FirstRun(row, SIZE_MAX, clean, id);
  }
  ASSERT_GT(writes, 0u);
  for (size_t crash_at = 0; crash_at <= writes; ++crash_at) {
    SCOPED_TRACE("crash after write " + std::to_string(crash_at) + " of " + std::to_string(writes));
    Rig r;
    FirstRun(row, crash_at, r, id);
    const auto first_calls = r.delivery.calls();
    r.Crash();
    // What the spool holds at the crash: a failed recipient was reported
    // before its state was written.
    auto held = r.spool.messages();
    for (size_t i = 0; i < row.rcpts.size(); ++i) {
      const std::string& rcpt = row.rcpts[i].first;
      auto it = held.find(id);
      const bool failed = it == held.end() ? row.replies.count(rcpt) && row.replies.at(rcpt)[0] == '5'
                                           : it->second.states[i].state == RecipientState::kFailed;
      if (failed && row.notify != "NEVER") {
        EXPECT_TRUE(Reported(r.spool, first_calls, rcpt)) << rcpt;
      }
    }
    // Restart: everything still queued goes out, as a retry.
    r.delivery.SetScript(nullptr);
    r.spool.StopAfter(SIZE_MAX);
    r.clock.Advance(std::chrono::hours(24));
    r.Start();
    ASSERT_TRUE(Eventually([&] { return r.spool.messages().empty(); })) << r.spool.messages().size() << " left";
    const auto calls = r.delivery.calls();
    for (size_t k = first_calls.size(); k < calls.size(); ++k) {
      if (!calls[k].sender.empty()) {
        EXPECT_TRUE(calls[k].retry) << "a recovered message is delivered as a retry";
      }
    }
    for (const auto& [rcpt, destination] : row.rcpts) {
      bool delivered = false;
      for (size_t k = 0; k < calls.size(); ++k) {
        const bool first = k < first_calls.size();
        const auto reply = first && row.replies.count(rcpt) ? row.replies.at(rcpt) : std::string("250");
        for (const auto& to : calls[k].rcpts) delivered = delivered || (to == rcpt && reply[0] == '2');
      }
      EXPECT_TRUE(delivered || Reported(r.spool, calls, rcpt)) << rcpt << " was neither delivered nor reported";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Attempts, CrashAtEveryWrite,
    ::testing::Values(
        CrashRow{"delivered", {{"a@t.example", "store"}}, {}, ""},
        CrashRow{"failed_with_dsn", {{"a@t.example", "store"}}, {{"a@t.example", "550 5.1.1 no such user"}}, ""},
        CrashRow{"mixed",
                 {{"a@t.example", "store"}, {"b@t.example", "store"}, {"c@t.example", "store"}},
                 {{"b@t.example", "550 5.1.1 no"}, {"c@t.example", "451 4.3.0 later"}}, ""},
        CrashRow{"two_destinations",
                 {{"a@t.example", "store"}, {"b@u.example", "relay"}},
                 {{"b@u.example", "550 5.7.1 refused"}}, ""},
        CrashRow{"delay_warning", {{"a@t.example", "store"}}, {{"a@t.example", "451 4.3.0 later"}}, "", 3600, 7200},
        CrashRow{"success_notify", {{"a@t.example", "store"}}, {}, "SUCCESS"}),
    [](const ::testing::TestParamInfo<CrashRow>& info) { return std::string(info.param.name); });

// ---- Scheduling ----

TEST(Queue, ASlowDestinationDoesNotHoldBackAnotherCopyOfTheMessage) {
  Rig r;
  r.delivery.Gate("slow");
  r.Start();
  const std::string id = r.Accept(Message({{"a@fast.example", "fast"}, {"b@slow.example", "slow"}}));
  // The fast copy is delivered and recorded while the slow one still waits.
  ASSERT_TRUE(Eventually([&] {
    auto m = r.spool.messages();
    return m.count(id) && m[id].states[0].state == RecipientState::kDelivered;
  }));
  EXPECT_EQ(r.spool.messages()[id].states[1].state, RecipientState::kPending);
  EXPECT_EQ(r.delivery.calls().size(), 2u);  // both started at once
  r.delivery.Open("slow");
  EXPECT_TRUE(Eventually([&] { return r.spool.messages().empty(); }));
}

TEST(Queue, FreshContentGoesOutWithoutASpoolRead) {
  Rig r;
  r.Start();
  const std::string id = spool::NewQueueId();
  Envelope e = Message({{"a@t.example", "store"}});
  r.spool.Put(id, e, "what the spool has");
  r.q->Submit(id, std::make_shared<const Envelope>(e), std::make_shared<const std::string>("what the edge took"), false);
  ASSERT_TRUE(Eventually([&] { return r.delivery.calls().size() == 1; }));
  EXPECT_EQ(r.delivery.calls()[0].content, "what the edge took");
}

TEST(Queue, OnlyTheWindowIsInMemory) {
  Rig r;
  r.o.active_limit = 2;
  r.delivery.Gate("store");
  r.Start();
  for (int i = 0; i < 6; ++i) {
    const std::string id = r.Accept(Message({{"a@t.example", "store"}}));
  }
  ASSERT_TRUE(Eventually([&] { return r.delivery.calls().size() == 2; }));
  QueueStats s = r.q->Stats();
  EXPECT_EQ(s.messages, 6u);
  EXPECT_EQ(s.active, 2u);
  EXPECT_EQ(s.in_flight, 2u);
  EXPECT_EQ(s.ready, 4u);  // due, waiting in the spool for room
  r.delivery.Open("store");
  EXPECT_TRUE(Eventually([&] { return r.spool.messages().empty(); }));
  EXPECT_EQ(r.delivery.calls().size(), 6u);
}

TEST(Queue, RecoveryReadsStatesAndFinishesWhatWasDone) {
  Rig r;
  auto put = [&](RecipientState state, int64_t next) {
    const std::string id = spool::NewQueueId();
    std::vector<RecipientStatus> st(1);
    st[0].state = state;
    st[0].next_attempt_unix = next;
    r.spool.Put(id, Message({{"a@t.example", "store"}}), "m", st);
    return id;
  };
  const std::string done = put(RecipientState::kDelivered, 0);
  put(RecipientState::kHeld, 0);
  put(RecipientState::kPending, kNow + 3600);
  const std::string due = put(RecipientState::kPending, kNow - 10);
  r.Start();
  ASSERT_TRUE(Eventually([&] { return r.delivery.calls().size() == 1; }));
  ASSERT_TRUE(Eventually([&] { return !r.spool.messages().count(due) && !r.spool.messages().count(done); }));
  QueueStats s = r.q->Stats();
  EXPECT_EQ(s.messages, 2u);
  EXPECT_EQ(s.hold, 1u);
  EXPECT_EQ(s.deferred, 1u);
  EXPECT_TRUE(r.delivery.calls()[0].retry);
}

TEST(Queue, ADeferredMessageWaitsInTheBacklogUntilItIsDue) {
  Rig r;
  r.delivery.SetScript([](const std::string&) { return std::string("451 4.3.0 later"); });
  r.Start();
  const std::string id = r.Accept(Message({{"a@t.example", "store"}}));
  ASSERT_TRUE(Eventually([&] {
    QueueStats s = r.q->Stats();
    return s.deferred == 1 && s.active == 0;
  }));
  r.delivery.SetScript(nullptr);
  r.clock.Advance(2 * r.o.retry_initial);  // past the backoff and its jitter
  r.q->Wake();
  EXPECT_TRUE(Eventually([&] { return r.spool.messages().empty(); }));
  EXPECT_EQ(r.delivery.calls().size(), 2u);
  EXPECT_TRUE(r.delivery.calls()[1].retry);
}

TEST(Queue, AHoldPolicyParksItsMailAndLiftingItSendsIt) {
  Rig r;
  r.Start();
  ASSERT_TRUE(r.q->SetHold({HoldKind::kDestination, "store", "provider down", 0}, true).ok());
  const std::string id = r.Accept(Message({{"a@t.example", "store"}}));
  ASSERT_TRUE(Eventually([&] {
    QueueStats s = r.q->Stats();
    return s.hold == 1 && s.active == 0;
  }));
  EXPECT_TRUE(r.delivery.calls().empty());
  ASSERT_TRUE(r.q->SetHold({HoldKind::kDestination, "store", "", 0}, false).ok());
  EXPECT_TRUE(Eventually([&] { return r.spool.messages().empty(); }));
}

TEST(Queue, AnOperatorBounceReachesAMessageInTheBacklog) {
  Rig r;
  const std::string id = spool::NewQueueId();
  std::vector<RecipientStatus> st(1);
  st[0].next_attempt_unix = kNow + 3600;
  r.spool.Put(id, Message({{"a@t.example", "store"}}), "Subject: x\r\n\r\nbody\r\n", st);
  r.Start();
  Filter f;
  f.ids = {id};
  auto n = r.q->Apply(OperatorAction::kBounce, f);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.value(), 1u);
  ASSERT_TRUE(Eventually([&] { return !r.spool.messages().count(id); }));
  EXPECT_TRUE(Eventually([&] { return Reported(r.spool, r.delivery.calls(), "a@t.example"); }));
}

// Mail held for a scan (server/held_scans.h): the rescan's verdict replaces
// content and reason in one write; released, it is delivered with the new
// content; kept in quarantine, it stays held; a stale reason changes nothing.
TEST(Queue, ResolveReplacesAHeldMessageAndReleasesOrKeepsIt) {
  Rig r;
  Envelope e = Message({{"a@t.example", "store"}});
  e.quarantine = "pending: rspamd: timeout";
  const std::string held = spool::NewQueueId(), kept = spool::NewQueueId();
  std::vector<RecipientStatus> st(1);
  st[0].state = RecipientState::kHeld;
  r.spool.Put(held, e, "Received: x\r\n\r\nbody\r\n", st);
  r.spool.Put(kept, e, "Received: x\r\n\r\nbody\r\n", st);
  r.Start();
  ASSERT_TRUE(Eventually([&] { return r.q->Stats().hold == 2; }));
  // An operator acted meanwhile: the reason no longer matches.
  Status stale = r.q->Resolve(held, "pending: other", {std::make_shared<const std::string>("new"), ""});
  EXPECT_EQ(stale.code(), Status::Code::kNotFound);
  EXPECT_EQ(*r.spool.messages().at(held).content, "Received: x\r\n\r\nbody\r\n");
  EXPECT_TRUE(r.delivery.calls().empty());

  Status kq = r.q->Resolve(kept, e.quarantine, {std::make_shared<const std::string>("Received: x\r\nX-V: q\r\n\r\nbody\r\n"),
                                               "spam: rspamd: rejected"});
  ASSERT_TRUE(kq.ok()) << kq.ToString();
  auto m = r.spool.messages().at(kept);
  EXPECT_EQ(m.envelope.quarantine, "spam: rspamd: rejected");
  EXPECT_EQ(m.states.at(0).state, RecipientState::kHeld);
  EXPECT_EQ(*m.content, "Received: x\r\nX-V: q\r\n\r\nbody\r\n");

  Status ok = r.q->Resolve(held, e.quarantine, {std::make_shared<const std::string>("Received: x\r\nX-V: ok\r\n\r\nbody\r\n"), ""});
  ASSERT_TRUE(ok.ok()) << ok.ToString();
  ASSERT_TRUE(Eventually([&] { return !r.spool.messages().count(held); }));
  ASSERT_EQ(r.delivery.calls().size(), 1u);
  EXPECT_EQ(r.delivery.calls()[0].content, "Received: x\r\nX-V: ok\r\n\r\nbody\r\n");
  // Released once: a second resolve finds nothing to do.
  EXPECT_EQ(r.q->Resolve(held, e.quarantine, {std::make_shared<const std::string>("x"), ""}).code(),
            Status::Code::kNotFound);
  EXPECT_EQ(r.q->Stats().hold, 1u);
}

TEST(Queue, RetryingEverythingReachesTheBacklogWithoutReadingIt) {
  Rig r;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(spool::NewQueueId());
    std::vector<RecipientStatus> st(1);
    st[0].next_attempt_unix = kNow + 3600;  // an hour away: in the backlog, not in memory
    r.spool.Put(ids.back(), Message({{"a@t.example", "store"}}), "m", st);
  }
  r.Start();
  ASSERT_TRUE(Eventually([&] { return r.q->Stats().deferred == 3; }));
  EXPECT_EQ(r.q->Stats().active, 0u);
  auto n = r.q->Apply(OperatorAction::kRetry, Filter{});  // "all": no criteria
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.value(), 3u);
  // Due now, though the spool still says in an hour: the clock did not move.
  EXPECT_TRUE(Eventually([&] { return r.spool.messages().empty(); }));
  EXPECT_EQ(r.delivery.calls().size(), 3u);
}

TEST(Queue, ListingFiltersByStateAndEnvelope) {
  Rig r;
  auto put = [&](const std::string& rcpt, int64_t next) {
    const std::string id = spool::NewQueueId();
    std::vector<RecipientStatus> st(1);
    st[0].next_attempt_unix = next;
    r.spool.Put(id, Message({{rcpt, "store"}}), "m", st);
    return id;
  };
  const std::string later = put("a@t.example", kNow + 3600);
  put("b@t.example", kNow + 7200);
  r.Start();
  Filter f;
  f.state = MessageState::kDeferred;
  EXPECT_EQ(r.q->List(f).size(), 2u);
  f.rcpt = "A@T";
  auto found = r.q->List(f);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, later);
  EXPECT_EQ(found[0].recipients[0].state, RecipientView::kDeferred);
  f.state = MessageState::kHold;
  EXPECT_TRUE(r.q->List(f).empty());
  Filter limited;
  limited.limit = 1;
  EXPECT_EQ(r.q->List(limited).size(), 1u);
}

// ---- The backlog ----

TEST(Backlog, PacksQueueIdsInTheirOrder) {
  const std::string a = "0123456789ABCDEF01", b = "0123456789ABCDEF10";
  auto pa = PackedId::Pack(a), pb = PackedId::Pack(b);
  ASSERT_TRUE(pa && pb);
  EXPECT_EQ(pa->Unpack(), a);
  EXPECT_LT(*pa, *pb);
  EXPECT_FALSE(PackedId::Pack("0123456789abcdef01"));  // lower case
  EXPECT_FALSE(PackedId::Pack("short"));
}

TEST(Backlog, DueOrderHoldsAndParking) {
  Backlog b;
  const std::string x = "00000000000000000A", y = "00000000000000000B", z = "00000000000000000C";
  ASSERT_TRUE(b.Put(x, {200, Backlog::Wait::kDue, false}));
  ASSERT_TRUE(b.Put(y, {100, Backlog::Wait::kDue, true}));
  ASSERT_TRUE(b.Put(z, {0, Backlog::Wait::kParked, false}));
  EXPECT_FALSE(b.Put("nope", {}));
  auto c = b.Count(150);
  EXPECT_EQ(c.ready, 1u);
  EXPECT_EQ(c.deferred, 1u);
  EXPECT_EQ(c.hold, 1u);
  EXPECT_EQ(*b.NextDue(), 100);
  EXPECT_FALSE(b.PopDue(99));
  auto first = b.PopDue(150);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->first, y);
  EXPECT_TRUE(first->second.recovered);
  EXPECT_EQ(b.Unpark(150), 1u);
  EXPECT_EQ(b.PopDue(150)->first, z);
  ASSERT_TRUE(b.Put(x, {50, Backlog::Wait::kDue, false}));  // rescheduled, not duplicated
  EXPECT_EQ(b.size(), 1u);
  EXPECT_EQ(*b.NextDue(), 50);
  EXPECT_EQ(*b.Oldest(), x);
  EXPECT_TRUE(b.Take(x));
  EXPECT_EQ(b.size(), 0u);
  EXPECT_FALSE(b.NextDue());
}

// ---- Rules and records ----

TEST(Backoff, GrowsExponentiallyToTheCap) {
  QueueOptions o;
  o.retry_initial = std::chrono::seconds(300);
  o.retry_max = std::chrono::seconds(4000);
  // With the jitter at its midpoint (unit 0.5 → factor 1.0).
  EXPECT_EQ(Backoff(o, 1, 0.5).count(), 300);
  EXPECT_EQ(Backoff(o, 2, 0.5).count(), 600);
  EXPECT_EQ(Backoff(o, 3, 0.5).count(), 1200);
  EXPECT_EQ(Backoff(o, 4, 0.5).count(), 2400);
  EXPECT_EQ(Backoff(o, 5, 0.5).count(), 4000);
  EXPECT_EQ(Backoff(o, 50, 0.5).count(), 4000);
}

TEST(Backoff, JitterStaysWithinTwentyPercent) {
  QueueOptions o;
  o.retry_initial = std::chrono::seconds(1000);
  EXPECT_EQ(Backoff(o, 1, 0.0).count(), 800);
  EXPECT_EQ(Backoff(o, 1, 0.999).count(), 1199);
  o.retry_initial = std::chrono::seconds(1);
  EXPECT_GE(Backoff(o, 1, 0.0).count(), 1);  // never zero
}

TEST(Filter, MatchesEveryCriterion) {
  Envelope e;
  e.sender = "Alice@Example.org";
  e.routes = {{"bob@acme.test", "acme", "na-1", "local", ""}, {"eve@hooli.test", "hooli", "de-1", "relay", ""}};
  e.received_unix = 1000;
  const std::string id = "0123456789ABCDEF01";
  EXPECT_TRUE(Matches({}, id, e, 1000));
  Filter f;
  f.tenant = "hooli";
  EXPECT_TRUE(Matches(f, id, e, 1000));
  f.destination = "local";  // any recipient may match each criterion
  EXPECT_TRUE(Matches(f, id, e, 1000));
  f.tenant = "nobody";
  EXPECT_FALSE(Matches(f, id, e, 1000));
  Filter g;
  g.sender = "alice@EXAMPLE";
  g.rcpt = "BOB@";
  EXPECT_TRUE(Matches(g, id, e, 1000));
  g.min_age = std::chrono::seconds(60);
  EXPECT_FALSE(Matches(g, id, e, 1059));
  EXPECT_TRUE(Matches(g, id, e, 1060));
  Filter h;
  h.ids = {"FFFFFFFFFFFFFFFFFF"};
  EXPECT_FALSE(Matches(h, id, e, 1000));
}

TEST(Names, EveryEnumRoundTrips) {
  for (auto s : {MessageState::kReady, MessageState::kDeferred, MessageState::kHold, MessageState::kActive}) {
    EXPECT_EQ(ParseMessageState(ToString(s)), s);
  }
  for (auto a : {OperatorAction::kHold, OperatorAction::kRelease, OperatorAction::kRetry, OperatorAction::kDelete,
                 OperatorAction::kBounce}) {
    EXPECT_EQ(ParseOperatorAction(ToString(a)), a);
  }
  EXPECT_EQ(ParseHoldKind("tenant"), HoldKind::kTenant);
  EXPECT_EQ(ParseHoldKind("destination"), HoldKind::kDestination);
  EXPECT_FALSE(ParseHoldKind("forest"));
  EXPECT_FALSE(ParseMessageState("stuck"));
}

TEST(HoldPolicies, RoundTripThroughTheSpoolRecord) {
  std::vector<HoldPolicy> in = {{HoldKind::kTenant, "acme", "provider down", 1700000000},
                                {HoldKind::kDestination, "relay", "", 1700000001}};
  auto out = ParseHolds(FormatHolds(in));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, HoldKind::kTenant);
  EXPECT_EQ(out[0].reason, "provider down");
  EXPECT_EQ(out[1].name, "relay");
  EXPECT_EQ(out[1].since_unix, 1700000001);
  EXPECT_TRUE(ParseHolds("garbage without tabs\n").empty());
  EXPECT_TRUE(ParseHolds("forest\tx\t1\treason\n").empty());
}

}  // namespace
}  // namespace sluice::queue
