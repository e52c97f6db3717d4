// A forest replica in LDAP (OpenLDAP client library). Recipients are
// sluiceRecipient entries under the base DN (examples/ldap/sluice.schema):
// one search matches the address or any of its aliases.
#define LDAP_DEPRECATED 0
#include <fmt/format.h>
#include <ldap.h>

#include <mutex>
#include <vector>

#include "directory/connection_pool.h"
#include "directory/directory.h"
#include "mail/ascii.h"

namespace sluice::directory {
namespace {

// RFC 4515 §3: escape the characters that mean something in a filter.
std::string EscapeFilter(const std::string& in) {
  std::string out;
  for (unsigned char c : in) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0) {
      out += fmt::format("\\{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string First(LDAP* ld, LDAPMessage* e, const char* attr) {
  berval** v = ldap_get_values_len(ld, e, attr);
  std::string out;
  if (v && v[0]) out.assign(v[0]->bv_val, v[0]->bv_len);
  ldap_value_free_len(v);
  return out;
}

struct Handle {
  LDAP* ld = nullptr;
  ~Handle() {
    if (ld) ldap_unbind_ext_s(ld, nullptr, nullptr);
  }
};

class LdapBackend final : public Backend {
 public:
  LdapBackend(std::string uri, std::string base)
      : base_(std::move(base)), pool_([uri = std::move(uri)] { return Open(uri); }) {}

  LookupResult Lookup(const std::string& raw, const std::string& tenant) override {
    const std::string address = mail::Lowered(raw);
    std::unique_ptr<Handle> h = pool_.Take();
    if (!h) return LookupResult::TryLater(Reason::kBackendError, "");
    // Scoped to the tenant that owns the domain: another tenant's entry
    // with this address as an alias is not asked.
    const std::string scope = tenant.empty() ? "" : fmt::format("(sluiceTenant={})", EscapeFilter(tenant));
    std::string filter = fmt::format("(&(objectClass=sluiceRecipient){1}(|(sluiceAddress={0})(sluiceAlias={0})))",
                                     EscapeFilter(address), scope);
    const char* attrs[] = {"sluiceAddress", "sluiceTenant", "sluiceDestination", "sluiceMailbox", nullptr};
    timeval tv{5, 0};
    LDAPMessage* res = nullptr;
    int rc = ldap_search_ext_s(h->ld, base_.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(),
                               const_cast<char**>(attrs), 0, nullptr, nullptr, &tv, 2, &res);
    LookupResult out;
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
      out = LookupResult::TryLater(Reason::kBackendError, "");
      h.reset();  // a broken connection is not reused
    } else if (LDAPMessage* e = ldap_first_entry(h->ld, res)) {
      RecipientRoute r;
      r.address = First(h->ld, e, "sluiceAddress");
      r.tenant = First(h->ld, e, "sluiceTenant");
      r.destination = First(h->ld, e, "sluiceDestination");
      r.mailbox = First(h->ld, e, "sluiceMailbox");
      mail::LowerInPlace(r.address);
      out = LookupResult::Yes(std::move(r));
    } else {
      out = LookupResult::No(Reason::kUnknownUser);
    }
    if (res) ldap_msgfree(res);
    if (h) pool_.Give(std::move(h));
    return out;
  }

 private:
  static std::unique_ptr<Handle> Open(const std::string& uri) {
    auto h = std::make_unique<Handle>();
    if (ldap_initialize(&h->ld, uri.c_str()) != LDAP_SUCCESS) return nullptr;
    int v3 = LDAP_VERSION3;
    ldap_set_option(h->ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    timeval net{2, 0};
    ldap_set_option(h->ld, LDAP_OPT_NETWORK_TIMEOUT, &net);
    timeval op{5, 0};
    ldap_set_option(h->ld, LDAP_OPT_TIMEOUT, &op);
    ldap_set_option(h->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    berval anon{0, nullptr};
    if (ldap_sasl_bind_s(h->ld, nullptr, LDAP_SASL_SIMPLE, &anon, nullptr, nullptr, nullptr) != LDAP_SUCCESS) {
      return nullptr;
    }
    return h;
  }

  std::string base_;
  ConnectionPool<Handle> pool_;
};

}  // namespace

Result<std::unique_ptr<Backend>> OpenLdapBackend(const std::string& url) {
  // ldap://host:port/base-dn
  size_t slash = url.find('/', 7);
  if (slash == std::string::npos || slash + 1 >= url.size()) {
    return Status::InvalidArgument(fmt::format("\"{}\" is not ldap://host:port/base-dn", url));
  }
  return std::unique_ptr<Backend>(new LdapBackend(url.substr(0, slash), url.substr(slash + 1)));
}

}  // namespace sluice::directory
