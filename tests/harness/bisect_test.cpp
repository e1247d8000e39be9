// The bisect's comparisons on hand-made traces: the first step whose loss differs, the first op
// whose outputs differ, another op in its place, a run that stops early.
#include "harness/bisect.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tw {
namespace {
using nlohmann::json;

json op(int64_t step, const std::string& name, const std::string& digest, double sum = 1.0) {
  return {{"step", step},
          {"op", name},
          {"outputs", {{{"shape", {2, 3}}, {"dtype", "Float"}, {"digest", digest}, {"sum", sum}, {"absmax", 1.0}}}}};
}

json trace(json losses, json ops) { return {{"losses", std::move(losses)}, {"ops", std::move(ops)}}; }

TEST(Bisect, IdenticalLossesHaveNoDifferingStep) {
  const json t = trace({{1, "0x1p+0"}, {2, "0x1p-1"}}, json::array());
  const LossComparison c = compare_losses(t, t);
  EXPECT_EQ(c.first_differing_step, 0);
  EXPECT_EQ(c.steps_compared, 2);
}

TEST(Bisect, TheFirstLossThatIsNotBitIdenticalNamesTheStep) {
  const json a = trace({{1, "0x1p+0"}, {2, "0x1p-1"}, {3, "0x1p-2"}}, json::array());
  const json b = trace({{1, "0x1p+0"}, {2, "0x1.0000000000001p-1"}, {3, "0x1p-2"}}, json::array());
  const LossComparison c = compare_losses(a, b);
  EXPECT_EQ(c.first_differing_step, 2);
  EXPECT_EQ(c.what, "loss");
  EXPECT_EQ(c.a_loss, "0x1p-1");
  EXPECT_EQ(c.b_loss, "0x1.0000000000001p-1");
}

TEST(Bisect, WeightsThatDifferUnderAnEqualLossNameTheStepTheyEnter) {
  // A change too small to move the loss's last bit still changes the weights the next step uses.
  const json a = trace({{1, "0x1p+0", "w1"}, {2, "0x1p-1", "w2"}, {3, "0x1p-2", "w3"}}, json::array());
  const json b = trace({{1, "0x1p+0", "w1"}, {2, "0x1p-1", "w2x"}, {3, "0x1p-2", "w3x"}}, json::array());
  const LossComparison c = compare_losses(a, b);
  EXPECT_EQ(c.first_differing_step, 2);
  EXPECT_EQ(c.what, "weights");
}

TEST(Bisect, ARunThatStopsEarlierPartsAtTheStepItLacks) {
  const json a = trace({{1, "0x1p+0"}, {2, "0x1p-1"}}, json::array());
  const json b = trace({{1, "0x1p+0"}}, json::array());
  const LossComparison c = compare_losses(a, b);
  EXPECT_EQ(c.first_differing_step, 2);
  EXPECT_EQ(c.what, "steps");
  EXPECT_EQ(c.a_loss, "0x1p-1");
  EXPECT_TRUE(c.b_loss.is_null());
}

TEST(Bisect, TheFirstOpWhoseOutputBytesDifferIsNamed) {
  const json a =
      trace(json::array(), {op(1, "aten::addmm", "aa"), op(1, "aten::tanh", "bb", 2.0), op(1, "aten::mse_loss", "cc")});
  const json b =
      trace(json::array(), {op(1, "aten::addmm", "aa"), op(1, "aten::tanh", "bx", 2.5), op(1, "aten::mse_loss", "cx")});
  const OpComparison c = compare_ops(a, b);
  ASSERT_TRUE(c.found);
  EXPECT_EQ(c.kind, "values");
  EXPECT_EQ(c.identical_before, 1);
  EXPECT_EQ(c.a_op["op"], "aten::tanh");
  const json f = bisect_json(LossComparison{3, 1, "0x1p+0", "0x1.1p+0"}, c, 1, 1);
  json shown = f;
  shown["cell"] = "x/none/cpu";
  shown["seed"] = 1;
  shown["a"] = {{"exe", "a"}, {"env", json::array()}};
  shown["b"] = {{"exe", "a"}, {"env", {"K=V"}}};
  const std::string text = render_bisect(shown, false);
  EXPECT_NE(text.find("the first 1 match bit for bit; op 2 differs in its values"), std::string::npos) << text;
  EXPECT_NE(text.find("aten::tanh (step 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("sum 2 vs 2.5"), std::string::npos) << text;
}

TEST(Bisect, AnotherOpInItsPlaceIsASequenceDifference) {
  const json a = trace(json::array(), {op(1, "aten::addmm", "aa"), op(1, "aten::tanh", "bb")});
  const json b = trace(json::array(), {op(1, "aten::addmm", "aa"), op(1, "aten::_mkldnn_tanh", "bb")});
  const OpComparison c = compare_ops(a, b);
  ASSERT_TRUE(c.found);
  EXPECT_EQ(c.kind, "sequence");
  EXPECT_EQ(c.b_op["op"], "aten::_mkldnn_tanh");
}

TEST(Bisect, ATraceThatEndsFirstDiffersWhereItEnds) {
  const json a = trace(json::array(), {op(1, "aten::addmm", "aa"), op(1, "aten::tanh", "bb")});
  const json b = trace(json::array(), {op(1, "aten::addmm", "aa")});
  const OpComparison c = compare_ops(a, b);
  ASSERT_TRUE(c.found);
  EXPECT_EQ(c.identical_before, 1);
  EXPECT_TRUE(c.b_op.is_null());
  EXPECT_FALSE(compare_ops(a, a).found);
}

TEST(Bisect, AnOutputWithoutADigestIsPassedOver) {
  json a = trace(json::array(), {op(1, "aten::to_sparse", "aa"), op(1, "aten::mm", "bb")});
  a["ops"][0]["outputs"][0]["digest"] = nullptr;
  json b = a;
  EXPECT_FALSE(compare_ops(a, b).found);
  b["ops"][1]["outputs"][0]["digest"] = "bx";
  const OpComparison c = compare_ops(a, b);
  ASSERT_TRUE(c.found);
  EXPECT_EQ(c.identical_before, 1);
}

}  // namespace
}  // namespace tw
