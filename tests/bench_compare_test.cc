// fieldlog-bench's report logic (benchmarks/report.h, compare.h,
// histogram.h): JSON round trips, what --compare gates on, and quantiles.
// Pure logic on made-up figures: nothing here is timed.
#include <cmath>

#include "benchmarks/compare.h"
#include "benchmarks/histogram.h"
#include "benchmarks/report.h"
#include "gtest/gtest.h"

namespace fieldlog::bench {
namespace {

Report Sample(double lines_per_sec, double ratio, double bytes) {
  Report r;
  r.conditions()["options"] = {{"devices", 1000}, {"lines_per_device", 2000}};
  r.Set("ingest.lines_per_sec", lines_per_sec, "lines/s", Better::kHigher, Gate::kAbsolute, "");
  r.Set("ingest.ratio_to_key_per_line", ratio, "x", Better::kHigher, Gate::kRatio, "");
  r.Set("storage.bytes_per_line", bytes, "B/line", Better::kLower, Gate::kSize, "");
  return r;
}

TEST(ReportTest, JsonRoundTripKeepsEveryField) {
  Report r = Sample(1.5e6, 7.5, 18.25);
  r.conditions()["commit"] = "abc";
  absl::StatusOr<Report> back = Report::FromJson(r.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->figures().size(), 3u);
  const Figure* f = back->Find("storage.bytes_per_line");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->value, 18.25);
  EXPECT_EQ(f->unit, "B/line");
  EXPECT_EQ(f->better, Better::kLower);
  EXPECT_EQ(f->gate, Gate::kSize);
  EXPECT_EQ(back->conditions()["commit"], "abc");
  // Order is kept: dashboards and the table read in phase order.
  EXPECT_EQ(back->figures()[0].name, "ingest.lines_per_sec");
}

TEST(ReportTest, RejectsWhatIsNotAReport) {
  EXPECT_FALSE(Report::FromJson(nlohmann::ordered_json::parse(R"({"figures": {}})")).ok());
  EXPECT_FALSE(Report::FromJson(nlohmann::ordered_json::parse(R"([1, 2])")).ok());
  EXPECT_FALSE(Report::ReadFile("/nonexistent/fieldlog-bench.json").ok());
}

TEST(CompareTest, SameFiguresPass) {
  const Comparison c = Compare(Sample(1e6, 6, 20), Sample(1e6, 6, 20), CompareOptions());
  EXPECT_TRUE(c.ok());
  EXPECT_NE(c.table.find("ingest.ratio_to_key_per_line"), std::string::npos);
}

TEST(CompareTest, GatedRatioWorseThanToleranceFails) {
  // 6 -> 4 is -33%, past the default 25%.
  const Comparison c = Compare(Sample(1e6, 6, 20), Sample(1e6, 4, 20), CompareOptions());
  ASSERT_FALSE(c.ok());
  ASSERT_EQ(c.failures.size(), 1u);
  EXPECT_NE(c.failures[0].find("ingest.ratio_to_key_per_line"), std::string::npos);
}

TEST(CompareTest, WithinToleranceAndBetterPass) {
  CompareOptions options;
  options.tolerance = 0.25;
  EXPECT_TRUE(Compare(Sample(1e6, 6, 20), Sample(1e6, 5, 24), options).ok());  // -17%, +20%
  EXPECT_TRUE(Compare(Sample(1e6, 6, 20), Sample(1e6, 60, 2), options).ok());  // much better
}

TEST(CompareTest, LowerIsBetterFiguresFailWhenTheyGrow) {
  const Comparison c = Compare(Sample(1e6, 6, 20), Sample(1e6, 6, 30), CompareOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.failures[0].find("storage.bytes_per_line"), std::string::npos);
}

TEST(CompareTest, AbsoluteFiguresInformUnlessEverythingGates) {
  // A tenth of the rate: a shared machine can do that; not gated by default.
  const Comparison informing = Compare(Sample(1e6, 6, 20), Sample(1e5, 6, 20), CompareOptions());
  EXPECT_TRUE(informing.ok());
  EXPECT_NE(informing.table.find("not gated"), std::string::npos);
  CompareOptions all;
  all.gate_all = true;
  EXPECT_FALSE(Compare(Sample(1e6, 6, 20), Sample(1e5, 6, 20), all).ok());
}

TEST(CompareTest, PerFigureToleranceInTheBaselineWins) {
  Report baseline = Sample(1e6, 6, 20);
  nlohmann::ordered_json json = baseline.ToJson();
  json["figures"]["ingest.ratio_to_key_per_line"]["tolerance"] = 0.5;
  baseline = *Report::FromJson(json);
  EXPECT_TRUE(Compare(baseline, Sample(1e6, 4, 20), CompareOptions()).ok());   // -33% < 50%
  EXPECT_FALSE(Compare(baseline, Sample(1e6, 2, 20), CompareOptions()).ok());  // -67%
}

TEST(CompareTest, ToleranceSetByTheRunTravelsWithItsJson) {
  Report run = Sample(1e6, 6, 20);
  run.SetTolerance("storage.bytes_per_line", 0.05);
  const Report baseline = *Report::FromJson(run.ToJson());
  ASSERT_TRUE(baseline.Find("storage.bytes_per_line")->tolerance.has_value());
  EXPECT_EQ(*baseline.Find("storage.bytes_per_line")->tolerance, 0.05);
  // +10% bytes: within the default 25%, past this figure's own 5%.
  EXPECT_FALSE(Compare(baseline, Sample(1e6, 6, 22), CompareOptions()).ok());
}

TEST(CompareTest, MissingGatedFigureFailsAndDifferentShapeWarns) {
  Report current;
  current.conditions()["options"] = {{"devices", 10}, {"lines_per_device", 2000}};
  current.Set("ingest.lines_per_sec", 1e6, "lines/s", Better::kHigher, Gate::kAbsolute, "");
  const Comparison c = Compare(Sample(1e6, 6, 20), current, CompareOptions());
  EXPECT_EQ(c.failures.size(), 2u);  // the ratio and the size are gone
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("devices"), std::string::npos);
}

