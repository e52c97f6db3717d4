// Connectors (doc/protection.md, "Connectors"): a tenant's own servers,
// told apart from the internet by client address ranges and/or a TLS client
// certificate. Mail from a matched connector may relay outbound for its
// tenant's domains; everything else is inbound-only, for directory
// recipients. Pure decisions here; the edge carries them out
// (server/connection.cc).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.h"
#include "filter/filter.h"
#include "smtp/reply.h"

namespace sluice::server {

struct ConnectorOptions {
  std::string name;    // [connectors.NAME]
  std::string tenant;  // whose servers these are
  // What identifies them; every criterion given must hold. At least one.
  CidrList addresses;
  // A verified client certificate's subject DN in RFC 2253 form
  // ("CN=mx.contoso.example,O=Contoso"), or a DNS name it carries (its
  // subjectAltName, else its CN). Needs [tls] client_ca.
  std::vector<std::string> subjects;
  // SHA-256 of the certificate (lower-case hex, no colons): needs no CA.
  std::vector<std::string> fingerprints;
  bool require_tls = false;       // from its addresses in the clear: 530 5.7.0 at MAIL
  bool restrict_domains = false;  // its tenant's domains as sender from elsewhere: 550 5.7.1
  std::string destination;        // where relayed (non-directory) recipients go
  std::optional<std::vector<std::string>> filters;  // its chain; unset: its recipients' tenants'
  std::optional<filter::OnError> on_error;          // over each filter's own
  bool operator==(const ConnectorOptions&) const = default;
};

// The client certificate of a TLS session, as the edge saw it.
struct PeerCertificate {
  bool verified = false;          // its chain verified against [tls] client_ca
  std::string subject;            // RFC 2253
  std::vector<std::string> names;  // DNS subjectAltNames, else the CN
  std::string fingerprint;        // SHA-256, lower-case hex
};

struct PeerIdentity {
  std::string address;
  bool tls = false;
  std::optional<PeerCertificate> certificate;  // none: no TLS, or no certificate sent
};

// The first connector that `peer` satisfies, or null.
const ConnectorOptions* MatchConnector(const std::vector<ConnectorOptions>& connectors, const PeerIdentity& peer);

// What MAIL FROM may do, given the connectors.
struct MailDecision {
  smtp::Reply refusal;                         // code != 0: answer this to MAIL
  const ConnectorOptions* connector = nullptr;  // matched: recorded in Received: and the verdict
  bool may_relay = false;  // non-directory recipients go to connector->destination
};

// `sender_tenant`: the tenant owning the sender's domain ("" for none or
// the null sender). Refusals, in order: a require_tls connector's address
// in the clear (530 5.7.0); a sender domain restricted to its tenant's
// connectors from anywhere else (550 5.7.1). A connector relays for its
// own tenant's senders and for the null sender (its servers' bounces).
MailDecision DecideMail(const std::vector<ConnectorOptions>& connectors, const PeerIdentity& peer,
                        std::string_view sender, const std::string& sender_tenant);

// A recipient outside the directory (kUnknownDomain) on a transaction that
// may relay: `r` becomes a route to the connector's destination for the
// connector's tenant, with no forest. True when it did so.
bool RelayOutbound(const MailDecision& mail, const std::string& address, directory::LookupResult& r);

// "sha256:AB:CD…", "AB:CD…" or "abcd…" as lower-case hex without colons;
// empty when it is not 64 hex digits.
std::string NormalizeFingerprint(std::string_view text);

}  // namespace sluice::server
