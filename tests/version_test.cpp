// SPDX-License-Identifier: MIT
// fev/version.hpp: the macros, fev::version() and the build's project version (meson's,
// read from the VERSION file, passed in as FEV_TEST_PROJECT_VERSION) are one number.
#include <fev/version.hpp>

#include <gtest/gtest.h>

#include <string>

#ifndef FEV_TEST_PROJECT_VERSION
#error "tests/meson.build passes the project version as FEV_TEST_PROJECT_VERSION"
#endif

namespace {

TEST(Version, MacrosMatchTheBuildsVersion) {
  const std::string expected = FEV_TEST_PROJECT_VERSION;
  EXPECT_EQ(FEV_VERSION_STRING, expected);
  EXPECT_EQ(std::to_string(FEV_VERSION_MAJOR) + "." + std::to_string(FEV_VERSION_MINOR) + "." +
                std::to_string(FEV_VERSION_PATCH),
            expected);
}

TEST(Version, FunctionMatchesTheMacros) {
  constexpr fev::Version version = fev::version();
  static_assert(version.major == FEV_VERSION_MAJOR);
  static_assert(version.minor == FEV_VERSION_MINOR);
  static_assert(version.patch == FEV_VERSION_PATCH);
  static_assert(version.text == FEV_VERSION_STRING);
  EXPECT_EQ(version.text, FEV_TEST_PROJECT_VERSION);
}

}  // namespace
