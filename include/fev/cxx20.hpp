// SPDX-License-Identifier: MIT
// fev/cxx20.hpp — stops a build below C++20 with one error that says so.
//
// Every public fev header includes this one first. fev uses concepts, std::span and
// C++20 atomics throughout; without this check a C++17 or C++14 build would report
// dozens of unrelated parse errors from deep inside the headers.
#pragma once

// MSVC reports __cplusplus as 199711L unless /Zc:__cplusplus is given; _MSVC_LANG holds
// the language version it compiles. #error ends the compilation there.
//
// g++ and clang++ go on after an #error and would report the parse errors of the
// including header too; a missing #include is the one error that ends their
// compilation, so the message is the name of a header that does not exist:
//   g++:     fatal error: fev needs C++20 (-std=c++20): No such file or directory
//   clang++: fatal error: 'fev needs C++20 (-std=c++20)' file not found
#if (defined(_MSVC_LANG) && _MSVC_LANG < 202002L) || (!defined(_MSVC_LANG) && __cplusplus < 202002L)
#if defined(_MSC_VER) && !defined(__clang__)
#error "fev needs C++20 (/std:c++20)"
#else
#include <fev needs C++20 (-std=c++20)>
#endif
#endif
