#include "filter/message.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "mail/ascii.h"

namespace sluice::filter {
namespace {

bool FieldNameChar(char c) { return c > 0x20 && c < 0x7f && c != ':'; }

// Each line break in `v` becomes `eol`, and a continuation line that does
// not start with white space gets a tab.
std::string Refold(std::string_view v, std::string_view eol) {
  std::string out;
  out.reserve(v.size() + 8);
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c != '\r' && c != '\n') {
      out.push_back(c);
      continue;
    }
    // Runs of line breaks are one: a line of white space alone could read
    // as the end of the header section to some parsers.
    while (i + 1 < v.size() && (v[i + 1] == '\r' || v[i + 1] == '\n')) ++i;
    if (i + 1 >= v.size()) break;  // a trailing line break folds nothing
    out.append(eol);
    if (v[i + 1] != ' ' && v[i + 1] != '\t') out.push_back('\t');
  }
  return out;
}

}  // namespace

Message SplitMessage(std::string_view content) {
  Message m;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t eol = content.find("\r\n", pos);
    const size_t line_end = eol == std::string_view::npos ? content.size() : eol;
    const std::string_view line = content.substr(pos, line_end - pos);
    const size_t next = eol == std::string_view::npos ? content.size() : eol + 2;
    if (line.empty()) {  // the blank line: the body follows
      m.body.assign(content.substr(next));
      return m;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !m.fields.empty()) {
      m.fields.back().value.append("\r\n").append(line);
      pos = next;
      continue;
    }
    const size_t colon = line.find(':');
    bool field = colon != std::string_view::npos && colon > 0;
    for (size_t i = 0; field && i < colon; ++i) field = FieldNameChar(line[i]);
    if (!field) {  // not a header section any more: all of it is body
      m.malformed = true;
      m.body.assign(content.substr(pos));
      return m;
    }
    m.fields.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
    pos = next;
  }
  return m;
}

std::string JoinMessage(const Message& m) {
  size_t size = m.body.size() + 2;
  for (const auto& f : m.fields) size += f.name.size() + f.value.size() + 3;
  std::string out;
  out.reserve(size);
  for (const auto& f : m.fields) out.append(f.name).append(":").append(f.value).append("\r\n");
  if (!m.malformed) out.append("\r\n");
  out.append(m.body);
  return out;
}

std::string MilterValue(std::string_view v) {
  if (!v.empty() && v[0] == ' ') v.remove_prefix(1);
  return Refold(v, "\n");
}

std::string StoredValue(std::string_view v) { return " " + Refold(v, "\r\n"); }

void AddField(Message& m, std::string_view name, std::string_view value) {
  m.fields.push_back({std::string(name), StoredValue(value)});
}

void InsertField(Message& m, uint32_t index, std::string_view name, std::string_view value) {
  const size_t at = std::min<size_t>(index, m.fields.size());
  m.fields.insert(m.fields.begin() + static_cast<std::ptrdiff_t>(at), {std::string(name), StoredValue(value)});
}

void ChangeField(Message& m, uint32_t index, std::string_view name, std::string_view value) {
  uint32_t seen = 0;
  for (auto it = m.fields.begin(); it != m.fields.end(); ++it) {
    if (!mail::EqualsNoCase(it->name, name) || ++seen != index) continue;
    if (value.empty()) {
      m.fields.erase(it);
    } else {
      it->value = StoredValue(value);
    }
    return;
  }
  if (!value.empty()) AddField(m, name, value);
}

std::string NormalizeBody(std::string_view body) {
  std::string out;
  out.reserve(body.size() + body.size() / 32);
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '\r') {
      out.append("\r\n");
      if (i + 1 < body.size() && body[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out.append("\r\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FieldValue(const Message& m, std::string_view name) {
  for (const auto& f : m.fields) {
    if (!mail::EqualsNoCase(f.name, name)) continue;
    std::string out;
    for (size_t i = 0; i < f.value.size(); ++i) {
      if (f.value[i] == '\r' || f.value[i] == '\n') continue;
      out.push_back(f.value[i]);
    }
    size_t b = out.find_first_not_of(" \t");
    return b == std::string::npos ? std::string() : out.substr(b);
  }
  return {};
}

namespace {

// The number at the start of `s` (after blanks), if there is one.
std::optional<double> LeadingNumber(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  size_t n = 0;
  if (n < s.size() && (s[n] == '-' || s[n] == '+')) ++n;
  size_t digits = 0;
  while (n < s.size() && (std::isdigit(static_cast<unsigned char>(s[n])) || s[n] == '.')) {
    ++n;
    ++digits;
  }
  if (digits == 0 || digits > 20) return std::nullopt;
  std::string text(s.substr(0, n));
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::optional<double> SpamScore(std::string_view name, std::string_view value) {
  if (mail::EqualsNoCase(name, "X-Spam-Score")) return LeadingNumber(value);
  if (mail::EqualsNoCase(name, "X-Spamd-Result")) {
    size_t open = value.find('[');
    return open == std::string_view::npos ? std::nullopt : LeadingNumber(value.substr(open + 1));
  }
  if (mail::EqualsNoCase(name, "X-Spam-Status")) {
    size_t at = value.find("score=");
    return at == std::string_view::npos ? std::nullopt : LeadingNumber(value.substr(at + 6));
  }
  return std::nullopt;
}

}  // namespace sluice::filter
