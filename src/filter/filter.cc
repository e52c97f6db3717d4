#include "filter/filter.h"

#include <algorithm>

#include "common/log.h"
#include "filter/message.h"

namespace sluice::filter {
namespace {

using Clock = std::chrono::steady_clock;

FilterError FromMilter(MilterResult::Error e) {
  switch (e) {
    case MilterResult::Error::kNone: return FilterError::kNone;
    case MilterResult::Error::kConnect: return FilterError::kConnect;
    case MilterResult::Error::kTimeout: return FilterError::kTimeout;
    case MilterResult::Error::kProtocol: return FilterError::kProtocol;
    case MilterResult::Error::kClosed: return FilterError::kClosed;
  }
  return FilterError::kProtocol;
}

}  // namespace

const char* ToString(OnError e) {
  switch (e) {
    case OnError::kTempFail: return "tempfail";
    case OnError::kAccept: return "accept";
    case OnError::kHold: return "hold";
  }
  return "?";
}

const char* ToString(FilterError e) {
  switch (e) {
    case FilterError::kNone: return "none";
    case FilterError::kBusy: return "busy";
    case FilterError::kBreakerOpen: return "breaker_open";
    case FilterError::kConnect: return "connect";
    case FilterError::kTimeout: return "timeout";
    case FilterError::kProtocol: return "protocol";
    case FilterError::kClosed: return "closed";
  }
  return "?";
}

const char* ToString(ScanOutcome::Action a) {
  switch (a) {
    case ScanOutcome::Action::kAccept: return "accept";
    case ScanOutcome::Action::kReject: return "reject";
    case ScanOutcome::Action::kTempFail: return "tempfail";
    case ScanOutcome::Action::kDiscard: return "discard";
    case ScanOutcome::Action::kQuarantine: return "quarantine";
    case ScanOutcome::Action::kHold: return "hold";
  }
  return "?";
}

Filter::Filter(FilterOptions options)
    : options_(std::move(options)),
      bulkhead_(options_.max_concurrency, options_.max_queue, options_.queue_wait),
      breaker_(options_.breaker) {
  stats_.name = options_.name;
}

boost::asio::awaitable<FilterResult> Filter::Scan(std::shared_ptr<const ScanInput> input) {
  const auto t0 = Clock::now();
  FilterResult r;
  bool probe = false;
  {
    std::lock_guard lock(mu_);
    probe = breaker_.state(t0) == Breaker::State::kHalfOpen;
    if (!breaker_.Allow(t0)) r.error = FilterError::kBreakerOpen;
  }
  if (r.error == FilterError::kBreakerOpen) {
    r.detail = "the filter's circuit breaker is open";
    Count(r);
    co_return r;
  }
  auto acquire = bulkhead_.Acquire();
  Permit permit = co_await std::move(acquire);
  if (!permit) {
    r.error = FilterError::kBusy;
    r.detail = permit.refusal() == Permit::Refusal::kQueueFull ? "every slot and the wait queue are taken"
                                                               : "no slot within queue_wait";
    if (probe) {  // the probe could not run: the breaker stays open another cooldown
      std::lock_guard lock(mu_);
      breaker_.OnFailure(Clock::now());
    }
    r.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    Count(r);
    co_return r;
  }
  auto run = RunMilter(options_.host, options_.port, options_.timeouts, input);
  MilterResult m = co_await std::move(run);
  permit.Release();
  r.error = FromMilter(m.error);
  r.detail = std::move(m.detail);
  r.verdict = std::move(m.verdict);
  r.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  {
    std::lock_guard lock(mu_);
    const auto before = breaker_.state(Clock::now());
    if (r.error == FilterError::kNone) {
      breaker_.OnSuccess();
    } else {
      breaker_.OnFailure(Clock::now());
    }
    const auto after = breaker_.state(Clock::now());
    if (before != after) {
      log::Event("filter breaker").With("filter", options_.name).With("state", ToString(after))
          .With("error", r.error == FilterError::kNone ? std::string("-") : r.detail).Warn();
    }
  }
  Count(r);
  co_return r;
}

void Filter::Count(const FilterResult& r) {
  std::lock_guard lock(mu_);
  ++stats_.scans;
  if (r.error == FilterError::kNone) {
    ++stats_.verdicts[static_cast<size_t>(r.verdict.action)];
  } else {
    ++stats_.errors[static_cast<size_t>(r.error)];
  }
  if (r.error == FilterError::kBreakerOpen) return;  // no scan ran: no latency to speak of
  size_t b = 0;
  while (b < kFilterBuckets.size() && r.ms > kFilterBuckets[b]) ++b;
  ++stats_.latency[b];
  stats_.latency_sum_ms += r.ms;
}

FilterStats Filter::Stats() {
  auto slots = bulkhead_.snapshot();
  std::lock_guard lock(mu_);
  FilterStats s = stats_;
  s.in_flight = slots.in_flight;
  s.queued = slots.queued;
  s.limit = slots.limit;
  s.breaker = ToString(breaker_.state(Clock::now()));
  return s;
}

void FilterSet::Reconfigure(const std::vector<FilterOptions>& filters) {
  std::map<std::string, std::shared_ptr<Filter>> next;
  std::lock_guard lock(mu_);
  for (const auto& o : filters) {
    auto it = filters_.find(o.name);
    next[o.name] = it != filters_.end() && it->second->options() == o ? it->second : std::make_shared<Filter>(o);
  }
  filters_ = std::move(next);  // a scan in progress keeps its filter alive
}

std::shared_ptr<Filter> FilterSet::Get(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = filters_.find(name);
  return it == filters_.end() ? nullptr : it->second;
}

std::vector<FilterStats> FilterSet::Stats() const {
  std::vector<std::shared_ptr<Filter>> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, f] : filters_) all.push_back(f);
  }
  std::vector<FilterStats> out;
  for (const auto& f : all) out.push_back(f->Stats());
  return out;
}

