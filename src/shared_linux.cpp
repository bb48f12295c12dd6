// SPDX-License-Identifier: MIT
// fev::SharedRegion: memfd_create / anonymous MAP_SHARED mappings with a bump allocator
// whose cursor lives in the mapping itself.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <system_error>

#include "fev/shared.hpp"

namespace fev {
namespace {

// The first bytes of every region. `magic` tells map() that a descriptor is a region;
// `used` is the allocation cursor (bytes from the start of the region), shared by every
// process that maps it.
struct Header {
  std::uint64_t magic;
  std::uint64_t size;
  std::atomic<std::uint64_t> used;
};
constexpr std::uint64_t kMagic = 0x6665762d72656731;  // "fev-reg1"
constexpr std::size_t kHeaderBytes = 64;
static_assert(sizeof(Header) <= kHeaderBytes);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the cursor is shared between processes");

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::system_category(), what); }

std::size_t page_size() noexcept {
  const long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<std::size_t>(page) : 4096;
}

std::size_t region_bytes(std::size_t usable) {
  const std::size_t page = page_size();
  if (usable > SIZE_MAX / 2) throw std::bad_alloc();
  return (usable + kHeaderBytes + page - 1) / page * page;
}

void* map_shared(std::size_t bytes, int fd) {
  const int flags = fd < 0 ? MAP_SHARED | MAP_ANONYMOUS : MAP_SHARED;
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (base == MAP_FAILED) fail("fev::SharedRegion: mmap");
  return base;
}

Header& header_of(void* base) noexcept { return *std::launder(static_cast<Header*>(base)); }

void init_header(void* base, std::size_t bytes) noexcept {
  // Fresh mappings are zero-filled; nobody else sees this one yet.
  ::new (base) Header{kMagic, bytes, {kHeaderBytes}};
}

}  // namespace

SharedRegion SharedRegion::create(std::size_t bytes, const char* name) {
  const std::size_t total = region_bytes(bytes);
  const int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) fail("fev::SharedRegion: memfd_create");
  if (ftruncate(fd, static_cast<off_t>(total)) != 0) {
    const int error = errno;
    close(fd);
    errno = error;
    fail("fev::SharedRegion: ftruncate");
  }
  void* base = nullptr;
  try {
    base = map_shared(total, fd);
  } catch (...) {
    close(fd);
    throw;
  }
  init_header(base, total);
  return SharedRegion(base, total, fd);
}

SharedRegion SharedRegion::anonymous(std::size_t bytes) {
  const std::size_t total = region_bytes(bytes);
  void* base = map_shared(total, -1);
  init_header(base, total);
  return SharedRegion(base, total, -1);
}

SharedRegion SharedRegion::map(int fd) {
  struct stat info {};
  if (fstat(fd, &info) != 0) fail("fev::SharedRegion::map: fstat");
  const auto total = static_cast<std::size_t>(info.st_size);
  if (total < kHeaderBytes) throw std::invalid_argument("fev::SharedRegion::map: not a fev region (too small)");
  const int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) fail("fev::SharedRegion::map: dup");
  SharedRegion region(nullptr, 0, own);  // closes `own` if anything below throws
  region.base_ = map_shared(total, own);
  region.size_ = total;
  const Header& header = header_of(region.base_);
  if (header.magic != kMagic || header.size != total)
    throw std::invalid_argument("fev::SharedRegion::map: not a fev region");
  return region;
}

SharedRegion::SharedRegion(SharedRegion&& other) noexcept : base_(other.base_), size_(other.size_), fd_(other.fd_) {
  other.base_ = nullptr;
  other.size_ = 0;
  other.fd_ = -1;
}

SharedRegion& SharedRegion::operator=(SharedRegion&& other) noexcept {
  if (this != &other) {
    release();
    base_ = other.base_;
    size_ = other.size_;
    fd_ = other.fd_;
    other.base_ = nullptr;
    other.size_ = 0;
    other.fd_ = -1;
  }
  return *this;
}

SharedRegion::~SharedRegion() { release(); }

void SharedRegion::release() noexcept {
  if (base_ != nullptr) (void)munmap(base_, size_);
  if (fd_ >= 0) (void)close(fd_);
  base_ = nullptr;
  size_ = 0;
  fd_ = -1;
}

void* SharedRegion::allocate(std::size_t bytes, std::size_t align) {
  if (align == 0 || (align & (align - 1)) != 0 || align > page_size())
    throw std::invalid_argument("fev::SharedRegion::allocate: alignment must be a power of two up to a page");
  std::atomic<std::uint64_t>& used = header_of(base_).used;
  // relaxed: the cursor only hands out disjoint ranges; the objects constructed there
  // are published to other processes through their own atomics (or by fork()).
  std::uint64_t start = used.load(std::memory_order_relaxed);
  std::uint64_t aligned = 0;
  do {
    aligned = (start + align - 1) & ~static_cast<std::uint64_t>(align - 1);
    if (aligned > size_ || bytes > size_ - aligned) throw std::bad_alloc();
  } while (!used.compare_exchange_weak(start, aligned + bytes, std::memory_order_relaxed, std::memory_order_relaxed));
  return static_cast<unsigned char*>(base_) + aligned;
}

}  // namespace fev
