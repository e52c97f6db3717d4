// Local delivery into Maildir folders (the embedded default).
//
// A file is written in tmp/, synced, then linked into new/ under a name
// derived from the queue id and the recipient's index. The name is the same
// on every attempt, so a retry after a crash finds the earlier copy and
// does not deliver twice.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "common/offload.h"
#include "delivery/delivery.h"
#include "delivery/outcomes.h"

namespace sluice::delivery {
namespace {

namespace fs = std::filesystem;

Outcome Temporary(const std::string& what, int err) {
  // A full disk or quota is the mailbox's problem, not the message's: keep it.
  return Said(Condition::kMailboxIo, fmt::format("maildir {}: {}", what, std::strerror(err)));
}

bool SyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// A reader may have moved the copy to cur/ and added flags ("name:2,S").
bool InCur(const std::string& cur, const std::string& name) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cur, ec)) {
    const std::string f = e.path().filename().string();
    if (f.size() > name.size() && f.compare(0, name.size(), name) == 0 && f[name.size()] == ':') {
      return true;
    }
  }
  return false;
}

// The folder under root for a route: the directory's mailbox, or
// "<domain>/<local part>" of the canonical address.
std::optional<std::string> Folder(const RecipientRoute& r) {
  std::string rel = r.mailbox;
  if (rel.empty()) {
    size_t at = r.address.rfind('@');
    if (at == std::string::npos) return std::nullopt;
    rel = r.address.substr(at + 1) + "/" + r.address.substr(0, at);
  }
  fs::path p(rel);
  if (p.is_absolute()) return std::nullopt;
  for (const auto& part : p) {
    if (part == ".." || part == ".") return std::nullopt;
  }
  return rel;
}

Outcome WriteOne(const std::string& root, const std::string& name, const RecipientRoute& route,
                 const std::string& content, bool retry) {
  auto folder = Folder(route);
  if (!folder) {
    return Said(Condition::kBadMailbox, fmt::format("bad mailbox \"{}\" for {}", route.mailbox, route.address));
  }
  const std::string base = root + "/" + *folder;
  std::error_code ec;
  for (const char* sub : {"/tmp", "/new", "/cur"}) {
    fs::create_directories(base + sub, ec);
    if (ec) return Temporary("mkdir " + base + sub, ec.value());
  }
  const std::string fresh = base + "/new/" + name;
  // Only a retry can find an earlier copy; a first attempt skips the scan.
  if (retry && (Exists(fresh) || InCur(base + "/cur", name))) {
    return Outcome{Outcome::Kind::kDelivered, "250 2.0.0 already in maildir"};
  }
  const std::string tmp = base + "/tmp/" + name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Temporary("open " + tmp, errno);
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Temporary("write " + tmp, err);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Temporary("sync " + tmp, err);
  }
  if (::link(tmp.c_str(), fresh.c_str()) != 0 && errno != EEXIST) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Temporary("link " + fresh, err);
  }
  ::unlink(tmp.c_str());
  if (!SyncPath(base + "/new")) return Temporary("sync " + base + "/new", errno);
  return Outcome{Outcome::Kind::kDelivered, "250 2.0.0 delivered to maildir"};
}

class MaildirDelivery final : public Delivery {
 public:
  MaildirDelivery(DestinationOptions options, boost::asio::thread_pool& blocking)
      : options_(std::move(options)), blocking_(blocking) {
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    hostname_ = host;
  }

  boost::asio::awaitable<std::vector<Outcome>> Deliver(const Job& job) override {
    co_return co_await Offload(blocking_, [this, &job] {
      std::vector<Outcome> out;
      out.reserve(job.recipients.size());
      for (size_t i : job.recipients) {
        // time.unique.host, as the Maildir convention asks; stable per recipient.
        std::string name = fmt::format("{}.{}_{}.{}", job.envelope->received_unix, job.queue_id, i,
                                       hostname_);
        out.push_back(WriteOne(options_.root, name, job.envelope->routes[i], *job.content,
                                job.retry));
        auto k = out.back().kind;
        ++(k == Outcome::Kind::kDelivered ? delivered_ : k == Outcome::Kind::kFailed ? failed_ : deferred_);
      }
      return out;
    });
  }

  Status SetConcurrency(const std::string& name, size_t) override {
    return Status::InvalidArgument(name + " is a maildir destination: it has no throttle");
  }

  std::vector<DestinationStats> Stats() override {
    DestinationStats s;
    s.name = options_.name;
    s.kind = "maildir";
    s.breaker = "closed";
    s.delivered = delivered_;
    s.deferred = deferred_;
    s.failed = failed_;
    return {s};
  }

 private:
  std::atomic<uint64_t> delivered_{0}, deferred_{0}, failed_{0};
  DestinationOptions options_;
  boost::asio::thread_pool& blocking_;
  std::string hostname_;
};

}  // namespace

std::unique_ptr<Delivery> MakeMaildirDelivery(DestinationOptions options,
                                              boost::asio::thread_pool& blocking) {
  return std::make_unique<MaildirDelivery>(std::move(options), blocking);
}

}  // namespace sluice::delivery
