#include "load.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "common/timed_stream.h"
#include "sleep.h"

namespace storm {

namespace asio = boost::asio;
using asio::ip::tcp;
using sluice::TimedStream;


namespace {

constexpr auto kReplyTimeout = std::chrono::seconds(120);  // a relay waits long for DATA's reply


// A whole (possibly multiline) reply; empty when the connection failed.
asio::awaitable<std::string> ReadReply(TimedStream& s, boost::system::error_code& ec) {
  std::string last;
  for (;;) {
    auto op = s.ReadLine(kReplyTimeout, 4096, ec);
    std::string line = co_await std::move(op);
    if (ec) co_return std::string();
    if (line.size() < 4 || line[3] != '-') {
      last = line;
      break;
    }
  }
  co_return last;
}

}  // namespace

Load::Load(asio::io_context& io, const Scenario& s, Ledger& ledger, std::vector<uint16_t> ports,
           std::function<std::string(int)> forest_of)
    : io_(io), s_(s), ledger_(ledger), ports_(std::move(ports)), forest_of_(std::move(forest_of)) {
  if (ledger_.nodes.size() < ports_.size()) ledger_.nodes.resize(ports_.size());
  std::vector<double> w;
  for (const auto& t : s.tenants) w.push_back(t.weight);
  tenant_pick_ = std::discrete_distribution<int>(w.begin(), w.end());
  w.clear();
  for (const auto& [size, weight] : s.sizes) w.push_back(weight);
  size_pick_ = std::discrete_distribution<int>(w.begin(), w.end());
}

void Load::Start() {
  next_slot_ = ledger_.Now();
  for (int i = 0; i < s_.sessions; ++i) asio::co_spawn(io_, Session(i), asio::detached);
}

uint64_t Load::NewMessage() {
  Ledger::Message m;
  m.tenant = tenant_pick_(rng_);
  m.rcpt = static_cast<int>(rng_() % static_cast<uint64_t>(s_.tenants[m.tenant].recipients));
  m.size = s_.sizes[size_pick_(rng_)].first;
  ledger_.messages.push_back(m);
  ++outstanding_;
  return ledger_.messages.size() - 1;
}

void Load::Requeue(uint64_t id) {
  const int attempts = ledger_.messages[id].attempts;
  const double backoff = std::min(8.0, 0.5 * (1 << std::min(attempts, 5))) * (0.75 + 0.5 * (rng_() % 1000) / 1000.0);
  ++ledger_.retries;
  retries_.push_back({ledger_.Now() + backoff, id});
}

// The next message for a session: a retry that is due, else (during the
// load phase) a new one at its slot of the target rate; nullopt to stop.
asio::awaitable<std::optional<uint64_t>> Load::Next() {
  while (!stopping_) {
    const double now = ledger_.Now();
    for (auto it = retries_.begin(); it != retries_.end(); ++it) {
      if (it->due <= now) {
        uint64_t id = it->id;
        retries_.erase(it);
        co_return id;
      }
    }
    if (new_messages_) {
      double slot = now;
      if (s_.rate > 0) {
        slot = std::max(next_slot_, now - 1.0);  // at most a second of catch-up after a stall
        next_slot_ = slot + 1.0 / s_.rate;
      }
      if (slot > now) {
        auto wait = Sleep(slot - now);
        co_await std::move(wait);
      }
      if (!new_messages_ || stopping_) continue;
      co_return NewMessage();
    }
    auto idle = Sleep(0.05);
    co_await std::move(idle);
  }
  co_return std::nullopt;
}

std::string Load::Address(uint64_t id) const {
  const auto& m = ledger_.messages[id];
  const auto& t = s_.tenants[m.tenant];
  return t.address.empty() ? fmt::format("user{}@{}.storm", m.rcpt, t.name) : t.address;
}

std::string Load::Body(uint64_t id) const {
  const auto& m = ledger_.messages[id];
  std::string body = fmt::format(
      "From: <relay@storm.example>\r\nTo: <{}>\r\nSubject: storm {}\r\nMessage-ID: <{}@storm.example>\r\n"
      "X-Storm-Id: {}\r\n\r\n",
      Address(id), id, id, id);
  static const std::string kLine(76, 'x');
  while (body.size() + 80 < m.size) body += kLine + "\r\n";
  return body;
}

// Each relay has an address of its own (127.0.1.x), as a fleet of sending
// relays does, so per-address limits see the fleet and not one client.
asio::awaitable<std::unique_ptr<TimedStream>> Load::Connect(int index, size_t node, boost::system::error_code& ec) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket sock(ex);
  sock.open(tcp::v4(), ec);
  if (!ec) sock.bind(tcp::endpoint(asio::ip::make_address_v4(0x7f000100u + 1 + index % 250), 0), ec);
  if (ec) co_return nullptr;
  asio::steady_timer deadline(ex);
  deadline.expires_after(std::chrono::seconds(5));
  auto waiting = std::make_shared<bool>(true);  // the socket is touched only while we wait
  deadline.async_wait([&sock, waiting](const boost::system::error_code& e) {
    if (!e && *waiting) sock.close();
  });
  auto op = sock.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), ports_[node]),
                               asio::redirect_error(asio::use_awaitable, ec));
  co_await std::move(op);
  *waiting = false;
  deadline.cancel();
  if (ec) co_return nullptr;
  co_return std::make_unique<TimedStream>(std::move(sock));
}

