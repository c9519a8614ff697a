#include "query/row_filter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace fieldlog::query {

std::string AttributeValueText(const store::AttributeView& value) {
  switch (value.type) {
    case store::AttributeView::Type::kInt:
      return absl::StrCat(value.int_value);
    case store::AttributeView::Type::kDouble:
      return absl::StrCat(value.double_value);
    case store::AttributeView::Type::kBool:
      return value.bool_value ? "true" : "false";
    case store::AttributeView::Type::kString:
      break;
  }
  return std::string(value.string_value);
}

absl::StatusOr<LineFilters> FiltersFromRequest(const v1::SearchRequest& request) {
  LineFilters filters;
  filters.user_id = request.user_id();
  filters.session_id = request.session_id();
  if (!v1::Level_IsValid(request.min_level())) {
    return absl::InvalidArgumentError("min_level is not a known level");
  }
  filters.min_level = request.min_level();
  if (request.text().size() > kMaxTextBytes || request.regex().size() > kMaxTextBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("text and regex are at most ", kMaxTextBytes, " bytes"));
  }
  filters.text = request.text();
  filters.regex = request.regex();
  if (request.tags_size() > static_cast<int>(kMaxTags)) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", kMaxTags, " tags"));
  }
  filters.tags.assign(request.tags().begin(), request.tags().end());
  if (request.attributes_size() > static_cast<int>(kMaxAttributeFilters)) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxAttributeFilters, " attribute filters"));
  }
  for (const v1::AttributeFilter& a : request.attributes()) {
    if (a.key().empty()) return absl::InvalidArgumentError("an attribute filter has no key");
    filters.attributes.emplace_back(a.key(), a.value());
  }
  return filters;
}

absl::StatusOr<RowFilter> RowFilter::Make(const LineFilters& filters) {
  RowFilter filter;
  filter.filters_ = filters;
  filter.lowered_text_ = AsciiLower(filters.text);
  if (!filters.regex.empty()) {
    RE2::Options options;
    options.set_log_errors(false);
    auto regex = std::make_shared<re2::RE2>(filters.regex, options);
    if (!regex->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("regex '", filters.regex, "' is not valid RE2: ", regex->error()));
    }
    filter.regex_ = std::move(regex);
    filter.regex_prefilter_ = RegexPrefilter::Make(filters.regex, options);
  }
  for (int level = std::max<int>(filters.min_level, v1::LEVEL_TRACE); level <= v1::LEVEL_FATAL;
       ++level) {
    filter.wanted_levels_ |= 1u << level;
  }
  return filter;
}

bool RowFilter::BlockMayMatch(const store::BlockMeta& meta) const {
  if ((meta.level_mask() & wanted_levels_) == 0) return false;
  if (!filters_.user_id.empty() && !meta.many_users() &&
      std::find(meta.users().begin(), meta.users().end(), filters_.user_id) == meta.users().end()) {
    return false;
  }
  return true;
}

bool RowFilter::Matches(const store::BlockReader& block, size_t row) const {
  if (block.level(row) < filters_.min_level) return false;
  if (!filters_.user_id.empty() && block.user_id(row) != filters_.user_id) return false;
  if (!filters_.session_id.empty() && block.session_id(row) != filters_.session_id) return false;
  if (!filters_.tags.empty() && std::find(filters_.tags.begin(), filters_.tags.end(),
                                          block.tag(row)) == filters_.tags.end()) {
    return false;
  }
  return MatchesContent(block, row);
}

bool RowFilter::MatchesContent(const store::BlockReader& block, size_t row) const {
  const absl::string_view message = block.message(row);
  if (!lowered_text_.empty() && !ContainsIgnoreCase(message, lowered_text_)) return false;
  if (regex_ && !RE2::PartialMatch(re2::StringPiece(message.data(), message.size()), *regex_)) {
    return false;
  }
  if (!filters_.attributes.empty()) {
    block.Attributes(row, &attributes_);
    for (const auto& [key, value] : filters_.attributes) {
      auto it = std::find_if(attributes_.begin(), attributes_.end(),
                             [&](const store::AttributeView& a) { return a.key == key; });
      if (it == attributes_.end() || AttributeValueText(*it) != value) return false;
    }
  }
  return true;
}

}  // namespace fieldlog::query
