/* SPDX-License-Identifier: MIT */
/*
 * model/auto_reset_event.pml -- Promela model of fev::BasicAutoResetEvent
 * (include/fev/event.hpp): set() / try_wait() / wait() / wait_for() on one word.
 *
 * Word layout, as in the C++ code:
 *   bit 0      SIGNALED  one signal is pending
 *   bits 1..   number of waiters registered to park (each adds WAITER_ONE before it
 *              parks and removes it after it wakes)
 *
 * Abstractions (see model/README.md):
 * - Every C++ atomic operation on the word is one atomic Promela step.  Promela is
 *   sequentially consistent: the model checks interleavings, not C++ memory orders.
 * - compare_exchange_weak does not fail spuriously (a spurious failure is a failure
 *   against an unchanged word and takes the same code path as a real one).
 * - The bounded spin before parking is one try_wait() plus up to SPIN_POLLS more.
 * - The futex: wait(word, expected) atomically compares and enqueues (parked[i]);
 *   wake_one dequeues one waiter parked at that moment, chosen nondeterministically;
 *   a parked waiter may also return spuriously, at most SPURIOUS times in the run.
 * - A timed waiter (the first NTIMED waiters) runs wait_for(): its deadline may have
 *   passed on entry to wait_slow (it returns false), and any futex wait may end with
 *   `timeout` (the deadline is not modelled, only that it can pass); then it
 *   unregisters, taking the signal if one is there, and returns the result.
 *
 * Processes: NW waiters, each calling wait() (or wait_for()) once; one setter calling
 * set() NSETS times, concurrently with everything.  The word's count never exceeds NW,
 * so it is exact (no wrap in the model or in C++ with fewer than 2^31 waiters).
 *
 * -DSHARED: the process-shared event (a backend with process_shared = true): set()
 * wakes one waiter whenever a waiter is registered, not only on the
 * unsignaled->signaled edge, so that a survivor's set() makes a wake that a dead
 * setter owed.
 * -DDEAD_SETTER (with SHARED): one more process calls set() once, concurrently with
 * everything, and dies right after its CAS (it never makes its wake call).  The
 * setter's last set() comes after that death (a survivor's set() that came before
 * it cannot make up for it).  The properties below are unchanged.
 *
 * Properties:
 *  (1) each signal releases at most one waiter: ghost counters `created` (set() turned
 *      the bit on) and `taken` (a CAS turned it off for a wait) satisfy
 *      created == taken + pending bit after every step, and in every final state the
 *      number of waits that returned true equals `taken`;
 *  (2) the count in the word equals the number of registered waiters after every step;
 *  (3) no lost wakeup / no signal left pending while a registered waiter sleeps for
 *      good: in every final state (nothing can move any more) a waiter still inside
 *      wait() implies no signal is pending;
 *  (4) nothing blocks except in the futex (spin's invalid-end-state check);
 *  (5) with check.sh --liveness: no weakly fair infinite execution (checked with one
 *      and with two waiters): a registered waiter stays registered across wakes that
 *      bring no signal, so a waiter's loops are bounded by the changes of the word, and
 *      it registers again only after another thread took a signal.
 *
 * The old wait_slow (before commit "AutoResetEvent: stay registered across signal-less
 * wakes") is kept as a variant; spin must find its livelock:
 *   -DLOCKSTEP_UNREGISTER     after every futex wait (one wait per registration) the
 *                             waiter unregisters and, without a signal, registers again.
 *                             Registering changes the word, so two waiters can keep
 *                             failing each other's futex compare -- register, fail the
 *                             compare, unregister, register -- in lockstep for ever,
 *                             while set()'s CAS keeps failing too (check.sh --liveness
 *                             -DNW=2 finds this non-progress cycle).
 *
 * Broken variants (spin must find an error):
 *   -DBROKEN_STALE_COUNT      set() decides whether to wake from a load of the word made
 *                             before its CAS, not from the value the CAS replaced
 *   -DBROKEN_UNREGISTER_NO_TAKE  a waiter that saw the signal unregisters without
 *                             taking it in the same RMW; an untimed one registers again
 *                             and takes it at the top of the loop, but a timed one whose
 *                             deadline passed returns false, leaving the signal (and
 *                             its one wake) spent on nobody
 *   -DBROKEN_EDGE_ONLY        (with SHARED and DEAD_SETTER) set() wakes only on the
 *                             unsignaled->signaled edge, as in process: the dead
 *                             setter made the edge, so the survivor's set() finds the
 *                             event signaled and wakes nobody
 */

#ifndef NW
#define NW 3
#endif
#ifndef NTIMED
#define NTIMED 1
#endif
#ifndef NSETS
#define NSETS 3
#endif
#ifndef SPIN_POLLS
#define SPIN_POLLS 1
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif

