#include "admin/webhook.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>

#include "common/tls_policy.h"
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/timed_stream.h"
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
asio::awaitable<Status> Webhook::Send(std::string body) {
  if (url_.host.empty()) co_return Status::InvalidArgument("bad URL " + o_.url);
  boost::system::error_code ec;
  auto connect = ConnectTimed(url_.host, url_.port, o_.timeout, ec);
  std::unique_ptr<TimedStream> s = co_await std::move(connect);
  if (ec) co_return Status::IoError(fmt::format("connect {}:{}: {}", url_.host, url_.port, ec.message()));
  if (url_.tls) {
    // The URL of a chat webhook is its secret: it goes only to a server
    // whose certificate verifies and names the host (system store or
    // ca_file), as sluicectl does.
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ApplyTlsPolicy(ctx, o_.tls_policy).ok();
    if (o_.ca_file.empty()) {
      ctx.set_default_verify_paths(ec);
    } else {
      ctx.load_verify_file(o_.ca_file, ec);
    }
    ctx.set_verify_mode(asio::ssl::verify_peer);
    auto hs = s->Handshake(ctx, asio::ssl::stream_base::client, o_.timeout, ec, url_.host, url_.host);
    co_await std::move(hs);
    if (ec) {
      std::string why = s->TlsVerifyError();
      co_return Status::IoError("TLS: " + (why.empty() ? ec.message() : why));
    }
  }
  std::string request = fmt::format(
      "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sluice\r\nContent-Type: application/json\r\n"
      "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
      url_.path, url_.host, body.size(), body);
  auto write = s->WriteAll(request, o_.timeout, ec);
  co_await std::move(write);
  if (ec) co_return Status::IoError("write: " + ec.message());
  auto read = s->ReadLine(o_.timeout, 8192, ec);
  std::string status_line = co_await std::move(read);
  if (ec) co_return Status::IoError("no reply: " + ec.message());
  // "HTTP/1.1 204 No Content"
  size_t sp = status_line.find(' ');
  if (status_line.rfind("HTTP/", 0) != 0 || sp == std::string::npos || status_line.size() < sp + 4) {
    co_return Status::IoError("not an HTTP reply: " + status_line.substr(0, 80));
  }
  if (status_line[sp + 1] != '2') co_return Status::IoError("HTTP " + status_line.substr(sp + 1, 80));
  co_return Status::Ok();
}

}  // namespace sluice::admin
