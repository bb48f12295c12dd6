/* SPDX-License-Identifier: MIT */
/*
 * model/ring_parking.pml -- Promela model of fev::BasicRing (include/fev/ring.hpp):
 * the turn-number claim protocol and the full/empty parking protocol with precise
 * wakeups (protocol steps 5 and 6: sleepers, waking, sequence, the relay).
 *
 * State, as in the C++ code:
 *   tail, head     claimed pushes / pops; tail's top bit CLOSED is close()'s flag
 *   turn[s]        slot s: 2*lap = free for the push of that lap, 2*lap+1 = holds
 *                  the value of that lap
 *   not_empty      consumers sleep here, not_full producers; each word is
 *                  WAKING (bit 0: a wake_one was issued and nobody took it over yet),
 *                  sleepers (bits 1..2: threads registered to sleep, at most 3 here),
 *                  sequence (bits 3..7: +1 on every wake issued and on close(); it
 *                  wraps modulo 32 here, modulo 2^16 in C++; an assertion checks
 *                  that no run wraps it)
 *
 * Abstractions (see model/README.md):
 * - Every C++ atomic operation is one atomic Promela step.  Promela is sequentially
 *   consistent, so this checks the interleavings of the protocol, as if every atomic
 *   were seq_cst.  The C++ code makes seq_cst exactly the operations of the handshake
 *   (the claim CAS and notify's load; a sleeper's registration, its takeover CAS and
 *   its re-reads of the counters); the model does not check that choice of orders.
 * - By default each attempt (claim_push / claim_pop) decides in one atomic step, at
 *   its linearization point; see the argument above claim_push below.  -DFINE_CLAIM
 *   splits every load and CAS of the attempts into its own step.
 * - Constructing a value in a claimed slot and publishing its turn are one step, and so
 *   are moving a value out and freeing the slot: between claim and publish only the
 *   claimant touches the slot, and the claim and the publish stay separate steps (a
 *   thread preempted between them is modelled).
 * - compare_exchange_weak does not fail spuriously (same path as a real failure).
 * - The bounded spin is one extra attempt plus up to SPIN_POLLS more; yield is a no-op.
 * - Deadlines (push_for, pop_for) are not modelled, nor the poll-with-yield path taken
 *   when every sleeper place of a word is taken (2^15 - 1 in C++).
 * - Under sequential consistency either half of the sleeper's re-check (the attempt
 *   after registering, or nothing_pending's re-read of the other side's counter) alone
 *   prevents the lost wakeup; only removing both is caught (BROKEN_NO_RECHECK*).  In
 *   C++ it is nothing_pending's seq_cst load that pairs with the claimer's seq_cst CAS
 *   (the attempt reads slot turns with acquire only); the model cannot tell them apart.
 * - The futex: wait(word, expected) atomically compares and enqueues the caller;
 *   wake_one dequeues one thread parked on that word, chosen nondeterministically;
 *   wake_all dequeues all of them; a parked thread may return spuriously, at most
 *   SPURIOUS times in the run.
 *
 * Processes: NP producers each pushing ITEMS values (blocking push), NC consumers
 * (blocking pop), capacity C.  Without CLOSE the consumers pop ITEMS*NP/NC values each
 * and nobody closes.  With -DCLOSE a closer calls close() at any moment, concurrently
 * with everything; producers stop at their first failed push and consumers pop until
 * pop() reports closed.
 *
 * -DSHARED: the process-shared ring (a backend with process_shared = true).  notify()
 * wakes even while WAKING is set (the thread that set it may have died before its
 * wake call), and a thread about to sleep first notifies the other side if that side
 * could proceed (room for producers, values for consumers).
 * -DDEAD_WAKER (with SHARED): producer 0 dies for good right after the notify CAS of
 * its last push (WAKING set, sequence bumped), before its wake_one; it finishes
 * nothing after that.  The other producers start their last push after that moment
 * (a survivor's work that ended before the death cannot make up for it; that window
 * is documented in fev/shared.hpp).  The survivors must all finish.
 *
 * Properties:
 *  - no lost wakeup / no deadlock: every process ends (with DEAD_WAKER: every survivor);
 *    a thread parked for good is an invalid end state (no end labels on the parks), and
 *    the Checker asserts it;
 *  - no wake left stranded: in a final state no word has WAKING set while a thread
 *    is registered to sleep on it;
 *  - with check.sh --liveness: no weakly fair infinite execution (the yield-and-retry
 *    loop of a sleeper that sees a claimed but unpublished slot, the takeovers and
 *    relays cannot go on forever);
 *  - exactly once: no value is popped twice, every value whose push was claimed is
 *    popped (with CLOSE: pushes claimed before close are drained, later ones fail);
 *  - per-producer FIFO: pops are claimed in the order each producer pushed;
 *  - pop() reports closed only when the ring is closed and drained.
 *
 * Broken variants (spin must find an error):
 *   -DBROKEN_NO_RECHECK       a consumer sleeps right after registering, without
 *                             re-trying the pop / re-reading tail after registering
 *   -DBROKEN_NO_RECHECK_PUSH  the same for producers waiting on a full ring
 *   -DBROKEN_NO_RELAY         a thread that took a wake over never passes it on when
 *                             it leaves: the claims made while WAKING was set left
 *                             their wake to it, and the next sleeper sleeps on
 *   -DBROKEN_NO_TAKEOVER      a woken thread does not clear WAKING: it stays set, and
 *                             every later claim trusts a wake that nobody is making
 *   -DBROKEN_TRUST_WAKING     (with SHARED and DEAD_WAKER) notify() returns while
 *                             WAKING is set, as in process: the dead producer's WAKING
 *                             then silences every survivor's push
 *   -DBROKEN_NO_PRESLEEP_WAKE (with SHARED and DEAD_WAKER) a thread about to sleep
 *                             does not wake the other side first: the consumer the dead
 *                             producer owed a wake sleeps beside a full ring, and the
 *                             survivor producer sleeps on that full ring
 */

