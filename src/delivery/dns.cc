#include "delivery/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <mutex>
#include <random>

namespace sluice::delivery {
namespace {

// One c-ares channel for the length of one resolution.
class Channel {
 public:
  explicit Channel(const DnsOptions& o) {
    static std::once_flag once;
    std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
    ares_options opts{};
    opts.timeout = static_cast<int>(o.timeout.count());
    opts.tries = static_cast<int>(o.tries);
    opts.lookups = const_cast<char*>("b");  // DNS only, as Postfix's smtp_host_lookup = dns
    status_ = ares_init_options(&ch_, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
    if (status_ == ARES_SUCCESS && !o.servers.empty()) {
      std::string csv;
      for (const auto& s : o.servers) csv += (csv.empty() ? "" : ",") + s;
      status_ = ares_set_servers_ports_csv(ch_, csv.c_str());
    }
  }
  ~Channel() {
    if (ok()) ares_destroy(ch_);
  }
  bool ok() const { return status_ == ARES_SUCCESS; }
  int status() const { return status_; }
  ares_channel get() { return ch_; }

  // Drives the channel until every query has called back.
  void Run(const bool& done) {
    while (!done) {
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      int bits = ares_getsock(ch_, socks, ARES_GETSOCK_MAXNUM);
      std::vector<pollfd> fds;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
        if (events) fds.push_back({socks[i], events, 0});
      }
      timeval tv{};
      timeval* left = ares_timeout(ch_, nullptr, &tv);
      int ms = left ? static_cast<int>(left->tv_sec * 1000 + left->tv_usec / 1000) : 1000;
      int n = poll(fds.data(), fds.size(), ms);
      if (n <= 0) {
        ares_process_fd(ch_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
        continue;
      }
      for (const auto& f : fds) {
        ares_process_fd(ch_, f.revents & (POLLIN | POLLERR | POLLHUP) ? f.fd : ARES_SOCKET_BAD,
                        f.revents & POLLOUT ? f.fd : ARES_SOCKET_BAD);
      }
    }
  }

 private:
  ares_channel ch_ = nullptr;
  int status_ = ARES_SUCCESS;
};

struct MxQuery {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<std::pair<uint16_t, std::string>> records;
};

void OnMx(void* arg, int status, int, unsigned char* buf, int len) {
  auto* q = static_cast<MxQuery*>(arg);
  q->done = true;
  q->status = status;
  if (status != ARES_SUCCESS) return;
  ares_mx_reply* mx = nullptr;
  q->status = ares_parse_mx_reply(buf, len, &mx);
  for (ares_mx_reply* r = mx; r; r = r->next) q->records.emplace_back(r->priority, r->host);
  if (mx) ares_free_data(mx);
}

struct AddrQuery {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<std::string> addresses;
};

void OnAddr(void* arg, int status, int, ares_addrinfo* res) {
  auto* q = static_cast<AddrQuery*>(arg);
  q->done = true;
  q->status = status;
  if (!res) return;
  for (ares_addrinfo_node* n = res->nodes; n; n = n->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* a = n->ai_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(n->ai_addr)->sin_addr)
                                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(n->ai_addr)->sin6_addr);
    if (inet_ntop(n->ai_family, a, text, sizeof text)) {
      if (std::find(q->addresses.begin(), q->addresses.end(), text) == q->addresses.end()) q->addresses.push_back(text);
    }
  }
  ares_freeaddrinfo(res);
}

bool NoSuchName(int status) { return status == ARES_ENOTFOUND || status == ARES_ENONAME; }

}  // namespace

MxAnswer ResolveMx(const DnsOptions& options, const std::string& domain, size_t max_addresses) {
  MxAnswer out;
  Channel ch(options);
  if (!ch.ok()) {
    out.error = fmt::format("resolver setup failed: {}", ares_strerror(ch.status()));
    return out;
  }
  MxQuery mx;
  ares_query(ch.get(), domain.c_str(), ns_c_in, ns_t_mx, OnMx, &mx);
  ch.Run(mx.done);
  if (mx.status == ARES_ENOTFOUND && mx.records.empty()) {
    // NXDOMAIN: the domain does not exist at all.
    out.kind = MxAnswer::Kind::kNoSuchDomain;
    out.error = fmt::format("{}: domain not found (MX lookup)", domain);
    return out;
  }
  if (mx.status != ARES_SUCCESS && mx.status != ARES_ENODATA) {
    out.error = fmt::format("{}: MX lookup failed: {}", domain, ares_strerror(mx.status));
    return out;
  }
  if (mx.records.size() == 1 && (mx.records[0].second.empty() || mx.records[0].second == ".")) {
    out.kind = MxAnswer::Kind::kNullMx;
    out.error = fmt::format("{} accepts no mail (null MX)", domain);
    return out;
  }
  if (mx.records.empty()) mx.records.emplace_back(0, domain);  // the implicit MX
  // Lowest preference first; equal preferences in random order (§5.1).
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::shuffle(mx.records.begin(), mx.records.end(), rng);
  std::stable_sort(mx.records.begin(), mx.records.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string last_error;
  for (const auto& [pref, host] : mx.records) {
    if (out.hops.size() >= max_addresses) break;
    AddrQuery addr;
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    ares_getaddrinfo(ch.get(), host.c_str(), nullptr, &hints, OnAddr, &addr);
    ch.Run(addr.done);
    if (addr.addresses.empty()) {
      last_error = fmt::format("{}: address lookup failed: {}", host, ares_strerror(addr.status));
      if (NoSuchName(addr.status) && host == domain) {
        out.kind = MxAnswer::Kind::kNoSuchDomain;
        out.error = fmt::format("{}: no MX and no address", domain);
        return out;
      }
      continue;
    }
    for (const auto& a : addr.addresses) {
      if (out.hops.size() >= max_addresses) break;
      out.hops.push_back({host, a, pref});
    }
  }
  if (out.hops.empty()) {
    out.error = last_error.empty() ? fmt::format("{}: no usable MX host", domain) : last_error;
    return out;
  }
  out.kind = MxAnswer::Kind::kOk;
  return out;
}

}  // namespace sluice::delivery
