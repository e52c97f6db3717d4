#include "cluster/etcd_reply.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

namespace sluice::cluster {
namespace {

using json = nlohmann::json;

// int64 fields come as strings from the gateway; a number is taken too.
int64_t Int64(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return 0;
  const json& v = j[key];
  if (v.is_string()) return std::stoll(v.get<std::string>());
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

Status Unparsable(const char* what, const std::exception& e) {
  return Status::Unavailable(std::string("etcd: a ") + what + " reply that does not parse: " + e.what());
}

}  // namespace

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


Result<EtcdRange> ParseRange(const std::string& body) {
  try {
    json j = json::parse(body);
    EtcdRange out;
    out.revision = Int64(j.value("header", json::object()), "revision");
    for (const auto& kv : j.value("kvs", json::array())) {
      if (!kv.is_object()) continue;
      out.kvs.push_back(EtcdKv{Unbase64(kv.value("key", "")), Unbase64(kv.value("value", "")),
                               Int64(kv, "mod_revision")});
    }
    return out;
  } catch (const std::exception& e) {
    return Unparsable("range", e);
  }
}

Result<EtcdTxn> ParseTxn(const std::string& body) {
  try {
    json j = json::parse(body);
    if (!j.is_object()) return EtcdTxn{};
    return EtcdTxn{j.value("succeeded", false), Int64(j.value("header", json::object()), "revision")};
  } catch (const std::exception& e) {
    return Unparsable("txn", e);
  }
}

Result<int64_t> ParseGrant(const std::string& body) {
  try {
    const int64_t id = Int64(json::parse(body), "ID");
    if (id == 0) return Status::Unavailable("etcd granted no lease");
    return id;
  } catch (const std::exception& e) {
    return Unparsable("lease", e);
  }
}

// One message of the stream: {"result": {"ID": ..., "TTL": ...}}; TTL
// absent or 0 once the lease expired.
Result<bool> ParseKeepAlive(const std::string& body) {
  try {
    json j = json::parse(body.substr(0, body.find('\n')));
    return Int64(j.is_object() ? j.value("result", json::object()) : json::object(), "TTL") > 0;
  } catch (const std::exception& e) {
    return Unparsable("keep-alive", e);
  }
}

}  // namespace sluice::cluster
