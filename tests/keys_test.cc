#include "store/keys.h"

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"

namespace fieldlog::store {
namespace {

TEST(KeysTest, BlocksOfADeviceSortBySeq) {
  std::vector<uint64_t> seqs = {1, 2, 255, 256, 65536, uint64_t{1} << 40, 3};
  std::vector<std::string> keys;
  for (uint64_t s : seqs) keys.push_back(BlockKey(7, "device-a", s));
  std::sort(keys.begin(), keys.end());
  std::sort(seqs.begin(), seqs.end());
  for (size_t i = 0; i < keys.size(); ++i) {
    std::optional<ParsedBlockKey> parsed = ParseBlockKey(keys[i]);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->first_seq, seqs[i]);
    EXPECT_EQ(parsed->device_id, "device-a");
    EXPECT_EQ(parsed->app, 7u);
  }
}

TEST(KeysTest, ADeviceIdThatExtendsAnotherHasItsOwnPrefix) {
  // "dev1" must not see the blocks of "dev10": lengths are part of the prefix.
  const std::string dev1 = DeviceKey(1, "dev1");
  const std::string dev10_block = BlockKey(1, "dev10", 5);
  EXPECT_NE(dev10_block.compare(0, dev1.size(), dev1), 0);
  EXPECT_TRUE(BlockKey(1, "dev1", 5).starts_with(dev1));
}

TEST(KeysTest, AppsDoNotInterleave) {
  EXPECT_LT(BlockKey(1, "zzz", UINT64_MAX), BlockKey(2, "aaa", 0));
  EXPECT_TRUE(UserDeviceKey(3, "alice", "d").starts_with(AppPrefix(3)));
}

TEST(KeysTest, UserDeviceKeysRoundTrip) {
  const std::string key = UserDeviceKey(9, "alice@example.com", "phone-1");
  std::optional<ParsedUserDeviceKey> parsed = ParseUserDeviceKey(key);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->app, 9u);
  EXPECT_EQ(parsed->user_id, "alice@example.com");
  EXPECT_EQ(parsed->device_id, "phone-1");
  EXPECT_TRUE(key.starts_with(UserPrefix(9, "alice@example.com")));
  EXPECT_FALSE(UserDeviceKey(9, "alice@example.co", "mphone")
                   .starts_with(UserPrefix(9, "alice@example.com")));
}

TEST(KeysTest, UsersSortByIdAndAPrefixFindsThem) {
  std::vector<std::string> keys = {UserDeviceKey(1, "alice@example.com", "d1"),
                                   UserDeviceKey(1, "alice", "d9"),
                                   UserDeviceKey(1, "alice2", "d1"), UserDeviceKey(1, "bob", "d1"),
                                   UserDeviceKey(1, "alice", "d2")};
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> order;
  for (const std::string& key : keys) {
    std::optional<ParsedUserDeviceKey> parsed = ParseUserDeviceKey(key);
    ASSERT_TRUE(parsed);
    order.push_back(std::string(parsed->user_id) + "/" + std::string(parsed->device_id));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"alice/d2", "alice/d9", "alice2/d1",
                                             "alice@example.com/d1", "bob/d1"}));
  // "alice"'s own devices only; but a search for the prefix finds all three.
  EXPECT_FALSE(UserDeviceKey(1, "alice2", "d1").starts_with(UserPrefix(1, "alice")));
  EXPECT_TRUE(UserDeviceKey(1, "alice2", "d1").starts_with(UserSearchPrefix(1, "ali")));
}

TEST(KeysTest, TimeKeysSortByTimeThenDeviceThenSeq) {
  std::vector<std::string> keys = {TimeKey(1, 200, "a", 1), TimeKey(1, -5, "z", 9),
                                   TimeKey(1, 200, "a", 0), TimeKey(1, 100, "b", 3)};
  std::sort(keys.begin(), keys.end());
  std::vector<int64_t> times;
  for (const std::string& key : keys) {
    std::optional<ParsedTimeKey> parsed = ParseTimeKey(key);
    ASSERT_TRUE(parsed);
    times.push_back(parsed->time_us);
  }
  EXPECT_EQ(times, (std::vector<int64_t>{-5, 100, 200, 200}));
  EXPECT_EQ(ParseTimeKey(keys[2])->seq, 0u);
  EXPECT_LT(TimePrefix(1, 150), keys[2]);
  EXPECT_GT(TimePrefix(1, 150), keys[1]);
  std::optional<ParsedDeviceUserKey> reverse = ParseDeviceUserKey(DeviceUserKey(2, "dev", "u1"));
  ASSERT_TRUE(reverse);
  EXPECT_EQ(reverse->device_id, "dev");
  EXPECT_EQ(reverse->user_id, "u1");
}

TEST(KeysTest, MalformedKeysAreRejected) {
  EXPECT_FALSE(ParseBlockKey(""));
  EXPECT_FALSE(ParseBlockKey(std::string("\0\0\0\1\x09short", 10)));
  std::string truncated = BlockKey(1, "device", 1);
  truncated.pop_back();
  EXPECT_FALSE(ParseBlockKey(truncated));
}

TEST(KeysTest, PrefixSuccessor) {
  EXPECT_EQ(PrefixSuccessor("ab"), "ac");
  EXPECT_EQ(PrefixSuccessor(std::string("a\xFF", 2)), "b");
  EXPECT_EQ(PrefixSuccessor(std::string("\xFF\xFF", 2)), "");
}

}  // namespace
}  // namespace fieldlog::store
