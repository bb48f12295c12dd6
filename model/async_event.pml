/* SPDX-License-Identifier: MIT */
/*
 * model/async_event.pml -- Promela model of fev::async_wait(executor, event[, stop])
 * (include/fev/async_event.hpp, src/async_waiters.cpp, BasicEvent::set in
 * include/fev/event.hpp): the word's SET and ASYNC (kAsyncWaiters) bits and generation,
 * the side table's bucket (its lock and the list of nodes), and the nodes' states.
 *
 * Word layout (the C++ bits that matter here; PARKED and WAKE_OWED belong to the
 * threads' protocol, model/event.pml, and are left out):
 *   bit 0  SET     the event is set
 *   bit 1  ASYNC   coroutines may wait on the word (nodes in the table)
 *   bits 2..       generation, +1 on every unset->set transition (modulo GEN_MOD)
 *
 * Processes:
 *  - NW waiters, each one co_await async_wait(...): read the word (entry); if set, done
 *    without suspending. Else insert the node (under the lock, arming), add ASYNC with a
 *    CAS only while not released (else withdraw), register the stop callback (waiter 0
 *    with -DCANCEL; the callback runs at once if the stop was already requested), then
 *    armed(): under the lock end arming, withdraw if released, read the state; waiting:
 *    suspend until posted; otherwise go on. On resume: the stop callback is destroyed
 *    (waits for a running one), the result is computed, the frame is freed.
 *  - a setter: NSETS-1 set()s, then, after the clearer is done, possibly a final set().
 *    set(): seen = load; CAS loop; when the value the CAS would replace has ASYNC (and
 *    not SET): lock, CAS under the lock, take every node of the word (state TAKEN;
 *    not arming: to be posted), unlock, post.
 *  - a clearer: NCLEARS clear()s.
 *  - with -DCANCEL, a canceller: request_stop() on waiter 0's token at any moment; the
 *    callback (if registered) takes the node under the lock if it is waiting (state
 *    CANCELLED), clears ASYNC if no node of the word is left, and posts unless arming.
 *
 * Properties (assertions; the Checker's run once nothing can move):
 *  (a) exactly once: no coroutine is posted twice or resumed twice; a coroutine is
 *      posted only while it is suspended (never while arming, never after it went on);
 *  (b) no lost wakeup, Python's semantics: a waiter inside the co_await when some set()
 *      made its CAS ends, with true (even if clear() follows, even if cancelled later);
 *  (c) no use after free: the setter and the callback touch a node only while its frame
 *      lives (the loser of the race never touches it again);
 *  (d) after the final set() every waiter has ended, and the word's ASYNC bit is set
 *      in a final state iff a node is in the table (no bit left behind for the
 *      event's destructor, none missing for a waiting node).
 *
 * Broken variants (spin must find an error):
 *   -DBROKEN_BIT_FIRST   the waiter adds ASYNC before its node is in the table: a set()
 *                        between the two finds no node, and the waiter sleeps for good
 *   -DBROKEN_NO_RECHECK  set() decides "table or not" from its first load only, and
 *                        its CAS then keeps whatever the word has (as fetch_or would):
 *                        a waiter that added ASYNC in between is never taken
 *   -DBROKEN_CANCEL_KEEPS_BIT  the callback never clears ASYNC: a bit is left behind
 *   -DBROKEN_STALE_ENTRY  the waiter decides from its first read (entry) instead of a
 *                        read after its insert: another waiter's ASYNC in `entry` looks
 *                        like "announced", though a set() took it before our node was
 *                        in the table (the first version of the C++ code did this)
 */

#ifndef NW
#define NW 2
#endif
#ifndef NSETS
#define NSETS 2
#endif
#ifndef NCLEARS
#define NCLEARS 1
#endif
#ifndef GEN_MOD
#define GEN_MOD 4
#endif

#define SET      1
#define ASYNC    2
#define GEN_ONE  4
#define GEN(x)   ((x) >> 2)
#define WORD_MOD (GEN_MOD * GEN_ONE)
#define RELEASED(x, entry) ((((x) & SET) != 0) || (GEN(x) != GEN(entry)))

/* node states */
#define NONE      0
#define WAITING   1
#define TAKEN     2
#define CANCELLED 3
#define WITHDRAWN 4

byte word = 0;
bool lock = false;         /* the bucket's mutex */
bool in_list[NW];          /* the node is in the bucket's list */
byte state[NW];
bool arming[NW];

