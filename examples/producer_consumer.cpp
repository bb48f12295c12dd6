// SPDX-License-Identifier: MIT
// The producer/consumer example from Python's threading.Event documentation, in C++
// with fev::Event, written so that no item can be missed.
//
// A producer appends random integers to a shared list and sets the event; a consumer
// waits for the event, clears it, and takes what is in the list. The one subtle line is
// the order in the consumer: clear() BEFORE taking the items. If it cleared after, a
// producer could append and set() between the take and the clear, and that item would
// sit in the list with the event cleared until the next set().
#include <fev/event.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

int main() {
  constexpr int kItems = 10;
  fev::Event item_ready;
  std::mutex list_lock;  // guards `items` and `done`
  std::vector<int> items;
  bool done = false;

  std::thread producer([&] {
    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> value(1, 100);
    for (int i = 0; i < kItems; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 20));
      const int item = value(rng);
      {
        std::lock_guard<std::mutex> hold(list_lock);
        items.push_back(item);
        done = i == kItems - 1;
      }
      std::printf("produced %d\n", item);
      item_ready.set();  // everything written above is visible to whoever wakes
    }
  });

  int consumed = 0;
  for (bool finished = false; !finished;) {
    // A timed wait, as a real consumer would use to notice a dead producer.
    if (!item_ready.wait_for(std::chrono::seconds(5))) {
      std::fprintf(stderr, "no item for 5 s: giving up\n");
      producer.join();
      return 1;
    }
    item_ready.clear();  // before taking: a set() from now on is for items we have not seen
    std::vector<int> taken;
    {
      std::lock_guard<std::mutex> hold(list_lock);
      taken.swap(items);
      finished = done;
    }
    for (const int item : taken) std::printf("consumed %d\n", item);
    consumed += static_cast<int>(taken.size());
  }
  producer.join();
  std::printf("consumed %d of %d items\n", consumed, kItems);
  return consumed == kItems ? 0 : 1;
}
