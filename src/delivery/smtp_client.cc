// Outbound SMTP (RFC 5321) and LMTP (RFC 2033) to a configured next hop.
// One connection per attempt for now; the queue/delivery issue adds reuse,
// MX lookup, TLS and throttling.
#include <fmt/format.h>

#include <boost/asio/this_coro.hpp>

#include "common/timed_stream.h"
#include "delivery/delivery.h"

namespace sluice::delivery {
namespace {

namespace asio = boost::asio;

struct ServerReply {
  int code = 0;       // 0: no valid reply (connection lost, timeout, garbage)
  std::string text;   // all lines joined by a space, with the code of the first
  std::vector<std::string> lines;  // the text of each line, without the code
};

asio::awaitable<ServerReply> ReadReply(TimedStream& s, std::chrono::seconds timeout,
                                       boost::system::error_code& ec) {
  ServerReply r;
  while (true) {
    std::string line = co_await s.ReadLine(timeout, 4096, ec);
    if (ec) co_return ServerReply{0, fmt::format("connection lost: {}", ec.message()), {}};
    if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
        !std::isdigit(static_cast<unsigned char>(line[1])) ||
        !std::isdigit(static_cast<unsigned char>(line[2])) ||
        (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      co_return ServerReply{0, fmt::format("malformed reply: {}", line.substr(0, 80)), {}};
    }
    int code = std::stoi(line.substr(0, 3));
    if (r.code == 0) r.code = code;
    r.lines.push_back(line.size() > 4 ? line.substr(4) : std::string());
    r.text += r.text.empty() ? line : " " + line.substr(std::min<size_t>(4, line.size()));
    if (line.size() == 3 || line[3] == ' ') co_return r;
  }
}

// Dot-stuffs content (RFC 5321 §4.5.2) and adds the end-of-data line.
std::string Stuffed(const std::string& content) {
  std::string out;
  out.reserve(content.size() + content.size() / 64 + 8);
  bool line_start = true;
  for (char c : content) {
    if (line_start && c == '.') out.push_back('.');
    out.push_back(c);
    line_start = c == '\n';
  }
  if (!content.empty() && !line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

class SmtpDelivery final : public Delivery {
 public:
  SmtpDelivery(DestinationOptions options, std::string hostname)
      : o_(std::move(options)), hostname_(std::move(hostname)), lmtp_(o_.kind == DestinationKind::kLmtp) {}

  asio::awaitable<std::vector<Outcome>> Deliver(const Job& job) override {
    const size_t n = job.recipients.size();
    boost::system::error_code ec;
    auto all = [n](Outcome o) { return std::vector<Outcome>(n, o); };
    auto lost = [&](const std::string& stage, const ServerReply& r) {
      return all(Outcome{Outcome::Kind::kDeferred,
                         fmt::format("451 4.4.2 {}:{} {}: {}", o_.host, o_.port, stage, r.text)});
    };

    auto stream = co_await ConnectTimed(o_.host, o_.port, o_.connect_timeout, ec);
    if (!stream) {
      co_return all(Outcome{Outcome::Kind::kDeferred,
                            fmt::format("451 4.4.1 connect to {}:{} failed: {}", o_.host, o_.port,
                                        ec.message())});
    }
    TimedStream& s = *stream;
    std::string line;

    ServerReply r = co_await ReadReply(s, o_.reply_timeout, ec);
    if (r.code != 220) co_return r.code == 0 ? lost("greeting", r) : all(FromReply(r.code, r.text));
    line = fmt::format("{} {}\r\n", lmtp_ ? "LHLO" : "EHLO", hostname_);
    r = co_await Command(s, line, ec);
    if (r.code != 250) co_return r.code == 0 ? lost("EHLO", r) : all(FromReply(r.code, r.text));
    bool eightbit = false, utf8 = false, dsn = false;
    for (const auto& l : r.lines) {
      eightbit |= l == "8BITMIME";
      utf8 |= l == "SMTPUTF8";
      dsn |= l == "DSN";
    }

    const Envelope& e = *job.envelope;
    if (e.smtputf8 && !utf8) {
      // RFC 6531 §3.2: no downgrade; the sender is told by a bounce.
      r = co_await Command(s, "QUIT\r\n", ec);
      co_return all(Outcome{Outcome::Kind::kFailed,
                            fmt::format("550 5.6.7 {}:{} does not support SMTPUTF8", o_.host, o_.port)});
    }
    line = fmt::format("MAIL FROM:<{}>", e.sender);
    if (e.body_8bit && eightbit) line += " BODY=8BITMIME";
    if (e.smtputf8) line += " SMTPUTF8";
    // DSN requests travel on when the next hop can honour them (RFC 3461 §4).
    if (dsn && !e.dsn_ret.empty()) line += " RET=" + e.dsn_ret;
    if (dsn && !e.dsn_envid.empty()) line += " ENVID=" + e.dsn_envid;
    line += "\r\n";
    r = co_await Command(s, line, ec);
    if (r.code != 250) co_return r.code == 0 ? lost("MAIL", r) : all(FromReply(r.code, r.text));

    std::vector<Outcome> out(n);
    std::vector<size_t> accepted;  // positions in job.recipients
    for (size_t k = 0; k < n; ++k) {
      const RecipientRoute& route = e.routes[job.recipients[k]];
      const std::string& to = lmtp_ && !route.mailbox.empty() ? route.mailbox : route.address;
      line = fmt::format("RCPT TO:<{}>", to);
      const size_t i = job.recipients[k];
      if (dsn && i < e.dsn.size()) {
        if (!e.dsn[i].notify.empty()) line += " NOTIFY=" + e.dsn[i].notify;
        if (!e.dsn[i].orcpt.empty()) line += " ORCPT=" + e.dsn[i].orcpt;
      }
      line += "\r\n";
      r = co_await Command(s, line, ec);
      if (r.code == 0) co_return lost("RCPT", r);
      out[k] = FromReply(r.code, r.text);
      if (out[k].kind == Outcome::Kind::kDelivered) {
        out[k].kind = Outcome::Kind::kDeferred;  // not delivered until DATA says so
        accepted.push_back(k);
      }
    }
    if (accepted.empty()) {
      r = co_await Command(s, "QUIT\r\n", ec);  // the result must be kept: see common/offload.h
      co_return out;
    }
    r = co_await Command(s, "DATA\r\n", ec);
    if (r.code != 354) {
      Outcome o = r.code == 0 ? lost("DATA", r).front() : FromReply(r.code, r.text);
      if (o.kind == Outcome::Kind::kDelivered) o.kind = Outcome::Kind::kDeferred;
      for (size_t k : accepted) out[k] = o;
      co_return out;
    }
    const std::string data = Stuffed(*job.content);
    co_await s.WriteAll(data, o_.reply_timeout, ec);
    // LMTP answers once per accepted recipient (RFC 2033 §4.2); SMTP once.
    for (size_t i = 0; i < (lmtp_ ? accepted.size() : 1); ++i) {
      if (ec) {
        r = ServerReply{0, ec.message(), {}};
      } else {
        r = co_await ReadReply(s, o_.reply_timeout, ec);
      }
      if (r.code == 0) {
        // The data reply was lost: the destination may or may not have the
        // message. Retrying risks a duplicate, which RFC 5321 §6.1 prefers
        // to a loss.
        for (size_t j = lmtp_ ? i : 0; j < accepted.size(); ++j) out[accepted[j]] = lost("end of data", r)[0];
        co_return out;
      }
      if (lmtp_) {
        out[accepted[i]] = FromReply(r.code, r.text);
      } else {
        for (size_t k : accepted) out[k] = FromReply(r.code, r.text);
      }
    }
    r = co_await Command(s, "QUIT\r\n", ec);  // the result must be kept: see common/offload.h
    co_return out;
  }

 private:
  // Sends one command line and reads its reply. Takes a view: a temporary
  // string argument inside co_await trips g++ 12 (see common/offload.h).
  asio::awaitable<ServerReply> Command(TimedStream& s, std::string_view line,
                                       boost::system::error_code& ec) {
    co_await s.WriteAll(line, o_.reply_timeout, ec);
    if (ec) co_return ServerReply{0, fmt::format("write failed: {}", ec.message()), {}};
    co_return co_await ReadReply(s, o_.reply_timeout, ec);
  }

  DestinationOptions o_;
  std::string hostname_;
  bool lmtp_;
};

}  // namespace

std::unique_ptr<Delivery> MakeSmtpDelivery(DestinationOptions options, std::string hostname) {
  return std::make_unique<SmtpDelivery>(std::move(options), std::move(hostname));
}

}  // namespace sluice::delivery
