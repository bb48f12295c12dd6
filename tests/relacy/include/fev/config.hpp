// SPDX-License-Identifier: MIT
// fev/config.hpp for the Relacy programs (tests/relacy): stands in for the one meson
// generates. The programs instantiate every fev template on RelacyWait
// (tests/relacy/relacy_support.hpp); fev::Event and fev::Ring<T> are declared here on
// the futex backend only so that the headers compile, and are never used.
#pragma once

#include "fev/cxx20.hpp"

#include <tuple>

#include "fev/wait.hpp"

namespace fev {
using DefaultWait = backend::Futex;
using BuiltWaitBackends = std::tuple<backend::Futex>;
}  // namespace fev
