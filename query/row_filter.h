// RowFilter: the line filters every kind of query shares (user, session,
// level, tags, text, regex, attributes), applied to block rows, plus the
// cheap test on a block's meta that lets a query skip the block entirely.
// Time ranges and cursors are the caller's.
#ifndef FIELDLOG_QUERY_ROW_FILTER_H_
#define FIELDLOG_QUERY_ROW_FILTER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fieldlog/v1/query.pb.h"
#include "query/regex_prefilter.h"
#include "re2/re2.h"
#include "store/block.h"

namespace fieldlog::query {

inline constexpr size_t kMaxTextBytes = 1024;
inline constexpr size_t kMaxTags = 32;
inline constexpr size_t kMaxAttributeFilters = 16;

struct LineFilters {
  std::string user_id;     // empty: any
  std::string session_id;  // empty: any
  v1::Level min_level = v1::LEVEL_UNSPECIFIED;
  std::vector<std::string> tags;  // any of; empty: any
  std::string text;               // case-insensitive substring; empty: any
  std::string regex;              // RE2, partial match; empty: any
  std::vector<std::pair<std::string, std::string>> attributes;  // all of, as text
};

// Reads the filters of a SearchRequest; INVALID_ARGUMENT when one is out of
// bounds.
absl::StatusOr<LineFilters> FiltersFromRequest(const v1::SearchRequest& request);

class RowFilter {
 public:
  // INVALID_ARGUMENT for a regex RE2 cannot compile, with RE2's reason.
  static absl::StatusOr<RowFilter> Make(const LineFilters& filters);

  // False when no row of the block can match (levels, users).
  bool BlockMayMatch(const store::BlockMeta& meta) const;
  // Whether BlockMayMatch can turn a block down: a minimum level above
  // trace, or a user. Scans without either need no block metas.
  bool NeedsBlockMeta() const {
    return filters_.min_level > v1::LEVEL_TRACE || !filters_.user_id.empty();
  }

  bool Matches(const store::BlockReader& block, size_t row) const;

  // The expensive tests only (text, regex, attributes), for callers that
  // checked the rest themselves.
  bool MatchesContent(const store::BlockReader& block, size_t row) const;

  // Whether Matches looks at messages (a text or a regex to find).
  bool TestsMessages() const { return !lowered_text_.empty() || regex_ != nullptr; }

  // How to open the blocks of a scan over [from_us, to_us) that tests rows
  // with this filter: only the messages of rows in the range are rebuilt,
  // and of those, when the filter has a text, the rows that may hold it;
  // when it has a regex, none in a block whose templates lack what the
  // regex needs; such a block opens with no rows (BlockReader::lines() still
  // counts them). Valid while this filter is.
  store::BlockReadOptions ReadOptions(int64_t from_us, int64_t to_us) const {
    return {.messages_from_us = from_us,
            .messages_to_us = to_us,
            .messages_containing = lowered_text_,
            .templates_filter = regex_prefilter_.get(),
            .skip_blocks_ruled_out = true};
  }

 private:
  LineFilters filters_;
  std::string lowered_text_;
  std::shared_ptr<const re2::RE2> regex_;  // shared: RowFilter is copyable
  // The regex's atoms, checked against a block's templates (null: none).
  std::shared_ptr<const RegexPrefilter> regex_prefilter_;
  uint32_t wanted_levels_ = 0;
  mutable std::vector<store::AttributeView> attributes_;  // scratch
};

// An attribute value as text, the way filters compare it.
std::string AttributeValueText(const store::AttributeView& value);

}  // namespace fieldlog::query

#endif  // FIELDLOG_QUERY_ROW_FILTER_H_
