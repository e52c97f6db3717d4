#include "server/content_scan.h"

#include <algorithm>

#include <fmt/format.h>

#include "queue/queue.h"

namespace sluice::server {
namespace {

int Strictness(filter::OnError e) {
  switch (e) {
    case filter::OnError::kAccept: return 0;
    case filter::OnError::kHold: return 1;
    case filter::OnError::kTempFail: return 2;
  }
  return 2;
}

}  // namespace

std::vector<filter::ChainLink> ChainFor(const ProtectionOptions& p, const filter::FilterSet& set, const Envelope& e) {
  std::vector<filter::ChainLink> chain;
  if (p.definitions.empty()) return chain;  // the common case: nothing per message
  // A connector with its own chain scans all its mail with it: that is the
  // tenant's own outbound policy, whoever the recipients are.
  const ConnectorOptions* via = e.connector.empty() ? nullptr : p.Connector(e.connector);
  if (via && via->filters) {
    for (const auto& name : *via->filters) {
      std::shared_ptr<filter::Filter> f = set.Get(name);
      if (!f) continue;
      filter::OnError on_error = via->on_error.value_or(f->options().on_error);
      if (on_error == filter::OnError::kHold) on_error = filter::OnError::kTempFail;
      chain.push_back({f, on_error});
    }
    return chain;
  }
  std::vector<std::string> seen_tenants;
  for (const auto& route : e.routes) {
    if (std::find(seen_tenants.begin(), seen_tenants.end(), route.tenant) != seen_tenants.end()) continue;
    seen_tenants.push_back(route.tenant);
    auto t = p.tenants.find(route.tenant);
    // A pointer, not a copied optional: g++ 12 at -O2 misreads the copy as
    // maybe uninitialized once Strictness is inlined.
    const std::optional<filter::OnError>* own = t != p.tenants.end() ? &t->second.on_error : nullptr;
    for (const auto& name : p.ChainOf(route.tenant)) {
      std::shared_ptr<filter::Filter> f = set.Get(name);
      if (!f) continue;
      const filter::OnError on_error = own && *own ? **own : f->options().on_error;
      auto it = std::find_if(chain.begin(), chain.end(), [&](const filter::ChainLink& l) { return l.filter == f; });
      if (it == chain.end()) {
        chain.push_back({f, on_error});
      } else if (Strictness(on_error) > Strictness(it->on_error)) {
        it->on_error = on_error;
      }
    }
  }
  return chain;
}

bool AllAllow(const ProtectionOptions& p, const Envelope& e) {
  if (e.routes.empty()) return false;
  return std::all_of(e.routes.begin(), e.routes.end(),
                     [&](const RecipientRoute& r) { return p.Allows(r.tenant, e.client_address); });
}

std::string VerdictField(const std::string& client, const std::string& connector, const filter::ScanOutcome& o) {
  std::string f = "X-Sluice-Report: cip=" + client + "; connector=" + (connector.empty() ? "none" : connector);
  if (!o.report.empty()) f += "; " + o.report;
  if (o.score) f += fmt::format("; score={:g}", *o.score);
  f += o.not_scanned ? "; scan=incomplete" : "; scan=complete";
  f += "\r\n";
  return f;
}

bool ApplySpamThreshold(const ProtectionOptions& p, const Envelope& e, filter::ScanOutcome& o) {
  if (o.action != filter::ScanOutcome::Action::kAccept || !o.score) return false;
  std::optional<double> threshold;
  for (const auto& route : e.routes) {
    std::optional<double> t = p.QuarantineScore(route.tenant);
    if (t && (!threshold || *t < *threshold)) threshold = t;
  }
  if (!threshold || *o.score < *threshold) return false;
  o.action = filter::ScanOutcome::Action::kQuarantine;
  o.category = "spam";
  o.filter = "score";
  o.reason = fmt::format("{:g} >= {:g}", *o.score, *threshold);
  return true;
}

std::string QuarantineReason(const filter::ScanOutcome& o) {
  return (o.category.empty() ? "" : o.category + ": ") + o.filter + ": " + o.reason;
}

std::string PendingReason(const filter::ScanOutcome& o) {
  return std::string(queue::kPendingScan) + ": " + o.filter + ": " + o.reason;
}

}  // namespace sluice::server
