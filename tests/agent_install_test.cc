// `cmake --install` ships the agent as an app sees it: headers, the shared
// library, a CMake package and a pkg-config file. This test installs it into
// a temporary prefix, builds agent/examples/ against that prefix with
// find_package(fieldlog) (and the C example with pkg-config alone), and runs
// the results against a real server.
#include <filesystem>

#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::AppKeys;
using ::fieldlog::testing::ProcessResult;
using ::fieldlog::testing::RunProcess;
using ::fieldlog::testing::SearchAll;
using ::fieldlog::testing::TempDir;
using ::fieldlog::testing::TestServer;

ProcessResult Shell(const std::string& command, std::chrono::seconds timeout) {
  return RunProcess({"/bin/sh", "-c", command}, "", {}, timeout);
}

TEST(AgentInstallTest, ExamplesBuildAgainstTheInstalledPackageAndShip) {
  TempDir dir;
  const std::string prefix = dir.path() + "/prefix";
  ProcessResult installed =
      Shell("cmake --install " FIELDLOG_BUILD_DIR " --component agent --prefix " + prefix,
            std::chrono::seconds(60));
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
  for (const char* file :
       {"include/fieldlog/agent.h", "include/fieldlog/fieldlog_c.h",
        "include/fieldlog/spdlog_sink.h", "lib/libfieldlog.so",
        "lib/cmake/fieldlog/fieldlogConfig.cmake", "lib/pkgconfig/fieldlog.pc"}) {
    EXPECT_TRUE(std::filesystem::exists(prefix + "/" + file)) << file;
  }
  EXPECT_FALSE(std::filesystem::exists(prefix + "/bin")) << "only the agent is installed";

  // An app's CMake project: find_package(fieldlog), link fieldlog::agent.
  const std::string build = dir.path() + "/examples";
  ProcessResult configured = Shell("cmake -S " FIELDLOG_SOURCE_DIR "/agent/examples -B " + build +
                                       " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + prefix,
                                   std::chrono::seconds(120));
  ASSERT_EQ(configured.exit_code, 0) << configured.out << configured.err;
  ProcessResult built = Shell("cmake --build " + build + " -j2", std::chrono::seconds(240));
  ASSERT_EQ(built.exit_code, 0) << built.out << built.err;

  // pkg-config alone, from C.
  ProcessResult compiled =
      Shell("PKG_CONFIG_PATH=" + prefix + "/lib/pkgconfig cc -o " + dir.path() +
                "/hello_c_pkgconfig " FIELDLOG_SOURCE_DIR
                "/agent/examples/hello_fieldlog_c.c $(PKG_CONFIG_PATH=" +
                prefix + "/lib/pkgconfig pkg-config --cflags --libs fieldlog)",
            std::chrono::seconds(120));
  ASSERT_EQ(compiled.exit_code, 0) << compiled.out << compiled.err;

  TestServer server;
  const AppKeys keys = server.CreateApp("shop");
  const std::vector<std::string> env = {"LD_LIBRARY_PATH=" + prefix + "/lib"};
  ProcessResult cpp = RunProcess(
      {build + "/hello_fieldlog", server.address(), keys.ingest_key, "carol@example.com"}, "", env);
  EXPECT_EQ(cpp.exit_code, 0) << cpp.out << cpp.err;
  EXPECT_NE(cpp.out.find("5 lines acknowledged"), std::string::npos) << cpp.out;
  ProcessResult c = RunProcess({dir.path() + "/hello_c_pkgconfig", server.address(),
                                keys.ingest_key, dir.path() + "/c-storage", "dave@example.com"},
                               "", env);
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("3 lines acknowledged"), std::string::npos) << c.out;
  ProcessResult sp = RunProcess(
      {build + "/hello_spdlog", server.address(), keys.ingest_key, "erin@example.com"}, "", env);
  EXPECT_EQ(sp.exit_code, 0) << sp.out << sp.err;

  // What support sees: each user's lines, with what the examples set.
  for (const auto& [user, count] : std::vector<std::pair<std::string, size_t>>{
           {"carol@example.com", 5}, {"dave@example.com", 3}, {"erin@example.com", 3}}) {
    v1::SearchRequest request;
    request.set_app("shop");
    request.set_user_id(user);
    std::vector<v1::LogLine> lines;
    ASSERT_TRUE(SearchAll(*server.QueryStub(), keys.read_token, request, &lines).ok());
    EXPECT_EQ(lines.size(), count) << user;
    if (user == "erin@example.com" && lines.size() == 3) {
      EXPECT_EQ(lines[0].message(), "cart has 3 items");
      EXPECT_EQ(lines[1].level(), v1::LEVEL_WARN);
      EXPECT_EQ(lines[2].function(), "main") << "SPDLOG_ERROR carries the source location";
    }
    if (user == "dave@example.com" && lines.size() == 3) {
      EXPECT_EQ(lines[0].message(), "started from C");
      EXPECT_NE(lines[0].file().find("hello_fieldlog_c.c"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace fieldlog
