// [alerts]: rules and webhooks. Kept apart from config.cc, which reads the
// pipeline's own stages.
#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "control/config_parts.h"
#include "admin/webhook.h"
#include "common/url.h"
#include "mail/ascii.h"

namespace sluice::control {
namespace {

void ReadRule(TomlTable& t, admin::AlertRule* r) {
  t.String("name", &r->name);
  std::string kind;
  t.String("kind", &kind);
  t.String("code", &r->code);
  t.Double("above", &r->above, -1e18, 1e18);
  t.Duration("for", &r->for_duration);
  t.Duration("clear_after", &r->clear_after);
  t.Enum("severity", &r->severity,
         {{"info", admin::Severity::kInfo}, {"warning", admin::Severity::kWarning}, {"critical", admin::Severity::kCritical}});
  if (r->name.empty()) t.Error("name", "a rule needs a name");
  const auto& kinds = admin::AlertKinds();
  auto known = std::find_if(kinds.begin(), kinds.end(), [&](const admin::AlertKindInfo& k) { return kind == k.name; });
  if (known == kinds.end()) {
    std::string names;
    for (const auto& k : kinds) names += (names.empty() ? "" : ", ") + std::string(k.name);
    t.Error("kind", fmt::format("\"{}\" is not one of {}", kind, names));
    return;  // nothing else about the rule can be judged
  }
  r->kind = known->kind;
  if (r->kind == admin::AlertKind::kReplyRate) {
    const std::string& c = r->code;
    bool cls = c.size() == 3 && c[0] >= '2' && c[0] <= '5' && c[1] == 'x' && c[2] == 'x';
    bool code = c.size() == 3 && std::all_of(c.begin(), c.end(), ::isdigit);
    bool enhanced = c.size() >= 5 && c[1] == '.' && (c[0] == '4' || c[0] == '5' || c[0] == '2');
    if (!cls && !code && !enhanced) t.Error("code", "reply_rate needs a code: \"4xx\", \"451\" or \"4.3.2\"");
  } else if (!r->code.empty()) {
    t.Error("code", "only reply_rate rules take a code");
  }

}

void ReadWebhook(TomlTable& t, admin::WebhookOptions* w) {
  t.String("name", &w->name);
  t.String("url", &w->url);
  t.String("ca_file", &w->ca_file);
  t.Duration("timeout", &w->timeout);
  t.Int("max_attempts", &w->max_attempts, 1, 1000);
  t.Duration("retry_initial", &w->retry_initial);
  t.Duration("retry_max", &w->retry_max);
  t.StringMap("headers", [&](const std::string& name, const std::string& value, int) {
    w->headers.emplace_back(name, value);
    if (!IsHeaderName(name)) t.Error("headers", fmt::format("\"{}\" is not an HTTP header name", name));
    if (!IsHeaderValue(value)) {
      t.Error("headers", fmt::format("the value of \"{}\" has a line break", name));
    }
    if (mail::EqualsNoCase(name, "Content-Length") || mail::EqualsNoCase(name, "Host") ||
        mail::EqualsNoCase(name, "Transfer-Encoding") || mail::EqualsNoCase(name, "Connection")) {
      t.Error("headers", fmt::format("\"{}\" is set by Sluice", name));
    }
  });
  t.String("proxy", &w->proxy);
  if (!w->proxy.empty()) {
    if (auto p = ParseUrl(w->proxy); !p.ok()) {
      t.Error("proxy", p.status().message());
    } else if (p.value().tls) {
      t.Error("proxy", "only http:// proxies are supported (https URLs go through them with CONNECT)");
    }
  }
  if (w->url.empty()) {
    t.Error("url", "a webhook needs a url");
  } else if (auto u = ParseUrl(w->url); !u.ok()) {
    t.Error("url", u.status().message());
  } else if (!w->ca_file.empty() && !u.value().tls) {
    t.Error("ca_file", "only https:// webhooks use a ca_file");
  }
  using Format = admin::WebhookOptions::Format;
  t.Enum("format", &w->format, {{"json", Format::kJson}, {"slack", Format::kSlack}, {"teams", Format::kTeams}});
  if (!w->ca_file.empty() && ::access(w->ca_file.c_str(), R_OK) != 0) {
    t.Error("ca_file", fmt::format("cannot read {}", w->ca_file));
  }
  if (w->timeout.count() < 1) t.Error("timeout", "must be at least 1s");
  if (w->retry_initial.count() < 1) t.Error("retry_initial", "must be at least 1s");
  if (w->retry_max < w->retry_initial) t.Error("retry_max", "must not be shorter than retry_initial");
}

}  // namespace

void ReadAlerts(TomlTable& t, admin::AlertOptions* a) {
  t.Duration("interval", &a->interval);
  if (a->interval.count() < 100) t.Error("interval", "must be at least 100ms");
  bool defaults = true;
  t.Bool("default_rules", &defaults);
  if (!defaults) a->rules.clear();
  std::set<std::string> names;
  t.TableArray("rule", [&](TomlTable& r) {
    admin::AlertRule rule;
    ReadRule(r, &rule);
    if (!names.insert(rule.name).second) r.Error("name", fmt::format("a second rule named \"{}\"", rule.name));
    // A rule named like a built-in one replaces it.
    auto same = std::find_if(a->rules.begin(), a->rules.end(), [&](const auto& x) { return x.name == rule.name; });
    if (same != a->rules.end()) {
      *same = rule;
    } else {
      a->rules.push_back(rule);
    }
  });
  size_t n = 0;
  t.TableArray("webhook", [&](TomlTable& w) {
    admin::WebhookOptions hook;
    hook.name = fmt::format("webhook{}", ++n);
    ReadWebhook(w, &hook);
    a->webhooks.push_back(hook);
  });
}

}  // namespace sluice::control
