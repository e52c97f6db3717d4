// Address ranges (IPv4 and IPv6 CIDR) for the connection filter's allow
// and block lists ([protection], doc/protection.md). An IPv4-mapped IPv6
// client (::ffff:192.0.2.1) matches the IPv4 ranges. Contains is a scan of
// the ranges: lists are operator-written, tens to a few thousand entries.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sluice {

class CidrList {
 public:
  // "192.0.2.0/24", "2001:db8::/32", or one address. A bad entry, or a
  // prefix with host bits set ("192.0.2.1/24"), is an error naming it.
  static Result<CidrList> Parse(const std::vector<std::string>& entries);
  // `address`: an IP literal as the edge sees the peer; anything else
  // matches nothing.
  bool Contains(std::string_view address) const;
  bool empty() const { return ranges_.empty(); }
  bool operator==(const CidrList&) const = default;

 private:
  struct Range {
    std::array<uint8_t, 16> net{};  // IPv4 as ::ffff:a.b.c.d
    int bits = 0;                   // of the 128
    bool operator==(const Range&) const = default;
  };
  std::vector<Range> ranges_;
};

}  // namespace sluice
