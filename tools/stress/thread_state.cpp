// SPDX-License-Identifier: MIT
#include "thread_state.hpp"

#include <cstdio>
#include <cstring>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace stress {

#if defined(__linux__)

long current_os_thread_id() noexcept { return static_cast<long>(syscall(SYS_gettid)); }

bool os_thread_sleeping(long os_id) noexcept {
  if (os_id <= 0) return true;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%ld/stat", os_id);
  std::FILE* file = std::fopen(path, "r");
  if (file == nullptr) return true;
  char text[512];
  const std::size_t length = std::fread(text, 1, sizeof text - 1, file);
  std::fclose(file);
  text[length] = '\0';
  // "tid (comm) state ...": the name may hold spaces and parentheses, so the state is
  // the character two after the last ')'.
  const char* close = std::strrchr(text, ')');
  if (close == nullptr || close[1] != ' ' || close[2] == '\0') return true;
  return close[2] == 'S' || close[2] == 'D';
}

#else

long current_os_thread_id() noexcept { return 0; }
bool os_thread_sleeping(long) noexcept { return true; }

#endif

}  // namespace stress
