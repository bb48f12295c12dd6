/*
 * model/ring_parking.pml -- Promela model of fev::BasicRing (include/fev/ring.hpp):
 * the turn-number claim protocol and the full/empty parking handshake.
 *
 * State, as in the C++ code:
 *   tail, head     claimed pushes / pops; tail's top bit CLOSED is close()'s flag
 *   turn[s]        slot s: 2*lap = free for the push of that lap, 2*lap+1 = holds
 *                  the value of that lap
 *   not_empty      consumers park here; (sequence << 1) | PARKED
 *   not_full       producers park here; same layout
 *
 * Abstractions (see model/README.md):
 * - Every C++ atomic operation is one atomic Promela step.  Promela is sequentially
 *   consistent, so this checks the interleavings of the protocol, as if every atomic
 *   were seq_cst.  The C++ code needs seq_cst exactly on the Dekker pair (the parker's
 *   announcing CAS and its re-read of the other side's counter; the claimer's CAS and
 *   its load of the word); the model does not check that choice of orders.
 * - By default each attempt (claim_push / claim_pop) decides in one atomic step, at
 *   its linearization point; see the argument above claim_push below.  -DFINE_CLAIM
 *   splits every load and CAS of the attempts into its own step.
 * - Constructing a value in a claimed slot and publishing its turn are one step, and so
 *   are moving a value out and freeing the slot: between claim and publish only the
 *   claimant touches the slot, and the claim and the publish stay separate steps (a
 *   thread preempted between them is modelled).
 * - compare_exchange_weak does not fail spuriously (same path as a real failure).
 * - The bounded spin is one extra attempt plus up to SPIN_POLLS more; yield is a no-op.
 * - Counters and sequences are not reduced: with NP*ITEMS pushes they stay far below
 *   a byte's range, so nothing wraps in the model.  (In C++ a parking word's sequence
 *   would have to advance by exactly 2^31 between a parker's read and its futex wait
 *   to fool the futex compare.)
 * - Under sequential consistency either half of the parker's re-check (the attempt
 *   after announcing, or nothing_pending's re-read of the other side's counter) alone
 *   prevents the lost wakeup; only removing both is caught (BROKEN_NO_RECHECK*).  In
 *   C++ it is nothing_pending's seq_cst load that pairs with the claimer's seq_cst CAS
 *   (the attempt reads slot turns with acquire only); the model cannot tell them apart.
 * - The futex: wait(word, expected) atomically compares and enqueues the caller;
 *   wake_all dequeues everyone parked on that word; a parked thread may return
 *   spuriously, at most SPURIOUS times in the run.
 *
 * Processes: NP producers each pushing ITEMS values (blocking push), NC consumers
 * (blocking pop), capacity C.  Without CLOSE the consumers pop ITEMS*NP/NC values each
 * and nobody closes.  With -DCLOSE a closer calls close() at any moment, concurrently
 * with everything; producers stop at their first failed push and consumers pop until
 * pop() reports closed.
 *
 * Properties:
 *  - no lost wakeup / no deadlock: every process ends; a thread parked for good is an
 *    invalid end state (no end labels on the parks), and the Checker asserts it;
 *  - with check.sh --liveness: no weakly fair infinite execution (the yield-and-retry
 *    loop of a parker that sees a claimed but unpublished slot cannot spin forever);
 *  - exactly once: no value is popped twice, every value whose push was claimed is
 *    popped (with CLOSE: pushes claimed before close are drained, later ones fail);
 *  - per-producer FIFO: pops are claimed in the order each producer pushed;
 *  - pop() reports closed only when the ring is closed and drained.
 *
 * Broken variants (spin must find an error):
 *   -DBROKEN_NO_RECHECK       a consumer parks right after announcing PARKED, without
 *                             re-trying the pop / re-reading tail after the announcement
 *   -DBROKEN_NO_RECHECK_PUSH  the same for producers waiting on a full ring
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

#define NVALUES (NP * ITEMS)
#define CLOSED  128
#define PARKED  1
#define SEQ_ONE 2

/* step results */
#define DONE  0
#define BUSY  1
#define SHUT  2            /* Step::closed */

byte tail = 0, head = 0;
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

#define PRODUCER_OF(v) (((v) - 1) / ITEMS)
#define INDEX_OF(v)    (((v) - 1) % ITEMS)

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

/* notify(word): after a claim, wake the other side if it announced that it parks. */
#define NOTIFY(word, wake_all_side)                                                  \
  seen = word;                                   /* load, seq_cst */              \
  if                                                                                \
  :: (seen & PARKED) ->                                                             \
       atomic {                                  /* CAS(seen, next seq, no PARKED) */ \
         if                                                                         \
         :: word == seen -> word = (seen + SEQ_ONE) & ~PARKED; ok = true           \
         :: else -> ok = false                                                      \
         fi                                                                         \
       };                                                                           \
       if                                                                           \
       :: ok -> atomic { wake_all_side(); ok = false }   /* Wait::wake_all(word) */ \
       :: else -> skip                                                              \
       fi                                                                           \
  :: else -> skip                                                                   \
  fi;                                                                               \
  seen = 0

