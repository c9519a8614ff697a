// line_encoder.h writes a stored row as the wire bytes of the LogLine that
// FillLogLine builds: byte for byte the same as protobuf's own serialisation,
// over every field, every attribute type, empty and zero values, negative
// times and the largest ids.
#include "query/line_encoder.h"

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fieldlog/v1/query.pb.h"
#include "gtest/gtest.h"
#include "query/search.h"
#include "store/block.h"

namespace fieldlog::query {
namespace {

using store::AttributeView;

TEST(LineEncoderTest, RowsEncodeExactlyAsTheirLogLineSerialises) {
  std::mt19937_64 random(5);
  const std::vector<std::string> words = {"", "Checkout", "Ünïcödé ✓", std::string(300, 'w')};
  std::vector<std::string> texts;  // backing for the views below
  texts.reserve(10000);
  const auto text = [&](std::string s) -> absl::string_view {
    texts.push_back(std::move(s));
    return texts.back();
  };
  std::vector<std::vector<AttributeView>> attributes(400);
  std::vector<store::EntryView> entries;
  uint64_t seq = 0;
  for (size_t i = 0; i < attributes.size(); ++i) {
    store::EntryView e;
    seq += 1 + random() % 3;
    e.seq = seq;
    // Zero, negative and ordinary times; every level and kind, 0 included.
    e.time_us = i % 50 == 0 ? 0 : static_cast<int64_t>(random() % 4'000'000'000'000'000) - 1000;
    e.device_time_us = i % 7 == 0 ? -5 : e.time_us - 1000;
    e.receive_time_us = i % 11 == 0 ? 0 : e.time_us + 5;
    e.level = static_cast<v1::Level>(random() % 7);
    e.kind = static_cast<v1::EntryKind>(random() % 5);
    e.tag = words[random() % words.size()];
    e.message = i % 9 == 0 ? absl::string_view()
                           : text(absl::StrCat("request ", random() % 100000, " took ",
                                               random() % 900, " ms ", words[random() % 4]));
    e.file = words[random() % words.size()];
    e.line = i % 3 == 0 ? 0 : static_cast<uint32_t>(random());
    e.function = words[random() % words.size()];
    e.user_id =
        i % 4 == 0 ? absl::string_view() : text(absl::StrCat("user", i % 13, "@example.com"));
    e.session_id = i % 5 == 0 ? absl::string_view() : text(absl::StrCat("session-", i / 100));
    for (size_t k = 0; k < random() % 5; ++k) {
      AttributeView a;
      a.key = k == 3 ? absl::string_view() : text(absl::StrCat("key", k));
      a.type = static_cast<AttributeView::Type>(random() % 4);
      a.string_value = random() % 3 == 0 ? absl::string_view() : words[random() % words.size()];
      a.int_value = random() % 3 == 0   ? 0
                    : random() % 2 == 0 ? std::numeric_limits<int64_t>::min()
                                        : static_cast<int64_t>(random());
      a.double_value = random() % 3 == 0 ? 0.0 : -1.5e300;
      a.bool_value = random() % 2 == 0;
      attributes[i].push_back(a);
    }
    e.attributes = attributes[i];
    entries.push_back(e);
  }
  for (const bool settled : {false, true}) {
    SCOPED_TRACE(settled ? "settled block" : "unsettled block");
    store::BlockBuilder builder(store::BlockEncoding{settled ? 3 : 0, settled});
    for (const store::EntryView& e : entries) builder.Add(e);
    std::string payload;
    store::BlockMeta meta;
    builder.Finish(&payload, &meta);
    absl::StatusOr<store::BlockReader> block = store::BlockReader::Open(payload);
    ASSERT_TRUE(block.ok()) << block.status();
    ASSERT_EQ(block->size(), entries.size());
    std::string encoded;
    v1::SearchResponse expected;
    for (size_t row = 0; row < block->size(); ++row) {
      const std::string device = row % 2 ? "6f1c2a4e-93b4-4b7e-8f0e-2f3d4c5b6a79" : "";
      const std::string app = row % 3 ? "shop" : "";
      std::string one;
      AppendLogLineField(*block, row, app, device, &one);
      v1::SearchResponse single;
      FillLogLine(*block, row, app, device, single.add_lines());
      ASSERT_EQ(one, single.SerializeAsString()) << "row " << row;
      encoded += one;
      FillLogLine(*block, row, app, device, expected.add_lines());
    }
    AppendNextCursorField("", &encoded);
    EXPECT_EQ(encoded, expected.SerializeAsString()) << "an empty cursor is left out";
    AppendNextCursorField("cursor-bytes", &encoded);
    expected.set_next_cursor("cursor-bytes");
    EXPECT_EQ(encoded, expected.SerializeAsString());
    v1::SearchResponse parsed;
    ASSERT_TRUE(parsed.ParseFromString(encoded));
    EXPECT_EQ(parsed.lines_size(), static_cast<int>(entries.size()));
  }
}

}  // namespace
}  // namespace fieldlog::query
