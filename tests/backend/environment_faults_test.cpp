// Checkpoint history (rotation, the file-size limit, preflight), the CUDA_VISIBLE_DEVICES check
// and the run-context diff behind the data / hardware / environment faults.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>

#include "backend/checkpoint.h"
#include "backend/run_context.h"
#include "backend/torch_includes.h"
#include "backend/visible_devices.h"

namespace {

// No std::filesystem here: libtorch.so exports its own copies of those symbols (see
// tw::remove_directory).
std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

int64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

struct TinyNetImpl : torch::nn::Module {
  explicit TinyNetImpl(int64_t width) { fc = register_module("fc", torch::nn::Linear(width, width)); }
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(TinyNet);

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    std::string templ = temp_dir() + "/tw-ckpt-test-XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { tw::remove_directory(dir_); }
  // Runs the writer's hook for steps 1..steps; returns the first report that stops.
  trainwreck::GuardReport drive(tw::CheckpointWriter& writer, TinyNet& net, int64_t steps) {
    const at::Tensor loss = at::zeros({});
    for (int64_t step = 1; step <= steps; ++step) {
      trainwreck::StepContext ctx{step, loss, *net};
      auto r = writer.after_step(ctx);
      if (r.stop()) return r;
    }
    return {};
  }
  std::string path() const { return dir_ + "/checkpoints.bin"; }
  std::string dir_;
};

// Lowers this process's file-size limit and ignores SIGXFSZ for the test's scope, then puts
// both back (the hard limit is never touched, so raising the soft one again is allowed).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    saved_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim = saved_;
    lim.rlim_cur = bytes;
    ok_ = setrlimit(RLIMIT_FSIZE, &lim) == 0;
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, saved_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  void (*saved_handler_)(int) = SIG_DFL;
  bool ok_ = false;
};

TEST_F(CheckpointTest, KeepsEveryCheckpointWithoutRotation) {
  TinyNet net(8);
  tw::CheckpointWriter writer({path(), /*every=*/2, /*keep_last=*/0, /*preflight=*/false});
  drive(writer, net, 10);
  EXPECT_EQ(tw::CheckpointWriter::read_steps(path()), (std::vector<int64_t>{2, 4, 6, 8, 10}));
  EXPECT_EQ(writer.checkpoints_written(), 5);
  EXPECT_EQ(file_size(path()), writer.history_bytes());
}

TEST_F(CheckpointTest, RotationKeepsTheLastK) {
  TinyNet net(8);
  tw::CheckpointWriter writer({path(), /*every=*/1, /*keep_last=*/3, /*preflight=*/false});
  drive(writer, net, 7);
  EXPECT_EQ(tw::CheckpointWriter::read_steps(path()), (std::vector<int64_t>{5, 6, 7}));
  EXPECT_EQ(writer.checkpoints_written(), 7);
  const auto record = tw::CheckpointWriter::serialize(1, *net).size();
  EXPECT_EQ(file_size(path()), static_cast<int64_t>(3 * record));
  EXPECT_EQ(file_size(path() + ".tmp"), -1);
}

TEST_F(CheckpointTest, RecordHoldsTheParameterBytes) {
  TinyNet net(8);
  const std::string record = tw::CheckpointWriter::serialize(3, *net);
  int64_t param_bytes = 0;
  for (const auto& p : net->parameters()) param_bytes += static_cast<int64_t>(p.nbytes());
  EXPECT_GT(static_cast<int64_t>(record.size()), param_bytes);
  EXPECT_LT(static_cast<int64_t>(record.size()), param_bytes + 128);
}