#if NW > 4
#error "futex_wake_one below handles at most 4 waiters"
#endif
#if defined(DEAD_SETTER) && !defined(SHARED)
#error "DEAD_SETTER models a process-shared event: use it with SHARED"
#endif

/* whether set() wakes after a CAS that replaced `seen` */
#if defined(SHARED) && !defined(BROKEN_EDGE_ONLY)
#define SET_WAKES(seen) ((seen) >= WAITER_ONE)
#else
#define SET_WAKES(seen) (!((seen) & SIGNALED) && (seen) >= WAITER_ONE)
#endif

#define SIGNALED   1
#define WAITER_ONE 2
#define COUNT(x)   ((x) >> 1)

byte word = 0;
bool parked[NW];
byte spurious = SPURIOUS;

/* ghosts */
byte created = 0;          /* unsignaled->signaled transitions made by set() */
byte taken = 0;            /* signals taken by try_wait / wait */
byte registered = 0;       /* waiters whose registration is in the word */
bool in_wait[NW];          /* waiter i is inside wait() */
bool got[NW];              /* waiter i returned true */
bool setter_done = false;
bool dead_setter_done = false;

/* One futex wake_one: dequeue any one parked waiter, if there is one. */
inline futex_wake_one() {
  if
  :: parked[0] -> parked[0] = false
#if NW > 1
  :: parked[1] -> parked[1] = false
#endif
#if NW > 2
  :: parked[2] -> parked[2] = false
#endif
#if NW > 3
  :: parked[3] -> parked[3] = false
#endif
  :: else -> skip
  fi
}

/* set()'s CAS: seen = load; while (!CAS(seen, seen | SIGNALED)) {} */
inline set_cas() {
  seen = word;                                   /* load, relaxed */
#ifdef BROKEN_STALE_COUNT
  stale = seen;
#endif
  do
  :: atomic {                                    /* CAS(seen, seen | SIGNALED) */
       if
       :: word == seen ->
            word = seen | SIGNALED;
            if
            :: !(seen & SIGNALED) -> created++
            :: else -> skip
            fi;
            break
       :: else -> seen = word
       fi
     }
  od
}

proctype Setter() {
  byte seen, n = 0;
#ifdef BROKEN_STALE_COUNT
  byte stale;
#endif
  do
  :: n < NSETS ->
#ifdef DEAD_SETTER
       (n < NSETS - 1 || dead_setter_done);     /* the last set() comes after the death */
#endif
       set_cas();
#ifdef BROKEN_STALE_COUNT
       seen = stale;
#endif
       /* wake one if someone registered: in process only on the unsignaled->signaled
          edge, between processes always */
       if
       :: SET_WAKES(seen) -> atomic { futex_wake_one(); seen = 0 }
       :: else -> seen = 0
       fi;
#ifdef BROKEN_STALE_COUNT
       stale = 0;
#endif
       n++
  :: else -> break
  od;
  setter_done = true
}

#ifdef DEAD_SETTER
/* A set() whose process dies right after its CAS: no wake call. */
proctype DeadSetter() {
  byte seen;
#ifdef BROKEN_STALE_COUNT
  byte stale;
#endif
  set_cas();
  atomic { seen = 0; dead_setter_done = true }
}
#endif

/* try_wait(): seen = load; while (seen & SIGNALED) if CAS(seen, seen & ~SIGNALED) return true; */
inline try_wait(ok) {
  seen = word;
  ok = false;
  do
  :: (seen & SIGNALED) ->
       atomic {
         if
         :: word == seen -> word = seen & ~SIGNALED; taken++; ok = true; break
         :: else -> seen = word
         fi
       }
  :: else -> break
  od
}

