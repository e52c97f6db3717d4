// MX resolution for delivery to a recipient's domain (RFC 5321 §5.1) over
// c-ares, asynchronously, on an event loop of the resolver's own: a domain
// whose MX hosts never answer costs a timer, never a thread, and nothing
// that commits mail waits on DNS (doc/design.md, rule 3).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sluice::delivery {

struct DnsOptions {
  std::vector<std::string> servers;  // "ip" or "ip:port"; empty: /etc/resolv.conf
  std::chrono::milliseconds timeout{5000};  // per query try (c-ares)
  size_t tries = 2;
  // All of one domain's resolution — MX, then its hosts' addresses — ends
  // by this deadline, whatever its records say.
  std::chrono::milliseconds deadline{10'000};
  bool operator==(const DnsOptions&) const = default;  // a reload applies what changed
};

// One address to try, in order.
struct NextHop {
  std::string host;      // the MX name (or the domain itself for an implicit MX)
  std::string address;   // an IPv4 or IPv6 literal
  uint16_t preference = 0;
};

struct MxAnswer {
  enum class Kind { kOk, kNoSuchDomain, kNullMx, kTryLater };
  Kind kind = Kind::kTryLater;
  std::vector<NextHop> hops;  // lowest preference first; equal ones shuffled
  std::string error;          // for kNoSuchDomain / kTryLater
};

struct MxLimits {
  size_t max_hosts = 5;      // MX hosts whose addresses are looked up, lowest preference first
  size_t max_addresses = 5;  // addresses returned in all
};

// Resolves MX records and their hosts' addresses: no MX record means the
// domain's own addresses (the implicit MX); "MX 0 ." is a null MX (RFC
// 7505). The hosts of a domain are looked up at the same time, not one
// after another. Thread-safe: Resolve may be awaited from any executor.
class Resolver {
 public:
  explicit Resolver(DnsOptions options);
  ~Resolver();
  Resolver(const Resolver&) = delete;

  boost::asio::awaitable<MxAnswer> Resolve(std::string domain, MxLimits limits);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::delivery
