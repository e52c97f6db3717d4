#include "smtp/address.h"

#include <algorithm>

#include "mail/address.h"
#include "mail/ascii.h"

namespace sluice::smtp {
namespace {

bool IsParamKeyChar(char c) { return mail::IsAlnum(c) || c == '-'; }
bool IsParamValueChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 33 && u <= 126 && c != '=';
}

}  // namespace

std::variant<PathArgument, SyntaxError> ParsePathArgument(std::string_view arg,
                                                          std::string_view keyword,
                                                          bool allow_null,
                                                          SyntaxError on_bad_path, bool utf8) {
  // keyword and ':' are case-insensitive; some clients put a space after ':'.
  if (arg.size() < keyword.size() + 1) return SyntaxError::kMissingArgument;
  for (size_t i = 0; i < keyword.size(); ++i) {
    if (mail::ToUpper(arg[i]) != keyword[i]) {
      return SyntaxError::kMissingArgument;
    }
  }
  if (arg[keyword.size()] != ':') return SyntaxError::kMissingArgument;
  std::string_view rest = arg.substr(keyword.size() + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty() || rest.front() != '<') return on_bad_path;

  // The path ends at the first '>' outside a quoted local part.
  size_t close = std::string_view::npos;
  bool quoted = false;
  for (size_t i = 1; i < rest.size(); ++i) {
    char c = rest[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '>' && !quoted) {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos || close + 1 > mail::kMaxPath) return on_bad_path;
  std::string_view path = rest.substr(1, close - 1);
  if (!path.empty() && path.front() == '@') {  // source route: drop it
    size_t colon = path.find(':');
    if (colon == std::string_view::npos) return on_bad_path;
    path.remove_prefix(colon + 1);
  }

  PathArgument out;
  if (path.empty()) {
    if (!allow_null) return on_bad_path;
  } else {
    if (!mail::IsValidMailbox(path, utf8)) return on_bad_path;
    out.address = std::string(path);
  }

  std::string_view params = rest.substr(close + 1);
  if (!params.empty() && params.front() != ' ') return on_bad_path;
  while (!params.empty()) {
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    if (params.empty()) break;
    size_t end = params.find(' ');
    std::string_view token = params.substr(0, end);
    params = end == std::string_view::npos ? std::string_view() : params.substr(end);
    size_t eq = token.find('=');
    std::string_view key = token.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : token.substr(eq + 1);
    if (key.empty() || !std::all_of(key.begin(), key.end(), IsParamKeyChar)) {
      return SyntaxError::kBadParameter;
    }
    if (eq != std::string_view::npos &&
        (value.empty() || !std::all_of(value.begin(), value.end(), IsParamValueChar))) {
      return SyntaxError::kBadParameter;
    }
    out.params.emplace_back(mail::Uppered(key), std::string(value));
  }
  return out;
}

}  // namespace sluice::smtp
