// The directory stage: recipient → tenant → forest → mailbox destination.
// Other stages include only this header.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "directory/lookup.h"

namespace sluice::directory {

// The data a directory is seeded with (examples/directory.toml).
struct SeedRecipient {
  std::string address;
  std::vector<std::string> aliases;
  std::string destination;  // empty: the tenant's default
  std::string mailbox;      // empty: the destination's default for the address
};
struct SeedTenant {
  std::string name;
  std::string forest;
  std::vector<std::string> domains;
  std::string destination;  // default destination of its recipients
  std::vector<SeedRecipient> recipients;
};
struct SeedData {
  std::vector<std::string> forests;
  std::vector<SeedTenant> tenants;
};

struct DirectoryOptions {
  std::string path = "var/directory.db";  // the embedded SQLite database
  std::string seed;                       // TOML seed, loaded when the database is empty
  size_t threads = 4;                     // lookups run here, never on an event loop
};

// A back end that answers lookups by blocking; called only from the
// directory's own threads. Thread-safe.
class Backend {
 public:
  virtual ~Backend() = default;
  // `address` is canonical (domain lower-cased).
  virtual LookupResult Lookup(const std::string& address) = 0;
};

// Opens the SQLite back end, creating and seeding it on first start.
Result<std::unique_ptr<Backend>> OpenSqliteBackend(const std::string& path, const SeedData* seed);

// What the edge talks to. Resolve never blocks the calling event loop:
// the lookup runs on the directory's threads and the coroutine resumes on
// its own executor.
class Directory {
 public:
  virtual ~Directory() = default;
  virtual boost::asio::awaitable<LookupResult> Resolve(std::string address) = 0;
};

// A directory over one blocking back end, with `threads` lookup threads.
std::unique_ptr<Directory> MakeDirectory(std::unique_ptr<Backend> backend, size_t threads);

}  // namespace sluice::directory