bool stop_requested = false;   /* waiter 0's token (-DCANCEL) */
bool cb_registered = false;    /* its stop_callback exists */
bool in_cb = false;            /* its callback is running */

/* ghosts */
byte posted[NW];
byte resumes[NW];
bool suspended[NW];        /* suspended, not yet resumed: the only time a post is allowed */
bool result[NW];
bool freed[NW];            /* the frame (and the node in it) is gone */
bool in_wait[NW];
bool must_return[NW];
bool done[NW];
bool final_set = false;
bool clearer_done = false;

inline acquire_lock() { atomic { !lock -> lock = true } }
inline release_lock() { lock = false }

inline post(k) {
  assert(!freed[k]);                             /* (c) */
  assert(suspended[k]);                          /* (a) only a suspended coroutine */
  posted[k]++;
  assert(posted[k] == 1)                         /* (a) */
}

/* remove(): unlink; the last node of the word takes ASYNC with it */
inline remove_node(k) {
  in_list[k] = false;
  j = 0;
  do
  :: j < NW && in_list[j] -> break
  :: j < NW && !in_list[j] -> j++
  :: j == NW -> word = word & ~ASYNC; break      /* fetch_and, under the lock */
  od;
  j = 0
}

inline mark_in_wait() {
  j = 0;
  do
  :: j < NW -> if :: in_wait[j] -> must_return[j] = true :: else -> skip fi; j++
  :: else -> break
  od;
  j = 0
}

inline event_set(is_final) {
  seen = word;                                   /* load, relaxed */
  do
  :: !(seen & SET) && (seen & ASYNC) ->
       /* set_with_async_waiters: the CAS under the lock, then take every node */
       acquire_lock();
       atomic {                                  /* load + CAS loop, one step under the lock */
         seen = word;
         if
         :: (seen & SET) -> skip
         :: else -> word = ((seen + GEN_ONE) % WORD_MOD) & ~ASYNC | SET; mark_in_wait()
         fi;
         final_set = is_final
       };
       j = 0;
       do
       :: j < NW ->
            if
            :: in_list[j] ->
                 assert(!freed[j]);              /* (c) */
                 in_list[j] = false; state[j] = TAKEN;
                 if :: !arming[j] -> to_post[j] = true :: else -> skip fi
            :: else -> skip
            fi;
            j++
       :: else -> break
       od;
       j = 0;
       release_lock();
       do
       :: to_post[0] -> atomic { post(0); to_post[0] = false }
       :: NW > 1 && to_post[1] -> atomic { post(1); to_post[1] = false }
       :: NW > 2 && to_post[2] -> atomic { post(2); to_post[2] = false }
       :: else -> break
       od;
       break
  :: else ->
       atomic {                                  /* compare_exchange_weak */
#ifdef BROKEN_NO_RECHECK
         if
         :: (word & SET) -> skip
         :: else -> word = ((word + GEN_ONE) % WORD_MOD) | SET; mark_in_wait()   /* keeps ASYNC */
         fi;
         final_set = is_final;
         break
#else
         if
         :: word == seen ->
              if
              :: (seen & SET) -> skip
              :: else -> word = ((seen + GEN_ONE) % WORD_MOD) | SET; mark_in_wait()
              fi;
              final_set = is_final;
              break
         :: else -> seen = word                  /* retry: re-checks ASYNC */
         fi
#endif
       }
  od;
  seen = 0
}

proctype Setter() {
  byte seen, j, n = 0;
  bool to_post[3];
  do
  :: n < NSETS - 1 -> event_set(false); n++
  :: else -> break
  od;
  clearer_done;
  if
  :: event_set(true)
  :: skip
  fi
}

proctype Clearer() {
  byte n = 0;
  do
  :: n < NCLEARS ->
       if
       :: (word & SET) -> word = word & ~SET     /* load, then fetch_and (one step: only SET changes) */
       :: else -> skip
       fi;
       n++
  :: else -> break
  od;
  clearer_done = true
}

/* The stop callback: AsyncWaiters::cancel(node, post = true). */
inline stop_callback() {
  acquire_lock();
  if
  :: state[0] == WAITING ->
       assert(!freed[0]);                        /* (c) */
       state[0] = CANCELLED;
#ifdef BROKEN_CANCEL_KEEPS_BIT
       in_list[0] = false;
#else
       remove_node(0);
#endif
       if
       :: !arming[0] -> release_lock(); post(0)
       :: else -> release_lock()
       fi
  :: else -> release_lock()                      /* lost: not ours, never touched again */
  fi
}

