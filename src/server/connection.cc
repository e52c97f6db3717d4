#include "server/connection.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <deque>
#include <optional>

#include "common/log.h"
#include "common/offload.h"
#include "common/timed_stream.h"
#include "directory/directory.h"
#include "mail/address.h"
#include "server/connectors.h"
#include "server/content_scan.h"
#include "server/held_scans.h"
#include "server/deadlines.h"
#include "server/edge_metrics.h"
#include "server/tls.h"
#include "queue/intake.h"
#include "spool/spool.h"
#include "mail/clock.h"

namespace sluice::server {
namespace {

// Whether a comma list holds `name`; no temporary strings, as it runs for
// every recipient of every message.
bool Listed(const std::string& list, std::string_view name) {
  for (size_t pos = 0; pos < list.size();) {
    size_t end = list.find(',', pos);
    if (end == std::string::npos) end = list.size();
    if (list.compare(pos, end - pos, name) == 0) return true;
    pos = end + 1;
  }
  return false;
}

// Appends `name` to a comma list unless it is there already.
void AddOnce(std::string& list, std::string_view name) {
  if (Listed(list, name)) return;
  if (!list.empty()) list += ',';
  list += name;
}

// One line per refusal would let a flood write the log; a second's worth
// is enough to say who is being held back.
void RateLog(const std::string& client, const char* scope, const std::string& key, const RateVerdict& v) {
  static log::RateLimit once_a_second{std::chrono::seconds(1)};
  auto held_back = once_a_second.Allow();
  if (!held_back) return;
  log::Event("rate limited").With("client", client).With("scope", scope).With("key", key)
      .With("retry_after_ms", static_cast<int64_t>(v.retry_after.count()))
      .With("also_refused", static_cast<int64_t>(*held_back)).Warn();
}

namespace asio = boost::asio;

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Keeps a counter right on every path out of a scope.
struct Count {
  std::atomic<size_t>& n;
  explicit Count(std::atomic<size_t>& c) : n(c) { ++n; }
  ~Count() { --n; }
};

// Holds one slot of the per-client-address limit.
class IpSlot {
 public:
  IpSlot(EdgeState& s, std::string ip) : s_(s), ip_(std::move(ip)) {
    std::lock_guard lock(s_.mu);
    count_ = ++s_.per_ip[ip_];
  }
  ~IpSlot() {
    std::lock_guard lock(s_.mu);
    if (--s_.per_ip[ip_] == 0) s_.per_ip.erase(ip_);
  }
  size_t count() const { return count_; }

 private:
  EdgeState& s_;
  std::string ip_;
  size_t count_;
};

// Enters and leaves stress as sessions cross the high-water mark, with a
// tenth of it as hysteresis so the edge does not flap; logs each change.
// `leaving`: the calling session is on its way out.
void UpdateStress(EdgeState& state, const ServerOptions& o, EdgeMetrics& metrics, bool leaving = false) {
  const double high = o.stress_threshold * static_cast<double>(state.session_limit.load());
  const double n = static_cast<double>(state.sessions.load()) - (leaving ? 1 : 0);
  if (n > high && !state.stressed.exchange(true)) {
    metrics.OnStress(true);
    log::Event("edge under stress").With("sessions", static_cast<int64_t>(n))
        .With("timeout_s", static_cast<int64_t>(o.stress_timeout.count())).Warn();
    if (state.wake_reads) state.wake_reads();  // idle sessions take the shorter deadline now
  } else if (n < 0.9 * high && state.stressed.exchange(false)) {
    metrics.OnStress(false);
    log::Event("edge stress over").With("sessions", static_cast<int64_t>(n)).Info();
  }
}

// This session's share of the content budget, given back on every path out.
class BudgetShare {
 public:
  BudgetShare(BodyBudget& b, EdgeMetrics& m) : budget_(b), metrics_(m) {}
  ~BudgetShare() { Set(0); }
  void Set(size_t bytes) {
    if (bytes == held_) return;
    if (held_ == 0) ticket_ = budget_.Enter();
    if (bytes == 0) budget_.Leave(ticket_);
    budget_.Charge(static_cast<int64_t>(bytes) - static_cast<int64_t>(held_));
    held_ = bytes;
    metrics_.buffered_bytes.store(budget_.used(), std::memory_order_relaxed);
  }
  // Waiting for room: the oldest holder waits `wait`, the others a quarter of it.
  std::chrono::steady_clock::duration Patience(std::chrono::steady_clock::duration wait) const {
    return held_ > 0 && budget_.Oldest(ticket_) ? wait : wait / 4;
  }

