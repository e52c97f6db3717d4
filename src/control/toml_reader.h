// Walks a parsed TOML table, converting values into typed options and
// recording every problem with file, line and dotted key. Unknown keys are
// errors, with a "did you mean" hint. Only control/ sees toml++.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <utility>
#include <set>
#include <string>
#include <vector>

#include "control/config.h"

namespace sluice::control {

class TomlTable {
 public:
  TomlTable(const toml::table& table, std::string path, std::string file,
            std::vector<ConfigError>* errors);
  TomlTable(const TomlTable&) = delete;
  // Reports keys that no getter asked for.
  ~TomlTable();

  void String(const char* key, std::string* out);
  void Bool(const char* key, bool* out);
  void Size(const char* key, size_t* out, size_t min, size_t max);  // integer or "10MiB"
  void Int(const char* key, size_t* out, size_t min, size_t max);   // a count
  bool Has(const char* key) const { return table_.contains(key); }
  void Port(const char* key, uint16_t* out);
  void Duration(const char* key, std::chrono::seconds* out);        // integer s or "5m"
  void Duration(const char* key, std::chrono::milliseconds* out);   // also "250ms"
  void Double(const char* key, double* out, double min, double max);
  void StringList(const char* key, std::vector<std::string>* out);
  void IntList(const char* key, std::vector<size_t>* out, size_t min, size_t max);
  // Every key of a table whose values are strings, with its line ([placement]).
  void StringMap(const char* key, const std::function<void(const std::string&, const std::string&, int)>& each);
  // A sub-table: `each` is called with it if present.
  void Table(const char* key, const std::function<void(TomlTable&)>& each);
  // Every sub-table of a table, by name ([destinations.NAME]).
  void NamedTables(const char* key, const std::function<void(const std::string&, TomlTable&)>& each);
  // An array of tables ([[tenants]]).
  void TableArray(const char* key, const std::function<void(TomlTable&)>& each);

  // One of a fixed set of names, e.g. Enum("tls", &d.tls, {{"none", Tls::kNone}, ...});
  // anything else is "\"x\" is not one of a, b, c" on its line (and false).
  template <class E>
  bool Enum(const char* key, E* out, std::initializer_list<std::pair<const char*, E>> names) {
    std::string value;
    for (const auto& [name, v] : names) {
      if (v == *out) value = name;
    }
    String(key, &value);
    for (const auto& [name, v] : names) {
      if (value == name) {
        *out = v;
        return true;
      }
    }
    std::string all;
    for (const auto& [name, v] : names) all += (all.empty() ? "" : ", ") + std::string(name);
    Error(key, "\"" + value + "\" is not one of " + all);
    return false;
  }

  void Error(const char* key, const std::string& what);
  int Line(const char* key) const;
  const std::string& path() const { return path_; }

 private:
  const toml::node* Find(const char* key);
  std::string Dotted(const char* key) const;

  const toml::table& table_;
  std::string path_;
  std::string file_;
  std::vector<ConfigError>* errors_;
  std::set<std::string> known_;
};

// Parses a TOML file, reporting a syntax error with its line.
bool ParseTomlFile(const std::string& path, toml::table* out, std::vector<ConfigError>* errors);
// The same for text already read; `path` names it in errors.
bool ParseTomlText(std::string_view text, const std::string& path, toml::table* out,
                   std::vector<ConfigError>* errors);

}  // namespace sluice::control
