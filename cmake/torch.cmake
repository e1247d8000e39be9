# The LibTorch side: training kernel, faults, mitigations, and the trainwreck executable.
# Torch's CUDA setup adds -gencode flags for this list; its default still names sm_50, which
# CUDA 13 no longer compiles for.
if(NOT TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
endif()
find_package(Torch REQUIRED)
message(STATUS "LibTorch ${Torch_VERSION} from ${Torch_DIR}")

set(TRAINWRECK_TORCH_DEFINITIONS "")
if(TARGET torch_cuda OR TARGET caffe2::cuda)
  set(TRAINWRECK_WITH_CUDA ON)
  list(APPEND TRAINWRECK_TORCH_DEFINITIONS TRAINWRECK_WITH_CUDA)
  # LibTorch's CUDA headers include the CUDA runtime's (cuda_runtime_api.h) and c10d's NCCL ones
  # include nccl.h; its CMake config adds neither folder. The runtime's come from the toolkit,
  # nccl.h preferably from the NCCL wheel LibTorch was built against.
  if(NOT CUDAToolkit_INCLUDE_DIRS)
    find_package(CUDAToolkit QUIET)
  endif()
  set(TRAINWRECK_CUDA_INCLUDE_DIRS ${CUDAToolkit_INCLUDE_DIRS})
  find_path(TRAINWRECK_NCCL_INCLUDE_DIR nccl.h
    HINTS "${TORCH_INSTALL_PREFIX}/../nvidia/nccl/include" "${TORCH_INSTALL_PREFIX}/../nvidia/cu13/include"
          ${CUDAToolkit_INCLUDE_DIRS})
  if(EXISTS "${TORCH_INSTALL_PREFIX}/include/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp"
     AND TRAINWRECK_NCCL_INCLUDE_DIR)
    list(APPEND TRAINWRECK_TORCH_DEFINITIONS TRAINWRECK_WITH_NCCL)  # c10d's NCCL backend is built in
    list(APPEND TRAINWRECK_CUDA_INCLUDE_DIRS ${TRAINWRECK_NCCL_INCLUDE_DIR})
    message(STATUS "NCCL header: ${TRAINWRECK_NCCL_INCLUDE_DIR}/nccl.h")
  endif()
  message(STATUS "LibTorch is a CUDA build: CUDA code paths are compiled")
else()
  set(TRAINWRECK_WITH_CUDA OFF)
endif()

# LibTorch's flags (ABI) without -Werror noise from its headers.
separate_arguments(TRAINWRECK_TORCH_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")

function(trainwreck_torch_target target)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_include_directories(${target} SYSTEM PRIVATE ${TORCH_INCLUDE_DIRS} ${TRAINWRECK_CUDA_INCLUDE_DIRS})
  target_compile_options(${target} PRIVATE ${TRAINWRECK_TORCH_FLAGS})
  target_compile_definitions(${target} PRIVATE ${TRAINWRECK_TORCH_DEFINITIONS})
  target_link_libraries(${target} PRIVATE nlohmann_json::nlohmann_json)
endfunction()

file(GLOB TRAINWRECK_KERNEL_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/kernel/*.cpp)
add_library(trainwreck_kernel OBJECT ${TRAINWRECK_KERNEL_SOURCES})
trainwreck_torch_target(trainwreck_kernel)

# CUDA kernels for the GPU-only faults, when the toolkit is there.
if(TRAINWRECK_WITH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
endif()
if(TRAINWRECK_WITH_CUDA AND CMAKE_CUDA_COMPILER)
  set(CMAKE_CUDA_ARCHITECTURES OFF)  # the -gencode flags come from TORCH_CUDA_ARCH_LIST
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  add_library(trainwreck_cuda_kernels STATIC kernel/cuda/fault_kernels.cu)
  target_include_directories(trainwreck_cuda_kernels PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  list(APPEND TRAINWRECK_TORCH_DEFINITIONS TRAINWRECK_WITH_CUDA_KERNELS)
  message(STATUS "CUDA kernels of the GPU-only faults: built with ${CMAKE_CUDA_COMPILER}")
endif()

# One file per fault and mitigation.
file(GLOB TRAINWRECK_COMPONENT_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/faults/*.cpp ${CMAKE_CURRENT_SOURCE_DIR}/mitigations/*.cpp)
add_library(trainwreck_components OBJECT ${TRAINWRECK_COMPONENT_SOURCES})
trainwreck_torch_target(trainwreck_components)
# Separate objects: ccache then rebuilds only the component that changed.

# Links only what is used, so libcuda.so.1 (in caffe2::cuda's link interface) is not a
# needed library and the executable starts on machines without a GPU driver.
function(trainwreck_torch_executable target)
  add_executable(${target} ${ARGN} $<TARGET_OBJECTS:trainwreck_kernel> $<TARGET_OBJECTS:trainwreck_components>)
  trainwreck_torch_target(${target})
  target_link_libraries(${target} PRIVATE trainwreck_harness ${TORCH_LIBRARIES})
  if(TARGET trainwreck_cuda_kernels)
    target_link_libraries(${target} PRIVATE trainwreck_cuda_kernels)
  endif()
  target_link_options(${target} PRIVATE "LINKER:--as-needed")
endfunction()

trainwreck_torch_executable(trainwreck app/main.cpp)

# Unit tests of the LibTorch side (guards, data, budgeted allocator, ...).
file(GLOB TRAINWRECK_KERNEL_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/kernel/*_test.cpp)
trainwreck_torch_executable(kernel_tests ${TRAINWRECK_KERNEL_TESTS})
target_link_libraries(kernel_tests PRIVATE GTest::gtest GTest::gtest_main)
# Tests that run whole cells as a user does (what a cell listens on) start the real executable.
target_compile_definitions(kernel_tests PRIVATE TRAINWRECK_EXE="$<TARGET_FILE:trainwreck>"
  TRAINWRECK_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
add_dependencies(kernel_tests trainwreck)

# Discovered when ctest runs (the binary needs the LibTorch runtime, set up by scripts/test).
gtest_discover_tests(kernel_tests DISCOVERY_MODE PRE_TEST PROPERTIES LABELS kernel DISCOVERY_TIMEOUT 120)

# The matrix as a regression suite: one CTest test per cell, every cell must match its pinned
# expectation. ctest -L matrix, -L cpu, -L cuda (CUDA cells when a GPU is present),
# -L fault=<f>, -L mitigation=<m>, -L scenario=<s>.
include(${CMAKE_CURRENT_SOURCE_DIR}/cmake/ctest_cells.cmake)
trainwreck_add_cell_tests(trainwreck SCENARIOS ${CMAKE_CURRENT_SOURCE_DIR}/scenarios)
add_test(NAME selftest COMMAND trainwreck selftest --out ${CMAKE_CURRENT_BINARY_DIR}/selftest --quiet)
set_tests_properties(selftest PROPERTIES LABELS "selftest;cpu" TIMEOUT 300)

foreach(extra bench examples)
  include(${CMAKE_CURRENT_SOURCE_DIR}/cmake/${extra}.cmake OPTIONAL)
endforeach()