asio::awaitable<void> Load::Session(int index) {
  std::optional<uint64_t> carried;  // a message taken but not yet tried on a connection
  size_t node = static_cast<size_t>(index) % ports_.size();
  while (!stopping_) {
    boost::system::error_code ec;
    auto connect = Connect(index, node, ec);
    std::unique_ptr<TimedStream> s = co_await std::move(connect);
    if (ec) {  // the node is down (a kill) or refusing: the next one, shortly
      node = (node + 1) % ports_.size();
      auto wait = Sleep(0.2);
      co_await std::move(wait);
      continue;
    }
    auto greet = ReadReply(*s, ec);
    std::string reply = co_await std::move(greet);
    if (ec || reply[0] != '2') {
      s->Close();
      node = (node + 1) % ports_.size();
      auto wait = Sleep(0.5);
      co_await std::move(wait);
      continue;
    }
    Ledger::Node& here = ledger_.nodes[node];
    const std::string ehlo = fmt::format("EHLO relay{}.storm.example\r\n", index);
    co_await s->WriteAll(ehlo, kReplyTimeout, ec);
    auto ehlo_reply = ReadReply(*s, ec);
    reply = co_await std::move(ehlo_reply);
    bool broken = ec || reply[0] != '2';
    for (int n = 0; n < s_.messages_per_session && !broken && !stopping_; ++n) {
      std::optional<uint64_t> next = carried;
      if (!next) {
        auto take = Next();
        next = co_await std::move(take);
      }
      carried.reset();
      if (!next) break;
      const uint64_t id = *next;
      // By index, never by reference: other sessions grow the vector while this one waits.
      auto msg = [this, id]() -> Ledger::Message& { return ledger_.messages[id]; };
      const std::string forest = forest_of_(msg().tenant);
      ++msg().attempts;
      ++ledger_.transactions;
      ++here.transactions;
      bool replied = true;
      // Ends the transaction: 4xx and lost connections are retried, 5xx given up.
      auto outcome = [&](const std::string& r, bool rcpt) {
        auto& sec = ledger_.Current();
        if (r.empty()) {
          ++ledger_.dropped;
          ++here.dropped;
          ++sec.dropped;
          Requeue(id);
          return;
        }
        if (r[0] == '2') ++sec.r2;
        if (r[0] == '4') {
          ++sec.r4;
          ++ledger_.deferred_by_code[CodeOf(r)];
          ++here.deferred;
          ++(rcpt ? sec.rcpt_4xx_by_forest : sec.data_4xx_by_forest)[forest];
          Requeue(id);
        }
        if (r[0] == '5') {
          ++sec.r5;
          ++ledger_.rejected_by_code[CodeOf(r)];
          ledger_.messages[id].rejected = true;
          --outstanding_;
        }
      };
      const std::string mail = "MAIL FROM:<relay@storm.example>\r\n";
      co_await s->WriteAll(mail, kReplyTimeout, ec);
      auto mail_op = ReadReply(*s, ec);
      reply = co_await std::move(mail_op);
      if (ec || reply[0] != '2') {
        carried = id;  // not this message's fault: on the next connection
        --ledger_.transactions;
        --here.transactions;
        --msg().attempts;
        broken = true;
        break;
      }
      const std::string rcpt = fmt::format("RCPT TO:<{}>\r\n", Address(id));
      auto t0 = Clock::now();
      co_await s->WriteAll(rcpt, kReplyTimeout, ec);
      auto rcpt_op = ReadReply(*s, ec);
      reply = co_await std::move(rcpt_op);
      ledger_.Current().rcpt_ms[forest].push_back(std::chrono::duration<float, std::milli>(Clock::now() - t0).count());
      if (ec || reply[0] != '2') {
        outcome(reply, true);
        replied = !ec;
        if (!replied || reply.rfind("421", 0) == 0) break;
        const std::string rset = "RSET\r\n";
        co_await s->WriteAll(rset, kReplyTimeout, ec);
        auto rset_op = ReadReply(*s, ec);
        reply = co_await std::move(rset_op);
        broken = ec || reply[0] != '2';
        continue;
      }
      const std::string data = "DATA\r\n";
      co_await s->WriteAll(data, kReplyTimeout, ec);
      auto data_op = ReadReply(*s, ec);
      reply = co_await std::move(data_op);
      if (ec || reply[0] != '3') {
        outcome(reply, false);
        broken = true;
        break;
      }
      const std::string body = Body(id) + ".\r\n";
      co_await s->WriteAll(body, kReplyTimeout, ec);
      t0 = Clock::now();
      auto end_op = ReadReply(*s, ec);
      reply = co_await std::move(end_op);
      ledger_.Current().data_ms[forest].push_back(std::chrono::duration<float, std::milli>(Clock::now() - t0).count());
      if (!ec && reply[0] == '2') {
        auto& sec = ledger_.Current();
        ++sec.r2;
        ++sec.accepted;
        ++sec.accepted_by_forest[forest];
        ++here.accepted;
        if (!ledger_.messages[id].accepted) --outstanding_;  // a retry after a lost 250 is not counted twice
        ledger_.messages[id].accepted = true;
        continue;
      }
      outcome(reply, false);
      if (ec || reply.rfind("421", 0) == 0) broken = true;
    }
    if (!broken) {
      const std::string quit = "QUIT\r\n";
      co_await s->WriteAll(quit, kReplyTimeout, ec);
    }
    s->Close();
    // Each new connection picks the next node, as a sender picks among MX
    // hosts of equal preference: a node back from a kill gets its share again.
    node = (node + 1) % ports_.size();
    if (carried && stopping_) break;
  }
  if (carried) retries_.push_back({0, *carried});
}