#ifndef NP
#define NP 2
#endif
#ifndef NC
#define NC 2
#endif
#ifndef ITEMS
#define ITEMS 2            /* pushes per producer */
#endif
#ifndef C
#define C 1                /* capacity */
#endif
#ifndef SPIN_POLLS
#define SPIN_POLLS 0
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif

#if NP > 3 || NC > 3
#error "the sleeper fields and the wake_one choices below handle at most 3 threads a side"
#endif
#if defined(DEAD_WAKER) && !defined(SHARED)
#error "DEAD_WAKER models a process-shared ring: use it with SHARED"
#endif

#define NVALUES  (NP * ITEMS)
#define CLOSED   128
#define WAKING   1
#define SLEEPER_ONE 2
#define SLEEPERS 6
#define SEQ_ONE  8

/* notify() trusts WAKING (returns while it is set) in process, not between processes */
#if defined(SHARED) && !defined(BROKEN_TRUST_WAKING)
#define TRUSTS_WAKING false
#else
#define TRUSTS_WAKING true
#endif

/* step results */
#define DONE  0
#define BUSY  1
#define SHUT  2            /* Step::closed */

byte tail = 0, head = 0;
/* The consumers' copy of tail's CLOSED bit (closed_for_consumers_): an empty pop reads
 * it and asks tail whether the ring is closed and drained only once it is set.  close()
 * sets it before its fetch_or on tail.  -DBROKEN_NO_CLOSED_COPY: close() never sets it,
 * so no pop can report closed. */
bool closed_copy = false;
byte turn[C];
byte slot_val[C];          /* value in the slot, 0 = none */
byte not_empty = 0, not_full = 0;
bool cq[NC];               /* futex queue of not_empty (consumers) */
bool pq[NP];               /* futex queue of not_full (producers) */
byte spurious = SPURIOUS;

/* ghosts */
bool pushed[NVALUES + 1];  /* value v's push was claimed */
bool popped[NVALUES + 1];
byte last_k[NP];           /* per producer: index+1 of the last value whose pop was claimed */
byte finished = 0;
#ifdef DEAD_WAKER
bool waker_gone = false;   /* producer 0 died, or finished its last push alive */
byte died = 0;             /* 1 once producer 0 died */
byte dead_sleeper = 0;     /* 1 if it died registered on not_full: it never leaves */
#endif

