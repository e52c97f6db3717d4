#include "cluster/etcd.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "common/http_client.h"

namespace sluice::cluster {
namespace {

using json = nlohmann::json;

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Unbase64(const std::string& in) {
  std::string out(3 * in.size() / 4 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return {};
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (size_t i = in.size(); i > 0 && in[i - 1] == '=' && len > 0; --i) --len;
  out.resize(len);
  return out;
}

// The key just past every key that starts with `prefix`.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      ++prefix.back();
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

int64_t Int64(const json& j, const char* key) {
  if (!j.contains(key)) return 0;
  const json& v = j[key];
  if (v.is_string()) return std::stoll(v.get<std::string>());
  return v.is_number() ? v.get<int64_t>() : 0;
}

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
  try {
    json j = json::parse(body.value());
    Range out;
    out.revision = Int64(j["header"], "revision");
    for (const auto& kv : j.value("kvs", json::array())) {
      out.kvs.push_back(EtcdKv{Unbase64(kv.value("key", "")), Unbase64(kv.value("value", "")),
                               Int64(kv, "mod_revision")});
    }
    return out;
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("etcd: a range reply that does not parse: ") + e.what());
  }
}

Result<bool> Etcd::PutIf(const std::string& key, const std::string& value, int64_t expected) {
  json req = {{"compare", {{{"target", "MOD"}, {"key", Base64(key)}, {"result", "EQUAL"},
                            {"mod_revision", std::to_string(expected)}}}},
              {"success", {{{"request_put", {{"key", Base64(key)}, {"value", Base64(value)}}}}}}};
  auto body = Call("/v3/kv/txn", req.dump());
  if (!body.ok()) return body.status();
  try {
    return json::parse(body.value()).value("succeeded", false);
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("etcd: a txn reply that does not parse: ") + e.what());
  }
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
  try {
    const int64_t id = Int64(json::parse(body.value()), "ID");
    if (id == 0) return Status::Unavailable("etcd granted no lease");
    return id;
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("etcd: a lease reply that does not parse: ") + e.what());
  }
}

Result<bool> Etcd::KeepAlive(int64_t lease) {
  auto body = Call("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump());
  if (!body.ok()) return body.status();
  try {
    // One message of the stream: {"result": {"ID": ..., "TTL": ...}}; TTL
    // absent or 0 once the lease expired.
    json j = json::parse(body.value().substr(0, body.value().find('\n')));
    return Int64(j.value("result", json::object()), "TTL") > 0;
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("etcd: a keep-alive reply that does not parse: ") + e.what());
  }
}

}  // namespace sluice::cluster
