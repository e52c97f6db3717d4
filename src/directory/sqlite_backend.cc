// The embedded directory: one SQLite database holding every forest.
// Read-mostly; each lookup thread gets its own connection (WAL mode lets
// them read in parallel).
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "directory/connection_pool.h"
#include "directory/directory.h"
#include "mail/ascii.h"

namespace sluice::directory {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS forests(name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS tenants(
  name TEXT PRIMARY KEY,
  forest TEXT NOT NULL REFERENCES forests(name));
CREATE TABLE IF NOT EXISTS domains(
  domain TEXT PRIMARY KEY,
  tenant TEXT NOT NULL REFERENCES tenants(name));
CREATE TABLE IF NOT EXISTS recipients(
  address TEXT PRIMARY KEY,
  tenant TEXT NOT NULL REFERENCES tenants(name),
  destination TEXT NOT NULL,
  mailbox TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aliases(
  alias TEXT PRIMARY KEY,
  address TEXT NOT NULL REFERENCES recipients(address));
)sql";

constexpr const char* kDomainQuery =
    "SELECT t.name, t.forest FROM domains d JOIN tenants t ON t.name = d.tenant "
    "WHERE d.domain = ?1";
// Only the tenant that owns the domain answers for it.
constexpr const char* kRecipientQuery =
    "SELECT address, destination, mailbox FROM recipients WHERE address = "
    "COALESCE((SELECT address FROM aliases WHERE alias = ?1), ?1) AND tenant = ?2";

std::string Lower(const std::string& s) { return mail::Lowered(s); }

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::IoError(fmt::format("sqlite: {}", m));
  }
  return Status::Ok();
}

// One connection with its prepared statements.
struct Connection {
  sqlite3* db = nullptr;
  sqlite3_stmt* domain = nullptr;
  sqlite3_stmt* recipient = nullptr;
  ~Connection() {
    sqlite3_finalize(domain);
    sqlite3_finalize(recipient);
    sqlite3_close(db);
  }
};

