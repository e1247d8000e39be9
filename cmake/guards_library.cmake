# trainwreck_guards: the public guard API (include/trainwreck/guards.h) as a library users link,
# as trainwreck::guards from add_subdirectory or from find_package(trainwreck) after install.
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

add_library(trainwreck_guards STATIC ${trainwreck_SOURCE_DIR}/backend/guards.cpp ${trainwreck_SOURCE_DIR}/backend/guards_watch.cpp)
add_library(trainwreck::guards ALIAS trainwreck_guards)
set_target_properties(trainwreck_guards PROPERTIES EXPORT_NAME guards POSITION_INDEPENDENT_CODE ON)
target_include_directories(trainwreck_guards PUBLIC
  $<BUILD_INTERFACE:${trainwreck_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
# harness/slope.h (header-only, the leak slope the harness shares) is read at build time only.
target_include_directories(trainwreck_guards PRIVATE ${trainwreck_SOURCE_DIR})
target_compile_features(trainwreck_guards PUBLIC cxx_std_17)
target_compile_options(trainwreck_guards PRIVATE -Wall -Wextra)
# The torch target carries LibTorch's include directories and ABI flags to users. Only imported
# targets: ${TORCH_LIBRARIES} holds absolute paths of this machine's LibTorch and CUDA (c10,
# c10_cuda, nvrtc), which install(EXPORT) would write into trainwreckTargets.cmake; `torch` is
# resolved where the package is used, by trainwreckConfig.cmake's find_dependency(Torch).
target_link_libraries(trainwreck_guards PUBLIC torch nlohmann_json::nlohmann_json)
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  # libcuda (in caffe2::cuda's link interface) stays out of the needed libraries, so programs
  # that link the guards start on machines without a GPU driver.
  target_link_options(trainwreck_guards INTERFACE "LINKER:--as-needed")
endif()

set(TRAINWRECK_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/trainwreck)
install(TARGETS trainwreck_guards EXPORT trainwreckTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${trainwreck_SOURCE_DIR}/include/trainwreck/guards.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/trainwreck)
install(EXPORT trainwreckTargets NAMESPACE trainwreck:: DESTINATION ${TRAINWRECK_CMAKE_INSTALL_DIR})
configure_package_config_file(${trainwreck_SOURCE_DIR}/cmake/trainwreckConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/trainwreckConfig.cmake
  INSTALL_DESTINATION ${TRAINWRECK_CMAKE_INSTALL_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/trainwreckConfigVersion.cmake
  VERSION ${trainwreck_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/trainwreckConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/trainwreckConfigVersion.cmake
  DESTINATION ${TRAINWRECK_CMAKE_INSTALL_DIR})
