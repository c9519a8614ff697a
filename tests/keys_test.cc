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
  EXPECT_FALSE(UserDeviceKey(9, "alice@example.co", "mphone").starts_with(
      UserPrefix(9, "alice@example.com")));
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
