// Outbound SMTP (RFC 5321) and LMTP (RFC 2033) to one next hop: pooled
// connections carrying several messages, STARTTLS per the destination's
// policy, and the adaptive throttle. mx.cc puts one of these per MX host.
#include <fmt/format.h>

#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <mutex>

#include "common/bulkhead.h"
#include "common/timed_stream.h"
#include "delivery/commands.h"
#include "delivery/delivery.h"
#include "delivery/outcomes.h"
#include "delivery/throttle.h"
#include "mail/content.h"
#include "mail/reply_line.h"
#include "common/log.h"
#include "mail/ascii.h"

namespace sluice::delivery {
namespace {

namespace asio = boost::asio;

constexpr std::string_view kDataCommand = "DATA\r\n";

struct ServerReply {
  int code = 0;       // 0: no valid reply (connection lost, timeout, garbage)
  std::string text;   // all lines joined by a space, with the code of the first
  std::vector<std::string> lines;  // the text of each line, without the code
};

// One whole reply, within one deadline for all of its lines (a next hop
// that trickles continuation lines does not get the timeout again per
// line) and within ReplyLimits (an endless reply is cut off). Code 0: no
// valid reply; `text` says why.
asio::awaitable<ServerReply> ReadReply(TimedStream& s, std::chrono::seconds timeout,
                                       boost::system::error_code& ec) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  mail::ReplyReader reader;
  while (true) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      ec = asio::error::timed_out;
      co_return ServerReply{0, "connection lost: reply timed out", {}};
    }
    std::string line = co_await s.ReadLine(left, 4096, ec);
    if (ec) co_return ServerReply{0, fmt::format("connection lost: {}", ec.message()), {}};
    switch (reader.Add(line)) {
      case mail::ReplyReader::State::kMore: continue;
      case mail::ReplyReader::State::kDone:
        co_return ServerReply{reader.code(), reader.text(), reader.lines()};
      case mail::ReplyReader::State::kMalformed:
      case mail::ReplyReader::State::kTooLong:
        ec = asio::error::message_size;  // the connection is not read again
        co_return ServerReply{0, reader.error(), {}};
    }
  }
}


// An open connection to the next hop, greeted and ready for MAIL.
struct Connection {
  std::unique_ptr<TimedStream> stream;
  std::string stream_error;  // why there is no stream
  std::string tls;           // protocol and cipher, empty when in the clear
  bool eightbit = false, utf8 = false, dsn = false;
  bool pipelining = false;  // RFC 2920: MAIL, RCPT and DATA go in one write
  size_t messages = 0;
  std::chrono::steady_clock::time_point idle_since;
};

// How one attempt went: per-recipient outcomes, whether the destination
// itself is in trouble (for the throttle), and whether the connection can
// carry another message.
struct Attempt {
  std::vector<Outcome> outcomes;
  bool trouble = false;
  std::string trouble_why;
  bool reusable = false;
  bool stale_connection = false;  // a reused connection had gone away before MAIL
};

class SmtpDelivery final : public Delivery {
 public:
  SmtpDelivery(DestinationOptions options, std::string hostname)
      : o_(std::move(options)),
        hostname_(std::move(hostname)),
        lmtp_(o_.kind == DestinationKind::kLmtp),
        throttle_(ThrottleOptions{o_.max_concurrency, o_.backoff_min, o_.backoff_max}),
        slots_(o_.max_concurrency, 1'000'000, std::chrono::hours(1)),
        tls_ctx_(asio::ssl::context::tls_client) {
    // Checked by the config already: an error here leaves OpenSSL's defaults.
    ApplyTlsPolicy(tls_ctx_, o_.tls_policy).ok();
    if (verify()) {
      boost::system::error_code ec;
      if (o_.tls_ca_file.empty()) {
        tls_ctx_.set_default_verify_paths(ec);
      } else {
        tls_ctx_.load_verify_file(o_.tls_ca_file, ec);  // checked by the config already
      }
      tls_ctx_.set_verify_mode(asio::ssl::verify_peer);
    } else {
      tls_ctx_.set_verify_mode(asio::ssl::verify_none);
    }
  }