TEST(HistogramTest, QuantilesWithinBucketPrecision) {
  Histogram h;
  for (int i = 1; i <= 1000; ++i) h.Add(i * 1000.0);  // 1 ms .. 1 s
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_NEAR(h.Quantile(0.5), 500'000, 500'000 * 0.03);
  EXPECT_NEAR(h.Quantile(0.99), 990'000, 990'000 * 0.03);
  EXPECT_LE(h.Quantile(0.999), h.max());
  EXPECT_EQ(Histogram().Quantile(0.5), 0);
}

TEST(HistogramTest, MergeAndJsonRoundTripAgree) {
  Histogram a, b;
  for (int i = 0; i < 100; ++i) a.Add(50, 2);
  for (int i = 0; i < 100; ++i) b.Add(5000);
  a.Merge(b);
  const Histogram back = Histogram::FromJson(a.ToJson());
  EXPECT_EQ(back.count(), 300u);
  EXPECT_DOUBLE_EQ(back.Quantile(0.5), a.Quantile(0.5));
  EXPECT_DOUBLE_EQ(back.mean(), a.mean());
  EXPECT_GT(back.Quantile(0.9), 4000);
}

TEST(HumanNumberTest, ThreeSignificantDigitsWithSuffix) {
  EXPECT_EQ(HumanNumber(1'234'567), "1.23 M");
  EXPECT_EQ(HumanNumber(45'600), "45.6 k");
  EXPECT_EQ(HumanNumber(250), "250");
  EXPECT_EQ(HumanNumber(0.0123), "0.0123");
  EXPECT_EQ(HumanNumber(NAN), "n/a");
}

}  // namespace
}  // namespace fieldlog::bench