 private:
  BodyBudget& budget_;
  EdgeMetrics& metrics_;
  size_t held_ = 0;
  uint64_t ticket_ = 0;
};

// Registers a stream with its worker for the lifetime of the connection.
struct Registered {
  WorkerConnections& w;
  TimedStream* s;
  Registered(WorkerConnections& worker, TimedStream* stream) : w(worker), s(stream) { w.streams.insert(s); }
  ~Registered() { w.streams.erase(s); }
};

}  // namespace

// `held` keeps the settings the session started with for its whole life,
// whatever a reload does meanwhile.
asio::awaitable<void> RunConnection(asio::ip::tcp::socket socket, std::shared_ptr<const ListenerContext> held,
                                    Stages stages, EdgeState& state, WorkerConnections& worker) {
  const ListenerContext& listener = *held;
  const ServerOptions& options = *listener.options;
  Count open(state.sessions);
  struct Gauge {
    EdgeMetrics& m;
    explicit Gauge(EdgeMetrics& x) : m(x) { ++m.open_sessions; }
    ~Gauge() { --m.open_sessions; }
  } gauge(stages.metrics);
  stages.metrics.OnConnection();
  UpdateStress(state, options, stages.metrics);
  boost::system::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  const std::string client = ec ? "unknown" : peer.address().to_string();
  const uint16_t client_port = ec ? 0 : peer.port();
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  TimedStream stream(std::move(socket));
  Registered registered(worker, &stream);
  IpSlot ip_slot(state, client);
  struct Unstress {
    EdgeState& s;
    const ServerOptions& o;
    EdgeMetrics& m;
    ~Unstress() { UpdateStress(s, o, m, /*leaving=*/true); }
  } unstress{state, options, stages.metrics};

  // Over a connection limit: say so (RFC 5321 §3.1 allows 421 as the
  // greeting) and close, before any other work.
  const size_t limit = state.session_limit.load();
  if (state.sessions > limit || ip_slot.count() > options.max_connections_per_ip) {
    log::Event("connection refused").With("client", client).With("reason",
        state.sessions > limit ? "max_connections" : "max_connections_per_ip").Warn();
    const std::string refusal = smtp::replies::TooManyConnections().text;
    stages.metrics.OnReply(refusal);
    co_await stream.WriteAll(refusal, std::chrono::seconds(5), ec);
    stream.Close();
    co_return;
  }

  // The connection filter, then the client's connection rate: a refused
  // client costs no lookup, no buffer and no spool write.
  const bool blocked = options.protection.global.Blocks(client);
  if (!blocked && options.rate_limits.client_connections.on()) {
    auto take_rate = stages.rates.Take("connections:" + client, options.rate_limits.client_connections);
    RateVerdict rate = co_await std::move(take_rate);
    if (!rate.allowed) {
      stages.metrics.OnRefused(EdgeMetrics::Refusal::kConnectionRate);
      RateLog(client, "client_connections", client, rate);
      const smtp::Reply refusal = smtp::replies::ConnectionRateLimited();
      stages.metrics.OnReply(refusal.code, refusal.enhanced);
      co_await stream.WriteAll(refusal.text, std::chrono::seconds(5), ec);
      stream.Close();
      co_return;
    }
  }
  smtp::Session session(listener.session, smtp::ClientInfo{client});
  if (blocked) {
    stages.metrics.OnRefused(EdgeMetrics::Refusal::kBlocked);
    log::Event("connection blocked").With("client", client).Info();
    session.RefuseService(smtp::replies::Blocked());
  }
  DeadlineOptions limits{options.command_timeout, options.data_timeout, options.min_data_rate,
                         options.max_session_time, options.stress_timeout};
  Deadlines deadlines(limits, std::chrono::steady_clock::now());
  BudgetShare share(state.budget, stages.metrics);

  std::string charged_tenants;  // tenants whose rate this transaction already took from
  PeerIdentity identity{client, false, std::nullopt};  // for the connectors; the certificate after STARTTLS
  MailDecision mail;                               // the connectors' word on this transaction
  std::deque<smtp::Action> todo;
  auto take = [&todo](std::vector<smtp::Action> actions) {
    for (auto& a : actions) todo.push_back(std::move(a));
  };
  std::string out;
  auto flush = [&]() -> asio::awaitable<bool> {
    if (out.empty()) co_return true;
    co_await stream.WriteAll(out, options.command_timeout, ec);
    out.clear();
    co_return !ec;
  };

  take(session.Start());
  // Small while the session idles (10,000 idle connections should not
  // cost 16 KiB each); grown when a read fills it, as a message streams in.
  constexpr size_t kIdleBuffer = 2 * 1024;
  std::vector<char> buf(kIdleBuffer);
  // What the session holds for its message, charged to the edge's budget.
  auto holding = [&] { return session.buffered_bytes() + (buf.size() > kIdleBuffer ? buf.size() : 0); };
  // Held from end of data until the reply has been written, so a shutdown
  // does not cut off a 250 that a synced commit earned.
  std::optional<Count> storing;
  bool was_in_data = false;
  bool done = false;
  while (!done) {
    while (!todo.empty() && !done) {
      smtp::Action action = std::move(todo.front());
      todo.pop_front();
      if (auto* reply = std::get_if<smtp::Reply>(&action)) {
        out += reply->text;
        deadlines.Answered(std::chrono::steady_clock::now());
        stages.metrics.OnReply(reply->code, reply->enhanced);
        if (reply->code >= 400 && reply->code != 421) {
          log::Event("smtp reply").With("client", client)
              .With("reply", reply->text.substr(0, reply->text.size() - 2)).Info();
        }
      } else if (auto* lookup = std::get_if<smtp::LookupRecipient>(&action)) {
        // The client's recipient rate counts every RCPT, before the lookup
        // it would cost.
        RateVerdict per_client;
        if (options.rate_limits.client_recipients.on()) {
          auto take_rate = stages.rates.Take("recipients:" + client, options.rate_limits.client_recipients);
          per_client = co_await std::move(take_rate);
        }
        directory::LookupResult r;
        if (!per_client.allowed) {
          stages.metrics.OnRefused(EdgeMetrics::Refusal::kRecipientRate);
          RateLog(client, "client_recipients", client, per_client);
          r = directory::LookupResult::TryLater(directory::Reason::kClientRateLimited, "");
        } else {
          auto op = stages.directory.Resolve(lookup->address);  // see Offload on temporaries
          r = co_await std::move(op);
        }
        const bool relayed = RelayOutbound(mail, lookup->address, r);
        if (r.found == directory::Found::kYes && !relayed && options.protection.BlocksTenant(r.route.tenant, client)) {
          stages.metrics.OnRefused(EdgeMetrics::Refusal::kTenantBlocked);
          log::Event("recipient blocked for this client").With("client", client).With("tenant", r.route.tenant).Info();
          r = directory::LookupResult::No(directory::Reason::kBlocked, r.forest);
        }
        // A tenant's rate counts messages, not recipients: its first
        // recipient of a transaction takes one, the others ride along.
        if (r.found == directory::Found::kYes && !relayed) {
          const RateLimit& limit = options.rate_limits.ForTenant(r.route.tenant);
          if (limit.on() && !Listed(charged_tenants, r.route.tenant)) {
            auto take_rate = stages.rates.Take("tenant:" + r.route.tenant, limit);
            RateVerdict verdict = co_await std::move(take_rate);
            if (verdict.allowed) {
              AddOnce(charged_tenants, r.route.tenant);
            } else {
              stages.metrics.OnRefused(EdgeMetrics::Refusal::kTenantRate);
              RateLog(client, "tenant", r.route.tenant, verdict);
              r = directory::LookupResult::TryLater(directory::Reason::kRateLimited, r.forest);
            }
          }
        }
        take(session.Resume(r));
      } else if (auto* admit = std::get_if<smtp::AdmitMail>(&action)) {
        // Disk space first, as Postfix's smtpd checks queue_minfree at MAIL.
        Status space = stages.intake.CheckRoom(admit->declared_size);
        smtp::AdmitResult verdict;
        if (space.code() == Status::Code::kNoSpace) {
          verdict.refusal = smtp::replies::StorageFull();
        } else if (space.code() == Status::Code::kUnavailable) {
          verdict.refusal = smtp::replies::Draining();
        } else if (!space.ok()) {
          verdict.refusal = smtp::replies::StorageError();
        } else if (options.rate_limits.client.on()) {
          auto take_rate = stages.rates.Take("client:" + client, options.rate_limits.client);
          RateVerdict rate = co_await std::move(take_rate);
          if (!rate.allowed) {
            verdict.refusal = smtp::replies::ClientRateLimited();
            stages.metrics.OnRefused(EdgeMetrics::Refusal::kClientRate);
            RateLog(client, "client", client, rate);
          }
        }
        // The connectors: who this client is, and what its sender may do.
        mail = MailDecision{};
        if (verdict.refusal.code == 0 && !options.protection.connectors.empty()) {
          const std::string domain = admit->sender.empty() ? std::string() : mail::DomainOf(admit->sender);
          mail = DecideMail(options.protection.connectors, identity, admit->sender,
                            domain.empty() ? domain : stages.directory.TenantOfDomain(domain));
          if (mail.refusal.code != 0) {
            verdict.refusal = mail.refusal;
            stages.metrics.OnRefused(mail.refusal.code == 530 ? EdgeMetrics::Refusal::kConnectorTls
                                                              : EdgeMetrics::Refusal::kConnectorSender);
          }
        }
        charged_tenants.clear();  // a new transaction
        take(session.Resume(verdict));
      } else if (auto* store = std::get_if<smtp::StoreMessage>(&action)) {
        storing.emplace(state.storing);
        if (!co_await flush()) break;  // earlier replies go out while we sync
        auto t0 = std::chrono::steady_clock::now();
        // The envelope goes to the intake; the log reads it first. Which
        // forests and tenants the message touched, and which of them ran
        // under a flight: a flight's reach is checked from these lines.
        if (mail.connector) store->envelope.connector = mail.connector->name;
        const Envelope& envelope = store->envelope;
        std::string forests, tenants, flight;
        for (const auto& route : envelope.routes) {
          AddOnce(forests, route.forest);
          AddOnce(tenants, route.tenant);
          if (route.flight) AddOnce(flight, route.tenant);
        }
        log::Event event("smtp transaction");
        if (options.config_version > 0) event.With("config", options.config_version);
        if (!flight.empty()) event.With("flight", flight);
        event.With("client", client)
            .With("listener", listener.name)
            .With("helo", envelope.helo)
            .With("from", envelope.sender)
            .With("nrcpt", static_cast<int64_t>(envelope.routes.size()))
            .With("forests", forests)
            .With("tenants", tenants)
            .With("size", static_cast<int64_t>(store->body.size()))
            .With("tls", stream.TlsDescription());
        if (mail.connector) {
          event.With("connector", mail.connector->name);
          stages.metrics.OnConnector(mail.connector->name, static_cast<size_t>(std::count_if(
              envelope.routes.begin(), envelope.routes.end(), [](const RecipientRoute& r) { return r.forest.empty(); })));
        }
        // The content filters, while the sender waits for its reply: a
        // reject or a tempfail is the reply, and nothing is stored.
        queue::Disposition disposition;
        bool held = false;
        std::vector<filter::ChainLink> chain = ChainFor(options.protection, stages.filters, envelope);
        if (!chain.empty()) {
          auto input = std::make_shared<filter::ScanInput>();
          input->hostname = listener.session->hostname;
          input->client_address = client;
          input->client_port = client_port;
          input->helo = envelope.helo;
          input->sender = envelope.sender;
          input->recipients = envelope.rcpt_to;
          input->scan_id = spool::NewQueueId();
          input->tls = stream.TlsDescription();
          auto content = std::make_shared<std::string>(std::move(store->body));
          input->content = content;
          auto scan = filter::ScanChain(std::move(chain), input, AllAllow(options.protection, envelope));
          filter::ScanOutcome outcome = co_await std::move(scan);
          const std::string scan_id = input->scan_id;
          input.reset();  // the filters are done with the content: it can move on
          store->body = outcome.content ? *outcome.content : std::move(*content);
          content.reset();
          ApplySpamThreshold(options.protection, envelope, outcome);
          event.With("scan_id", scan_id).With("scan", ToString(outcome.action));
          if (!outcome.filter.empty()) event.With("filter", outcome.filter);
          smtp::Reply verdict;
          using A = filter::ScanOutcome::Action;
          switch (outcome.action) {
            case A::kReject: verdict = smtp::replies::FromFilter(outcome.reply, true); break;
            case A::kTempFail: verdict = smtp::replies::FromFilter(outcome.reply, false); break;
            case A::kHold: disposition.quarantine = PendingReason(outcome); break;  // 250; scanned later
            case A::kDiscard: verdict = smtp::replies::Queued(scan_id); break;  // as Postfix: the sender is not told
            case A::kQuarantine: disposition.quarantine = QuarantineReason(outcome); break;
            case A::kAccept: break;
          }
          stages.metrics.OnScan(ToString(outcome.action));
          if (verdict.code != 0) {  // nothing committed
            event.With("result", verdict.text.substr(0, verdict.text.size() - 2)).With("scan_ms", MsSince(t0)).Info();
            take(session.Resume(smtp::StoreResult{Status::Ok(), "", false, verdict}));
            continue;
          }
          // Held mail gets its verdict header with its verdict (server/held_scans.h).
          held = outcome.action == A::kHold;
          if (!held) disposition.fields = VerdictField(client, envelope.connector, outcome);
          if (!disposition.quarantine.empty()) event.With(held ? "held" : "quarantine", disposition.quarantine);
          event.With("scan_ms", MsSince(t0));
        }
        // The commit's own time, without the scan's: spool-slow must not
        // fire because a filter was slow.
        const auto t_commit = std::chrono::steady_clock::now();
        auto accept = stages.intake.Accept(std::move(store->envelope), std::move(store->body), listener.shadow,
                                           std::move(disposition));
        queue::Accepted accepted = co_await std::move(accept);
        const Status& s = accepted.status;
        if (held && s.ok() && stages.held) stages.held->Add(accepted.id);
        stages.metrics.OnCommit(MsSince(t_commit));
        stages.metrics.OnTransaction(s.ok());
        if (listener.shadow != queue::ShadowMode::kOff && !accepted.shadow_peer.empty()) {
          stages.metrics.OnShadow(accepted.shadowed, accepted.not_redundant);
          event.With("shadow", accepted.shadowed ? accepted.shadow_peer : "none: " + accepted.shadow_peer);
        }
        event.With("queue_id", s.ok() ? accepted.id : std::string("-"))
            .With("result", s.ok() ? "queued" : s.ToString())
            .With("commit_ms", MsSince(t_commit))
            .Info();
        take(session.Resume(smtp::StoreResult{s, accepted.id, accepted.not_redundant, {}}));
      } else if (std::holds_alternative<smtp::StartTls>(action)) {
        bool ok = listener.tls != nullptr;
        if (ok) ok = co_await flush();
        if (ok) {
          // Built in its own statement: see common/offload.h on temporaries.
          auto handshake = stream.Handshake(*listener.tls, asio::ssl::stream_base::server,
                                            options.tls_handshake_timeout, ec);
          co_await std::move(handshake);
          ok = !ec;
          if (!ok) log::Event("tls handshake failed").With("client", client).With("error", ec.message()).Info();
        }
        if (ok) {
          identity.tls = true;
          identity.certificate = ReadPeerCertificate(stream.tls_handle());
          if (identity.certificate) {
            log::Event("tls client certificate").With("client", client).With("subject", identity.certificate->subject)
                .With("sha256", identity.certificate->fingerprint).With("verified", identity.certificate->verified ? "yes" : "no")
                .Info();
          }
        }
        take(session.Resume(smtp::TlsResult{ok}));
      } else if (std::holds_alternative<smtp::Close>(action)) {
        co_await flush();
        done = true;
      }
    }
    if (done || !co_await flush()) break;
    storing.reset();
    // Shutting down: an idle session is told so now; one in a transaction
    // may finish it, unless the grace period is over.
    if (state.forced || (state.draining && !session.in_transaction())) {
      take(session.Shutdown());
      continue;
    }
    auto now = std::chrono::steady_clock::now();
    const bool in_data = session.in_data();
    if (in_data && !was_in_data) deadlines.DataStarted(now);
    was_in_data = in_data;
    share.Set(holding());
    // Over the content budget: stop reading (the client's TCP window
    // closes) until other sessions release, then give up the message.
    if (session.keeping_content() && state.budget.Over(buf.size())) {
      stages.metrics.OnBufferWait();
      const auto began = now;
      asio::steady_timer pause(stream.socket().get_executor());
      while (state.budget.Over(buf.size()) && std::chrono::steady_clock::now() < began + share.Patience(options.buffer_wait) &&
             !state.draining) {
        pause.expires_after(std::chrono::milliseconds(20));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (state.budget.Over(buf.size())) {
        session.DropContent(smtp::replies::BufferFull());
        buf.resize(kIdleBuffer);
        buf.shrink_to_fit();
        share.Set(holding());
        stages.metrics.OnBufferRefused();
        log::Event("message buffer full").With("client", client)
            .With("buffered", static_cast<int64_t>(state.budget.used()))
            .With("limit", static_cast<int64_t>(state.budget.limit())).Warn();
      }
      now = std::chrono::steady_clock::now();
    }
    const bool stressed = state.stressed.load(std::memory_order_relaxed);
    const Deadlines::Next next = deadlines.NextRead(now, in_data, stressed);
    size_t n = 0;
    if (next.timeout > Deadlines::Clock::duration::zero()) {
      n = co_await stream.ReadSome(buf.data(), buf.size(), next.timeout, ec);
    } else {
      ec = asio::error::timed_out;
    }
    // Woken to shut down, or to take the shorter deadlines of stress.
    if (ec == asio::error::operation_aborted && (state.draining || state.stressed.load() != stressed)) continue;
    if (ec) {
      if (ec == asio::error::timed_out) {
        // RFC 5321 §4.5.3.2: say why before closing.
        const char* kind = next.kind == Deadlines::Kind::kSession ? "session"
                           : next.kind == Deadlines::Kind::kData  ? "data"
                                                                  : "command";
        stages.metrics.OnTimeout(kind, stressed);
        out = next.kind == Deadlines::Kind::kSession ? smtp::replies::SessionTimeLimit().text
                                                     : smtp::replies::CommandTimeout().text;
        stages.metrics.OnReply(out);
        log::Event("smtp timeout").With("client", client).With("deadline", kind)
            .With("stress", stressed ? "yes" : "no").Info();
        co_await flush();
      }
      if (session.in_transaction()) {
        log::Event("smtp connection lost").With("client", client).With("error", ec.message()).Info();
      }
      break;
    }
    if (in_data) deadlines.DataRead(std::chrono::steady_clock::now(), n);
    take(session.Feed(std::span<const char>(buf.data(), n)));
    // Grow the buffer while a message streams in, unless memory is tight.
    if (n == buf.size() && buf.size() < 64 * 1024 && !state.budget.Over(4 * buf.size())) {
      buf.resize(std::min<size_t>(buf.size() * 4, 64 * 1024));
    }
  }
  stream.Close();
}

}  // namespace sluice::server