/* `first`: the first pass of the sleep loop, only the BROKEN_NO_RECHECK* variants use it */
#if defined(BROKEN_NO_RECHECK) || defined(BROKEN_NO_RECHECK_PUSH)
#define NO_RECHECK_FIRST first = true
#else
#define NO_RECHECK_FIRST skip
#endif

#ifdef DEAD_WAKER
#define REGISTERED(b) registered = b
#else
#define REGISTERED(b) skip
#endif

/* The sequence has 5 bits here: a run that bumped it 32 times could make a stale
   futex compare succeed that the 16-bit C++ sequence would fail.  The ghost counts
   (a function of the sequence while it does not wrap, so they add no states) check
   that no run does. */
byte not_empty_bumps = 0, not_full_bumps = 0;
#define SEQ_BUMPED(word) word##_bumps++; assert(word##_bumps < 32)

#define PRODUCER_OF(v) (((v) - 1) / ITEMS)
#define INDEX_OF(v)    (((v) - 1) % ITEMS)

/* Futex wakes: wake_one dequeues any one parked thread, if there is one. */
inline wake_one_consumer() {
  if
  :: cq[0] -> cq[0] = false
#if NC > 1
  :: cq[1] -> cq[1] = false
#endif
#if NC > 2
  :: cq[2] -> cq[2] = false
#endif
  :: else -> skip
  fi
}

inline wake_one_producer() {
  if
  :: pq[0] -> pq[0] = false
#if NP > 1
  :: pq[1] -> pq[1] = false
#endif
#if NP > 2
  :: pq[2] -> pq[2] = false
#endif
  :: else -> skip
  fi
}

inline wake_all_consumers() {
  j = 0;
  do
  :: j < NC -> cq[j] = false; j++
  :: else -> break
  od;
  j = 0
}

inline wake_all_producers() {
  j = 0;
  do
  :: j < NP -> pq[j] = false; j++
  :: else -> break
  od;
  j = 0
}

/*
 * notify(word), first half: decide whether to wake.  ok = true when this call set
 * WAKING and bumped the sequence, and must now call wake_one.
 *   seen = load (seq_cst);
 *   for (;;) { if (!sleepers) return; if (WAKING && !process_shared) return;
 *              if (CAS(seen, (seen + SEQ_ONE) | WAKING)) break; }
 * (its `seen` is nseen here: a sleeper's own `seen` must survive the pre-sleep notify)
 */
#define NOTIFY_DECIDE(word)                                                       \
  nseen = word;                                   /* load, seq_cst */             \
  do                                                                              \
  :: (nseen & SLEEPERS) == 0 -> break            /* nobody sleeps */              \
  :: (nseen & SLEEPERS) != 0 && (nseen & WAKING) && TRUSTS_WAKING -> break        \
  :: else ->                                                                      \
       atomic {                                  /* CAS, seq_cst */               \
         if                                                                       \
         :: word == nseen ->                                                      \
              word = (nseen + SEQ_ONE) | WAKING; SEQ_BUMPED(word); ok = true; break\
         :: else -> nseen = word                                                  \
         fi                                                                       \
       }                                                                          \
  od;                                                                             \
  nseen = 0

inline notify_not_empty() {
  NOTIFY_DECIDE(not_empty);
  if
  :: ok -> atomic { wake_one_consumer(); ok = false }   /* Wait::wake_one(not_empty) */
  :: else -> skip
  fi
}

inline notify_not_full() {
  NOTIFY_DECIDE(not_full);
  if
  :: ok -> atomic { wake_one_producer(); ok = false }   /* Wait::wake_one(not_full) */
  :: else -> skip
  fi
}

/* A push's notify after its claim.  With DEAD_WAKER, producer 0's last one is where
   its process dies: after the CAS that set WAKING, before the wake call. */
inline notify_after_push() {
#ifdef DEAD_WAKER
  NOTIFY_DECIDE(not_empty);
  if
  :: ok && p == 0 && k == ITEMS - 1 -> goto dying
  :: ok && !(p == 0 && k == ITEMS - 1) -> atomic { wake_one_consumer(); ok = false }
  :: else -> skip
  fi
#else
  notify_not_empty()
#endif
}

