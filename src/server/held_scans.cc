#include "server/held_scans.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <algorithm>
#include <vector>

#include "common/log.h"
#include "mail/clock.h"
#include "queue/queue.h"
#include "server/content_scan.h"
#include "spool/spool.h"

namespace sluice::server {

namespace asio = boost::asio;

const char* ToString(HeldVerdict::Kind k) {
  switch (k) {
    case HeldVerdict::Kind::kWait: return "wait";
    case HeldVerdict::Kind::kRelease: return "released";
    case HeldVerdict::Kind::kQuarantine: return "quarantined";
    case HeldVerdict::Kind::kDiscard: return "discarded";
  }
  return "?";
}

size_t TraceEnd(const std::string& stored) {
  size_t at = 0;
  while (true) {
    const size_t eol = stored.find("\r\n", at);
    if (eol == std::string::npos) return stored.size();
    at = eol + 2;
    if (at >= stored.size() || (stored[at] != ' ' && stored[at] != '\t')) return at;
  }
}

HeldVerdict JudgeHeld(const ProtectionOptions& p, const Envelope& e, const std::string& stored,
                      filter::ScanOutcome o) {
  using A = filter::ScanOutcome::Action;
  HeldVerdict v;
  switch (o.action) {
    case A::kTempFail:
    case A::kHold: return v;  // kWait
    case A::kDiscard: v.kind = HeldVerdict::Kind::kDiscard; return v;
    case A::kReject:
      o.action = A::kQuarantine;
      o.reason = "rejected after acceptance: " + (o.reply.empty() ? std::string("no reason given") : o.reply);
      break;
    case A::kQuarantine:
    case A::kAccept: break;
  }
  ApplySpamThreshold(p, e, o);
  v.kind = o.action == A::kQuarantine ? HeldVerdict::Kind::kQuarantine : HeldVerdict::Kind::kRelease;
  if (v.kind == HeldVerdict::Kind::kQuarantine) v.quarantine = QuarantineReason(o);
  const size_t trace = TraceEnd(stored);
  const std::string field = VerdictField(e.client_address, "", o);
  auto content = std::make_shared<std::string>();
  const size_t rest = o.content ? o.content->size() : stored.size() - trace;
  content->reserve(trace + field.size() + rest);
  content->append(stored, 0, trace);
  content->append(field);
  if (o.content) {
    content->append(*o.content);
  } else {
    content->append(stored, trace, std::string::npos);
  }
  v.content = std::move(content);
  return v;
}

struct HeldScans::PassState {
  std::vector<std::string> ids;
  ProtectionOptions protection;
  size_t next = 1;    // the first went alone
  bool down = false;  // a filter gave no verdict: the pass ends
};

HeldScans::HeldScans(Parts parts) : parts_(std::move(parts)) {}

HeldScans::~HeldScans() { Stop(); }

void HeldScans::Start(std::chrono::milliseconds interval, std::function<ProtectionOptions()> protection) {
  // Once a minute (and at start) the spool is listed for held mail the
  // edge did not hand over: what it held before a restart, and shadow
  // copies of another node's held mail promoted here (cluster/shadow.h).
  const auto every = std::max<int64_t>(1, std::chrono::minutes(1) / std::max(interval, std::chrono::milliseconds(1)));
  periodic_.Start(interval, [this, protection = std::move(protection), every, passes = int64_t{0}]() mutable {
    if (passes++ % every == 0) {
      queue::Filter f;
      f.quarantined = true;
      f.category = queue::kPendingScan;
      f.state = queue::MessageState::kHold;
      f.limit = SIZE_MAX;
      std::vector<queue::MessageInfo> held = parts_.queue.List(f);
      size_t added = 0;
      for (const auto& m : held) {
        std::lock_guard lock(mu_);
        added += ids_.insert(m.id).second ? 1 : 0;
      }
      if (added > 0) log::Event("held for a scan").With("messages", static_cast<int64_t>(added)).Info();
    }
    Pass(protection());
  }, true);
}

void HeldScans::Stop() {
  stopping_ = true;
  periodic_.Stop();
}

void HeldScans::Add(const std::string& id) {
  std::lock_guard lock(mu_);
  ids_.insert(id);
}

void HeldScans::Forget(const std::string& id) {
  std::lock_guard lock(mu_);
  ids_.erase(id);
}

HeldStats HeldScans::Stats() const {
  std::lock_guard lock(mu_);
  HeldStats s = stats_;
  s.held = ids_.size();
  s.oldest_unix = ids_.empty() ? 0 : spool::QueueIdTime(*ids_.begin());
  return s;
}

size_t HeldScans::Pass(const ProtectionOptions& p) {
  auto pass = std::make_shared<PassState>();
  {
    std::lock_guard lock(mu_);
    pass->ids.assign(ids_.begin(), ids_.end());
  }
  if (pass->ids.empty() || stopping_) return 0;
  pass->protection = p;
  auto done = [this] {
    std::lock_guard lock(mu_);
    return stats_.released + stats_.quarantined + stats_.discarded;
  };
  const uint64_t before = done();
  asio::io_context io(1);
  auto run = Run(pass);
  asio::co_spawn(io, std::move(run), asio::detached);
  io.run();
  return static_cast<size_t>(done() - before);
}

asio::awaitable<void> HeldScans::Run(std::shared_ptr<PassState> pass) {
  auto first = One(pass->ids[0], pass);
  const Step step = co_await std::move(first);
  if (step == Step::kFilterDown) co_return;
  auto ex = co_await asio::this_coro::executor;
  for (size_t i = 0; i < kWorkers && i + 1 < pass->ids.size(); ++i) {
    auto worker = Worker(pass);
    asio::co_spawn(ex, std::move(worker), asio::detached);
  }
}

asio::awaitable<void> HeldScans::Worker(std::shared_ptr<PassState> pass) {
  while (!pass->down && !stopping_ && pass->next < pass->ids.size()) {
    const std::string id = pass->ids[pass->next++];
    auto one = One(id, pass);
    const Step step = co_await std::move(one);
    if (step == Step::kFilterDown) pass->down = true;
  }
}

asio::awaitable<HeldScans::Step> HeldScans::One(std::string id, std::shared_ptr<PassState> pass) {
  const ProtectionOptions& p = pass->protection;
  Result<spool::StoredMessage> m = parts_.spool.Load(id);
  if (!m.ok()) {
    if (m.status().code() == Status::Code::kNotFound) Forget(id);  // delivered or deleted meanwhile
    co_return Step::kNext;
  }
  const Envelope& e = m.value().envelope;
  const std::vector<RecipientStatus>& states = m.value().recipients;
  if (!queue::IsPendingScan(e.quarantine) ||
      std::none_of(states.begin(), states.end(), [](const RecipientStatus& s) { return s.state == RecipientState::kHeld; })) {
    Forget(id);  // an operator released or moved it
    co_return Step::kNext;
  }
  Result<spool::Content> stored = parts_.spool.ReadContent(id);
  if (!stored.ok()) co_return Step::kNext;
  const std::string& message = *stored.value();
  std::vector<filter::ChainLink> chain = ChainFor(p, parts_.filters, e);
  filter::ScanOutcome outcome;
  if (!chain.empty()) {
    auto input = std::make_shared<filter::ScanInput>();
    input->hostname = parts_.hostname;
    input->client_address = e.client_address;
    input->helo = e.helo;
    input->sender = e.sender;
    input->recipients = e.rcpt_to;
    input->scan_id = id;
    input->tls = e.tls ? "TLS" : "";
    input->content = std::make_shared<const std::string>(message.substr(TraceEnd(message)));
    auto scan = filter::ScanChain(std::move(chain), input, AllAllow(p, e));
    outcome = co_await std::move(scan);
  } else {
    // A reload took its tenants off every filter: nothing is left to wait for.
    outcome.report = "filters=none";
  }
  HeldVerdict v = JudgeHeld(p, e, message, outcome);
  {
    std::lock_guard lock(mu_);
    ++stats_.scans;
    if (v.kind == HeldVerdict::Kind::kWait) ++stats_.waits;
  }
  if (v.kind == HeldVerdict::Kind::kWait) {
    if (outcome.failed) co_return Step::kFilterDown;  // ScanChain logged the filter's error
    log::Event("held mail still waits").With("queue_id", id).With("filter", outcome.filter)
        .With("reply", outcome.reply).Info();
    co_return Step::kNext;
  }
  Status s;
  if (v.kind == HeldVerdict::Kind::kDiscard) {
    queue::Filter f;
    f.ids = {id};
    f.quarantined = true;
    Result<size_t> n = parts_.queue.Apply(queue::OperatorAction::kDelete, f);
    s = n.ok() ? Status::Ok() : n.status();
  } else {
    s = parts_.queue.Resolve(id, e.quarantine, queue::Rescanned{v.content, v.quarantine});
  }
  if (!s.ok() && s.code() != Status::Code::kNotFound) {
    log::Event("held mail not resolved").With("queue_id", id).With("error", s.ToString()).Warn();
    co_return Step::kNext;  // the next pass tries again
  }
  Forget(id);
  if (!s.ok()) co_return Step::kNext;  // gone meanwhile
  {
    std::lock_guard lock(mu_);
    switch (v.kind) {
      case HeldVerdict::Kind::kRelease: ++stats_.released; break;
      case HeldVerdict::Kind::kQuarantine: ++stats_.quarantined; break;
      case HeldVerdict::Kind::kDiscard: ++stats_.discarded; break;
      case HeldVerdict::Kind::kWait: break;
    }
  }
  log::Event event("held mail scanned");
  event.With("queue_id", id).With("result", ToString(v.kind)).With("scan", outcome.report)
      .With("held_s", mail::Clock::System().NowUnix() - e.received_unix);
  if (!v.quarantine.empty()) event.With("quarantine", v.quarantine);
  event.Info();
  co_return Step::kNext;
}

}  // namespace sluice::server
