/* SPDX-License-Identifier: MIT */
/*
 * model/event.pml -- Promela model of fev::BasicEvent (include/fev/event.hpp):
 * set() / clear() / wait() and the futex park protocol on one 32-bit word.
 *
 * Word layout, as in the C++ code:
 *   bit 0      SET     the event is set
 *   bit 1      PARKED  a waiter is parked (or about to park) on the word
 *   bit 2      WAKE_OWED  process-shared words only (-DSHARED): the set() that
 *              removed PARKED may have died before its wake call; the next set()
 *              wakes (and removes the bit).  Never set in process.
 *   bits 3..   generation, +1 on every unset->set transition
 *
 * Abstractions (see model/README.md):
 * - Every C++ atomic operation on the word is one atomic Promela step; plain loads,
 *   CAS, fetch_and are indivisible.  Promela is sequentially consistent: the model
 *   checks the protocol's interleavings, not the C++ memory orders.
 * - compare_exchange_weak never fails spuriously here.  A spurious failure returns the
 *   current value, which is exactly a failure against an unchanged word: the code paths
 *   are the same ones a real failure takes, so nothing is lost.
 * - The generation is kept modulo GEN_MOD (default 4).  A run has at most
 *   min(NSETS, NCLEARS + 1) unset->set transitions; while that is below GEN_MOD the
 *   modular generation never comes back to a value a waiter holds, and the abstraction
 *   is exact for the run (the default 3 < 4; the meson test with 4 sets uses 8; a
 *   DEAD_SETTER's set counts too).  The C++ generation wraps after 2^29 sets;
 *   -DGEN_MOD=2 shows what a wrap does: a waiter that is descheduled through exactly
 *   GEN_MOD set/clear pairs misses them (found as a violation of (a)), but the next
 *   set() still frees it ((b) holds).
 * - The bounded spin (spin_until) is one mandatory check plus up to SPIN_POLLS more.
 * - Only wait() (no deadline) is modelled; a timed wait follows the same path and
 *   additionally may return false once its deadline passed.
 * - The futex: wait(word, expected) atomically compares the word with `expected` and,
 *   when equal, enqueues the caller (parked[i]); wake_all dequeues every waiter parked
 *   at that moment.  A parked waiter may also return spuriously, at most SPURIOUS
 *   times in the whole run (an unbounded supply would let a waiter escape any lost
 *   wakeup, hiding it; with the budget spent, a waiter blocks for real).
 *
 * Processes: NW waiters, each calling wait() once; one setter calling set() NSETS-1
 * times and then, after the clearer is done, possibly a final set() (nondeterministic:
 * with it, every waiter must end; without it, the waiters released by an earlier set
 * must still end); one clearer calling clear() NCLEARS times, concurrently with all.
 *
 * -DSHARED: the process-shared event (a backend with process_shared = true): set() on
 * an unset word sets WAKE_OWED iff it saw PARKED, set() on a set word clears it, and
 * set() wakes iff it saw PARKED or WAKE_OWED.
 * -DDEAD_SETTER (with SHARED): one more process calls set() once, concurrently with
 * everything, and dies right after its CAS (it never makes its wake call).  Its set()
 * promises nothing (no waiter must return because of it), but every set() of the
 * surviving setter after it must still release every waiter inside wait() then:
 * properties (a) and (b) below are unchanged.
 *
 * Properties (assertions of the Checker, which runs once nothing else can move, and
 * spin's end-state check; the park is the only valid place to stay blocked):
 *  (a) no lost wakeup, Python semantics: every waiter that was inside wait() at the
 *      moment some set() made its CAS returns, even if clear() follows at once;
 *  (b) no deadlock: after the final set() with no clear() after it, every waiter
 *      returns; and nothing ever blocks anywhere but in the futex;
 *  (c) with check.sh --liveness: no weakly fair infinite execution (no waiter loops
 *      forever; every execution ends or blocks).
 *
 * Broken variants (spin must find an error):
 *   -DBROKEN_NO_WAKE   set() never calls wake_all (ignores PARKED)
 *   -DBROKEN_NO_GEN    a waiter is released only by SET, ignoring the generation
 *                      (a set() followed at once by clear() is lost)
 *   -DBROKEN_PLAIN_STORE  a waiter announces PARKED with a load and a separate store
 *                      instead of one CAS, so a set() in between is overwritten
 *   -DBROKEN_NO_WAKE_OWED  (with SHARED and DEAD_SETTER) set() never sets WAKE_OWED,
 *                      as in process: the dead setter's CAS removed PARKED, so the
 *                      survivor's next set() sees nobody parked and makes no wake
 */

