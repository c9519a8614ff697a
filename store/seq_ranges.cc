#include "store/seq_ranges.h"

#include <algorithm>

namespace fieldlog::store {

SeqRanges SeqRanges::FromProto(const google::protobuf::RepeatedPtrField<SeqRange>& ranges) {
  SeqRanges set;
  for (const SeqRange& r : ranges) set.Insert(r.first(), r.last());
  return set;
}

void SeqRanges::ToProto(google::protobuf::RepeatedPtrField<SeqRange>* out) const {
  out->Clear();
  for (const Range& r : ranges_) {
    SeqRange* p = out->Add();
    p->set_first(r.first);
    p->set_last(r.last);
  }
}

bool SeqRanges::Contains(uint64_t seq) const {
  // The first range whose last >= seq.
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), seq,
                             [](const Range& r, uint64_t s) { return r.last < s; });
  return it != ranges_.end() && it->first <= seq;
}

void SeqRanges::AddSorted(std::span<const uint64_t> seqs) {
  size_t i = 0;
  while (i < seqs.size()) {
    // Coalesce a run of consecutive seqs into one insertion.
    size_t j = i;
    while (j + 1 < seqs.size() && seqs[j + 1] == seqs[j] + 1) ++j;
    Insert(seqs[i], seqs[j]);
    i = j + 1;
  }
}

void SeqRanges::Insert(uint64_t first, uint64_t last) {
  if (first > last) return;
  // Fast path: extends or follows the last range (the common case).
  if (ranges_.empty() || first > ranges_.back().last + 1) {
    ranges_.push_back({first, last});
  } else if (first >= ranges_.back().first) {
    ranges_.back().last = std::max(ranges_.back().last, last);
  } else {
    // General case: merge every range that overlaps or touches [first, last].
    auto begin = std::lower_bound(ranges_.begin(), ranges_.end(), first,
                                  [](const Range& r, uint64_t s) { return r.last + 1 < s; });
    auto end = begin;
    Range merged{first, last};
    while (end != ranges_.end() && end->first <= last + 1) {
      merged.first = std::min(merged.first, end->first);
      merged.last = std::max(merged.last, end->last);
      ++end;
    }
    begin = ranges_.erase(begin, end);
    ranges_.insert(begin, merged);
  }
  while (ranges_.size() > kMaxRanges) {
    ranges_[1].first = ranges_[0].first;
    ranges_.erase(ranges_.begin());
  }
}

}  // namespace fieldlog::store