/*
 * The two attempts, claim_push and claim_pop.
 *
 * By default each attempt's decision is one atomic step (its linearization point), and
 * the publish after a successful claim and the notify are separate steps.  This is
 * exact for the outcome of an attempt under sequential consistency:
 *  - claim_push loads tail (pos), then the slot's turn, then CASes tail.  A turn below
 *    2*lap(pos) means pos was not claimed yet when the turn was read (a claim of pos
 *    needs that turn first, and turns only grow), so tail == pos then: "busy" is the
 *    answer an atomic attempt gives at the turn load.  A turn equal to it leads to a CAS
 *    that succeeds iff tail is still pos: "claimed" at the CAS.  Any other outcome
 *    (stale pos) only retries.  A CLOSED tail is "closed" at the tail load.
 *  - claim_pop likewise; its "closed and drained" test loads tail then head, and is the
 *    answer an atomic attempt gives at the head load (nothing can be pushed any more,
 *    head == tail: no value is published at head).
 * -DFINE_CLAIM models every load and CAS of the attempts as its own step instead
 * (much larger state space; the meson suite runs it with fewer threads).
 */
#ifndef FINE_CLAIM

inline claim_push(v, st) {
  atomic {
    pos = tail;
    if
    :: (pos & CLOSED) -> st = SHUT
    :: else ->
         if
         :: turn[pos % C] == 2 * (pos / C) -> tail = pos + 1; pushed[v] = true; ok = true
         :: else -> assert(turn[pos % C] < 2 * (pos / C)); st = BUSY   /* full */
         fi
    fi
  };
  if
  :: ok ->
       atomic {                                  /* construct; turn = 2*lap+1 (release) */
         slot_val[pos % C] = v; turn[pos % C] = 2 * (pos / C) + 1; ok = false; pos = 0
       };
       notify_after_push();
       st = DONE
  :: else -> pos = 0
  fi
}

inline claim_pop(st) {
  atomic {
    pos = head;
    if
    :: turn[pos % C] == 2 * (pos / C) + 1 ->
         head = pos + 1;
         got = slot_val[pos % C];
         /* per-producer FIFO, in the order pops are claimed */
         assert(got > 0 && pushed[got]);
         assert(INDEX_OF(got) + 1 > last_k[PRODUCER_OF(got)]);
         last_k[PRODUCER_OF(got)] = INDEX_OF(got) + 1;
         ok = true
    :: else ->
         assert(turn[pos % C] < 2 * (pos / C) + 1);               /* empty here */
         if
         :: closed_copy && (tail & CLOSED) && (tail & ~CLOSED) == pos -> st = SHUT   /* closed, drained */
         :: else -> st = BUSY
         fi
    fi
  };
  if
  :: ok ->
       atomic {                                  /* move out; turn = 2*lap+2 (release) */
         slot_val[pos % C] = 0; turn[pos % C] = 2 * (pos / C) + 2; ok = false; pos = 0
       };
       notify_not_full();
       st = DONE
  :: else -> pos = 0
  fi
}

#else  /* FINE_CLAIM: every atomic operation of the attempts is a step */

/* claim_push: one attempt to claim a push position and fill it with v. */
inline claim_push(v, st) {
  pos = tail;                                    /* load, relaxed */
  do
  :: (pos & CLOSED) -> st = SHUT; break
  :: else ->
       t = turn[pos % C];                        /* load, acquire */
       if
       :: t == 2 * (pos / C) ->
            atomic {                             /* CAS(tail, pos, pos + 1), seq_cst */
              if
              :: tail == pos -> tail = pos + 1; pushed[v] = true; ok = true
              :: else -> pos = tail; ok = false
              fi
            };
            if
            :: ok ->
                 atomic {                        /* construct; turn = 2*lap+1 (release) */
                   slot_val[pos % C] = v; turn[pos % C] = 2 * (pos / C) + 1; ok = false
                 };
                 notify_after_push();
                 st = DONE;
                 break
            :: else -> skip
            fi
       :: t < 2 * (pos / C) -> st = BUSY; break  /* full */
       :: else -> pos = tail                     /* another producer took pos */
       fi
  od;
  pos = 0; t = 0
}

