#include "common/url.h"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>
#include <stdexcept>

#include "mail/ascii.h"

namespace sluice {

Result<Url> ParseUrl(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    return Status::InvalidArgument(fmt::format("\"{}\" is not an http:// or https:// URL", url));
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.find('@') != std::string::npos) {
    return Status::InvalidArgument("credentials in a webhook URL are not supported; put a token in the path");
  }
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    try {
      size_t used = 0;
      int port = std::stoi(authority.substr(colon + 1), &used);
      if (used != authority.size() - colon - 1 || port < 1 || port > 65535) throw std::out_of_range("port");
      u.port = static_cast<uint16_t>(port);
    } catch (const std::exception&) {
      return Status::InvalidArgument(fmt::format("\"{}\" has no valid port", url));
    }
    authority.resize(colon);
  } else {
    u.port = u.tls ? 443 : 80;
  }
  if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);
  }
  if (authority.empty()) return Status::InvalidArgument(fmt::format("\"{}\" has no host", url));
  u.host = authority;
  return u;
}

bool IsHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!mail::IsAlnum(c) && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool IsHeaderValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool IsLoopback(const std::string& host) {
  if (mail::EqualsNoCase(host, "localhost")) return true;
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

}  // namespace sluice
