#include "filter/milter_client.h"

#include <algorithm>
#include <fmt/format.h>

#include "common/timed_stream.h"
#include "filter/message.h"
#include "filter/milter_protocol.h"

namespace sluice::filter {
namespace {

using Clock = std::chrono::steady_clock;
using K = MilterReply::Kind;

// What the MTA offers: the header and body edits and quarantine. Recipient
// and sender changes would need the directory again and are not offered;
// a filter that sends one anyway is in error.
constexpr uint32_t kOfferedActions = actions::kAddHeaders | actions::kChangeBody | actions::kChangeHeaders |
                                     actions::kQuarantine;
// Every stage may be left out or go unanswered, as the filter asks
// (rejected recipients are never sent: the edge refused them already).
constexpr uint32_t kOfferedSteps = 0x1fffff & ~steps::kRcptRejected;

// The exchange's state: the stream, the reader and the deadlines.
class Exchange {
 public:
  Exchange(std::unique_ptr<TimedStream> s, MilterTimeouts t, Clock::time_point end)
      : stream_(std::move(s)), timeouts_(t), end_(end) {}

  // Sends `bytes`; false (and `result` says why) on an error.
  boost::asio::awaitable<bool> Send(std::string bytes, MilterResult& result) {
    boost::system::error_code ec;
    auto write = stream_->WriteAll(bytes, Budget(), ec);
    co_await std::move(write);
    co_return Check(ec, "sending", result);
  }

  // The next reply; nullopt (and `result` says why) on an error.
  boost::asio::awaitable<std::optional<MilterReply>> Read(MilterResult& result) {
    char buf[16 * 1024];
    for (;;) {
      if (auto r = reader_.Next()) {
        if (r->kind != K::kProgress) co_return r;
        continue;  // "still working": wait on, within the exchange's deadline
      }
      if (!reader_.error().empty()) {
        result.error = MilterResult::Error::kProtocol;
        result.detail = reader_.error();
        co_return std::nullopt;
      }
      boost::system::error_code ec;
      auto read = stream_->ReadSome(buf, sizeof buf, Budget(), ec);
      const size_t n = co_await std::move(read);
      if (!Check(ec, "reading", result)) co_return std::nullopt;
      reader_.Feed(std::string_view(buf, n));
    }
  }

  void Close() { stream_->Close(); }

 private:
  // A command's deadline, never past the exchange's.
  TimedStream::Duration Budget() const {
    const auto left = end_ - Clock::now();
    return std::max<TimedStream::Duration>(std::chrono::milliseconds(1),
                                           std::min<TimedStream::Duration>(timeouts_.command, left));
  }
  bool Check(const boost::system::error_code& ec, const char* doing, MilterResult& result) {
    if (!ec) return true;
    if (ec == boost::asio::error::timed_out) {
      result.error = MilterResult::Error::kTimeout;
      result.detail = fmt::format("no answer within the deadline while {}", doing);
    } else {
      result.error = MilterResult::Error::kClosed;
      result.detail = fmt::format("{}: {}", doing, ec.message());
    }
    return false;
  }

