# The LibTorch side: training kernel, faults, mitigations, and the trainwreck executable.
find_package(Torch REQUIRED)
message(STATUS "LibTorch ${Torch_VERSION} from ${Torch_DIR}")

set(TRAINWRECK_TORCH_DEFINITIONS "")
if(TARGET torch_cuda OR TARGET caffe2::cuda)
  set(TRAINWRECK_WITH_CUDA ON)
  list(APPEND TRAINWRECK_TORCH_DEFINITIONS TRAINWRECK_WITH_CUDA)
  message(STATUS "LibTorch is a CUDA build: CUDA code paths are compiled")
else()
  set(TRAINWRECK_WITH_CUDA OFF)
endif()

# LibTorch's flags (ABI) without -Werror noise from its headers.
separate_arguments(TRAINWRECK_TORCH_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")

function(trainwreck_torch_target target)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_include_directories(${target} SYSTEM PRIVATE ${TORCH_INCLUDE_DIRS})
  target_compile_options(${target} PRIVATE ${TRAINWRECK_TORCH_FLAGS})
  target_compile_definitions(${target} PRIVATE ${TRAINWRECK_TORCH_DEFINITIONS})
  target_link_libraries(${target} PRIVATE nlohmann_json::nlohmann_json)
endfunction()

add_library(trainwreck_kernel OBJECT
  kernel/cell.cpp
  kernel/data.cpp
  kernel/guards.cpp
  kernel/memory.cpp
  kernel/model.cpp
  kernel/recipe.cpp
  kernel/registry.cpp
  kernel/trainer.cpp
)
trainwreck_torch_target(trainwreck_kernel)

# One file per fault and mitigation, compiled a batch at a time (the LibTorch headers dominate).
file(GLOB TRAINWRECK_COMPONENT_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/faults/*.cpp ${CMAKE_CURRENT_SOURCE_DIR}/mitigations/*.cpp)
add_library(trainwreck_components OBJECT ${TRAINWRECK_COMPONENT_SOURCES})
trainwreck_torch_target(trainwreck_components)
set_target_properties(trainwreck_components PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 24)

# Links only what is used, so libcuda.so.1 (in caffe2::cuda's link interface) is not a
# needed library and the executable starts on machines without a GPU driver.
function(trainwreck_torch_executable target)
  add_executable(${target} ${ARGN} $<TARGET_OBJECTS:trainwreck_kernel> $<TARGET_OBJECTS:trainwreck_components>)
  trainwreck_torch_target(${target})
  target_link_libraries(${target} PRIVATE trainwreck_harness ${TORCH_LIBRARIES})
  target_link_options(${target} PRIVATE "LINKER:--as-needed")
endfunction()

trainwreck_torch_executable(trainwreck app/main.cpp)