bool FilterSet::empty() const {
  std::lock_guard lock(mu_);
  return filters_.empty();
}

boost::asio::awaitable<ScanOutcome> ScanChain(std::vector<ChainLink> chain, std::shared_ptr<ScanInput> input,
                                              bool skip_spam) {
  ScanOutcome out;
  auto note = [&out](const std::string& name, std::string_view what) {
    if (!out.report.empty()) out.report += "; ";
    out.report += name;
    out.report += '=';
    out.report += what;
  };
  for (const ChainLink& link : chain) {
    Filter& f = *link.filter;
    const std::string& name = f.options().name;
    if (skip_spam && f.options().kind == FilterKind::kSpam) {
      note(name, "skipped (allowed client)");
      continue;
    }
    auto scan = f.Scan(input);
    FilterResult r = co_await std::move(scan);
    if (r.error != FilterError::kNone) {
      log::Event("filter error").With("filter", name).With("error", ToString(r.error)).With("detail", r.detail)
          .With("scan_id", input->scan_id).With("on_error", ToString(link.on_error)).Warn();
      out.filter = name;
      if (link.on_error == OnError::kAccept) {
        out.not_scanned = true;
        note(name, std::string("not scanned (") + ToString(r.error) + ")");
        continue;
      }
      out.action = link.on_error == OnError::kHold ? ScanOutcome::Action::kHold : ScanOutcome::Action::kTempFail;
      out.failed = true;
      out.reason = std::string(ToString(r.error)) + ": " + r.detail;
      note(name, link.on_error == OnError::kHold ? "held" : "tempfail");
      co_return out;
    }
    Verdict& v = r.verdict;
    if (v.content) {
      input->content = v.content;  // the next filter sees the edits
      out.content = v.content;
    }
    note(name, ToString(v.action));
    if (f.options().kind == FilterKind::kSpam) {
      for (const auto& [field, value] : v.added) {
        std::optional<double> score = SpamScore(field, value);
        if (score && (!out.score || *score > *out.score)) out.score = score;
      }
    }
    switch (v.action) {
      case Verdict::Action::kAccept: continue;
      case Verdict::Action::kReject: out.action = ScanOutcome::Action::kReject; break;
      case Verdict::Action::kTempFail: out.action = ScanOutcome::Action::kTempFail; break;
      case Verdict::Action::kDiscard: out.action = ScanOutcome::Action::kDiscard; break;
      case Verdict::Action::kQuarantine: out.action = ScanOutcome::Action::kQuarantine; break;
    }
    out.filter = name;
    out.reply = v.reply;
    out.reason = v.action == Verdict::Action::kQuarantine ? v.reason : v.reply;
    out.category = f.options().kind == FilterKind::kMalware ? "malware" : "spam";
    // Malware is kept, not refused: an operator may need to see it, and a
    // false positive must be recoverable (doc/protection.md, "Quarantine").
    if (out.action == ScanOutcome::Action::kReject && f.options().kind == FilterKind::kMalware) {
      out.action = ScanOutcome::Action::kQuarantine;
      if (out.reason.empty()) out.reason = "rejected as malware";
    }
    co_return out;
  }
  co_return out;
}

}  // namespace sluice::filter
