#include "common/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace sluice {
namespace {

// The address as 16 bytes (IPv4 mapped into ::ffff:0:0/96); false if it is none.
bool Bytes(std::string_view text, std::array<uint8_t, 16>* out, bool* v4) {
  const std::string s(text);
  in_addr a4{};
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    *out = {};
    (*out)[10] = (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, &a4, 4);
    *v4 = true;
    return true;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    std::memcpy(out->data(), &a6, 16);
    *v4 = false;
    return true;
  }
  return false;
}

bool Matches(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& net, int bits) {
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != net[i]) return false;
  }
  return true;
}

}  // namespace

Result<CidrList> CidrList::Parse(const std::vector<std::string>& entries) {
  CidrList out;
  for (const auto& e : entries) {
    const size_t slash = e.find('/');
    Range r;
    bool v4 = false;
    if (!Bytes(std::string_view(e).substr(0, slash), &r.net, &v4)) {
      return Status::InvalidArgument("\"" + e + "\" is not an IPv4 or IPv6 address or range");
    }
    const int max = v4 ? 32 : 128;
    int bits = max;
    if (slash != std::string::npos) {
      const std::string_view p = std::string_view(e).substr(slash + 1);
      auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), bits);
      if (ec != std::errc() || end != p.data() + p.size() || p.empty() || bits < 0 || bits > max) {
        return Status::InvalidArgument("\"" + e + "\": the prefix length must be 0 to " + std::to_string(max));
      }
    }
    r.bits = v4 ? bits + 96 : bits;
    std::array<uint8_t, 16> masked = r.net;
    for (int i = 0, left = r.bits; i < 16; ++i, left -= 8) {
      masked[i] &= left >= 8 ? 0xff : left <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - left));
    }
    if (masked != r.net) return Status::InvalidArgument("\"" + e + "\" has host bits set past its prefix");
    out.ranges_.push_back(r);
  }
  return out;
}

bool CidrList::Contains(std::string_view address) const {
  std::array<uint8_t, 16> a{};
  bool v4 = false;
  if (ranges_.empty() || !Bytes(address, &a, &v4)) return false;
  for (const auto& r : ranges_) {
    if (Matches(a, r.net, r.bits)) return true;
  }
  return false;
}

}  // namespace sluice