Result<std::unique_ptr<Connection>> Connect(const std::string& path) {
  auto c = std::make_unique<Connection>();
  if (sqlite3_open_v2(path.c_str(), &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return Status::IoError(fmt::format("sqlite: cannot open {}: {}", path, sqlite3_errmsg(c->db)));
  }
  sqlite3_busy_timeout(c->db, 2000);
  if (auto s = Exec(c->db, "PRAGMA journal_mode=WAL;"); !s.ok()) return s;
  if (auto s = Exec(c->db, kSchema); !s.ok()) return s;
  if (sqlite3_prepare_v2(c->db, kDomainQuery, -1, &c->domain, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(c->db, kRecipientQuery, -1, &c->recipient, nullptr) != SQLITE_OK) {
    return Status::IoError(fmt::format("sqlite: prepare: {}", sqlite3_errmsg(c->db)));
  }
  return c;
}

std::string Column(sqlite3_stmt* st, int i) {
  const unsigned char* t = sqlite3_column_text(st, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}

Status Seed(sqlite3* db, const SeedData& seed) {
  if (auto s = Exec(db, "BEGIN IMMEDIATE;"); !s.ok()) return s;
  auto run = [&](const char* sql, std::initializer_list<std::string> args) -> Status {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
      return Status::IoError(fmt::format("sqlite: {}", sqlite3_errmsg(db)));
    }
    int i = 1;
    for (const std::string& a : args) sqlite3_bind_text(st, i++, a.c_str(), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
      return Status::InvalidArgument(fmt::format("sqlite seed: {}", sqlite3_errmsg(db)));
    }
    return Status::Ok();
  };
  Status s;
  for (const auto& f : seed.forests) {
    if (s = run("INSERT INTO forests(name) VALUES(?1)", {f}); !s.ok()) break;
  }
  for (const auto& t : seed.tenants) {
    if (!s.ok()) break;
    s = run("INSERT INTO tenants(name, forest) VALUES(?1, ?2)", {t.name, t.forest});
    for (const auto& d : t.domains) {
      if (!s.ok()) break;
      s = run("INSERT INTO domains(domain, tenant) VALUES(?1, ?2)", {Lower(d), t.name});
    }
    for (const auto& r : t.recipients) {
      if (!s.ok()) break;
      std::string address = Lower(r.address);
      std::string dest = r.destination.empty() ? t.destination : r.destination;
      // An empty mailbox lets each destination choose its default (Maildir:
      // "<domain>/<local part>"; LMTP: the address itself).
      const std::string& mailbox = r.mailbox;
      s = run("INSERT INTO recipients(address, tenant, destination, mailbox) VALUES(?1,?2,?3,?4)",
              {address, t.name, dest, mailbox});
      for (const auto& a : r.aliases) {
        if (!s.ok()) break;
        s = run("INSERT INTO aliases(alias, address) VALUES(?1, ?2)", {Lower(a), address});
      }
    }
  }
  if (!s.ok()) {
    Exec(db, "ROLLBACK;");
    return s;
  }
  return Exec(db, "COMMIT;");
}

class SqliteBackend final : public Backend {
 public:
  explicit SqliteBackend(std::string path)
      : pool_([path] {
          auto c = Connect(path);
          return c.ok() ? std::move(c).value() : nullptr;
        }) {}

  LookupResult Lookup(const std::string& raw, const std::string& tenant) override {
    std::unique_ptr<Connection> c = pool_.Take();
    if (!c) return LookupResult::TryLater(Reason::kBackendError, "");
    LookupResult r = Query(*c, Lower(raw), tenant);
    pool_.Give(std::move(c));
    return r;
  }

 private:
  LookupResult Query(Connection& c, const std::string& address, const std::string& tenant) {
    size_t at = address.rfind('@');
    if (at == std::string::npos) return LookupResult::No(Reason::kUnknownDomain);
    std::string domain = address.substr(at + 1);
    sqlite3_reset(c.domain);
    sqlite3_bind_text(c.domain, 1, domain.c_str(), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(c.domain);
    if (rc == SQLITE_DONE) return LookupResult::No(Reason::kUnknownDomain);
    if (rc != SQLITE_ROW) return LookupResult::TryLater(Reason::kBackendError, "");
    RecipientRoute route;
    route.tenant = Column(c.domain, 0);
    route.forest = Column(c.domain, 1);
    if (!tenant.empty() && tenant != route.tenant) return LookupResult::No(Reason::kUnknownUser, route.forest);

    sqlite3_reset(c.recipient);
    sqlite3_bind_text(c.recipient, 1, address.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(c.recipient, 2, route.tenant.c_str(), -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(c.recipient);
    if (rc == SQLITE_DONE) return LookupResult::No(Reason::kUnknownUser, route.forest);
    if (rc != SQLITE_ROW) return LookupResult::TryLater(Reason::kBackendError, route.forest);
    route.address = Column(c.recipient, 0);
    route.destination = Column(c.recipient, 1);
    route.mailbox = Column(c.recipient, 2);
    return LookupResult::Yes(std::move(route));
  }

  ConnectionPool<Connection> pool_;
};

}  // namespace

Result<std::unique_ptr<Backend>> OpenSqliteBackend(const std::string& path, const SeedData* seed) {
  auto c = Connect(path);
  if (!c.ok()) return c.status();
  sqlite3* db = c.value()->db;
  if (seed != nullptr) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM tenants", -1, &st, nullptr);
    bool empty = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
    sqlite3_finalize(st);
    if (empty) {
      if (auto s = Seed(db, *seed); !s.ok()) return s;
    }
  }
  return std::unique_ptr<Backend>(new SqliteBackend(path));
}

}  // namespace sluice::directory

namespace sluice::directory {

Result<Catalog> LoadCatalog(const std::string& path) {
  auto c = Connect(path);
  if (!c.ok()) return c.status();
  sqlite3* db = c.value()->db;
  Catalog p;
  auto each = [&](const char* sql, auto&& row) -> Status {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
      return Status::IoError(fmt::format("sqlite: {}", sqlite3_errmsg(db)));
    }
    while (sqlite3_step(st) == SQLITE_ROW) row(st);
    sqlite3_finalize(st);
    return Status::Ok();
  };
  Status s = each("SELECT name FROM forests ORDER BY name",
                  [&](sqlite3_stmt* st) { p.forests.push_back(Column(st, 0)); });
  if (s.ok()) {
    s = each("SELECT name, forest FROM tenants",
             [&](sqlite3_stmt* st) { p.tenant_forest[Column(st, 0)] = Column(st, 1); });
  }
  if (s.ok()) {
    s = each("SELECT domain, tenant FROM domains",
             [&](sqlite3_stmt* st) { p.domain_tenant[Column(st, 0)] = Column(st, 1); });
  }
  if (!s.ok()) return s;
  return p;
}

Status SaveTenantForest(const std::string& path, const std::string& tenant, const std::string& forest) {
  auto c = Connect(path);
  if (!c.ok()) return c.status();
  sqlite3* db = c.value()->db;
  // The forest must be known to the catalog too (it may come from config).
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO forests(name) VALUES(?1)", -1, &st, nullptr);
  sqlite3_bind_text(st, 1, forest.c_str(), -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "UPDATE tenants SET forest = ?1 WHERE name = ?2", -1, &st, nullptr);
  sqlite3_bind_text(st, 1, forest.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, tenant.c_str(), -1, SQLITE_TRANSIENT);
  if (rc == SQLITE_DONE) rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Status::IoError(fmt::format("sqlite: {}", sqlite3_errmsg(db)));
  return Status::Ok();
}

}  // namespace sluice::directory
