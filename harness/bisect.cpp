#include "harness/bisect.h"

#include <algorithm>
#include <sstream>

#include "harness/json_util.h"
#include "harness/speed.h"

namespace tw {
using nlohmann::json;

namespace {

const json& list_of(const json& trace, const char* key) {
  static const json empty = json::array();
  const json& v = member(trace, key);
  return v.is_array() ? v : empty;
}

// Same op, same number of outputs, each with the same shape, dtype and bytes.
bool same_op(const json& a, const json& b) {
  if (member(a, "op") != member(b, "op")) return false;
  const json& oa = list_of(a, "outputs");
  const json& ob = list_of(b, "outputs");
  if (oa.size() != ob.size()) return false;
  for (std::size_t i = 0; i < oa.size(); ++i) {
    if (member(oa[i], "shape") != member(ob[i], "shape") || member(oa[i], "dtype") != member(ob[i], "dtype"))
      return false;
    // An output the trace cannot hash (sparse, quantized, complex) is passed over: an op that
    // reads it shows a difference it makes.
    if (member(oa[i], "digest") != member(ob[i], "digest")) return false;
  }
  return true;
}

std::string number(const json& v) {
  if (!v.is_number()) return "-";
  std::ostringstream s;
  s.precision(9);
  s << v.get<double>();
  return s.str();
}

std::string shape_text(const json& shape) {
  std::string s = "[";
  for (std::size_t i = 0; shape.is_array() && i < shape.size(); ++i) s += (i ? ", " : "") + shape[i].dump();
  return s + "]";
}

std::string op_name(const json& op) {
  if (op.is_null()) return "(nothing: the trace ends)";
  std::string s = member(op, "op").is_string() ? op["op"].get<std::string>() : "?";
  const json& step = member(op, "step");
  s += step == 0 ? std::string(" (set-up, before step 1") : " (step " + step.dump();
  if (member(op, "within").is_string()) s += ", within " + op["within"].get<std::string>();
  return s + ")";
}

// Each output of the differing op: shape, dtype, and A's against B's sum and largest magnitude.
std::vector<std::string> output_lines(const json& a, const json& b) {
  std::vector<std::string> lines;
  const json& oa = list_of(a, "outputs");
  const json& ob = list_of(b, "outputs");
  for (std::size_t i = 0; i < std::max(oa.size(), ob.size()); ++i) {
    const json& x = i < oa.size() ? oa[i] : json();
    const json& y = i < ob.size() ? ob[i] : json();
    const json& described = x.is_null() ? y : x;
    std::string line = "output " + std::to_string(i) + " " + shape_text(member(described, "shape")) + " " +
                       (member(described, "dtype").is_string() ? described["dtype"].get<std::string>() : "");
    const bool same =
        !x.is_null() && !y.is_null() && member(x, "digest") == member(y, "digest") && !member(x, "digest").is_null();
    if (same) {
      line += ": identical";
    } else {
      line += ": sum " + number(member(x, "sum")) + " vs " + number(member(y, "sum")) + ", max |x| " +
              number(member(x, "absmax")) + " vs " + number(member(y, "absmax"));
    }
    lines.push_back(line);
  }
  return lines;
}

}  // namespace

LossComparison compare_losses(const json& a_trace, const json& b_trace) {
  const json& la = list_of(a_trace, "losses");
  const json& lb = list_of(b_trace, "losses");
  LossComparison c;
  const std::size_t n = std::min(la.size(), lb.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (la[i] != lb[i]) {
      c.first_differing_step =
          la[i].is_array() && !la[i].empty() ? la[i][0].get<int64_t>() : static_cast<int64_t>(i + 1);
      c.what = la[i].size() > 2 && lb[i].size() > 2 && la[i][2] != lb[i][2] ? "weights" : "loss";
      c.a_loss = la[i].size() > 1 ? la[i][1] : json();
      c.b_loss = lb[i].size() > 1 ? lb[i][1] : json();
      c.steps_compared = static_cast<int64_t>(i + 1);
      return c;
    }
  }
  c.steps_compared = static_cast<int64_t>(n);
  if (la.size() != lb.size()) {
    // One run went on: the other lacks that step's loss.
    c.what = "steps";
    const json& longer = la.size() > lb.size() ? la : lb;
    c.first_differing_step =
        longer[n].is_array() && !longer[n].empty() ? longer[n][0].get<int64_t>() : static_cast<int64_t>(n + 1);
    (la.size() > lb.size() ? c.a_loss : c.b_loss) = longer[n].size() > 1 ? longer[n][1] : json();
  }
  return c;
}

OpComparison compare_ops(const json& a_trace, const json& b_trace) {
  const json& oa = list_of(a_trace, "ops");
  const json& ob = list_of(b_trace, "ops");
  OpComparison c;
  c.ops_a = static_cast<int64_t>(oa.size());
  c.ops_b = static_cast<int64_t>(ob.size());
  const std::size_t n = std::max(oa.size(), ob.size());
  for (std::size_t i = 0; i < n; ++i) {
    const json& x = i < oa.size() ? oa[i] : json();
    const json& y = i < ob.size() ? ob[i] : json();
    if (!x.is_null() && !y.is_null() && same_op(x, y)) {
      ++c.identical_before;
      continue;
    }
    c.found = true;
    c.kind = !x.is_null() && !y.is_null() && member(x, "op") == member(y, "op") ? "values" : "sequence";
    c.a_op = x;
    c.b_op = y;
    break;
  }
  return c;
}

json bisect_json(const LossComparison& losses, const OpComparison& ops, int64_t ops_from, int64_t ops_to) {
  json j = {{"steps_compared", losses.steps_compared},
            {"first_differing_step", losses.first_differing_step},
            {"differs_in", losses.what.empty() ? json() : json(losses.what)},
            {"a_loss", losses.a_loss},
            {"b_loss", losses.b_loss},
            {"ops_window", {ops_from, ops_to}},
            {"ops_a", ops.ops_a},
            {"ops_b", ops.ops_b},
            {"identical_before", ops.identical_before},
            {"first_differing_op", nullptr}};
  if (ops.found) j["first_differing_op"] = {{"kind", ops.kind}, {"a", ops.a_op}, {"b", ops.b_op}};
  return j;
}

std::string render_bisect(const json& f, bool markdown) {
  std::ostringstream out;
  const std::string item = markdown ? "- " : "  ";
  const std::string code = markdown ? "`" : "";
  out << (markdown ? "## Bisect of " : "Bisect of ") << code << member(f, "cell").get<std::string>() << code
      << " (seed " << member(f, "seed").dump() << ")\n";
  if (markdown) out << "\n";
  out << item << "A: " << code << side_text(member(f, "a")) << code << "\n";
  out << item << "B: " << code << side_text(member(f, "b")) << code << "\n";
  if (member(f, "warning").is_string()) out << item << "WARNING: " << f["warning"].get<std::string>() << "\n";
  for (const char* side : {"a", "b"})
    if (member(member(f, side), "traced") == false)
      out << item << "WARNING: side " << side << "'s run wrote no trace (outcome "
          << member(member(f, side), "outcome").dump() << ")\n";
  const int64_t step = member(f, "first_differing_step").get<int64_t>();
  const int64_t compared = member(f, "steps_compared").get<int64_t>();
  if (step == 0) {
    out << item << "weights and losses: bit-identical at every one of the " << compared
        << " steps both runs trained: nothing to bisect\n";
    return out.str();
  }
  const std::string what = member(f, "differs_in").is_string() ? f["differs_in"].get<std::string>() : "loss";
  const std::string losses = "(loss A " + (f["a_loss"].is_string() ? f["a_loss"].get<std::string>() : "none") + ", B " +
                             (f["b_loss"].is_string() ? f["b_loss"].get<std::string>() : "none") + ")";
  out << item << "weights and losses: bit-identical through step " << step - 1 << "; step " << step
      << (what == "weights" ? " starts from other weights " + losses
          : what == "steps" ? " is run by one side only " + losses
                            : "'s loss differs " + losses)
      << "\n";
  const json& w = member(f, "ops_window");
  const std::string window = w[0] == 0      ? "the set-up and step " + w[1].dump()
                             : w[0] == w[1] ? "step " + w[0].dump()
                                            : "steps " + w[0].dump() + " to " + w[1].dump();
  const json& first = member(f, "first_differing_op");
  out << item << "ops of " << window << " (A " << f["ops_a"].dump() << ", B " << f["ops_b"].dump() << "): ";
  if (first.is_null()) {
    out << "all bit-identical; the difference lies outside what ATen's op callbacks see (a CUDA graph "
           "replay, a collective, work outside the training loop)\n";
    return out.str();
  }
  const int64_t before = member(f, "identical_before").get<int64_t>();
  out << "the first " << before << " match bit for bit; op " << before + 1;
  if (first["kind"] == "sequence") {
    out << " is " << code << op_name(first["a"]) << code << " in A and " << code << op_name(first["b"]) << code
        << " in B: the stacks dispatch differently\n";
    return out.str();
  }
  out << " differs in its values:\n";
  out << (markdown ? "  - " : "    ") << code << op_name(first["a"]) << code << "\n";
  for (const std::string& line : output_lines(first["a"], first["b"]))
    out << (markdown ? "    - " : "      ") << line << "\n";
  return out.str();
}

}  // namespace tw