  asio::awaitable<std::vector<Outcome>> Deliver(const Job& job) override {
    const size_t n = job.recipients.size();
    if (throttle_.Paused(std::chrono::steady_clock::now())) {
      // Backing off: no connection at all until the window closes.
      auto snap = throttle_.snapshot(std::chrono::steady_clock::now());
      Outcome o = Said(Condition::kBackingOff, fmt::format("{} is backing off after: {}", o_.name, snap.last_trouble));
      o.retry_after = std::chrono::milliseconds(static_cast<int64_t>(snap.backoff_ms) + 1);
      co_return Count(std::vector<Outcome>(n, o));
    }
    auto acquire = slots_.Acquire();  // see common/offload.h on temporaries
    Permit slot = co_await std::move(acquire);  // the wait is an hour long: in practice it is granted
    const auto started = std::chrono::steady_clock::now();
    Attempt a;
    std::string tls_used;
    for (int tries = 0; tries < 2; ++tries) {
      // The retry after a stale connection always opens a fresh one.
      std::unique_ptr<Connection> c = tries == 0 ? TakeIdle() : nullptr;
      bool reused = c != nullptr;
      if (!c) {
        auto connect = Open();
        c = co_await std::move(connect);
      }
      if (!c->stream) {  // Open() failed; its outcome says why
        a.outcomes.assign(n, Outcome{Outcome::Kind::kDeferred, c->stream_error});
        a.trouble = true;
        a.trouble_why = c->stream_error;
        break;
      }
      if (reused) ++reused_;
      auto transact = Transact(*c, job);
      a = co_await std::move(transact);
      tls_used = c->tls;
      if (a.reusable && ++c->messages < o_.messages_per_connection) {
        GiveIdle(std::move(c));
      } else if (c->stream) {
        boost::system::error_code ec;
        ServerReply bye = co_await Command(*c->stream, "QUIT\r\n", ec);
        (void)bye;
        c->stream->Close();
      }
      if (!(reused && a.stale_connection)) break;
      // A reused connection had been closed by the next hop (it restarted
      // or timed us out): that is no trouble of the destination's, and its
      // other idle connections are most likely gone too.
      CloseIdle();
    }
    if (a.trouble) {
      throttle_.OnTrouble(started, std::chrono::steady_clock::now(), a.trouble_why);
    } else {
      throttle_.OnSuccess();
    }
    ApplyLimit();
    slot.Release();
    for (auto& o : a.outcomes) o.remote = o_.host;
    for (auto& o : a.outcomes) o.tls = tls_used;
    co_return Count(std::move(a.outcomes));
  }

  void CloseIdle() override {
    std::lock_guard lock(mu_);
    for (auto& c : idle_) c->stream->Close();
    idle_.clear();
  }

  Status SetConcurrency(const std::string&, size_t limit) override {
    {
      std::lock_guard lock(mu_);
      max_concurrency_ = limit;
    }
    throttle_.SetMaxConcurrency(limit);
    ApplyLimit();
    log::Event("destination limit").With("destination", o_.name).With("limit", static_cast<int64_t>(limit)).Info();
    return Status::Ok();
  }

  Status PauseDestination(const std::string&, std::chrono::milliseconds pause, const std::string& why) override {
    const auto now = std::chrono::steady_clock::now();
    throttle_.PauseUntil(now + pause, now, why);
    ApplyLimit();
    return Status::Ok();
  }

  Status SetFleetShare(const std::string&, std::optional<size_t> share) override {
    {
      std::lock_guard lock(mu_);
      fleet_share_ = share;
    }
    ApplyLimit();
    return Status::Ok();
  }

  std::vector<DestinationStats> Stats() override {
    auto t = throttle_.snapshot(std::chrono::steady_clock::now());
    auto b = slots_.snapshot();
    DestinationStats s;
    s.name = o_.name;
    s.kind = lmtp_ ? "lmtp" : "smtp";
    s.concurrency_limit = b.limit;
    s.in_flight = b.in_flight;
    s.queued = b.queued;
    {
      std::lock_guard lock(mu_);
      s.max_concurrency = max_concurrency_;
      s.fleet_share = fleet_share_;
    }
    s.breaker = t.state;
    s.backoff_ms = t.backoff_ms;
    s.last_trouble = t.last_trouble;
    s.delivered = delivered_;
    s.deferred = deferred_;
    s.failed = failed_;
    s.connections = connections_;
    s.reused = reused_;
    return {s};
  }