proctype Waiter(byte i; bool timed) {
  byte seen, desired, polls = 0;
  bool ok, result_timeout, took;

  in_wait[i] = true;
  /* wait(): if (!try_wait()) wait_slow() */
  try_wait(ok);
  if :: ok -> goto done :: else -> skip fi;

  /* wait_for(): if (timeout <= 0) return false; wait_slow(): if (now >= deadline)
     return false.  Only a timed waiter has a deadline; it may have passed already. */
  if
  :: timed -> goto timed_out
  :: true -> skip
  fi;

  /* wait_slow: spin_until(try_wait) -- one check, then up to SPIN_POLLS more */
  do
  :: try_wait(ok);
     if :: ok -> goto done :: else -> skip fi;
     if
     :: polls < SPIN_POLLS -> polls++
     :: break
     fi
  od;
  polls = 0;

  seen = word;                                   /* load, relaxed */
  do
  :: /* for (;;) */
     if
     :: (seen & SIGNALED) ->
          atomic {                               /* CAS(seen, seen & ~SIGNALED) */
            if
            :: word == seen -> word = seen & ~SIGNALED; taken++; goto done
            :: else -> seen = word; goto next    /* continue */
            fi
          }
     :: else -> skip
     fi;

     /* register: CAS(seen, seen + WAITER_ONE); on success seen += WAITER_ONE */
     atomic {
       if
       :: word == seen -> word = seen + WAITER_ONE; registered++; seen = seen + WAITER_ONE
       :: else -> seen = word; goto next         /* continue */
       fi
     };

#ifdef LOCKSTEP_UNREGISTER
     /* The OLD code: one futex wait, then unregister whatever woke it. */
     /* result = Wait::wait(word, seen, deadline) */
     atomic {
       result_timeout = false;
       if
       :: word == seen -> parked[i] = true
       :: else -> skip
       fi
     };
end_parked_old:
     if
     :: !parked[i] -> skip                       /* woken, or never slept */
     :: atomic { spurious > 0 && parked[i] -> spurious--; parked[i] = false }
     :: atomic { timed && parked[i] -> parked[i] = false; result_timeout = true }
     :: atomic { timed && !parked[i] -> result_timeout = true }   /* deadline passed
                                                    while it was being woken */
     fi;
     seen = word;                                /* load, relaxed */
#else
     /* Stay registered across wakes that bring no signal:
      *   do { result = Wait::wait(word, seen, deadline); seen = load; }
      *   while (!(seen & SIGNALED) && result != timeout);                         */
     do
     :: /* result = Wait::wait(word, seen, deadline): compare and enqueue */
        atomic {
          result_timeout = false;
          if
          :: word == seen -> parked[i] = true
          :: else -> skip                        /* word changed: returns woken at once */
          fi
        };
end_parked:
        if
        :: !parked[i] -> skip                    /* woken, or never slept */
        :: atomic { spurious > 0 && parked[i] -> spurious--; parked[i] = false }
        :: atomic { timed && parked[i] -> parked[i] = false; result_timeout = true }
        :: atomic { timed && !parked[i] -> result_timeout = true }   /* deadline passed
                                                    while it was being woken */
        fi;
        /* seen = load, relaxed; the loop test is thread-local, folded into the load */
        atomic {
          seen = word;
          if
          :: (seen & SIGNALED) || result_timeout -> break
          :: else -> skip
          fi
        }
     od;
#endif

     /* Unregister, taking the signal in the same RMW if it is there
      * (seen: the last load above, then each failed CAS's value). */
     do
     :: atomic {
#ifdef BROKEN_UNREGISTER_NO_TAKE
          took = false;
#else
          took = (seen & SIGNALED) != 0;
#endif
          if
          :: took -> desired = (seen - WAITER_ONE) & ~SIGNALED
          :: else -> desired = seen - WAITER_ONE
          fi;
          if
          :: word == seen ->
               word = desired;
               registered--;
               if :: took -> taken++ :: else -> skip fi;
               break
          :: else -> seen = word
          fi
        }
     od;
     if :: took -> goto done :: else -> skip fi;
     if :: result_timeout -> goto timed_out :: else -> skip fi;
     /* neither taken nor timed out: register again (seen = desired, what our CAS
        wrote).  In the new code only when another thread took the signal between our
        load and our CAS; in the old (LOCKSTEP_UNREGISTER) after every signal-less wake. */
     seen = desired;
     desired = 0;
next:
     skip
  od;

done:
  got[i] = true;
timed_out:
  in_wait[i] = false
}

/* Invariants, checked after every step of every process. */
#define COUNT_OK   (COUNT(word) == registered)
#define SIGNALS_OK (created == taken + (word & SIGNALED))

active proctype Invariants() {
end_watch:
  atomic { !(COUNT_OK && SIGNALS_OK) -> assert(COUNT_OK); assert(SIGNALS_OK) }
}

/* Runs once nothing else can move: every process ended or is parked for good. */
active proctype Checker() {
  byte k, released = 0;
  timeout ->
  k = 0;
  do
  :: k < NW ->
       /* no signal pending while a waiter is still waiting (lost wakeup) */
       assert(!in_wait[k] || !(word & SIGNALED));
       k++
  :: else -> break
  od;
  /* every signal taken released exactly one wait */
  k = 0;
  do
  :: k < NW -> if :: got[k] -> released++ :: else -> skip fi; k++
  :: else -> break
  od;
  assert(released == taken)
}

init {
  byte k = 0;
  atomic {
    do
    :: k < NW -> run Waiter(k, k < NTIMED); k++
    :: else -> break
    od;
    run Setter();
#ifdef DEAD_SETTER
    run DeadSetter()
#endif
  }
}
