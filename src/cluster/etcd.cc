#include "cluster/etcd.h"

#include <nlohmann/json.hpp>

#include "cluster/etcd_reply.h"
#include "common/http_client.h"

namespace sluice::cluster {
namespace {

using json = nlohmann::json;

}  // namespace

Etcd::Etcd(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {}

Result<std::string> Etcd::Call(const std::string& path, const std::string& body) {
  Status last = Status::Unavailable("no etcd endpoint");
  for (size_t k = 0; k < endpoints_.size(); ++k) {
    const size_t i = (current_ + k) % endpoints_.size();
    auto url = ParseUrl(endpoints_[i] + path);
    if (!url.ok()) return url.status();
    HttpRequest req;
    req.method = "POST";
    req.url = url.value();
    req.body = body;
    req.headers = {{"Content-Type", "application/json"}};
    req.timeout = timeout_;
    req.body_limit = 16 << 20;
    auto r = FetchBlocking(req);
    if (!r.ok()) {
      last = Status::Unavailable("etcd " + endpoints_[i] + ": " + r.status().message());
      continue;
    }
    if (r.value().status != 200) {
      // A member without quorum or leader answers an error: try another.
      last = Status::Unavailable("etcd " + endpoints_[i] + ": HTTP " + std::to_string(r.value().status) + " " +
                                 r.value().body.substr(0, 200));
      continue;
    }
    current_ = i;
    return std::move(r.value().body);
  }
  return last;
}

Result<Etcd::Range> Etcd::Get(const std::string& prefix, int64_t after) {
  json req = {{"key", Base64(prefix)}, {"range_end", Base64(PrefixEnd(prefix))}};
  if (after > 0) req["min_mod_revision"] = std::to_string(after + 1);
  auto body = Call("/v3/kv/range", req.dump());
  if (!body.ok()) return body.status();
  return ParseRange(body.value());
}

Result<EtcdTxn> Etcd::PutIf(const std::string& key, const std::string& value, int64_t expected) {
  json req = {{"compare", {{{"target", "MOD"}, {"key", Base64(key)}, {"result", "EQUAL"},
                            {"mod_revision", std::to_string(expected)}}}},
              {"success", {{{"request_put", {{"key", Base64(key)}, {"value", Base64(value)}}}}}}};
  auto body = Call("/v3/kv/txn", req.dump());
  if (!body.ok()) return body.status();
  return ParseTxn(body.value());
}

Status Etcd::Put(const std::string& key, const std::string& value, int64_t lease) {
  json req = {{"key", Base64(key)}, {"value", Base64(value)}};
  if (lease) req["lease"] = std::to_string(lease);
  auto body = Call("/v3/kv/put", req.dump());
  return body.ok() ? Status::Ok() : body.status();
}

Result<int64_t> Etcd::Grant(std::chrono::seconds ttl) {
  auto body = Call("/v3/lease/grant", json{{"TTL", std::to_string(ttl.count())}}.dump());
  if (!body.ok()) return body.status();
  return ParseGrant(body.value());
}

Result<bool> Etcd::KeepAlive(int64_t lease) {
  auto body = Call("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump());
  if (!body.ok()) return body.status();
  return ParseKeepAlive(body.value());
}

}  // namespace sluice::cluster