#ifndef NW
#define NW 3
#endif
#ifndef NSETS
#define NSETS 3            /* set() calls, including the optional final one */
#endif
#ifndef NCLEARS
#define NCLEARS 2
#endif
#ifndef GEN_MOD
#define GEN_MOD 4
#endif
#ifndef SPIN_POLLS
#define SPIN_POLLS 1
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif

#if defined(DEAD_SETTER) && !defined(SHARED)
#error "DEAD_SETTER models a process-shared event: use it with SHARED"
#endif

#define SET       1
#define PARKED    2
#define WAKE_OWED 4
#define GEN_ONE   8
#define GEN(x)     ((x) >> 3)
#define WORD_MOD   (GEN_MOD * GEN_ONE)

/* set() of an unset word `seen` sets WAKE_OWED iff it saw PARKED (process-shared) */
#if defined(SHARED) && !defined(BROKEN_NO_WAKE_OWED)
#define OWED_IF_PARKED(seen) (((seen) & PARKED) * (WAKE_OWED / PARKED))
#else
#define OWED_IF_PARKED(seen) 0
#endif

#ifdef BROKEN_NO_GEN
#define RELEASED(x, entry) (((x) & SET) != 0)
#else
#define RELEASED(x, entry) ((((x) & SET) != 0) || (GEN(x) != GEN(entry)))
#endif

byte word = 0;             /* the Event's atomic word */
bool parked[NW];           /* futex queue of `word` */
byte spurious = SPURIOUS;  /* remaining spurious wakes, whole run */

/* ghosts */
bool in_wait[NW];          /* waiter i is inside wait() and has not decided to return */
bool must_return[NW];      /* some set() CAS happened while waiter i was in_wait */
bool returned[NW];
bool final_set = false;    /* the setter's last set() (no clear after it) happened */
bool clearer_done = false;

/* The set() CAS's ghost: every waiter inside wait() now must return. */
inline mark_in_wait() {
  j = 0;
  do
  :: j < NW -> if :: in_wait[j] -> must_return[j] = true :: else -> skip fi; j++
  :: else -> break
  od;
  j = 0                                          /* dead: keep the state small */
}

inline futex_wake_all() {
  j = 0;
  do
  :: j < NW -> parked[j] = false; j++
  :: else -> break
  od;
  j = 0
}

/* set(): seen = load; do { desired = ...; } while (!CAS(seen, desired));
   if (seen & (PARKED | WAKE_OWED)) wake_all.  The CAS's ghost part is `cas_ghost`. */
#define SET_CAS(cas_ghost)                                                           \
  seen = word;                                   /* load, relaxed */              \
  do                                                                                \
  :: atomic {                                    /* compare_exchange_weak */       \
       if                                                                           \
       :: word == seen ->                                                           \
            if                                                                      \
            :: (seen & SET) -> word = seen & ~WAKE_OWED   /* same value, no debt */ \
            :: else ->                                                              \
                 word = (((seen + GEN_ONE) % WORD_MOD) & ~(PARKED | WAKE_OWED)) |   \
                        SET | OWED_IF_PARKED(seen)                                  \
            fi;                                                                     \
            cas_ghost;                                                              \
            break                                                                   \
       :: else -> seen = word                                                       \
       fi                                                                           \
     }                                                                              \
  od