  std::unique_ptr<TimedStream> stream_;
  MilterReader reader_;
  MilterTimeouts timeouts_;
  Clock::time_point end_;
};

// The verdict of a terminal reply, or nullopt for "go on".
std::optional<Verdict> Terminal(const MilterReply& r) {
  Verdict v;
  switch (r.kind) {
    case K::kContinue: return std::nullopt;
    case K::kAccept: v.action = Verdict::Action::kAccept; return v;
    case K::kReject: v.action = Verdict::Action::kReject; return v;
    case K::kTempFail: v.action = Verdict::Action::kTempFail; return v;
    case K::kDiscard: v.action = Verdict::Action::kDiscard; return v;
    case K::kReplyCode:
      v.action = r.text[0] == '4' ? Verdict::Action::kTempFail : Verdict::Action::kReject;
      v.reply = r.text;
      return v;
    default: return std::nullopt;
  }
}

std::vector<std::pair<std::string, std::string>> ConnectMacros(const ScanInput& in) {
  std::vector<std::pair<std::string, std::string>> m{
      {"j", in.hostname}, {"{daemon_name}", "sluice"}, {"{client_addr}", in.client_address},
      {"{client_port}", std::to_string(in.client_port)}, {"{client_name}", "unknown"},
      {"_", fmt::format("unknown [{}]", in.client_address)}};
  return m;
}

bool IsV6(const std::string& a) { return a.find(':') != std::string::npos; }

}  // namespace

const char* ToString(Verdict::Action a) {
  switch (a) {
    case Verdict::Action::kAccept: return "accept";
    case Verdict::Action::kReject: return "reject";
    case Verdict::Action::kTempFail: return "tempfail";
    case Verdict::Action::kDiscard: return "discard";
    case Verdict::Action::kQuarantine: return "quarantine";
  }
  return "?";
}

const char* ToString(MilterResult::Error e) {
  switch (e) {
    case MilterResult::Error::kNone: return "none";
    case MilterResult::Error::kConnect: return "connect";
    case MilterResult::Error::kTimeout: return "timeout";
    case MilterResult::Error::kProtocol: return "protocol";
    case MilterResult::Error::kClosed: return "closed";
  }
  return "?";
}

boost::asio::awaitable<MilterResult> RunMilter(std::string host, uint16_t port, MilterTimeouts timeouts,
                                               std::shared_ptr<const ScanInput> input) {
  MilterResult result;
  const ScanInput& in = *input;
  const auto end = Clock::now() + timeouts.content;
  boost::system::error_code ec;
  auto connect = ConnectTimed(host, port, std::min(timeouts.connect, timeouts.content), ec);
  std::unique_ptr<TimedStream> stream = co_await std::move(connect);
  if (!stream) {
    result.error = ec == boost::asio::error::timed_out ? MilterResult::Error::kTimeout : MilterResult::Error::kConnect;
    result.detail = fmt::format("connecting to {}:{}: {}", host, port, ec.message());
    co_return result;
  }
  Exchange x(std::move(stream), timeouts, end);
  auto fail = [&](std::string why) {
    result.error = MilterResult::Error::kProtocol;
    result.detail = std::move(why);
    x.Close();
    return result;
  };

  // Negotiation: the filter takes a subset of what is offered.
  {
    auto send = x.Send(MilterOptNeg(kOfferedActions, kOfferedSteps), result);
    if (!co_await std::move(send)) co_return result;
    auto read = x.Read(result);
    std::optional<MilterReply> neg = co_await std::move(read);
    if (!neg) co_return result;
    if (neg->kind != K::kOptNeg) co_return fail("the filter did not answer the negotiation");
    if (neg->version < 2 || neg->version > kMilterVersion) {
      co_return fail(fmt::format("the filter speaks milter version {}", neg->version));
    }
    // Filters ask for more than offered (rspamd asks for every action
    // whatever it is offered): what it may do is the intersection, and an
    // edit outside it is an error when it comes. The stages it leaves out or
    // will not answer are honoured, since waiting for an answer that never
    // comes would cost the whole deadline; a bit nobody defined is an error.
    if (neg->steps & ~0x1fffffu) co_return fail(fmt::format("the filter asks for unknown protocol steps {:#x}", neg->steps));
    const uint32_t steps = neg->steps;
    const uint32_t granted = neg->actions & kOfferedActions;

    // Sends a stage's command (with its macros) and, unless the filter does
    // not answer it, reads the answer: true to go on; false with
    // `result.verdict` set (a terminal verdict) or `result.error` set.
    auto stage = [&](std::string packet, uint32_t no_reply) -> boost::asio::awaitable<bool> {
      auto send = x.Send(std::move(packet), result);
      if (!co_await std::move(send)) co_return false;
      if (steps & no_reply) co_return true;
      auto read = x.Read(result);
      std::optional<MilterReply> r = co_await std::move(read);
      if (!r) co_return false;
      if (auto v = Terminal(*r)) {
        result.verdict = std::move(*v);
        co_return false;
      }
      if (r->kind == K::kContinue || r->kind == K::kSkip) co_return true;
      result.error = MilterResult::Error::kProtocol;
      result.detail = "an edit before the end of the message";
      co_return false;
    };
    // Out early: a terminal verdict or an error.
    auto done = [&]() -> MilterResult {
      x.Close();
      return result;
    };

    if (!(steps & steps::kNoConnect)) {
      auto m = x.Send(MilterMacros('C', ConnectMacros(in)), result);
      if (!co_await std::move(m)) co_return done();
      const char family = in.client_address.empty() ? 'U' : IsV6(in.client_address) ? '6' : '4';
      auto s = stage(MilterConnect("unknown", family, in.client_port, in.client_address), steps::kNoReplyConnect);
      if (!co_await std::move(s)) co_return done();
    }
    if (!(steps & steps::kNoHelo)) {
      std::vector<std::pair<std::string, std::string>> macros;
      if (!in.tls.empty()) macros.emplace_back("{tls_version}", in.tls);
      if (!macros.empty()) {
        auto m = x.Send(MilterMacros('H', macros), result);
        if (!co_await std::move(m)) co_return done();
      }
      auto s = stage(MilterHelo(in.helo.empty() ? "unknown" : in.helo), steps::kNoReplyHelo);
      if (!co_await std::move(s)) co_return done();
    }
    if (!(steps & steps::kNoMail)) {
      auto m = x.Send(MilterMacros('M', {{"i", in.scan_id}, {"{mail_addr}", in.sender}}), result);
      if (!co_await std::move(m)) co_return done();
      auto s = stage(MilterMail({"<" + in.sender + ">"}), steps::kNoReplyMail);
      if (!co_await std::move(s)) co_return done();
    }
    if (!(steps & steps::kNoRcpt)) {
      for (const auto& rcpt : in.recipients) {
        auto m = x.Send(MilterMacros('R', {{"{rcpt_addr}", rcpt}}), result);
        if (!co_await std::move(m)) co_return done();
        auto s = stage(MilterRcpt({"<" + rcpt + ">"}), steps::kNoReplyRcpt);
        if (!co_await std::move(s)) co_return done();
      }
    }
    if (neg->version >= 4 && !(steps & steps::kNoData)) {
      auto s = stage(MilterData(), steps::kNoReplyData);
      if (!co_await std::move(s)) co_return done();
    }
    Message message = SplitMessage(*in.content);
    const bool leading_space = steps & steps::kHeaderLeadingSpace;
    if (!(steps & steps::kNoHeaders)) {
      for (const auto& f : message.fields) {
        std::string value = leading_space ? f.value : MilterValue(f.value);
        auto s = stage(MilterHeader(f.name, value), steps::kNoReplyHeader);
        if (!co_await std::move(s)) co_return done();
      }
    }
    if (!(steps & steps::kNoEoh)) {
      auto s = stage(MilterEndOfHeaders(), steps::kNoReplyEoh);
      if (!co_await std::move(s)) co_return done();
    }
    if (!(steps & steps::kNoBody)) {
      for (size_t pos = 0; pos < message.body.size(); pos += kMilterChunk) {
        const std::string_view chunk = std::string_view(message.body).substr(pos, kMilterChunk);
        auto send = x.Send(MilterBody(chunk), result);
        if (!co_await std::move(send)) co_return done();
        if (steps & steps::kNoReplyBody) continue;
        auto read = x.Read(result);
        std::optional<MilterReply> r = co_await std::move(read);
        if (!r) co_return done();
        if (r->kind == K::kSkip) break;  // the filter has seen enough of the body
        if (auto v = Terminal(*r)) {
          result.verdict = std::move(*v);
          co_return done();
        }
        if (r->kind != K::kContinue) co_return fail("an edit before the end of the message");
      }
    }

    // End of message: edits, then one terminal reply.
    auto m = x.Send(MilterMacros('E', {{"i", in.scan_id}}), result);
    if (!co_await std::move(m)) co_return done();
    auto eom = x.Send(MilterEndOfBody(), result);
    if (!co_await std::move(eom)) co_return done();
    bool edited = false;
    std::string new_body;
    bool body_replaced = false;
    std::string quarantine;
    for (;;) {
      auto read = x.Read(result);
      std::optional<MilterReply> r = co_await std::move(read);
      if (!r) co_return done();
      auto need = [&](uint32_t action) { return (granted & action) != 0; };
      switch (r->kind) {
        case K::kAddHeader:
        case K::kInsertHeader:
        case K::kChangeHeader:
          if (!need(r->kind == K::kChangeHeader ? actions::kChangeHeaders : actions::kAddHeaders)) {
            co_return fail("a header edit the filter did not negotiate");
          }
          if (r->kind == K::kAddHeader) AddField(message, r->name, r->value);
          if (r->kind == K::kInsertHeader) InsertField(message, r->index, r->name, r->value);
          if (r->kind == K::kChangeHeader) ChangeField(message, r->index, r->name, r->value);
          result.verdict.added.emplace_back(r->name, r->value);
          edited = true;
          continue;
        case K::kReplaceBody:
          if (!need(actions::kChangeBody)) co_return fail("a body replacement the filter did not negotiate");
          if (new_body.size() + r->text.size() > 2 * in.content->size() + (1u << 20)) {
            co_return fail("a replacement body far larger than the message");
          }
          new_body += r->text;
          body_replaced = edited = true;
          continue;
        case K::kQuarantine:
          if (!need(actions::kQuarantine)) co_return fail("a quarantine the filter did not negotiate");
          quarantine = r->text.empty() ? "quarantined by the filter" : r->text;
          continue;
        case K::kContinue:
        case K::kAccept:
        case K::kReject:
        case K::kTempFail:
        case K::kDiscard:
        case K::kReplyCode: {
          auto added = std::move(result.verdict.added);
          Verdict v = r->kind == K::kContinue ? Verdict{} : *Terminal(*r);
          v.added = std::move(added);
          if (v.action == Verdict::Action::kAccept && !quarantine.empty()) {
            v.action = Verdict::Action::kQuarantine;
            v.reason = quarantine;
          }
          if (edited && (v.action == Verdict::Action::kAccept || v.action == Verdict::Action::kQuarantine)) {
            if (body_replaced) message.body = NormalizeBody(new_body);
            v.content = std::make_shared<const std::string>(JoinMessage(message));
          }
          result.verdict = std::move(v);
          auto quit = x.Send(MilterQuit(), result);
          co_await std::move(quit);
          result.error = MilterResult::Error::kNone;  // the verdict stands whatever QUIT met
          x.Close();
          co_return result;
        }
        default:
          co_return fail("an unexpected reply at the end of the message");
      }
    }
  }
}

}  // namespace sluice::filter
