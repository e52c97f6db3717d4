#include "admin/webhook.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "common/log.h"

namespace sluice::admin {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

std::string Iso8601(int64_t ms) {
  time_t t = ms / 1000;
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Headline(const Notice& n, const std::string& host) {
  return fmt::format("[{}] {} on {}", n.firing ? "FIRING" : "RESOLVED", n.alert.Summary(), host);
}

}  // namespace


const char* ToString(WebhookOptions::Format f) {
  switch (f) {
    case WebhookOptions::Format::kJson: return "json";
    case WebhookOptions::Format::kSlack: return "slack";
    case WebhookOptions::Format::kTeams: return "teams";
  }
  return "json";
}

std::string WebhookBody(WebhookOptions::Format format, const Notice& n, const std::string& host) {
  const Alert& a = n.alert;
  if (format == WebhookOptions::Format::kSlack) {
    // Slack's incoming webhooks take `text` (mrkdwn); `attachments` add the colour bar.
    return json{{"text", Headline(n, host)},
                {"attachments", json::array({{{"color", n.firing ? "#d63333" : "#2e9e4f"},
                                              {"fields", json::array({{{"title", "severity"}, {"value", ToString(a.severity)}, {"short", true}},
                                                                      {{"title", "since"}, {"value", Iso8601(a.since_ms)}, {"short", true}}})},
                                              {"footer", "sluice " + a.Id()}}})}}
        .dump(-1, ' ', false, json::error_handler_t::replace);
  }
  if (format == WebhookOptions::Format::kTeams) {
    // The connector card that Teams' incoming webhooks render.
    return json{{"@type", "MessageCard"},
                {"@context", "https://schema.org/extensions"},
                {"summary", Headline(n, host)},
                {"themeColor", n.firing ? "D63333" : "2E9E4F"},
                {"title", Headline(n, host)},
                {"sections", json::array({{{"facts", json::array({{{"name", "severity"}, {"value", ToString(a.severity)}},
                                                                   {{"name", "since"}, {"value", Iso8601(a.since_ms)}},
                                                                   {{"name", "id"}, {"value", a.Id()}}})}}})}}
        .dump(-1, ' ', false, json::error_handler_t::replace);
  }
  json body = {{"id", a.Id()},
               {"status", n.firing ? "firing" : "resolved"},
               {"alert", a.rule},
               {"kind", ToString(a.kind)},
               {"instance", a.instance},
               {"severity", ToString(a.severity)},
               {"value", a.value},
               {"threshold", a.threshold},
               {"summary", a.Summary()},
               {"since", Iso8601(a.since_ms)},
               {"at", Iso8601(n.at_ms)},
               {"host", host}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

Webhook::Webhook(asio::io_context& io, WebhookOptions o, std::string host)
    : io_(io), o_(std::move(o)), host_(std::move(host)), wake_(io) {
  auto u = ParseUrl(o_.url);  // checked by the config already
  if (u.ok()) url_ = u.value();
  stats_.name = o_.name;
  stats_.url = o_.url;
  stats_.format = ToString(o_.format);
}

void Webhook::Start() { asio::co_spawn(io_, Run(), asio::detached); }

void Webhook::Post(const Notice& n) {
  std::string body = WebhookBody(o_.format, n, host_);
  {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(body));
    stats_.pending = pending_.size();
  }
  asio::post(io_, [this] { wake_.cancel(); });
}

void Webhook::Stop() {
  asio::post(io_, [this] {
    stopped_ = true;
    wake_.cancel();
  });
}

WebhookStats Webhook::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

asio::awaitable<void> Webhook::Run() {
  auto delay = std::chrono::duration_cast<std::chrono::steady_clock::duration>(o_.retry_initial);
  size_t attempts = 0;
  while (!stopped_) {
    std::string body;
    {
      std::lock_guard lock(mu_);
      if (!pending_.empty()) body = pending_.front();
    }
    boost::system::error_code ec;
    if (body.empty()) {
      wake_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    auto send = Send(body);
    Status s = co_await std::move(send);
    ++attempts;
    bool done = s.ok() || attempts >= o_.max_attempts;
    {
      std::lock_guard lock(mu_);
      if (s.ok()) {
        ++stats_.sent;
      } else {
        stats_.last_error = s.message();
        if (done) {
          ++stats_.dropped;
        } else {
          ++stats_.retries;
        }
      }
      if (done) pending_.pop_front();
      stats_.pending = pending_.size();
    }
    if (s.ok()) {
      log::Event("webhook sent").With("webhook", o_.name).With("attempts", static_cast<int64_t>(attempts)).Info();
    } else if (done) {
      log::Event("webhook dropped a notice").With("webhook", o_.name).With("error", s.message())
          .With("attempts", static_cast<int64_t>(attempts)).Error();
    } else {
      log::Event("webhook failed, will retry").With("webhook", o_.name).With("error", s.message())
          .With("retry_in_ms", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()))
          .Warn();
    }
    if (done) {
      attempts = 0;
      delay = o_.retry_initial;
      continue;
    }
    wake_.expires_after(delay);
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    delay = std::min<std::chrono::steady_clock::duration>(delay * 2, o_.retry_max);
  }
}

// One POST on a fresh connection (alerts are rare; no pool). 2xx is success.
// The URL of a chat webhook is its secret: https goes only to a server whose
// certificate verifies and names the host (system store or ca_file).
asio::awaitable<Status> Webhook::Send(std::string body) {
  if (url_.host.empty()) co_return Status::InvalidArgument("bad URL " + o_.url);
  HttpRequest r;
  r.method = "POST";
  r.url = url_;
  r.headers = o_.headers;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  r.timeout = o_.timeout;
  r.body_limit = 64 << 10;  // the reply is only looked at for its status
  r.ca_file = o_.ca_file;
  r.tls_policy = o_.tls_policy;
  if (!o_.proxy.empty()) {
    auto p = ParseUrl(o_.proxy);  // checked by the config already
    if (p.ok()) r.proxy = p.value();
  } else {
    auto p = ProxyFor(url_);
    if (!p.ok()) co_return p.status();
    r.proxy = p.value();
  }
  auto fetch = Fetch(std::move(r));
  Result<HttpResponse> reply = co_await std::move(fetch);
  if (!reply.ok()) co_return reply.status();
  if (reply.value().status / 100 != 2) co_return Status::IoError(fmt::format("HTTP {}", reply.value().status));
  co_return Status::Ok();
}

}  // namespace sluice::admin