inline notify_not_empty() { NOTIFY(not_empty, wake_all_consumers) }
inline notify_not_full()  { NOTIFY(not_full, wake_all_producers) }

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
         slot_val[pos % C] = v; turn[pos % C] = 2 * (pos / C) + 1; ok = false
       };
       notify_not_empty();
       st = DONE
  :: else -> skip
  fi;
  pos = 0
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
         :: (tail & CLOSED) && (tail & ~CLOSED) == pos -> st = SHUT   /* closed, drained */
         :: else -> st = BUSY
         fi
    fi
  };
  if
  :: ok ->
       atomic {                                  /* move out; turn = 2*lap+2 (release) */
         slot_val[pos % C] = 0; turn[pos % C] = 2 * (pos / C) + 2; ok = false
       };
       notify_not_full();
       st = DONE
  :: else -> skip
  fi;
  pos = 0
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
            atomic {                             /* CAS(tail, pos, pos + 1) */
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
                 notify_not_empty();
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
          atomic {                               /* CAS(head, pos, pos + 1) */
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

proctype Producer(byte p) {
  byte k = 0, st, pos, t, seen, polls = 0, j;
  bool ok, pending;

  do
  :: k < ITEMS ->
       /* push(v): block(not_full, claim_push, nothing_pending) */
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
       do
       :: st != BUSY -> break
       :: else ->
            seen = not_full;                     /* load, relaxed */
            if
            :: !(seen & PARKED) ->
                 atomic {                        /* CAS(seen, seen | PARKED), seq_cst */
                   if
                   :: not_full == seen -> not_full = seen | PARKED; seen = seen | PARKED; ok = true
                   :: else -> ok = false
                   fi
                 }
            :: else -> ok = true
            fi;
            if
            :: !ok -> seen = 0; goto push_next   /* continue */
            :: else -> ok = false
            fi;
#ifndef BROKEN_NO_RECHECK_PUSH
            claim_push(p * ITEMS + k + 1, st);
            if :: st != BUSY -> seen = 0; break :: else -> skip fi;
            /* nothing_pending: head (seq_cst), tail (seq_cst), not closed, full */
            t = head;
            pos = tail;
            pending = !(!(pos & CLOSED) && (pos & ~CLOSED) - t >= C);
            t = 0; pos = 0;
            if
            :: pending ->                        /* yield, retry, continue */
                 pending = false; seen = 0;
                 claim_push(p * ITEMS + k + 1, st);
                 goto push_next
            :: else -> skip
            fi;
#endif
            atomic {                             /* Wait::wait(not_full, seen) */
              if
              :: not_full == seen -> pq[p] = true
              :: else -> skip
              fi;
              seen = 0
            };
            if
            :: !pq[p] -> skip
            :: atomic { spurious > 0 && pq[p] -> spurious--; pq[p] = false }
            fi;
            claim_push(p * ITEMS + k + 1, st);
push_next:
            skip
       od;
       if
       :: st == DONE -> k++
       :: else -> break                          /* closed: the value was not taken */
       fi
  :: else -> break
  od;
  st = 0; k = 0;
  finished++
}

proctype Consumer(byte c) {
  byte n = 0, st, pos, t, seen, got, polls = 0, j;
  bool ok, pending;

  do
#ifdef CLOSE
  :: true ->
#else
  :: n < NVALUES / NC ->
#endif
       /* pop(): block(not_empty, claim_pop, nothing_pending) */
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
       do
       :: st != BUSY -> break
       :: else ->
            seen = not_empty;                    /* load, relaxed */
            if
            :: !(seen & PARKED) ->
                 atomic {                        /* CAS(seen, seen | PARKED), seq_cst */
                   if
                   :: not_empty == seen -> not_empty = seen | PARKED; seen = seen | PARKED; ok = true
                   :: else -> ok = false
                   fi
                 }
            :: else -> ok = true
            fi;
            if
            :: !ok -> seen = 0; goto pop_next    /* continue */
            :: else -> ok = false
            fi;
#ifndef BROKEN_NO_RECHECK
            claim_pop(st);
            if :: st != BUSY -> seen = 0; break :: else -> skip fi;
            /* nothing_pending: tail (seq_cst); not closed and tail == head */
            t = tail;
            if
            :: (t & CLOSED) -> pending = true
            :: else -> pending = (t != head)
            fi;
            t = 0;
            if
            :: pending ->                        /* yield, retry, continue */
                 pending = false; seen = 0;
                 claim_pop(st);
                 goto pop_next
            :: else -> skip
            fi;
#endif
            atomic {                             /* Wait::wait(not_empty, seen) */
              if
              :: not_empty == seen -> cq[c] = true
              :: else -> skip
              fi;
              seen = 0
            };
            if
            :: !cq[c] -> skip
            :: atomic { spurious > 0 && cq[c] -> spurious--; cq[c] = false }
            fi;
            claim_pop(st);
pop_next:
            skip
       od;
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
  atomic { tail = tail | CLOSED };               /* fetch_or, seq_cst */
  atomic { not_empty = not_empty + SEQ_ONE };    /* fetch_add */
  atomic { wake_all_consumers() };
  atomic { not_full = not_full + SEQ_ONE };
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
  timeout ->
  assert(finished == NPROCS);                    /* nobody parked for good */
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
