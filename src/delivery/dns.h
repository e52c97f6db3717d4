// MX resolution for delivery to a recipient's domain (RFC 5321 §5.1) over
// c-ares. Blocking: callers run it on the blocking pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::delivery {

struct DnsOptions {
  std::vector<std::string> servers;  // "ip" or "ip:port"; empty: /etc/resolv.conf
  std::chrono::milliseconds timeout{5000};
  size_t tries = 2;
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

// MX records by preference, each host's A and AAAA records, at most
// `max_addresses` in all; no MX record means the domain's own addresses
// (the implicit MX); "MX 0 ." is a null MX (RFC 7505).
MxAnswer ResolveMx(const DnsOptions& options, const std::string& domain, size_t max_addresses);

}  // namespace sluice::delivery