 private:
  // The slots follow the throttle, within the fleet's block if there is one.
  void ApplyLimit() {
    size_t limit = throttle_.limit();
    {
      std::lock_guard lock(mu_);
      if (fleet_share_) limit = std::min(limit, *fleet_share_);
    }
    slots_.SetLimit(limit);
  }

  std::vector<Outcome> Count(std::vector<Outcome> outcomes) {
    for (const auto& o : outcomes) {
      ++(o.kind == Outcome::Kind::kDelivered ? delivered_ : o.kind == Outcome::Kind::kFailed ? failed_ : deferred_);
    }
    return outcomes;
  }

  std::unique_ptr<Connection> TakeIdle() {
    std::lock_guard lock(mu_);
    auto now = std::chrono::steady_clock::now();
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (now - c->idle_since < o_.idle_connection) return c;
      c->stream->Close();  // idle too long: the server may have dropped it
    }
    return nullptr;
  }

  void GiveIdle(std::unique_ptr<Connection> c) {
    c->idle_since = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
  }

  // Connects, reads the greeting and says EHLO/LHLO. On failure the
  // connection has no stream and stream_error says what happened.
  asio::awaitable<std::unique_ptr<Connection>> Open();

  // One message on an open connection (below, step by step).
  struct Transaction {
    Transaction(Connection& conn, const Job& j) : c(conn), job(j), s(*conn.stream) {}
    Connection& c;
    const Job& job;
    TimedStream& s;
    size_t n = job.recipients.size();
    Commands commands;
    bool pipelined = false;
    boost::system::error_code ec;
    std::vector<Outcome> out;     // per job recipient, as the steps learn it
    std::vector<size_t> accepted;  // positions in job.recipients that RCPT took
    Attempt a;
  };
  asio::awaitable<Attempt> Transact(Connection& c, const Job& job);
  asio::awaitable<bool> Mail(Transaction& t);
  asio::awaitable<bool> Rcpts(Transaction& t);
  asio::awaitable<void> NoRecipients(Transaction& t);
  asio::awaitable<bool> Data(Transaction& t);
  asio::awaitable<void> EndOfData(Transaction& t);
  void Lost(Transaction& t, const char* step, const ServerReply& r);

  bool verify() const { return o_.tls == DestinationOptions::Tls::kRequired && o_.tls_verify; }
  // Upgrades an open, greeted connection per the destination's TLS policy.
  // Returns an error reply for stream_error, or empty when the connection
  // can carry mail.
  asio::awaitable<std::string> StartTls(Connection& c, bool offered);
  // Reads the EHLO keywords the client cares about.
  static void ReadCapabilities(const ServerReply& r, Connection& c, bool* starttls);

  // Sends one command line and reads its reply. Takes a view: a temporary
  // string argument inside co_await trips g++ 12 (see common/offload.h).
  asio::awaitable<ServerReply> Command(TimedStream& s, std::string_view line,
                                       boost::system::error_code& ec) {
    co_await s.WriteAll(line, o_.reply_timeout, ec);
    if (ec) co_return ServerReply{0, fmt::format("write failed: {}", ec.message()), {}};
    co_return co_await ReadReply(s, o_.reply_timeout, ec);
  }

  // The reply to one command of the MAIL/RCPT/DATA group: already written
  // when pipelining, else written now.
  asio::awaitable<ServerReply> Next(TimedStream& s, bool written, std::string_view line,
                                    boost::system::error_code& ec) {
    if (written) co_return co_await ReadReply(s, o_.reply_timeout, ec);
    co_return co_await Command(s, line, ec);
  }

  DestinationOptions o_;
  std::string hostname_;
  bool lmtp_;
  Throttle throttle_;
  size_t max_concurrency_ = o_.max_concurrency;  // GUARDED_BY(mu_)
  std::optional<size_t> fleet_share_;           // GUARDED_BY(mu_)
  Bulkhead slots_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::atomic<uint64_t> delivered_{0}, deferred_{0}, failed_{0}, connections_{0}, reused_{0};
  asio::ssl::context tls_ctx_;
  // After an opportunistic handshake failed: plaintext until then (as
  // Postfix does), rather than deferring for ever to a broken TLS stack.
  std::atomic<int64_t> plaintext_until_{0};
};