asio::awaitable<void> Load::Flood(int connections, double seconds) {
  std::vector<std::unique_ptr<tcp::socket>> held;
  auto ex = co_await asio::this_coro::executor;
  tcp::endpoint target(asio::ip::make_address("127.0.0.1"), ports_[0]);
  for (int i = 0; i < connections && !stopping_; ++i) {
    auto sock = std::make_unique<tcp::socket>(ex);
    boost::system::error_code ec;
    sock->open(tcp::v4(), ec);
    sock->bind(tcp::endpoint(asio::ip::make_address("127.0.0.2"), 0), ec);
    auto op = sock->async_connect(target, asio::redirect_error(asio::use_awaitable, ec));
    co_await std::move(op);
    if (ec) {
      ++ledger_.flood_refused;
      continue;
    }
    char greeting[4] = {};
    auto read = asio::async_read(*sock, asio::buffer(greeting, 3), asio::redirect_error(asio::use_awaitable, ec));
    size_t n = co_await std::move(read);
    if (!ec && n == 3 && greeting[0] == '2') {
      ++ledger_.flood_accepted;
      held.push_back(std::move(sock));
    } else {
      ++ledger_.flood_refused;
    }
  }
  auto hold = Sleep(seconds);
  co_await std::move(hold);
}

}  // namespace storm
