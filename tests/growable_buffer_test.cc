// GrowableBuffer keeps what was written across growth and moves, and reads
// as exactly its size.
#include "common/growable_buffer.h"

#include <cstring>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace fieldlog {
namespace {

TEST(GrowableBufferTest, WrittenBytesSurviveGrowthShrinkingAndMoves) {
  GrowableBuffer buffer;
  EXPECT_EQ(buffer.size(), 0u);
  EXPECT_EQ(buffer.view(), "");
  // Appended in steps through the pointer, as a decoder writes: room first,
  // then the bytes, then the size cut to what was written.
  std::string want;
  for (int i = 0; i < 1000; ++i) {
    const std::string piece = std::to_string(i) + ",";
    const size_t at = buffer.size();
    buffer.Resize(at + piece.size() + 64);  // more room than needed
    std::memcpy(buffer.data() + at, piece.data(), piece.size());
    buffer.Resize(at + piece.size());
    want += piece;
    ASSERT_EQ(buffer.view(), want) << "after " << i;
  }
  const char* const data = buffer.data();
  GrowableBuffer moved(std::move(buffer));
  EXPECT_EQ(moved.data(), data) << "a move keeps the bytes where they are";
  EXPECT_EQ(moved.view(), want);
  EXPECT_EQ(buffer.size(), 0u);  // NOLINT(bugprone-use-after-move): defined as empty

  GrowableBuffer assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.view(), want);
  assigned.clear();
  EXPECT_EQ(assigned.view(), "");
  assigned.Resize(3);
  std::memcpy(assigned.data(), "abc", 3);
  EXPECT_EQ(assigned.view(), "abc");
}

}  // namespace
}  // namespace fieldlog