void SmtpDelivery::ReadCapabilities(const ServerReply& r, Connection& c, bool* starttls) {
  c.eightbit = c.utf8 = c.dsn = c.pipelining = false;
  *starttls = false;
  for (const auto& l : r.lines) {
    const std::string k = mail::Uppered(l.substr(0, l.find(' ')));
    c.eightbit |= k == "8BITMIME";
    c.utf8 |= k == "SMTPUTF8";
    c.dsn |= k == "DSN";
    c.pipelining |= k == "PIPELINING";
    *starttls |= k == "STARTTLS";
  }
}

asio::awaitable<std::string> SmtpDelivery::StartTls(Connection& c, bool offered) {
  using Tls = DestinationOptions::Tls;
  const std::string where = fmt::format("{}:{}", o_.host, o_.port);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  if (o_.tls == Tls::kNone || (o_.tls == Tls::kOpportunistic && now < plaintext_until_.load())) co_return "";
  if (!offered) {
    if (o_.tls == Tls::kOpportunistic) co_return "";
    co_return Say(Condition::kNoStartTls, fmt::format("{} does not offer STARTTLS, which destination {} requires", where, o_.name));
  }
  TimedStream& s = *c.stream;
  boost::system::error_code ec;
  ServerReply r = co_await Command(s, "STARTTLS\r\n", ec);
  if (r.code != 220) {
    if (r.code != 0 && o_.tls == Tls::kOpportunistic) co_return "";  // still usable in the clear
    co_return Say(Condition::kNoStartTls, fmt::format("{} STARTTLS refused: {}", where, r.text));
  }
  const std::string name = o_.tls_server_name.empty() ? o_.host : o_.tls_server_name;
  boost::system::error_code ip_ec;
  asio::ip::make_address(name, ip_ec);
  const std::string sni = ip_ec ? name : "";  // RFC 6066: no IP literals in SNI
  std::string verify_name = verify() ? name : "";
  auto handshake = s.Handshake(tls_ctx_, asio::ssl::stream_base::client, o_.reply_timeout, ec, sni,
                               verify_name);
  co_await std::move(handshake);
  if (ec) {
    if (o_.tls == Tls::kOpportunistic) plaintext_until_ = now + 3600;
    std::string why = s.TlsVerifyError();
    co_return Say(Condition::kTlsFailed,
                  fmt::format("TLS with {} failed: {}{}", where, ec.message(), why.empty() ? "" : " (" + why + ")"));
  }
  c.tls = s.TlsDescription();
  // RFC 3207 §4.2: forget what was learned in the clear and ask again.
  std::string line = fmt::format("{} {}\r\n", lmtp_ ? "LHLO" : "EHLO", hostname_);
  r = co_await Command(s, line, ec);
  if (r.code != 250) co_return Say(Condition::kConnectionLost, fmt::format("{} after STARTTLS: {}", where, r.text));
  bool again = false;
  ReadCapabilities(r, c, &again);
  co_return "";
}

asio::awaitable<std::unique_ptr<Connection>> SmtpDelivery::Open() {
  auto c = std::make_unique<Connection>();
  boost::system::error_code ec;
  c->stream = co_await ConnectTimed(o_.host, o_.port, o_.connect_timeout, ec);
  if (!c->stream) {
    c->stream_error = Say(Condition::kConnectFailed, fmt::format("connect to {}:{} failed: {}", o_.host, o_.port, ec.message()));
    co_return c;
  }
  ++connections_;
  TimedStream& s = *c->stream;
  ServerReply r = co_await ReadReply(s, o_.reply_timeout, ec);
  if (r.code == 220) {
    std::string line = fmt::format("{} {}\r\n", lmtp_ ? "LHLO" : "EHLO", hostname_);
    r = co_await Command(s, line, ec);
    if (r.code == 250) {
      bool offers_tls = false;
      ReadCapabilities(r, *c, &offers_tls);
      auto upgrade = StartTls(*c, offers_tls);
      std::string refused = co_await std::move(upgrade);
      if (refused.empty()) co_return c;
      c->stream_error = std::move(refused);
      c->stream->Close();
      c->stream.reset();
      co_return c;
    }
  }
  // A refusal at greeting or EHLO (421, 554) or a dropped connection.
  // A 5xx at greeting or EHLO is the host's refusal to talk, not a verdict
  // on the message: it waits, as for a 4xx.
  c->stream_error = r.code == 0    ? Say(Condition::kConnectionLost, fmt::format("{}:{} greeting: {}", o_.host, o_.port, r.text))
                    : r.code >= 500 ? Say(Condition::kConnectionLost, r.text)
                                    : r.text;
  c->stream->Close();
  c->stream.reset();
  co_return c;
}