/* claim_pop: one attempt to claim a pop position; the value goes to `got`. */
inline claim_pop(st) {
  pos = head;                                    /* load, relaxed */
  do
  :: t = turn[pos % C];                          /* load, acquire */
     if
     :: t == 2 * (pos / C) + 1 ->
          atomic {                               /* CAS(head, pos, pos + 1), seq_cst */
            if
            :: head == pos ->
                 head = pos + 1;
                 got = slot_val[pos % C];
                 /* per-producer FIFO, in the order pops are claimed */
                 assert(got > 0 && pushed[got]);
                 assert(INDEX_OF(got) + 1 > last_k[PRODUCER_OF(got)]);
                 last_k[PRODUCER_OF(got)] = INDEX_OF(got) + 1;
                 ok = true
            :: else -> pos = head; ok = false
            fi
          };
          if
          :: ok ->
               atomic {                          /* move out; turn = 2*lap+2 (release) */
                 slot_val[pos % C] = 0; turn[pos % C] = 2 * (pos / C) + 2; ok = false
               };
               notify_not_full();
               st = DONE;
               break
          :: else -> skip
          fi
     :: t < 2 * (pos / C) + 1 ->                 /* empty here */
          if
          :: !closed_copy -> st = BUSY; break   /* the copy, relaxed: open */
          :: else -> skip
          fi;
          t = tail;                              /* load, acquire */
          if
          :: (t & CLOSED) && (t & ~CLOSED) == head -> st = SHUT   /* second load: head */
          :: else -> st = BUSY
          fi;
          break
     :: else -> pos = head                       /* another consumer took pos */
     fi
  od;
  pos = 0; t = 0
}

#endif  /* FINE_CLAIM */

/* nothing_pending() of a push: head, then tail (both seq_cst); open and full. */
inline push_nothing_pending() {
  t = head;
  atomic { pos = tail; pending = !(!(pos & CLOSED) && (pos & ~CLOSED) - t >= C); t = 0; pos = 0 }
}

/* nothing_pending() of a pop: tail (seq_cst), then head; open and empty. */
inline pop_nothing_pending() {
  t = tail;
  atomic { pending = (t & CLOSED) || (t != head); t = 0 }
}