TEST_F(CheckpointTest, WritePastTheFileSizeLimitFailsWithEfbig) {
  TinyNet net(64);  // ~16.6 KB per checkpoint
  const auto record = tw::CheckpointWriter::serialize(1, *net).size();
  tw::CheckpointWriter writer({path(), /*every=*/1, /*keep_last=*/0, /*preflight=*/false});
  FileSizeLimit limit(static_cast<rlim_t>(record * 5 / 2));
  ASSERT_TRUE(limit.ok());
  try {
    drive(writer, net, 10);
    FAIL() << "no write failed";
  } catch (const tw::CheckpointWriteError& e) {
    EXPECT_EQ(e.error(), EFBIG);
    EXPECT_EQ(e.step(), 3);
    EXPECT_NE(std::string(e.what()).find("File too large (EFBIG)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(writer.checkpoints_written(), 2);
  // The failed write left a partial record that readers skip.
  EXPECT_EQ(tw::CheckpointWriter::read_steps(path()), (std::vector<int64_t>{1, 2}));
}

TEST_F(CheckpointTest, RotationStaysUnderTheLimit) {
  TinyNet net(64);
  const auto record = tw::CheckpointWriter::serialize(1, *net).size();
  tw::CheckpointWriter writer({path(), /*every=*/1, /*keep_last=*/2, /*preflight=*/false});
  FileSizeLimit limit(static_cast<rlim_t>(record * 5 / 2));
  ASSERT_TRUE(limit.ok());
  EXPECT_NO_THROW(drive(writer, net, 10));
  EXPECT_EQ(tw::CheckpointWriter::read_steps(path()), (std::vector<int64_t>{9, 10}));
}

TEST_F(CheckpointTest, PreflightStopsBeforeTheWriteThatWouldFail) {
  TinyNet net(64);
  const auto record = tw::CheckpointWriter::serialize(1, *net).size();
  tw::CheckpointWriter writer({path(), /*every=*/1, /*keep_last=*/0, /*preflight=*/true});
  FileSizeLimit limit(static_cast<rlim_t>(record * 5 / 2));
  ASSERT_TRUE(limit.ok());
  const auto report = drive(writer, net, 10);
  ASSERT_TRUE(report.stop());
  EXPECT_EQ(report.step, 3);
  EXPECT_EQ(report.guard, "free_space_preflight");
  EXPECT_NE(report.message.find("RLIMIT_FSIZE"), std::string::npos) << report.message;
  EXPECT_EQ(tw::CheckpointWriter::read_steps(path()), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(file_size(path()), static_cast<int64_t>(2 * record));  // nothing partial was written
}

TEST(DiskRoom, ReadsTheFileSizeLimit) {
  FileSizeLimit limit(1 << 20);
  ASSERT_TRUE(limit.ok());
  const auto room = tw::disk_room(temp_dir());
  EXPECT_EQ(room.file_size_limit, 1 << 20);
  EXPECT_GT(room.free_bytes, 0);
}

tw::GpuInventory two_gpus() {
  return tw::parse_nvidia_smi_list(
      "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1b2c3d4e-0000-1111-2222-333344445555)\n"
      "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-9f8e7d6c-0000-1111-2222-333344445555)\n");
}

TEST(VisibleDevices, ParsesNvidiaSmiList) {
  const auto gpus = two_gpus();
  EXPECT_EQ(gpus.count, 2);
  ASSERT_EQ(gpus.uuids.size(), 2u);
  EXPECT_EQ(gpus.uuids[1], "GPU-9f8e7d6c-0000-1111-2222-333344445555");
}

TEST(VisibleDevices, AcceptsPresentOrdinalsAndUuids) {
  const auto gpus = two_gpus();
  EXPECT_EQ(tw::check_visible_devices("0", gpus), "");
  EXPECT_EQ(tw::check_visible_devices("1,0", gpus), "");
  EXPECT_EQ(tw::check_visible_devices("GPU-9f8e", gpus), "");
}

TEST(VisibleDevices, NamesTheWrongEntry) {
  const auto gpus = two_gpus();
  EXPECT_NE(tw::check_visible_devices("2", gpus).find("entry 0 ('2') is not a GPU here"), std::string::npos);
  EXPECT_NE(tw::check_visible_devices("0,7", gpus).find("ignores it and every entry after it"), std::string::npos);
  EXPECT_NE(tw::check_visible_devices("-1", gpus), "");
  EXPECT_NE(tw::check_visible_devices("", gpus).find("hides every GPU"), std::string::npos);
  EXPECT_NE(tw::check_visible_devices("GPU-0000", gpus).find("matches no GPU UUID"), std::string::npos);
  EXPECT_NE(tw::check_visible_devices("0,0", gpus).find("already listed"), std::string::npos);
  EXPECT_NE(tw::check_visible_devices("cuda:0", gpus).find("neither an ordinal"), std::string::npos);
  tw::GpuInventory none;
  none.source = "/proc/driver/nvidia/gpus";
  EXPECT_NE(tw::check_visible_devices("0", none).find("no NVIDIA GPU"), std::string::npos);
}

TEST(RunContext, DiffNamesWhatChanged) {
  const nlohmann::json a = {{"libtorch", "2.11.0"}, {"intra_op_threads", 1}, {"deterministic_algorithms", true}};
  nlohmann::json b = a;
  EXPECT_TRUE(tw::diff_run_context(a, b).empty());
  b["intra_op_threads"] = 4;
  b["allow_tf32_cublas"] = true;
  const auto changes = tw::diff_run_context(a, b);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0], "allow_tf32_cublas: \"(absent)\" -> true");
  EXPECT_EQ(changes[1], "intra_op_threads: 1 -> 4");
}

TEST(RunContext, ApplyThenRecordRoundTrips) {
  const auto before = tw::record_run_context(c10::Device(c10::kCPU));
  nlohmann::json want = before;
  want["intra_op_threads"] = 2;
  want["deterministic_algorithms"] = !before["deterministic_algorithms"].get<bool>();
  tw::apply_run_context(want);
  EXPECT_TRUE(tw::diff_run_context(want, tw::record_run_context(c10::Device(c10::kCPU))).empty());
  tw::apply_run_context(before);
  EXPECT_TRUE(tw::diff_run_context(before, tw::record_run_context(c10::Device(c10::kCPU))).empty());
}

}  // namespace