// A transaction in four steps: MAIL, RCPT (one per recipient), DATA, and
// the end-of-data reply(s). Each step returns false when it has decided the
// attempt (t.a is then complete).
asio::awaitable<Attempt> SmtpDelivery::Transact(Connection& c, const Job& job) {
  Transaction t(c, job);
  const Envelope& e = *job.envelope;
  if (e.smtputf8 && !c.utf8) {
    // RFC 6531 §3.2: no downgrade; the sender is told by a bounce.
    t.a.outcomes.assign(t.n, Said(Condition::kNoSmtpUtf8, fmt::format("{}:{} does not support SMTPUTF8", o_.host, o_.port)));
    t.a.reusable = true;
    co_return t.a;
  }
  t.commands = TransactionCommands(e, job.recipients, Offered{c.eightbit, c.utf8, c.dsn}, lmtp_);
  // With PIPELINING the whole group is one write and its replies are read
  // in order (RFC 2920 §3.1): one round trip instead of two plus one per
  // recipient. Leaving early then leaves replies unread: the connection
  // is not reused.
  t.pipelined = c.pipelining;
  if (t.pipelined) {
    std::string group = t.commands.mail;
    for (const auto& r : t.commands.rcpts) group += r;
    group += kDataCommand;
    co_await t.s.WriteAll(group, o_.reply_timeout, t.ec);
  }
  if (!co_await Mail(t)) co_return t.a;
  if (!co_await Rcpts(t)) co_return t.a;
  if (t.accepted.empty()) {
    co_await NoRecipients(t);
    co_return t.a;
  }
  if (!co_await Data(t)) co_return t.a;
  co_await EndOfData(t);
  co_return t.a;
}

void SmtpDelivery::Lost(Transaction& t, const char* step, const ServerReply& r) {
  t.a.outcomes.assign(t.n, Said(Condition::kConnectionLost, fmt::format("{}:{} {}: {}", o_.host, o_.port, step, r.text)));
  t.a.trouble = true;  // closed abruptly or timed out
  t.a.trouble_why = t.a.outcomes[0].reply;
}

asio::awaitable<bool> SmtpDelivery::Mail(Transaction& t) {
  ServerReply r;
  if (t.ec) {
    r = ServerReply{0, fmt::format("write failed: {}", t.ec.message()), {}};
  } else {
    r = co_await Next(t.s, t.pipelined, t.commands.mail, t.ec);
  }
  if (r.code == 250) co_return true;
  if (r.code == 0) {
    Lost(t, "MAIL", r);
    t.a.stale_connection = t.c.messages > 0;
    co_return false;
  }
  // Refused: every recipient gets the reply; a 4xx is trouble at the destination.
  t.a.outcomes.assign(t.n, FromReply(r.code, r.text));
  if (r.code >= 400 && r.code < 500) {
    t.a.trouble = true;
    t.a.trouble_why = r.text;
  }
  t.a.reusable = r.code != 421 && !t.pipelined;
  if (t.a.reusable) {
    ServerReply rset = co_await Command(t.s, "RSET\r\n", t.ec);
    t.a.reusable = rset.code == 250;
  }
  co_return false;
}

asio::awaitable<bool> SmtpDelivery::Rcpts(Transaction& t) {
  t.out.resize(t.n);
  for (size_t k = 0; k < t.n; ++k) {
    ServerReply r = co_await Next(t.s, t.pipelined, t.commands.rcpts[k], t.ec);
    if (r.code == 0) {
      Lost(t, "RCPT", r);
      co_return false;
    }
    if (r.code == 421) {
      t.a.outcomes.assign(t.n, FromReply(r.code, r.text));
      t.a.trouble = true;
      t.a.trouble_why = r.text;
      co_return false;
    }
    t.out[k] = FromReply(r.code, r.text);
    if (t.out[k].kind == Outcome::Kind::kDelivered) {
      t.out[k].kind = Outcome::Kind::kDeferred;  // not delivered until DATA says so
      t.accepted.push_back(k);
    }
  }
  co_return true;
}