#ifdef CANCEL
proctype Canceller() {
  byte j;
  atomic {                                       /* request_stop(): runs a registered callback */
    stop_requested = true;
    if :: cb_registered -> in_cb = true :: else -> skip fi
  };
  if
  :: in_cb -> stop_callback(); in_cb = false
  :: else -> skip
  fi
}
#endif

proctype Waiter(byte i) {
  byte entry, seen, j, st;
  bool released = false;

  /* await_ready */
  atomic {
    entry = word;
    if
    :: (entry & SET) -> result[i] = true; resumes[i] = 1; goto finish
    :: else -> in_wait[i] = true
    fi
  };
#ifdef CANCEL
  if
  :: i == 0 && stop_requested ->
       atomic { result[i] = RELEASED(word, entry); in_wait[i] = false; resumes[i] = 1 };
       goto finish
  :: else -> skip
  fi;
#endif

#ifdef BROKEN_BIT_FIRST
  seen = entry;
  do
  :: RELEASED(seen, entry) -> released = true; break
  :: else ->
       atomic {
         if
         :: word == seen -> word = seen | ASYNC; break
         :: else -> seen = word
         fi
       }
  od;
#endif
  /* insert, arming */
  acquire_lock();
  in_list[i] = true; state[i] = WAITING; arming[i] = true;
  release_lock();

#ifndef BROKEN_BIT_FIRST
  /* add ASYNC only while not released; the word is read again after the insert */
#ifdef BROKEN_STALE_ENTRY
  seen = entry;
#else
  seen = word;
#endif
  do
  :: RELEASED(seen, entry) -> released = true; break
  :: !RELEASED(seen, entry) && (seen & ASYNC) -> break
  :: !RELEASED(seen, entry) && !(seen & ASYNC) ->
       atomic {
         if
         :: word == seen -> word = seen | ASYNC; break
         :: else -> seen = word
         fi
       }
  od;
#endif

#ifdef CANCEL
  /* on_stop_.emplace(): runs the callback at once when the stop was requested */
  if
  :: i == 0 && !released ->
       atomic {
         cb_registered = true;
         if :: stop_requested -> in_cb = true :: else -> skip fi
       };
       if
       :: in_cb && stop_requested -> stop_callback(); in_cb = false
       :: else -> skip
       fi
  :: else -> skip
  fi;
#endif

  /* armed() */
  acquire_lock();
  arming[i] = false;
  if
  :: released && state[i] == WAITING -> remove_node(i); state[i] = WITHDRAWN
  :: else -> skip
  fi;
  st = state[i];
  if :: st == WAITING -> suspended[i] = true :: else -> skip fi;
  release_lock();

  if
  :: st == WAITING ->
end_suspended:
       posted[i] > 0;                            /* the executor resumes it */
       suspended[i] = false
  :: else -> skip
  fi;

  /* await_resume: destroy the stop callback (waits for a running one) */
#ifdef CANCEL
  if
  :: i == 0 -> atomic { !in_cb -> cb_registered = false }
  :: else -> skip
  fi;
#endif
  atomic {
    resumes[i]++;
    assert(resumes[i] == 1);                     /* (a) */
    if
    :: state[i] == TAKEN || state[i] == WITHDRAWN -> result[i] = true
    :: else -> result[i] = RELEASED(word, entry)   /* cancelled: re-read the word */
    fi;
    in_wait[i] = false
  };

finish:
  atomic { freed[i] = true; done[i] = true }
}

active proctype Checker() {
  byte k, nodes = 0;
  timeout ->
  k = 0;
  do
  :: k < NW ->
       /* (b) a waiter present at a set() ended, with true */
       assert(!must_return[k] || (done[k] && result[k]));
       /* (d) after the final set(), every waiter has ended */
       assert(!final_set || done[k]);
       if :: in_list[k] -> nodes++ :: else -> skip fi;
       k++
  :: else -> break
  od;
  /* (d) the bit is set iff a node is in the table */
  assert(((word & ASYNC) != 0) == (nodes > 0))
}

init {
  byte k = 0;
  atomic {
    do
    :: k < NW -> run Waiter(k); k++
    :: else -> break
    od;
    run Setter();
    run Clearer();
#ifdef CANCEL
    run Canceller();
#endif
  }
}
