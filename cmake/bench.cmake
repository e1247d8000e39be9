# The guards' cost next to the usual alternatives (Google Benchmark), and a smoke run as a test
# (label "bench") so the benchmark keeps compiling and running.
find_package(benchmark QUIET)
if(NOT benchmark_FOUND)
  message(STATUS "Google Benchmark not found: bench/ is not built")
  return()
endif()
include(${CMAKE_CURRENT_LIST_DIR}/guards_library.cmake)

add_executable(guards_bench ${trainwreck_SOURCE_DIR}/bench/guards_bench.cpp)
target_link_libraries(guards_bench PRIVATE trainwreck::guards benchmark::benchmark)
trainwreck_torch_runtime_paths(guards_bench)

# A few iterations of each variant: seconds, not a measurement.
add_test(NAME bench_guards_smoke
  COMMAND guards_bench --benchmark_min_time=0.01 --benchmark_repetitions=1
          --benchmark_out=${CMAKE_CURRENT_BINARY_DIR}/guards_bench_smoke.json --benchmark_out_format=json)
set_tests_properties(bench_guards_smoke PROPERTIES LABELS "bench" TIMEOUT 60)