asio::awaitable<void> SmtpDelivery::NoRecipients(Transaction& t) {
  t.a.outcomes = std::move(t.out);
  if (t.pipelined) {
    // DATA went out too: a server should refuse it with no recipient;
    // one that says 354 gets an empty message ended at once.
    ServerReply r = co_await ReadReply(t.s, o_.reply_timeout, t.ec);
    if (r.code == 354) r = co_await Command(t.s, ".\r\n", t.ec);
    if (r.code == 0) co_return;
  }
  ServerReply rset = co_await Command(t.s, "RSET\r\n", t.ec);
  t.a.reusable = rset.code == 250;
}

asio::awaitable<bool> SmtpDelivery::Data(Transaction& t) {
  ServerReply r = co_await Next(t.s, t.pipelined, kDataCommand, t.ec);
  if (r.code == 354) co_return true;
  if (r.code == 0) {
    Lost(t, "DATA", r);
    co_return false;
  }
  Outcome o = FromReply(r.code, r.text);
  if (o.kind == Outcome::Kind::kDelivered) o.kind = Outcome::Kind::kDeferred;
  for (size_t k : t.accepted) t.out[k] = o;
  t.a.outcomes = std::move(t.out);
  t.a.trouble = r.code == 421;
  t.a.trouble_why = r.text;
  co_return false;
}

asio::awaitable<void> SmtpDelivery::EndOfData(Transaction& t) {
  // The content is shared by every destination of the message: sent as it
  // is when it can be (no copy), dot-stuffed into a copy only when it must.
  const std::string& content = *t.job.content;
  if (mail::SendsAsIs(content)) {
    co_await t.s.WriteAll(content, ".\r\n", o_.reply_timeout, t.ec);
  } else {
    const std::string data = mail::DotStuff(content);
    co_await t.s.WriteAll(data, o_.reply_timeout, t.ec);
  }
  // LMTP answers once per accepted recipient (RFC 2033 §4.2); SMTP once.
  for (size_t i = 0; i < (lmtp_ ? t.accepted.size() : 1); ++i) {
    ServerReply r;
    if (t.ec) {
      r = ServerReply{0, t.ec.message(), {}};
    } else {
      r = co_await ReadReply(t.s, o_.reply_timeout, t.ec);
    }
    if (r.code == 0) {
      // The data reply was lost: the destination may or may not have the
      // message. Retrying risks a duplicate, which RFC 5321 §6.1 prefers
      // to a loss.
      std::string why = Say(Condition::kConnectionLost, fmt::format("{}:{} end of data: {}", o_.host, o_.port, r.text));
      for (size_t j = lmtp_ ? i : 0; j < t.accepted.size(); ++j) t.out[t.accepted[j]] = Outcome{Outcome::Kind::kDeferred, why};
      t.a.outcomes = std::move(t.out);
      t.a.trouble = true;
      t.a.trouble_why = why;
      co_return;
    }
    if (lmtp_) {
      t.out[t.accepted[i]] = FromReply(r.code, r.text);
    } else {
      for (size_t k : t.accepted) t.out[k] = FromReply(r.code, r.text);
    }
    if (r.code == 421) {
      t.a.trouble = true;
      t.a.trouble_why = r.text;
    }
  }
  const Outcome::Handover handover = lmtp_ ? Outcome::Handover::kFinal
                                     : t.c.dsn ? Outcome::Handover::kPassedOn
                                               : Outcome::Handover::kRelayed;
  for (auto& o : t.out) o.handover = handover;
  t.a.outcomes = std::move(t.out);
  t.a.reusable = !t.a.trouble;
}

}  // namespace

std::unique_ptr<Delivery> MakeSmtpDelivery(DestinationOptions options, std::string hostname) {
  return std::make_unique<SmtpDelivery>(std::move(options), std::move(hostname));
}

}  // namespace sluice::delivery
