#include "server/connectors.h"

#include <algorithm>
#include <cctype>

#include "mail/address.h"
#include "mail/ascii.h"

namespace sluice::server {
namespace {

// A DNS name against a pattern that may start with "*." (one label).
bool NameMatches(std::string_view pattern, std::string_view name) {
  if (pattern.starts_with("*.")) {
    auto dot = name.find('.');
    return dot != std::string_view::npos && dot > 0 && mail::EqualsNoCase(pattern.substr(1), name.substr(dot));
  }
  return mail::EqualsNoCase(pattern, name);
}

bool CertificateMatches(const ConnectorOptions& c, const std::optional<PeerCertificate>& cert) {
  if (c.subjects.empty() && c.fingerprints.empty()) return true;
  if (!cert) return false;
  for (const auto& f : c.fingerprints) {
    if (f == cert->fingerprint) return true;
  }
  // A subject proves nothing unless the chain verified: anyone can put
  // any name in a self-signed certificate.
  if (!cert->verified) return false;
  for (const auto& s : c.subjects) {
    if (s.find('=') != std::string::npos) {
      if (mail::EqualsNoCase(s, cert->subject)) return true;
      continue;
    }
    for (const auto& n : cert->names) {
      if (NameMatches(s, n)) return true;
    }
  }
  return false;
}

}  // namespace

const ConnectorOptions* MatchConnector(const std::vector<ConnectorOptions>& connectors, const PeerIdentity& peer) {
  for (const auto& c : connectors) {
    if (!c.addresses.empty() && !c.addresses.Contains(peer.address)) continue;
    if (!CertificateMatches(c, peer.certificate)) continue;
    if (c.require_tls && !peer.tls) continue;
    return &c;
  }
  return nullptr;
}

MailDecision DecideMail(const std::vector<ConnectorOptions>& connectors, const PeerIdentity& peer,
                        std::string_view sender, const std::string& sender_tenant) {
  MailDecision d;
  if (connectors.empty()) return d;
  d.connector = MatchConnector(connectors, peer);
  if (!d.connector && !peer.tls) {
    // A tenant's server that must use TLS, speaking in the clear: told to
    // start it rather than treated as the internet.
    for (const auto& c : connectors) {
      if (c.require_tls && !c.addresses.empty() && c.addresses.Contains(peer.address)) {
        d.refusal = smtp::replies::TlsRequired();
        return d;
      }
    }
  }
  if (!sender_tenant.empty() && !(d.connector && d.connector->tenant == sender_tenant)) {
    for (const auto& c : connectors) {
      if (c.restrict_domains && c.tenant == sender_tenant) {
        d.refusal = smtp::replies::SenderNeedsConnector(mail::DomainOf(std::string(sender)));
        d.connector = nullptr;
        return d;
      }
    }
  }
  d.may_relay = d.connector && (sender.empty() || d.connector->tenant == sender_tenant);
  return d;
}

bool RelayOutbound(const MailDecision& mail, const std::string& address, directory::LookupResult& r) {
  if (!mail.may_relay || r.found != directory::Found::kNo || r.reason != directory::Reason::kUnknownDomain) {
    return false;
  }
  RecipientRoute route;
  route.address = address;
  route.tenant = mail.connector->tenant;
  route.destination = mail.connector->destination;
  r = directory::LookupResult::Yes(std::move(route));
  return true;
}

std::string NormalizeFingerprint(std::string_view text) {
  if (text.size() > 7 && mail::EqualsNoCase(text.substr(0, 7), "sha256:")) text.remove_prefix(7);
  std::string out;
  for (char ch : text) {
    if (ch == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return {};
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return out.size() == 64 ? out : std::string();
}

}  // namespace sluice::server
