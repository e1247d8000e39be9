# Fuzzing the scenario loader (tests/fuzz/). scenario_fuzz_replay replays the committed corpus
# with any compiler as a CTest test; TRAINWRECK_FUZZ adds the libFuzzer binary (clang only).
option(TRAINWRECK_FUZZ "Build the libFuzzer target scenario_fuzz (needs clang)" OFF)

add_executable(scenario_fuzz_replay tests/fuzz/scenario_fuzz.cpp tests/fuzz/replay_main.cpp)
target_link_libraries(scenario_fuzz_replay PRIVATE trainwreck_harness)
add_test(NAME scenario_fuzz_replay
         COMMAND scenario_fuzz_replay ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/corpus/scenario
                 ${CMAKE_CURRENT_SOURCE_DIR}/scenarios)
set_tests_properties(scenario_fuzz_replay PROPERTIES LABELS fuzz TIMEOUT 120)

if(TRAINWRECK_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(WARNING "TRAINWRECK_FUZZ needs clang (libFuzzer); scenario_fuzz is not built "
                    "(configure with CXX=clang++, or use scripts/fuzz)")
  else()
    # The harness sources compiled again with coverage instrumentation, so that
    # trainwreck_harness itself stays as the rest of the build expects it.
    get_target_property(TRAINWRECK_FUZZ_SOURCES trainwreck_harness SOURCES)
    get_target_property(TRAINWRECK_FUZZ_DEFINITIONS trainwreck_harness COMPILE_DEFINITIONS)
    set(TRAINWRECK_FUZZ_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
    add_library(trainwreck_harness_fuzz STATIC ${TRAINWRECK_FUZZ_SOURCES})
    target_include_directories(trainwreck_harness_fuzz PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
    target_link_libraries(trainwreck_harness_fuzz PUBLIC nlohmann_json::nlohmann_json Threads::Threads)
    if(TRAINWRECK_FUZZ_DEFINITIONS)
      target_compile_definitions(trainwreck_harness_fuzz PRIVATE ${TRAINWRECK_FUZZ_DEFINITIONS})
    endif()
    target_compile_options(trainwreck_harness_fuzz PRIVATE -fsanitize=fuzzer-no-link ${TRAINWRECK_FUZZ_FLAGS})

    add_executable(scenario_fuzz tests/fuzz/scenario_fuzz.cpp)
    target_link_libraries(scenario_fuzz PRIVATE trainwreck_harness_fuzz)
    target_compile_options(scenario_fuzz PRIVATE -fsanitize=fuzzer ${TRAINWRECK_FUZZ_FLAGS})
    target_link_options(scenario_fuzz PRIVATE -fsanitize=fuzzer ${TRAINWRECK_FUZZ_FLAGS})
  endif()
endif()
