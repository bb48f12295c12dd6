// SPDX-License-Identifier: MIT
// Tests built for another CPU (the aarch64 cross build) run here under qemu-user, which
// cannot do two things some tests need; those tests skip there, saying why:
//  - a GoogleTest death test re-executes its own program, and the emulated exec of an
//    aarch64 program fails (ENOEXEC: the host has no binfmt handler for it);
//  - qemu-user refuses seccomp filters (they would see the emulator's own system calls).
// tests/meson.build defines FEV_TEST_UNDER_EMULATOR for such builds only, so a native
// build still fails these tests when they break.
#pragma once

#include <gtest/gtest.h>

#if defined(FEV_TEST_UNDER_EMULATOR)
#define FEV_SKIP_DEATH_TEST_UNDER_EMULATOR() \
  GTEST_SKIP() << "under qemu-user a death test cannot re-execute this (aarch64) program"
#define FEV_SKIP_SECCOMP_TEST_UNDER_EMULATOR() \
  GTEST_SKIP() << "qemu-user refuses the seccomp filter that this test kills its child with"
#else
#define FEV_SKIP_DEATH_TEST_UNDER_EMULATOR() static_cast<void>(0)
#define FEV_SKIP_SECCOMP_TEST_UNDER_EMULATOR() static_cast<void>(0)
#endif
