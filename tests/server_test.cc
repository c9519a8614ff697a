// fieldlog-server's own duties: the admin token, the admin service, the port.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

namespace fieldlog {
namespace {

using ::fieldlog::testing::ContextWith;
using ::fieldlog::testing::TempDir;
using ::fieldlog::testing::TestServer;

TEST(ServerTest, TheAdminTokenFileIsPrivateAndStable) {
  TempDir dir;
  std::string token;
  {
    TestServer server(dir.path());
    token = server.admin_token();
    EXPECT_TRUE(token.starts_with("fl_admin_"));
    struct stat info;
    ASSERT_EQ(::stat((dir.path() + "/admin_token").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600);
  }
  TestServer again(dir.path());
  EXPECT_EQ(again.admin_token(), token);
}

TEST(ServerTest, DeletingTheTokenFileRotatesTheAdminToken) {
  TempDir dir;
  std::string old_token;
  {
    TestServer server(dir.path());
    old_token = server.admin_token();
  }
  std::filesystem::remove(dir.path() + "/admin_token");
  TestServer server(dir.path());
  EXPECT_NE(server.admin_token(), old_token);
  v1::ListAppsResponse apps;
  EXPECT_EQ(server.AdminStub()
                ->ListApps(ContextWith(old_token).get(), v1::ListAppsRequest(), &apps)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(server.AdminStub()
                  ->ListApps(ContextWith(server.admin_token()).get(), v1::ListAppsRequest(), &apps)
                  .ok());
}

TEST(ServerTest, AForeignTokenFileIsRefused) {
  TempDir dir;
  { TestServer server(dir.path()); }
  std::ofstream(dir.path() + "/admin_token") << "fl_admin_forged\n";
  server::ServerOptions options;
  options.data_dir = dir.path();
  options.grpc_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("delete the file"), std::string::npos);
}

TEST(ServerTest, AppsAreCreatedOnlyByTheAdmin) {
  TestServer server;
  auto admin = server.AdminStub();
  v1::CreateAppRequest request;
  request.set_name("shop");
  v1::CreateAppResponse response;
  ASSERT_TRUE(admin->CreateApp(ContextWith(server.admin_token()).get(), request, &response).ok());
  EXPECT_EQ(response.app(), "shop");
  EXPECT_TRUE(response.ingest_key().starts_with("fl_ik_"));
  EXPECT_TRUE(response.read_token().starts_with("fl_rt_"));
  EXPECT_NE(response.ingest_key(), response.read_token());

  grpc::Status status =
      admin->CreateApp(ContextWith(server.admin_token()).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(status.error_message(), "app 'shop' already exists");

  request.set_name("Shop Two");
  status = admin->CreateApp(ContextWith(server.admin_token()).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  request.set_name("other");
  status = admin->CreateApp(ContextWith(response.read_token()).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  status = admin->CreateApp(ContextWith("").get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  v1::ListAppsResponse apps;
  ASSERT_TRUE(admin->ListApps(ContextWith(server.admin_token()).get(), {}, &apps).ok());
  ASSERT_EQ(apps.apps_size(), 1);
  EXPECT_EQ(apps.apps(0).name(), "shop");
}

TEST(ServerTest, ABusyPortIsAnError) {
  TestServer first;
  TempDir dir;
  server::ServerOptions options;
  options.data_dir = dir.path();
  options.grpc_listen = first.address();
  absl::StatusOr<std::unique_ptr<server::Server>> second = server::Server::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on " + first.address()),
            std::string::npos);
}

TEST(ServerTest, TwoServersCannotShareADataDirectory) {
  TempDir dir;
  TestServer first(dir.path());
  server::ServerOptions options;
  options.data_dir = dir.path();
  options.grpc_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<server::Server>> second = server::Server::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("lock"), std::string::npos) << second.status();
}

}  // namespace
}  // namespace fieldlog