proctype Producer(byte p) {
  byte k = 0, st, pos, t, seen, nseen, polls = 0, j;
  bool ok, pending, took, first;
#ifdef DEAD_WAKER
  bool registered;           /* ghost: this producer is registered on not_full */
#endif

  do
  :: k < ITEMS ->
#ifdef DEAD_WAKER
       /* a survivor's last push starts after producer 0 died (or finished) */
       (p == 0 || k < ITEMS - 1 || waker_gone);
#endif
       /* push(v): block(not_full, claim_push, nothing_pending, ..., not_empty, ...) */
       claim_push(p * ITEMS + k + 1, st);
       if
       :: st == BUSY ->
            do                                   /* spin_until(attempt() != busy) */
            :: claim_push(p * ITEMS + k + 1, st);
               if
               :: st == BUSY && polls < SPIN_POLLS -> polls++
               :: else -> break
               fi
            od;
            polls = 0
       :: else -> skip
       fi;
       if
       :: st == BUSY ->
            /* register: CAS(seen, seen + SLEEPER_ONE), seq_cst */
            seen = not_full;                     /* load, relaxed */
            do
            :: atomic {
                 if
                 :: not_full == seen -> not_full = seen + SLEEPER_ONE; seen = seen + SLEEPER_ONE; REGISTERED(1); break
                 :: else -> seen = not_full
                 fi
               }
            od;
            took = false; NO_RECHECK_FIRST;
            do
            :: /* take an issued wake over: CAS(seen, seen & ~WAKING), seq_cst */
               if
               :: (seen & WAKING) ->
#ifndef BROKEN_NO_TAKEOVER
                    atomic {
                      if
                      :: not_full == seen -> not_full = seen & ~WAKING; seen = seen & ~WAKING; took = true
                      :: else -> seen = not_full; goto push_continue
                      fi
                    }
#else
                    took = true                  /* ... but leaves WAKING set */
#endif
               :: else -> skip
               fi;
#ifdef BROKEN_NO_RECHECK_PUSH
               if
               :: first -> first = false; goto push_sleep   /* no re-check */
               :: else -> skip
               fi;
#endif
               claim_push(p * ITEMS + k + 1, st);
               if :: st != BUSY -> break :: else -> skip fi;
               push_nothing_pending();
               if
               :: !pending ->
#ifdef BROKEN_NO_RECHECK_PUSH
push_sleep:
#endif
#if defined(SHARED) && !defined(BROKEN_NO_PRESLEEP_WAKE)
                    /* consumers_can_proceed(): tail != head (seq_cst loads) */
                    t = tail;
                    atomic { pending = ((t & ~CLOSED) != head); t = 0 };
                    if
                    :: pending -> pending = false; notify_not_empty()
                    :: else -> skip
                    fi;
#endif
                    atomic {                     /* Wait::wait(not_full, seen) */
                      if
                      :: not_full == seen -> pq[p] = true
                      :: else -> skip
                      fi
                    };
                    if
                    :: !pq[p] -> skip
                    :: atomic { spurious > 0 && pq[p] -> spurious--; pq[p] = false }
                    fi
               :: else -> pending = false        /* yield */
               fi;
               seen = not_full;                  /* load, relaxed */
push_continue:
               skip
            od;
            /* leave: fetch_sub(SLEEPER_ONE), seq_cst */
            atomic { not_full = not_full - SLEEPER_ONE; seen = 0; REGISTERED(0) };
#ifndef BROKEN_NO_RELAY
            /* the relay: if (took_wake && !nothing_pending()) notify(not_full) */
            if
            :: took ->
                 took = false;
                 push_nothing_pending();
                 if
                 :: pending -> pending = false; notify_not_full()
                 :: else -> skip
                 fi
            :: else -> skip
            fi
#else
            took = false
#endif
       :: else -> skip
       fi;
       if
       :: st == DONE -> k++
       :: else -> break                          /* closed: the value was not taken */
       fi
#ifdef DEAD_WAKER
       ;
       if
       :: p == 0 && k == ITEMS -> waker_gone = true
       :: else -> skip
       fi
#endif
  :: else -> break
  od;
  st = 0; k = 0;
  finished++;
#ifdef DEAD_WAKER
  goto done;
dying:                                           /* the process died: nothing more */
  atomic { waker_gone = true; died = 1; dead_sleeper = registered };
end_dead:
  false;
done:
#endif
  skip
}

