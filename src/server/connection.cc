#include "server/connection.h"

#include <deque>
#include <optional>

#include "common/offload.h"
#include "common/timed_stream.h"
#include "directory/directory.h"
#include "observe/log.h"
#include "queue/queue.h"
#include "smtp/received.h"
#include "spool/spool.h"

namespace sluice::server {
namespace {

namespace asio = boost::asio;

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Keeps EdgeState counters right on every path out of a scope.
struct Count {
  std::atomic<size_t>& n;
  explicit Count(std::atomic<size_t>& c) : n(c) { ++n; }
  ~Count() { --n; }
};

}  // namespace

asio::awaitable<void> RunConnection(asio::ip::tcp::socket socket, const ServerOptions& options,
                                    std::shared_ptr<const smtp::SessionOptions> session_options,
                                    Stages stages, EdgeState& state) {
  Count open(state.sessions);
  boost::system::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  const std::string client = ec ? "unknown" : peer.address().to_string();
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  TimedStream stream(std::move(socket));
  const std::string hostname = session_options->hostname;
  smtp::Session session(std::move(session_options), smtp::ClientInfo{client});

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
  std::vector<char> buf(16 * 1024);
  // Held from end of data until the reply has been written, so a shutdown
  // does not cut off a 250 that a synced commit earned.
  std::optional<Count> storing;
  while (true) {
    while (!todo.empty()) {
      smtp::Action action = std::move(todo.front());
      todo.pop_front();
      if (auto* reply = std::get_if<smtp::Reply>(&action)) {
        out += reply->text;
        if (reply->code >= 400 && reply->code != 421) {
          observe::Event("smtp reply").With("client", client).With("reply", reply->text.substr(0, reply->text.size() - 2)).Info();
        }
      } else if (auto* lookup = std::get_if<smtp::LookupRecipient>(&action)) {
        auto op = stages.directory.Resolve(lookup->address);  // see Offload on temporaries
        directory::LookupResult r = co_await std::move(op);
        take(session.Resume(r));
      } else if (auto* store = std::get_if<smtp::StoreMessage>(&action)) {
        storing.emplace(state.storing);
        if (!co_await flush()) break;  // earlier replies go out while we sync
        auto t0 = std::chrono::steady_clock::now();
        std::string id = spool::NewQueueId();
        store->envelope.received_unix = NowUnix();
        std::string header = smtp::ReceivedHeader(store->envelope, hostname, id, store->envelope.received_unix);
        Status s = co_await Offload(stages.blocking, [&] {
          return stages.spool.Commit(id, store->envelope, header, store->body);
        });
        const size_t size = store->body.size();
        std::string forests;
        for (const auto& route : store->envelope.routes) {
          if (forests.find(route.forest) == std::string::npos) forests += (forests.empty() ? "" : ",") + route.forest;
        }
        observe::Event("smtp transaction")
            .With("queue_id", s.ok() ? id : std::string("-"))
            .With("client", client)
            .With("helo", store->envelope.helo)
            .With("from", store->envelope.sender)
            .With("nrcpt", static_cast<int64_t>(store->envelope.routes.size()))
            .With("forests", forests)
            .With("size", static_cast<int64_t>(size))
            .With("result", s.ok() ? "queued" : s.ToString())
            .With("commit_ms", MsSince(t0))
            .Info();
        if (s.ok()) {
          spool::StoredMessage m;
          m.id = id;
          m.recipients.resize(store->envelope.routes.size());
          m.envelope = std::move(store->envelope);
          stages.queue.Submit(std::move(m));
        }
        take(session.Resume(smtp::StoreResult{s, id}));
      } else if (std::holds_alternative<smtp::Close>(action)) {
        co_await flush();
        stream.Close();
        co_return;
      }
    }
    if (!co_await flush()) break;
    storing.reset();
    auto timeout = session.in_data() ? options.data_timeout : options.command_timeout;
    size_t n = co_await stream.ReadSome(buf.data(), buf.size(), timeout, ec);
    if (ec) {
      if (ec == asio::error::timed_out) {
        // RFC 5321 §4.5.3.2: say why before closing.
        out = smtp::replies::CommandTimeout().text;
        co_await flush();
      }
      if (session.in_transaction()) {
        observe::Event("smtp connection lost").With("client", client).With("error", ec.message()).Info();
      }
      break;
    }
    take(session.Feed(std::span<const char>(buf.data(), n)));
  }
  stream.Close();
}

}  // namespace sluice::server
