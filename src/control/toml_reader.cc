#include "control/toml_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <limits>

namespace sluice::control {
namespace {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// "250ms", "30s", "5m", "2h", "5d" or a bare number of seconds.
bool ParseDuration(std::string_view s, std::chrono::milliseconds* out) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || n < 0) return false;
  std::string_view unit(end, static_cast<size_t>(s.data() + s.size() - end));
  int64_t mult;
  if (unit == "ms") mult = 1;
  else if (unit.empty() || unit == "s") mult = 1000;
  else if (unit == "m") mult = 60'000;
  else if (unit == "h") mult = 3'600'000;
  else if (unit == "d") mult = 86'400'000;
  else return false;
  if (n > std::numeric_limits<int64_t>::max() / mult) return false;
  *out = std::chrono::milliseconds(n * mult);
  return true;
}

// "512", "64KiB", "35MiB", "1GiB".
bool ParseSize(std::string_view s, size_t* out) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc()) return false;
  std::string_view unit(end, static_cast<size_t>(s.data() + s.size() - end));
  uint64_t mult;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KiB") mult = 1024;
  else if (unit == "MiB") mult = 1024 * 1024;
  else if (unit == "GiB") mult = 1024ull * 1024 * 1024;
  else return false;
  if (n > std::numeric_limits<uint64_t>::max() / mult) return false;  // no wrap-around to a small size
  *out = static_cast<size_t>(n * mult);
  return true;
}

}  // namespace

TomlTable::TomlTable(const toml::table& table, std::string path, std::string file,
                     std::vector<ConfigError>* errors)
    : table_(table), path_(std::move(path)), file_(std::move(file)), errors_(errors) {}

TomlTable::~TomlTable() {
  for (const auto& [k, node] : table_) {
    std::string key(k.str());
    if (known_.count(key)) continue;
    std::string hint;
    size_t best = 3;
    for (const std::string& candidate : known_) {
      size_t d = EditDistance(key, candidate);
      if (d < best) {
        best = d;
        hint = fmt::format(" (did you mean \"{}\"?)", candidate);
      }
    }
    errors_->push_back({file_, static_cast<int>(node.source().begin.line), Dotted(key.c_str()),
                        "unknown key" + hint});
  }
}

std::string TomlTable::Dotted(const char* key) const {
  return path_.empty() ? std::string(key) : path_ + "." + key;
}

int TomlTable::Line(const char* key) const {
  const toml::node* n = table_.get(key);
  return n ? static_cast<int>(n->source().begin.line) : static_cast<int>(table_.source().begin.line);
}

void TomlTable::Error(const char* key, const std::string& what) {
  errors_->push_back({file_, Line(key), Dotted(key), what});
}

const toml::node* TomlTable::Find(const char* key) {
  known_.insert(key);
  return table_.get(key);
}

void TomlTable::String(const char* key, std::string* out) {
  const toml::node* n = Find(key);
  if (!n) return;
  if (auto v = n->value<std::string>()) {
    *out = *v;
  } else {
    Error(key, "expected a string");
  }
}

void TomlTable::Bool(const char* key, bool* out) {
  const toml::node* n = Find(key);
  if (!n) return;
  if (auto v = n->value<bool>()) {
    *out = *v;
  } else {
    Error(key, "expected true or false");
  }
}

void TomlTable::Size(const char* key, size_t* out, size_t min, size_t max) {
  const toml::node* n = Find(key);
  if (!n) return;
  size_t v = 0;
  if (auto i = n->value<int64_t>(); i && n->is_integer() && *i >= 0) {
    v = static_cast<size_t>(*i);
  } else if (auto s = n->value<std::string>(); !s || !ParseSize(*s, &v)) {
    return Error(key, "expected a non-negative integer or a size such as \"35MiB\"");
  }
  if (v < min || v > max) return Error(key, fmt::format("must be between {} and {}", min, max));
  *out = v;
}

void TomlTable::Int(const char* key, size_t* out, size_t min, size_t max) {
  const toml::node* n = Find(key);
  if (!n) return;
  auto i = n->value<int64_t>();
  if (!i || !n->is_integer()) return Error(key, "expected an integer");
  if (*i < static_cast<int64_t>(min) || static_cast<uint64_t>(*i) > max) {
    return Error(key, fmt::format("must be between {} and {}", min, max));
  }
  *out = static_cast<size_t>(*i);
}

void TomlTable::Port(const char* key, uint16_t* out) {
  size_t v = *out;
  size_t before = errors_->size();
  Int(key, &v, 1, 65535);
  if (errors_->size() == before) *out = static_cast<uint16_t>(v);
}

