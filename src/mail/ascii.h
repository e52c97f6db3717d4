// ASCII case folding and comparison, for the parts of mail that are
// case-insensitive by definition: verbs, keywords, domains (RFC 5321 §2.4).
// Locale-free and cheap; bytes ≥ 0x80 are left as they are.
#pragma once

#include <string>
#include <string_view>

namespace sluice::mail {

constexpr char ToLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr char ToUpper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

inline void LowerInPlace(std::string& s) {
  for (char& c : s) c = ToLower(c);
}
inline void UpperInPlace(std::string& s) {
  for (char& c : s) c = ToUpper(c);
}
inline std::string Lowered(std::string_view s) {
  std::string out(s);
  LowerInPlace(out);
  return out;
}
inline std::string Uppered(std::string_view s) {
  std::string out(s);
  UpperInPlace(out);
  return out;
}

inline bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

inline bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsNoCase(s.substr(0, prefix.size()), prefix);
}

// `needle` anywhere in `haystack`, ignoring ASCII case (operators' filters).
inline bool ContainsNoCase(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (EqualsNoCase(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

// Calls each(part) for every part of `s` between `sep`s, empty parts
// included ("a,,b" has three, "" has one), until `each` returns false;
// returns whether it went through all of them.
template <class F>
bool EachPart(std::string_view s, char sep, F each) {
  for (size_t start = 0;;) {
    const size_t end = s.find(sep, start);
    if (!each(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start))) return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool IsAlnum(char c) { return IsDigit(c) || IsAlpha(c); }

}  // namespace sluice::mail
