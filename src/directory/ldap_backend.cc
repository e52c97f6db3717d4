// A forest replica in LDAP (OpenLDAP client library). Recipients are
// sluiceRecipient entries under the base DN (examples/ldap/sluice.schema):
// one search matches the address or any of its aliases. Searches are
// asynchronous (ldap_search_ext, then ldap_result when the connection's
// descriptor is readable), many in flight on one connection, so a slow but
// healthy server passes limit ÷ latency lookups a second.
#define LDAP_DEPRECATED 0
#include <fmt/format.h>
#include <ldap.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <future>
#include <thread>
#include <unordered_map>

#include "directory/directory.h"
#include "mail/ascii.h"

namespace sluice::directory {
namespace {

namespace asio = boost::asio;

// RFC 4515 §3: escape the characters that mean something in a filter.
std::string EscapeFilter(const std::string& in) {
  std::string out;
  for (unsigned char c : in) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0) {
      out += fmt::format("\\{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string First(LDAP* ld, LDAPMessage* e, const char* attr) {
  berval** v = ldap_get_values_len(ld, e, attr);
  std::string out;
  if (v && v[0]) out.assign(v[0]->bv_val, v[0]->bv_len);
  ldap_value_free_len(v);
  return out;
}

// Contract: everything below but Start, Lookup and the destructor runs on
// the replica's own thread; no lock is needed.
class LdapBackend final : public Backend {
 public:
  LdapBackend(std::string uri, std::string base)
      : uri_(std::move(uri)), base_(std::move(base)), work_(asio::make_work_guard(io_)), sweep_(io_) {
    Sweep();
    thread_ = std::thread([this] { io_.run(); });
  }

  // Callers still waiting are not called back: the forest that owns this
  // replica is going away, and each caller's own deadline answers it.
  ~LdapBackend() override {
    asio::post(io_, [this] {
      pending_.clear();
      Close();
      sweep_.cancel();
    });
    work_.reset();
    thread_.join();
  }

  void Start(const std::string& address, const std::string& tenant, Done done) override {
    asio::post(io_, [this, a = address, t = tenant, d = std::move(done)]() mutable { Submit(a, t, std::move(d)); });
  }

  // Not on the replica's thread: it would wait on itself.
  LookupResult Lookup(const std::string& address, const std::string& tenant) override {
    std::promise<LookupResult> answer;
    auto got = answer.get_future();
    Start(address, tenant, [&answer](LookupResult r) { answer.set_value(std::move(r)); });
    return got.get();
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Request {
    Done done;
    Clock::time_point deadline;
  };
  static constexpr std::chrono::seconds kSearchTimeout{5};

  void Submit(const std::string& raw, const std::string& tenant, Done done) {
    const std::string address = mail::Lowered(raw);
    // Scoped to the tenant that owns the domain: another tenant's entry
    // with this address as an alias is not asked.
    const std::string scope = tenant.empty() ? "" : fmt::format("(sluiceTenant={})", EscapeFilter(tenant));
    const std::string filter = fmt::format(
        "(&(objectClass=sluiceRecipient){1}(|(sluiceAddress={0})(sluiceAlias={0})))", EscapeFilter(address), scope);
    // A connection the server closed while idle shows only when used: one
    // more try on a fresh one.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!ld_ && !Open()) break;
      const char* attrs[] = {"sluiceAddress", "sluiceTenant", "sluiceDestination", "sluiceMailbox", nullptr};
      timeval tv{kSearchTimeout.count(), 0};
      int msgid = 0;
      int rc = ldap_search_ext(ld_, base_.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), const_cast<char**>(attrs), 0,
                               nullptr, nullptr, &tv, 2, &msgid);
      if (rc == LDAP_SUCCESS) {
        pending_.emplace(msgid, Request{std::move(done), Clock::now() + kSearchTimeout});
        return;
      }
      Close();
    }
    done(LookupResult::TryLater(Reason::kBackendError, ""));
  }

  // Connects and binds, blocking at most the network timeout: only this
  // replica's lookups wait for it.
  bool Open() {
    LDAP* ld = nullptr;
    if (ldap_initialize(&ld, uri_.c_str()) != LDAP_SUCCESS) return false;
    int v3 = LDAP_VERSION3;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    timeval net{2, 0};
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    berval anon{0, nullptr};
    int fd = -1;
    if (ldap_sasl_bind_s(ld, nullptr, LDAP_SASL_SIMPLE, &anon, nullptr, nullptr, nullptr) != LDAP_SUCCESS ||
        ldap_get_option(ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0) {
      ldap_unbind_ext(ld, nullptr, nullptr);
      return false;
    }
    ld_ = ld;
    fd_ = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
    WaitReadable(++generation_);
    return true;
  }

  void WaitReadable(uint64_t generation) {
    fd_->async_wait(asio::posix::stream_descriptor::wait_read, [this, generation](boost::system::error_code ec) {
      if (ec || generation != generation_) return;  // closed meanwhile
      Drain();
      if (ld_ && generation == generation_) WaitReadable(generation);
    });
  }

  // Every complete answer libldap can give without waiting (it may hold
  // more than one in its buffer), each to its caller.
  void Drain() {
    while (ld_) {
      timeval now{0, 0};
      LDAPMessage* res = nullptr;
      int rc = ldap_result(ld_, LDAP_RES_ANY, LDAP_MSG_ALL, &now, &res);
      if (rc == 0) return;
      if (rc < 0) {
        Close();
        return;
      }
      auto it = pending_.find(ldap_msgid(res));
      if (it != pending_.end()) {
        Done done = std::move(it->second.done);
        pending_.erase(it);
        done(Answer(res));
      }
      ldap_msgfree(res);
    }
  }

  LookupResult Answer(LDAPMessage* res) {
    int code = LDAP_OTHER;
    if (ldap_parse_result(ld_, res, &code, nullptr, nullptr, nullptr, nullptr, 0) != LDAP_SUCCESS ||
        (code != LDAP_SUCCESS && code != LDAP_SIZELIMIT_EXCEEDED)) {
      return LookupResult::TryLater(Reason::kBackendError, "");
    }
    LDAPMessage* e = ldap_first_entry(ld_, res);
    if (!e) return LookupResult::No(Reason::kUnknownUser);
    RecipientRoute r;
    r.address = First(ld_, e, "sluiceAddress");
    r.tenant = First(ld_, e, "sluiceTenant");
    r.destination = First(ld_, e, "sluiceDestination");
    r.mailbox = First(ld_, e, "sluiceMailbox");
    mail::LowerInPlace(r.address);
    return LookupResult::Yes(std::move(r));
  }

  // A broken connection fails what it carried; the next lookup reopens.
  void Close() {
    if (fd_) {
      fd_->release();  // libldap owns the descriptor
      fd_.reset();
    }
    if (ld_) ldap_unbind_ext(ld_, nullptr, nullptr);
    ld_ = nullptr;
    ++generation_;
    auto failed = std::move(pending_);
    pending_.clear();
    for (auto& [id, req] : failed) req.done(LookupResult::TryLater(Reason::kBackendError, ""));
  }

  // Searches past their deadline are abandoned at the server and answered.
  void Sweep() {
    const auto now = Clock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      if (ld_) ldap_abandon_ext(ld_, it->first, nullptr, nullptr);
      Done done = std::move(it->second.done);
      it = pending_.erase(it);
      done(LookupResult::TryLater(Reason::kTimedOut, ""));
    }
    sweep_.expires_after(std::chrono::milliseconds(250));
    sweep_.async_wait([this](boost::system::error_code ec) {
      if (!ec) Sweep();
    });
  }

  const std::string uri_, base_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer sweep_;
  std::thread thread_;
  LDAP* ld_ = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> fd_;
  uint64_t generation_ = 0;  // which connection a wait belongs to
  std::unordered_map<int, Request> pending_;  // by message id
};

}  // namespace

Result<std::unique_ptr<Backend>> OpenLdapBackend(const std::string& url) {
  // ldap://host:port/base-dn
  size_t slash = url.find('/', 7);
  if (slash == std::string::npos || slash + 1 >= url.size()) {
    return Status::InvalidArgument(fmt::format("\"{}\" is not ldap://host:port/base-dn", url));
  }
  return std::unique_ptr<Backend>(new LdapBackend(url.substr(0, slash), url.substr(slash + 1)));
}

}  // namespace sluice::directory
