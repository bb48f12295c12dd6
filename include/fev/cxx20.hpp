// SPDX-License-Identifier: MIT
// fev/cxx20.hpp — stops a build below C++20 with one error that says so.
//
// Every public fev header includes this one first. fev uses concepts, std::span and
// C++20 atomics throughout; without this check a C++17 or C++14 build would report
// dozens of unrelated parse errors from deep inside the headers.
#pragma once

// MSVC reports __cplusplus as 199711L unless /Zc:__cplusplus is given; _MSVC_LANG holds
// the language version it compiles.
#if (defined(_MSVC_LANG) && _MSVC_LANG < 202002L) || (!defined(_MSVC_LANG) && __cplusplus < 202002L)
#error "fev needs C++20 (-std=c++20)"
// #error is fatal on MSVC but not on g++ or clang++, which would go on to report the
// parse errors of the including header. A missing #include is fatal everywhere, so this
// one ends the compilation right after the error above.
#include <fev/needs-cxx20>
#endif