void TomlTable::Duration(const char* key, std::chrono::milliseconds* out) {
  const toml::node* n = Find(key);
  if (!n) return;
  if (auto i = n->value<int64_t>(); i && n->is_integer() && *i >= 0) {
    *out = std::chrono::seconds(*i);
  } else if (auto s = n->value<std::string>(); !s || !ParseDuration(*s, out)) {
    Error(key, "expected a duration such as \"30s\", \"5m\", \"2h\" or \"5d\"");
  }
}

void TomlTable::Duration(const char* key, std::chrono::seconds* out) {
  std::chrono::milliseconds ms = *out;
  size_t before = errors_->size();
  Duration(key, &ms);
  if (errors_->size() != before) return;
  if (ms.count() % 1000 != 0) return Error(key, "must be a whole number of seconds");
  *out = std::chrono::duration_cast<std::chrono::seconds>(ms);
}

void TomlTable::Double(const char* key, double* out, double min, double max) {
  const toml::node* n = Find(key);
  if (!n) return;
  auto v = n->value<double>();
  if (!v) return Error(key, "expected a number");
  if (*v < min || *v > max) return Error(key, fmt::format("must be between {} and {}", min, max));
  *out = *v;
}

void TomlTable::StringList(const char* key, std::vector<std::string>* out) {
  const toml::node* n = Find(key);
  if (!n) return;
  const toml::array* a = n->as_array();
  if (!a) return Error(key, "expected an array of strings");
  out->clear();
  for (const toml::node& e : *a) {
    auto v = e.value<std::string>();
    if (!v) return Error(key, "expected an array of strings");
    out->push_back(*v);
  }
}

void TomlTable::IntList(const char* key, std::vector<size_t>* out, size_t min, size_t max) {
  const toml::node* n = Find(key);
  if (!n) return;
  const toml::array* a = n->as_array();
  const std::string want = fmt::format("expected an array of integers from {} to {}", min, max);
  if (!a) return Error(key, want);
  std::vector<size_t> values;
  for (const toml::node& e : *a) {
    auto v = e.value<int64_t>();
    if (!v || *v < static_cast<int64_t>(min) || *v > static_cast<int64_t>(max)) return Error(key, want);
    values.push_back(static_cast<size_t>(*v));
  }
  *out = std::move(values);
}

void TomlTable::Table(const char* key, const std::function<void(TomlTable&)>& each) {
  const toml::node* n = Find(key);
  if (!n) return;
  const toml::table* t = n->as_table();
  if (!t) return Error(key, "expected a table");
  TomlTable sub(*t, Dotted(key), file_, errors_);
  each(sub);
}

void TomlTable::NamedTables(const char* key,
                            const std::function<void(const std::string&, TomlTable&)>& each) {
  Table(key, [&](TomlTable& outer) {
    for (const auto& [name, node] : outer.table_) {
      std::string n(name.str());
      outer.known_.insert(n);
      const toml::table* t = node.as_table();
      if (!t) {
        outer.Error(n.c_str(), "expected a table");
        continue;
      }
      TomlTable sub(*t, outer.Dotted(n.c_str()), file_, errors_);
      each(n, sub);
    }
  });
}

void TomlTable::StringMap(const char* key,
                          const std::function<void(const std::string&, const std::string&, int)>& each) {
  Table(key, [&](TomlTable& outer) {
    for (const auto& [name, node] : outer.table_) {
      std::string n(name.str());
      outer.known_.insert(n);
      auto v = node.value<std::string>();
      if (!v) {
        outer.Error(n.c_str(), "expected a string");
        continue;
      }
      each(n, *v, static_cast<int>(node.source().begin.line));
    }
  });
}

void TomlTable::TableArray(const char* key, const std::function<void(TomlTable&)>& each) {
  const toml::node* n = Find(key);
  if (!n) return;
  const toml::array* a = n->as_array();
  if (!a) return Error(key, "expected an array of tables ([[" + Dotted(key) + "]])");
  for (size_t i = 0; i < a->size(); ++i) {
    const toml::table* t = (*a)[i].as_table();
    if (!t) {
      Error(key, "expected an array of tables");
      continue;
    }
    TomlTable sub(*t, fmt::format("{}[{}]", Dotted(key), i), file_, errors_);
    each(sub);
  }
}

bool ParseTomlFile(const std::string& path, toml::table* out, std::vector<ConfigError>* errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors->push_back({path, 0, "", "cannot open file"});
    return false;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseTomlText(text, path, out, errors);
}

bool ParseTomlText(std::string_view text, const std::string& path, toml::table* out,
                   std::vector<ConfigError>* errors) {
  try {
    *out = toml::parse(text, path);
    return true;
  } catch (const toml::parse_error& e) {
    errors->push_back({path, static_cast<int>(e.source().begin.line), "", "syntax: " + std::string(e.description())});
    return false;
  }
}

}  // namespace sluice::control