inline event_set(is_final) {
  SET_CAS(mark_in_wait(); final_set = is_final);
#ifndef SHARED
  assert(!(seen & WAKE_OWED));                   /* in process: never owed */
#endif
#ifndef BROKEN_NO_WAKE
  if
  :: (seen & (PARKED | WAKE_OWED)) -> atomic { futex_wake_all(); seen = 0 }
  :: else -> seen = 0
  fi
#else
  seen = 0
#endif
}

proctype Setter() {
  byte seen, j, n = 0;
  do
  :: n < NSETS - 1 -> event_set(false); n++
  :: else -> break
  od;
  clearer_done;                                  /* no clear() after the final set */
  if
  :: event_set(true)
  :: skip                                        /* or none: check (a) without it */
  fi
}

#ifdef DEAD_SETTER
/* A set() whose process dies right after its CAS: no wake call, and no promise. */
proctype DeadSetter() {
  byte seen;
  SET_CAS(skip);
  seen = 0
}
#endif

proctype Clearer() {
  byte n = 0, seen;
  do
  :: n < NCLEARS ->
       seen = word;                              /* load, relaxed */
       if
       :: (seen & SET) -> atomic { word = word & ~SET; seen = 0 }   /* fetch_and */
       :: else -> seen = 0
       fi;
       n++
  :: else -> break
  od;
  clearer_done = true
}

proctype Waiter(byte i) {
  byte entry, seen, polls = 0;

  /* wait(): seen = load(acquire); if (seen & SET) return; */
  atomic {
    entry = word;
    if
    :: (entry & SET) -> goto done              /* fast path: never waited */
    :: else -> in_wait[i] = true
    fi
  }
  seen = entry;

  /* wait_slow: spin_until(released(seen = load)) -- one check, then up to SPIN_POLLS */
  do
  :: atomic {
       seen = word;
       if
       :: RELEASED(seen, entry) -> in_wait[i] = false; goto done
       :: else -> skip
       fi
     };
     if
     :: polls < SPIN_POLLS -> polls++
     :: break
     fi
  od;
  polls = 0;

  do
  :: /* for (;;) */
     if
     :: !(seen & PARKED) ->
#ifdef BROKEN_PLAIN_STORE
          seen = word;                           /* load ... */
          if
          :: RELEASED(seen, entry) -> in_wait[i] = false; goto done
          :: else -> skip
          fi;
          word = seen | PARKED;                  /* ... then store: not one RMW */
          seen = seen | PARKED
#else
          atomic {                               /* CAS(seen, seen | PARKED) */
            if
            :: word == seen -> word = seen | PARKED; seen = seen | PARKED
            :: else ->
                 seen = word;
                 if
                 :: RELEASED(seen, entry) -> in_wait[i] = false; goto done
                 :: else -> goto next            /* continue */
                 fi
            fi
          }
#endif
     :: else -> skip
     fi;

     /* Wait::wait(word, seen): park iff word == seen, atomically with enqueueing. */
     atomic {
       if
       :: word == seen -> parked[i] = true
       :: else -> skip
       fi
     };
end_parked:
     if
     :: !parked[i] -> skip                       /* woken, or never slept */
     :: atomic { spurious > 0 && parked[i] -> spurious--; parked[i] = false }
     fi;

     atomic {                                    /* seen = load(acquire) */
       seen = word;
       if
       :: RELEASED(seen, entry) -> in_wait[i] = false; goto done
       :: else -> skip
       fi
     };
next:
     skip
  od;

done:
  returned[i] = true
}

/* Runs once nothing else can move: every process ended or is parked for good. */
active proctype Checker() {
  byte k;
  timeout ->
  k = 0;
  do
  :: k < NW ->
       /* (a) a waiter inside wait() when some set() happened has returned */
       assert(!must_return[k] || returned[k]);
       /* (b) after the final set(), every waiter has returned */
       assert(!final_set || returned[k]);
       k++
  :: else -> break
  od
}

init {
  byte k = 0;
  atomic {
    do
    :: k < NW -> run Waiter(k); k++
    :: else -> break
    od;
    run Setter();
#ifdef DEAD_SETTER
    run DeadSetter();
#endif
    run Clearer()
  }
}
