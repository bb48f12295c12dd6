// SPDX-License-Identifier: MIT
// The ring's size and alignment limits: capacities whose slots would not fit in memory
// are refused before anything is allocated (no wrapped byte count, so no heap overflow
// under ASan), and a T aligned above the 64-byte slot line gets slots aligned to it,
// in owned storage, in caller storage and in a shared region.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>

#include "fev/ring.hpp"

#if defined(__linux__)
#include "fev/shared.hpp"
#endif

namespace {

constexpr std::size_t kMaxObjectBytes = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());

// A megabyte per value: capacity * sizeof(Slot) wraps already at 2^44 slots.
struct Huge {
  unsigned char bytes[std::size_t{1} << 20];
};

TEST(RingLimits, CapacityWhoseBytesWrapIsRefused) {
  const std::size_t wraps = (std::size_t{1} << 58) + 1;  // * 64 bytes > 2^64
  EXPECT_THROW(fev::Ring<int>{wraps}, std::invalid_argument);
  EXPECT_THROW((void)fev::Ring<int>::storage_bytes(wraps), std::invalid_argument);
  EXPECT_THROW(fev::Ring<int>{std::numeric_limits<std::size_t>::max()}, std::invalid_argument);
  EXPECT_THROW((void)fev::Ring<int>::storage_bytes(std::numeric_limits<std::size_t>::max()),
               std::invalid_argument);
}

TEST(RingLimits, BigValueCapacityWhoseBytesWrapIsRefused) {
  const std::size_t wraps = std::size_t{1} << 45;  // * (2^20 + 64) bytes > 2^64
  EXPECT_THROW((void)fev::Ring<Huge>::storage_bytes(wraps), std::invalid_argument);
  EXPECT_THROW(fev::Ring<Huge>{wraps}, std::invalid_argument);
  // Does not wrap, but is more than any object may be.
  EXPECT_THROW((void)fev::Ring<Huge>::storage_bytes(std::size_t{1} << 43), std::invalid_argument);
}

TEST(RingLimits, ZeroCapacityIsRefused) {
  EXPECT_THROW(fev::Ring<int>{0}, std::invalid_argument);
  EXPECT_THROW((void)fev::Ring<int>::storage_bytes(0), std::invalid_argument);
}

// Whatever capacity storage_bytes accepts, its answer is the exact product: it never
// wraps and never exceeds what one object may take.
template <class T>
void storage_bytes_never_wrap() {
  for (int bit = 0; bit < 64; ++bit) {
    for (const std::size_t capacity :
         {std::size_t{1} << bit, (std::size_t{1} << bit) + 1, (std::size_t{1} << bit) - 1}) {
      if (capacity == 0) continue;
      std::size_t bytes = 0;
      try {
        bytes = fev::Ring<T>::storage_bytes(capacity);
      } catch (const std::invalid_argument&) {
        continue;
      }
      SCOPED_TRACE(capacity);
      EXPECT_LE(bytes, kMaxObjectBytes);
      EXPECT_EQ(bytes % capacity, 0u);
      EXPECT_GE(bytes / capacity, sizeof(T));
      EXPECT_GE(bytes / capacity, std::size_t{64});
    }
  }
}

TEST(RingLimits, StorageBytesNeverWrap) {
  storage_bytes_never_wrap<int>();
  storage_bytes_never_wrap<Huge>();
}

// Each construction of a value records whether its address has the type's alignment:
// values are move-constructed into their slots, so this checks every slot used.
struct alignas(128) Aligned {
  static inline std::atomic<int> misaligned{0};
  std::uint64_t value = 0;

  explicit Aligned(std::uint64_t v = 0) noexcept : value(v) { check(); }
  Aligned(Aligned&& other) noexcept : value(other.value) { check(); }
  Aligned& operator=(Aligned&& other) noexcept {
    check();
    value = other.value;
    return *this;
  }
  ~Aligned() = default;

  void check() const noexcept {
    if (reinterpret_cast<std::uintptr_t>(this) % alignof(Aligned) != 0) misaligned.fetch_add(1);
  }
};

// Two full laps through every slot, checking values and addresses.
template <class Ring>
void cycle_through_every_slot(Ring& ring) {
  Aligned::misaligned.store(0);
  std::uint64_t next = 1, expected = 1;
  for (int lap = 0; lap < 2; ++lap) {
    for (std::size_t i = 0; i < ring.capacity(); ++i) ASSERT_TRUE(ring.try_push(Aligned(next++)));
    for (std::size_t i = 0; i < ring.capacity(); ++i) {
      Aligned out;
      ASSERT_TRUE(ring.try_pop(out));
      EXPECT_EQ(out.value, expected++);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&out) % alignof(Aligned), 0u);
    }
  }
  EXPECT_EQ(Aligned::misaligned.load(), 0);
}

TEST(RingLimits, OverAlignedValuesInOwnedStorage) {
  static_assert(fev::Ring<Aligned>::kStorageAlignment == alignof(Aligned));
  for (const std::size_t capacity : {1u, 3u, 4u, 5u}) {
    fev::Ring<Aligned> ring(capacity);
    cycle_through_every_slot(ring);
  }
}

TEST(RingLimits, OverAlignedValuesInCallerStorage) {
  using Ring = fev::Ring<Aligned>;
  const std::size_t capacity = 5;
  const std::size_t bytes = Ring::storage_bytes(capacity);
  EXPECT_EQ(bytes % alignof(Aligned), 0u);
  void* storage = ::operator new(bytes + 64, std::align_val_t{Ring::kStorageAlignment});
  {
    // 64-byte aligned, not 128: refused.
    EXPECT_THROW(Ring(capacity, static_cast<unsigned char*>(storage) + 64), std::invalid_argument);
    Ring ring(capacity, storage);
    cycle_through_every_slot(ring);
  }
  ::operator delete(storage, std::align_val_t{Ring::kStorageAlignment});
}

#if defined(__linux__)
struct alignas(256) SharedAligned {
  std::uint64_t value;
};

TEST(RingLimits, SharedRingRefusesWrappingCapacityBeforeAllocating) {
  fev::SharedRegion region = fev::SharedRegion::anonymous(1 << 16);
  const std::size_t before = region.offset_of(region.allocate(1, 1));
  EXPECT_THROW((void)fev::construct_shared_ring<int>(region, (std::size_t{1} << 58) + 1), std::invalid_argument);
  const std::size_t after = region.offset_of(region.allocate(1, 1));
  EXPECT_EQ(after, before + 1);  // nothing was taken from the region
}

TEST(RingLimits, SharedRingSlotsHaveTheValuesAlignment) {
  static_assert(fev::SharedRing<SharedAligned>::kStorageAlignment == alignof(SharedAligned));
  fev::SharedRegion region = fev::SharedRegion::anonymous(1 << 16);
  (void)region.allocate(64, 64);  // leave the cursor 64-byte aligned only
  auto* ring = fev::construct_shared_ring<SharedAligned>(region, 3);
  for (std::uint64_t round = 0; round < 7; ++round) {
    ASSERT_TRUE(ring->try_push(SharedAligned{round}));
    SharedAligned out{};
    ASSERT_TRUE(ring->try_pop(out));
    EXPECT_EQ(out.value, round);
  }
}
#endif

}  // namespace