proctype Consumer(byte c) {
  byte n = 0, st, pos, t, seen, nseen, got, polls = 0, j;
  bool ok, pending, took, first;

  do
#ifdef CLOSE
  :: true ->
#else
  :: n < NVALUES / NC ->
#endif
       /* pop(): block(not_empty, claim_pop, nothing_pending, ready, not_full, ...) */
       claim_pop(st);
       if
       :: st == BUSY ->
            do
            :: claim_pop(st);
               if
               :: st == BUSY && polls < SPIN_POLLS -> polls++
               :: else -> break
               fi
            od;
            polls = 0
       :: else -> skip
       fi;
       if
       :: st == BUSY ->
            /* register: CAS(seen, seen + SLEEPER_ONE), seq_cst */
            seen = not_empty;                    /* load, relaxed */
            do
            :: atomic {
                 if
                 :: not_empty == seen -> not_empty = seen + SLEEPER_ONE; seen = seen + SLEEPER_ONE; break
                 :: else -> seen = not_empty
                 fi
               }
            od;
            took = false; NO_RECHECK_FIRST;
            do
            :: /* take an issued wake over: CAS(seen, seen & ~WAKING), seq_cst */
               if
               :: (seen & WAKING) ->
#ifndef BROKEN_NO_TAKEOVER
                    atomic {
                      if
                      :: not_empty == seen -> not_empty = seen & ~WAKING; seen = seen & ~WAKING; took = true
                      :: else -> seen = not_empty; goto pop_continue
                      fi
                    }
#else
                    took = true                  /* ... but leaves WAKING set */
#endif
               :: else -> skip
               fi;
#ifdef BROKEN_NO_RECHECK
               if
               :: first -> first = false; goto pop_sleep   /* no re-check */
               :: else -> skip
               fi;
#endif
               claim_pop(st);
               if :: st != BUSY -> break :: else -> skip fi;
               pop_nothing_pending();
               if
               :: !pending ->
#ifdef BROKEN_NO_RECHECK
pop_sleep:
#endif
#if defined(SHARED) && !defined(BROKEN_NO_PRESLEEP_WAKE)
                    /* producers_can_proceed(): tail - head < capacity (seq_cst loads) */
                    t = tail;
                    atomic { pending = ((t & ~CLOSED) - head < C); t = 0 };
                    if
                    :: pending -> pending = false; notify_not_full()
                    :: else -> skip
                    fi;
#endif
                    atomic {                     /* Wait::wait(not_empty, seen) */
                      if
                      :: not_empty == seen -> cq[c] = true
                      :: else -> skip
                      fi
                    };
                    if
                    :: !cq[c] -> skip
                    :: atomic { spurious > 0 && cq[c] -> spurious--; cq[c] = false }
                    fi
               :: else -> pending = false        /* yield */
               fi;
               seen = not_empty;                 /* load, relaxed */
pop_continue:
               skip
            od;
            /* leave: fetch_sub(SLEEPER_ONE), seq_cst */
            atomic { not_empty = not_empty - SLEEPER_ONE; seen = 0 };
#ifndef BROKEN_NO_RELAY
            /* the relay: if (took_wake && !nothing_pending()) notify(not_empty) */
            if
            :: took ->
                 took = false;
                 pop_nothing_pending();
                 if
                 :: pending -> pending = false; notify_not_empty()
                 :: else -> skip
                 fi
            :: else -> skip
            fi
#else
            took = false
#endif
       :: else -> skip
       fi;
       if
       :: st == DONE ->
            atomic { assert(!popped[got]); popped[got] = true; got = 0 };
            n++
       :: else -> break                          /* closed and drained */
       fi
#ifdef CLOSE
  :: false
#else
  :: else -> break
#endif
  od;
  st = 0; n = 0;
  finished++
}

#ifdef CLOSE
proctype Closer() {
  byte j;
#ifndef BROKEN_NO_CLOSED_COPY
  closed_copy = true;                            /* the consumers' copy, relaxed */
#endif
  atomic { tail = tail | CLOSED };               /* fetch_or, seq_cst */
  atomic { not_empty = not_empty + SEQ_ONE; SEQ_BUMPED(not_empty) };   /* fetch_add, seq_cst */
  atomic { wake_all_consumers() };
  atomic { not_full = not_full + SEQ_ONE; SEQ_BUMPED(not_full) };
  atomic { wake_all_producers() };
  finished++
}
#define NPROCS (NP + NC + 1)
#else
#define NPROCS (NP + NC)
#endif

/* Runs once nothing else can move. */
active proctype Checker() {
  byte v;
  bool wake_stranded;
  timeout ->
  /* an issued wake that nobody took over, while a thread sleeps on that word (a
     producer that died registered stays counted on not_full for good) */
#ifdef DEAD_WAKER
  wake_stranded = ((not_empty & WAKING) && (not_empty & SLEEPERS)) ||
                  ((not_full & WAKING) && (not_full & SLEEPERS) > dead_sleeper * SLEEPER_ONE);
#else
  wake_stranded = ((not_empty & WAKING) && (not_empty & SLEEPERS)) ||
                  ((not_full & WAKING) && (not_full & SLEEPERS));
#endif
  assert(!wake_stranded);
#ifdef DEAD_WAKER
  assert(finished + died == NPROCS);             /* every survivor ended */
#else
  assert(finished == NPROCS);                    /* nobody parked for good */
#endif
  v = 1;
  do
  :: v <= NVALUES ->
       assert(pushed[v] == popped[v]);          /* exactly once, all drained */
#ifndef CLOSE
       assert(pushed[v]);                        /* every push succeeded */
#endif
       v++
  :: else -> break
  od;
  assert((tail & ~CLOSED) == head)
}

init {
  byte k = 0;
  atomic {
    do
    :: k < NP -> run Producer(k); k++
    :: else -> break
    od;
    k = 0;
    do
    :: k < NC -> run Consumer(k); k++
    :: else -> break
    od;
#ifdef CLOSE
    run Closer();
#endif
    k = 0
  }
}
