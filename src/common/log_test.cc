// Log lines from hostile values: a HELO with a TAB or CR LF, a reply that
// is not UTF-8. Text lines stay one line with the value quoted and escaped;
// JSON lines stay valid JSON.
#include "common/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sluice::log {
namespace {

TEST(Log, TextValuesThatCouldForgeFieldsAreQuoted) {
  SetFormat(Format::kText);
  std::string line = Event("smtp transaction").With("helo", "evil\tx=1 result=queued").With("ok", "plain").Render();
  EXPECT_EQ(line, R"(smtp transaction helo="evil\tx=1 result=queued" ok=plain)");
  line = Event("x").With("reply", "250 ok\r\nfake line").Render();
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find(R"(reply="250 ok\r\nfake line")"), std::string::npos) << line;
  line = Event("x").With("v", "a\x1b[31mred").Render();
  EXPECT_NE(line.find("\\u001b"), std::string::npos) << line;
  line = Event("x").With("v", "bad\xff").Render();
  EXPECT_NE(line.find("\xEF\xBF\xBD"), std::string::npos) << line;
}

TEST(Log, JsonLinesStayJson) {
  SetFormat(Format::kJson);
  std::string line = Event("delivery").With("reply", "451 \xff\xfe bad\r\n\"quoted\"").With("n", int64_t{3}).Render();
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["msg"], "delivery");
  EXPECT_EQ(j["n"], 3);
  EXPECT_NE(j["reply"].get<std::string>().find("\"quoted\""), std::string::npos);
  SetFormat(Format::kText);
}

}  // namespace
}  // namespace sluice::log
