/* SPDX-License-Identifier: MIT */
/*
 * model/ring_select.pml -- Promela model of a selecting consumer over two fev::BasicRing
 * rings (fev::select over pops): one thread waits until a pop from ring A or from ring B
 * can proceed and performs exactly one of them, beside a plain blocking consumer of A.
 *
 * The selector follows BasicRing::block() (include/fev/ring.hpp, protocol steps 5 and 6)
 * on every ring word at once:
 *   1. try each case once, in rotated order; one that succeeds (or reports closed) is the
 *      result, and nothing was registered;
 *   2. spin: up to SPIN_POLLS more rounds of tries;
 *   3. register on EVERY ring word: CAS word += SLEEPER_ONE (seq_cst); seen[r] := the
 *      value written;
 *   4. loop:
 *      a. for each ring: while seen[r] has WAKING, take the wake over (CAS clearing it,
 *         seq_cst; on success took[r]; on failure seen[r] := the word, and again);
 *      b. try each case once in rotated order; done or closed -> 5;
 *      c. the re-check, for each ring: must_wait[r] := tail == head and open (seq_cst
 *         load of tail, then head); if some ring must not wait (a push claimed there but
 *         not yet published) -> yield, reload every seen[r], back to a;
 *      d. ONE futex_waitv on {A.word == seen[A], B.word == seen[B]};
 *      e. reload every seen[r] (relaxed loads), back to a;
 *   5. leave, for each registered ring: fetch_sub SLEEPER_ONE (seq_cst), then, if it took
 *      that ring's wake over and that ring's re-check says a value is there, notify() that
 *      word: the relay that passes the wake on to the ring's next sleeper.
 *
 * State, per ring r (A = 0, B = 1), as in the C++ code:
 *   tail[r], head[r]  claimed pushes / pops; tail's top bit CLOSED is close()'s flag
 *   closed_copy[r]    the consumers' copy of the closed bit
 *   turn, slot_val    slot s of ring r at index r*C + s: 2*lap = free for the push of
 *                     that lap, 2*lap+1 = holds the value of that lap
 *   not_empty[r]      the word consumers sleep on: WAKING (bit 0), sleepers (bits 1..2),
 *                     sequence (bits 3..7, modulo 32 here; an assertion checks that no
 *                     run wraps it)
 *
 * Abstractions (see model/README.md; the first five are those of ring_parking.pml):
 * - Every C++ atomic operation is one atomic Promela step, sequentially consistent.
 * - Each attempt (claim_pop, claim_push) decides in one atomic step, at its
 *   linearization point (the argument is in ring_parking.pml above claim_push); the
 *   publish after a claim and the notify are separate steps.
 * - compare_exchange_weak does not fail spuriously; yield is a no-op.
 * - The futex: wait(word, expected) compares and enqueues in one step; wake_one dequeues
 *   one parked thread chosen nondeterministically, wake_all every one; a parked thread
 *   may return spuriously, at most SPURIOUS times in the run.
 * - futex_waitv: the selector compares every word of its wait set with its expected
 *   value and, if all are equal, enqueues itself on all of them, in one step; a wake_one
 *   or wake_all on any of those words dequeues it from all of them (sel_q).
 * - Rotation: the order in which the cases are tried is chosen nondeterministically in
 *   every round (the C++ alternates it between calls), so every order is checked.
 * - Producers never block: each ring's capacity C holds every value pushed into it, so a
 *   push never finds the ring full, nobody ever sleeps on not_full, and the consumers'
 *   notify(not_full) after a pop is a load that finds no sleeper: it is left out.  The
 *   producers' own parking protocol is checked by ring_parking.pml.
 * - One producer per ring, so the value at position p of ring r is known: the pops
 *   assert exactly that (FIFO) and that no value is popped twice.
 * - Deadlines, cancellation and the poll-with-yield path taken when every sleeper place
 *   of a word is taken are not modelled; nor are selects over pushes or Events.
 *
 * Processes: a producer per ring, pushing ITEMS_A values into A and ITEMS_B into B; with
 * PLAIN_A (default 1) a plain consumer of A (blocking pop, the protocol of block()); the
 * selector, selecting pop A or pop B.  Nobody else pops B, so a wake the selector takes
 * over on A and does not use (it took B's value) must reach the plain consumer of A.
 * The harness reads the ghost state (head) to decide how long each consumer goes on:
 *  - the plain consumer pops while A has a value not yet claimed;
 *  - the selector selects while B has a value not yet claimed (with -DCLOSE: until its
 *    select returned "closed" for B); without a plain consumer of A (PLAIN_A=0) also
 *    while A has one.
 * A consumer may so end parked on an empty ring, as a real program's would when no more
 * values come: the parks are valid end states, and the Checker decides.  With -DCLOSE the
 * producer of B calls close() on B after any number of its pushes (0 to all), concurrently
 * with everything; a select that returns "closed" for B (B closed and drained) makes the
 * harness stop selecting B, and select over A alone from then on (PLAIN_A=0).
 *
 * Properties (the Checker, once nothing can move):
 *  - no value stranded: every value whose push was claimed was popped (a consumer parked
 *    for good beside a value fails this); no value popped twice; every push succeeded
 *    (with CLOSE: every push into A); pops in push order (one producer per ring);
 *  - no wake stranded: no word has WAKING set while a thread is registered on it;
 *  - with CLOSE: the select returned "closed" for B (the selector did not sleep through
 *    close(), and "closed" comes only once B is closed and drained: claim_pop decides it);
 *  - no deadlock: no process blocks anywhere but in a futex wait (an invalid end state).
 *
 * Broken variants (spin must find an error):
 *   -DBROKEN_SELECT_NO_RELAY       the selector does not relay a wake it took over but
 *                                  did not use (it popped from the other ring)
 *   -DBROKEN_SELECT_REGISTER_ONE   the selector registers on ring A only, but sleeps on
 *                                  both words: a push into B sees no sleeper on B
 *   -DBROKEN_SELECT_NO_TAKEOVER    the selector skips step 4a: a wake issued on a word
 *                                  stays issued, and no later push of that ring wakes
 */

#ifndef ITEMS_A
#define ITEMS_A 1          /* values pushed into ring A */
#endif
#ifndef ITEMS_B
#define ITEMS_B 1          /* values pushed into ring B */
#endif
#ifndef C
#define C 1                /* capacity of each ring */
#endif
#ifndef SPIN_POLLS
#define SPIN_POLLS 0
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif
#ifndef PLAIN_A
#define PLAIN_A 1          /* a plain blocking consumer of A beside the selector (0 or 1) */
#endif

#if ITEMS_A > C || ITEMS_B > C
#error "the producers never block: the capacity C must hold every value of a ring"
#endif

#define NR       2         /* rings */
#define RING_A   0
#define RING_B   1
#define NVALUES  (ITEMS_A + ITEMS_B)
#define ITEMS(r) ((r) == RING_A -> ITEMS_A : ITEMS_B)
#define BASE(r)  ((r) == RING_A -> 1 : ITEMS_A + 1)    /* ring r's first value */
#define SLOT(r, p) ((r) * C + (p) % C)
#define BIT(r)   (1 << (r))
#define BOTH     (BIT(RING_A) | BIT(RING_B))

#define CLOSED   128
#define WAKING   1
#define SLEEPER_ONE 2
#define SLEEPERS 6
#define SEQ_ONE  8

/* step results */
#define DONE  0
#define BUSY  1
#define SHUT  2            /* Step::closed */

byte tail[NR], head[NR];
bool closed_copy[NR];
byte turn[NR * C];
byte slot_val[NR * C];     /* value in the slot, 0 = none */
byte not_empty[NR];
bool cq = false;           /* the plain consumer of A is parked on A's word */
byte sel_q = 0;            /* the selector's futex_waitv: BIT(r) = queued on ring r's word */
byte spurious = SPURIOUS;

/* ghosts */
bool pushed[NVALUES + 1];  /* value v's push was claimed */
bool popped[NVALUES + 1];
byte finished = 0;
byte bumps[NR];            /* sequence bumps per word: none may wrap the 5-bit sequence */
bool closed_seen[NR];      /* the selector's select returned "closed" for ring r */

/* Futex wakes on ring r's consumer word. */
inline wake_one(r) {
  if
  :: r == RING_A && cq -> cq = false
  :: (sel_q & BIT(r)) -> sel_q = 0                /* out of every queue of its waitv */
  :: else -> skip
  fi
}

inline wake_all(r) {
  if
  :: r == RING_A -> cq = false
  :: else -> skip
  fi;
  if
  :: (sel_q & BIT(r)) -> sel_q = 0
  :: else -> skip
  fi
}

/*
 * notify(not_empty[r]), in process: wake one sleeper unless nobody sleeps or a wake is
 * already on its way.
 *   seen = load (seq_cst);
 *   for (;;) { if (!sleepers) return; if (WAKING) return;
 *              if (CAS(seen, (seen + SEQ_ONE) | WAKING)) break; }
 *   wake_one(word);
 */
inline notify(r) {
  nseen = not_empty[r];                          /* load, seq_cst */
  do
  :: (nseen & SLEEPERS) == 0 -> break            /* nobody sleeps */
  :: (nseen & SLEEPERS) != 0 && (nseen & WAKING) -> break   /* a wake is on its way */
  :: else ->
       atomic {                                  /* CAS, seq_cst */
         if
         :: not_empty[r] == nseen ->
              not_empty[r] = (nseen + SEQ_ONE) | WAKING;
              bumps[r]++; assert(bumps[r] < 32);
              ok = true; break
         :: else -> nseen = not_empty[r]
         fi
       }
  od;
  nseen = 0;
  if
  :: ok -> atomic { wake_one(r); ok = false }    /* Wait::wake_one(not_empty) */
  :: else -> skip
  fi
}

/* push(v) into ring r: one claim (never full here), publish, notify. */
inline claim_push(r, v, st) {
  atomic {
    pos = tail[r];
    if
    :: (pos & CLOSED) -> st = SHUT
    :: else ->
         assert(turn[SLOT(r, pos)] == 2 * (pos / C));   /* capacity suffices: never full */
         tail[r] = pos + 1; pushed[v] = true; ok = true
    fi
  };
  if
  :: ok ->
       atomic {                                  /* construct; turn = 2*lap+1 (release) */
         slot_val[SLOT(r, pos)] = v; turn[SLOT(r, pos)] = 2 * (pos / C) + 1; ok = false; pos = 0
       };
       notify(r);
       st = DONE
  :: else -> pos = 0
  fi
}

/* One claim_pop on ring r; the value goes to `got`, and r to `won` unless busy. */
inline claim_pop(r, st) {
  atomic {
    pos = head[r];
    if
    :: turn[SLOT(r, pos)] == 2 * (pos / C) + 1 ->
         head[r] = pos + 1;
         got = slot_val[SLOT(r, pos)];
         assert(got == BASE(r) + pos && pushed[got]);   /* FIFO: one producer per ring */
         ok = true; won = r
    :: else ->
         assert(turn[SLOT(r, pos)] < 2 * (pos / C) + 1);   /* empty here */
         if
         :: closed_copy[r] && (tail[r] & CLOSED) && (tail[r] & ~CLOSED) == pos -> st = SHUT; won = r
         :: else -> st = BUSY
         fi
    fi
  };
  if
  :: ok ->
       atomic {                                  /* move out; turn = 2*lap+2 (release) */
         slot_val[SLOT(r, pos)] = 0; turn[SLOT(r, pos)] = 2 * (pos / C) + 2; ok = false; pos = 0
       };
       /* notify(not_full): nobody ever sleeps there (see the abstractions) */
       st = DONE
  :: else -> pos = 0
  fi
}

/* The re-check of a consumer of ring r (pop_blocking's nothing_pending): tail (seq_cst),
   then head; must = open and empty. */
inline must_wait(r) {
  t = tail[r];
  atomic { must = !(t & CLOSED) && t == head[r]; t = 0 }
}

/* close() of ring r; not_full's bump and wake_all find nobody and are left out. */
inline close_ring(r) {
  closed_copy[r] = true;                         /* the consumers' copy, relaxed */
  atomic { tail[r] = tail[r] | CLOSED };         /* fetch_or, seq_cst */
  atomic { not_empty[r] = not_empty[r] + SEQ_ONE; bumps[r]++; assert(bumps[r] < 32) };
  atomic { wake_all(r) }
}

proctype Producer(byte r) {
  byte k = 0, st, pos, nseen;
  bool ok;

  do
  :: k < ITEMS(r) ->
       claim_push(r, BASE(r) + k, st);
       if
       :: st == DONE -> k++
       :: else -> break
       fi
#ifdef CLOSE
  :: r == RING_B -> break                        /* B: close after any number of pushes */
#endif
  :: k == ITEMS(r) -> break
  od;
#ifdef CLOSE
  if
  :: r == RING_B -> close_ring(r)
  :: else -> skip
  fi;
#endif
  k = 0; st = 0;
  finished++
}

/* The plain consumer of ring A: pop(), i.e. block(not_empty, claim_pop, ...). */
proctype Consumer() {
  byte st, pos, t, seen, nseen, got, won;
  bool ok, must, took;

  do
  :: head[RING_A] < ITEMS_A ->                   /* harness: a value of A not yet claimed */
       claim_pop(RING_A, st);
       if
       :: st == BUSY ->
            /* register: CAS(seen, seen + SLEEPER_ONE), seq_cst */
            seen = not_empty[RING_A];            /* load, relaxed */
            do
            :: atomic {
                 if
                 :: not_empty[RING_A] == seen -> not_empty[RING_A] = seen + SLEEPER_ONE; seen = seen + SLEEPER_ONE; break
                 :: else -> seen = not_empty[RING_A]
                 fi
               }
            od;
            took = false;
            do
            :: /* take an issued wake over: CAS(seen, seen & ~WAKING), seq_cst */
               if
               :: (seen & WAKING) ->
                    atomic {
                      if
                      :: not_empty[RING_A] == seen -> not_empty[RING_A] = seen & ~WAKING; seen = seen & ~WAKING; took = true
                      :: else -> seen = not_empty[RING_A]; goto pop_continue
                      fi
                    }
               :: else -> skip
               fi;
               claim_pop(RING_A, st);
               if :: st != BUSY -> break :: else -> skip fi;
               must_wait(RING_A);
               if
               :: must ->
                    must = false;
                    atomic {                     /* Wait::wait(not_empty, seen) */
                      if
                      :: not_empty[RING_A] == seen -> cq = true
                      :: else -> skip
                      fi
                    };
end_park:           if
                    :: !cq -> skip
                    :: atomic { spurious > 0 && cq -> spurious--; cq = false }
                    fi
               :: else -> skip                   /* yield */
               fi;
               seen = not_empty[RING_A];         /* load, relaxed */
pop_continue:
               skip
            od;
            /* leave: fetch_sub(SLEEPER_ONE), seq_cst */
            atomic { not_empty[RING_A] = not_empty[RING_A] - SLEEPER_ONE; seen = 0 };
            /* the relay: if (took_wake && !nothing_pending()) notify(not_empty) */
            if
            :: took ->
                 took = false;
                 must_wait(RING_A);
                 if
                 :: !must -> notify(RING_A)
                 :: else -> must = false
                 fi
            :: else -> skip
            fi
       :: else -> skip
       fi;
       if
       :: st == DONE -> atomic { assert(!popped[got]); popped[got] = true; got = 0 }
       :: else -> skip                           /* closed: A is never closed here */
       fi
  :: else -> break
  od;
  st = 0;
  finished++
}

/*
 * Steps 1 and 4b: try each case still selected (BIT(r) in `open`) once, in rotated order
 * (both orders when both are selected); stop at the first that is not busy: its ring is
 * `won`, its result `st`.
 */
inline try_cases() {
  if
  :: open == BOTH ->
       if
       :: claim_pop(RING_A, st);
          if :: st == BUSY -> claim_pop(RING_B, st) :: else -> skip fi
       :: claim_pop(RING_B, st);
          if :: st == BUSY -> claim_pop(RING_A, st) :: else -> skip fi
       fi
  :: open == BIT(RING_A) -> claim_pop(RING_A, st)
  :: open == BIT(RING_B) -> claim_pop(RING_B, st)
  fi
}

/* BROKEN_SELECT_REGISTER_ONE: the selector sleeps on B's word without registering. */
#ifdef BROKEN_SELECT_REGISTER_ONE
#define REGISTERS(r) ((r) == RING_A)
#else
#define REGISTERS(r) true
#endif

/* Step 3 on ring r's word: seen[r] = load (relaxed), then CAS(seen, seen + SLEEPER_ONE),
   seq_cst, until it succeeds. */
inline register_on(r) {
  if
  :: atomic { (waitset & BIT(r)) -> seen[r] = not_empty[r] };
     if
     :: REGISTERS(r) ->
          do
          :: atomic {
               if
               :: not_empty[r] == seen[r] ->
                    not_empty[r] = seen[r] + SLEEPER_ONE; seen[r] = seen[r] + SLEEPER_ONE;
                    reg = reg | BIT(r); break
               :: else -> seen[r] = not_empty[r]
               fi
             }
          od
     :: else -> skip
     fi
  :: else -> skip
  fi
}

/* Step 4a on ring r's word: while seen[r] has WAKING, CAS(seen, seen & ~WAKING), seq_cst;
   on failure seen[r] = the word, and again. */
inline take_over(r) {
#ifndef BROKEN_SELECT_NO_TAKEOVER
  do
  :: atomic {
       (reg & BIT(r)) && (seen[r] & WAKING) ->
       if
       :: not_empty[r] == seen[r] -> not_empty[r] = seen[r] & ~WAKING; seen[r] = seen[r] & ~WAKING; took[r] = true
       :: else -> seen[r] = not_empty[r]
       fi
     }
  :: else -> break
  od
#else
  skip
#endif
}

/* Step 4c on ring r's word, while every word so far must wait: the re-check. */
inline recheck(r) {
  if
  :: atomic { must && (waitset & BIT(r)) -> t = tail[r] };   /* load, seq_cst */
     atomic { must = !(t & CLOSED) && t == head[r]; t = 0 }
  :: else -> skip
  fi
}

/* Step 4e on ring r's word: seen[r] = load, relaxed. */
inline reload(r) {
  if
  :: atomic { (waitset & BIT(r)) -> seen[r] = not_empty[r] }
  :: else -> skip
  fi
}

/* Step 5 on ring r's word: fetch_sub(SLEEPER_ONE), seq_cst; then the relay:
   if (took_wake[r] && !must_wait(r)) notify(word[r]). */
inline leave(r) {
  if
  :: atomic { (reg & BIT(r)) -> not_empty[r] = not_empty[r] - SLEEPER_ONE; reg = reg & ~BIT(r); seen[r] = 0 };
     if
     :: took[r] ->
          took[r] = false;
          must_wait(r);
#ifndef BROKEN_SELECT_NO_RELAY
          if
          :: !must -> notify(r)
          :: else -> must = false
          fi
#else
          must = false                             /* the wake is dropped */
#endif
     :: else -> skip
     fi
  :: else -> seen[r] = 0
  fi
}

/* Harness: without a plain consumer of A, the selector also selects while A has a value
   not yet claimed. */
#if PLAIN_A
#define SELECTS_A false
#else
#define SELECTS_A ((open & BIT(RING_A)) && head[RING_A] < ITEMS_A)
#endif

/* The selector: select(pop A, pop B) over the rings still in `open`, again and again. */
proctype Selector() {
  byte open = BOTH;        /* harness: the rings still selected */
  byte st, pos, t, nseen, got, polls = 0, won = 0;
  byte seen[NR];
  byte reg = 0;            /* BIT(r): registered (counted as a sleeper) on ring r's word */
  byte waitset = 0;        /* BIT(r): ring r's word is in the futex_waitv set */
  bool ok, must, took[NR];

  do
#ifdef CLOSE
  :: (open & BIT(RING_B)) || SELECTS_A ->       /* harness: until B reported closed */
#else
  :: head[RING_B] < ITEMS_B || SELECTS_A ->      /* harness: a value of B not yet claimed */
#endif
       /* 1. try each case once */
       try_cases();
       /* 2. spin: more tries */
       do
       :: polls < SPIN_POLLS && st == BUSY -> polls++; try_cases()
       :: else -> polls = 0; break
       od;
       if
       :: st == BUSY ->
            /* 3. register on every ring word */
            waitset = open;
            register_on(RING_A);
            register_on(RING_B);
            /* 4. */
            do
            :: /* a. take every issued wake over */
               take_over(RING_A);
               take_over(RING_B);
               /* b. try each case once */
               try_cases();
               if :: st != BUSY -> break :: else -> skip fi;
               /* c. the re-check on every word: a push claimed but not yet published? */
               must = true;
               recheck(RING_A);
               recheck(RING_B);
               if
               :: must ->
                    /* d. futex_waitv on every word of the set: compare all, enqueue on all */
                    atomic {
                      if
                      :: (!(waitset & BIT(RING_A)) || not_empty[RING_A] == seen[RING_A]) &&
                         (!(waitset & BIT(RING_B)) || not_empty[RING_B] == seen[RING_B]) -> sel_q = waitset
                      :: else -> skip
                      fi;
                      must = false
                    };
end_select_park:    if
                    :: sel_q == 0 -> skip
                    :: atomic { spurious > 0 && sel_q != 0 -> spurious--; sel_q = 0 }
                    fi
               :: else -> skip                   /* yield */
               fi;
               /* e. */
               reload(RING_A);
               reload(RING_B)
            od;
            /* 5. leave every registered word, relaying a wake taken over and not used */
            leave(RING_A);
            leave(RING_B);
            waitset = 0
       :: else -> skip
       fi;
       if
       :: st == DONE -> atomic { assert(!popped[got]); popped[got] = true; got = 0 }
       :: else -> atomic { open = open & ~BIT(won); closed_seen[won] = true }   /* stop selecting it */
       fi;
       st = 0; won = 0
  :: else -> break
  od;
  open = 0;
  finished++
}


/* Runs once nothing else can move. */
active proctype Checker() {
  byte v;
  bool value_stranded, wake_stranded;
  timeout ->
  /* a value pushed and never popped (a consumer parked for good beside it) */
  v = 1;
  do
  :: v <= NVALUES ->
       value_stranded = value_stranded || (pushed[v] && !popped[v]);
       assert(!popped[v] || pushed[v]);
#ifdef CLOSE
       assert(pushed[v] || v > ITEMS_A);         /* every push into A succeeded */
#else
       assert(pushed[v]);                        /* every push succeeded */
#endif
       v++
  :: else -> break
  od;
  assert(!value_stranded);
  /* an issued wake that nobody took over, while a thread is registered on that word */
  wake_stranded = ((not_empty[RING_A] & WAKING) && (not_empty[RING_A] & SLEEPERS)) ||
                  ((not_empty[RING_B] & WAKING) && (not_empty[RING_B] & SLEEPERS));
  assert(!wake_stranded);
#ifdef CLOSE
  assert(closed_seen[RING_B]);                   /* the select returned closed for B */
#endif
  assert((tail[RING_A] & ~CLOSED) == head[RING_A] && (tail[RING_B] & ~CLOSED) == head[RING_B])
}

init {
  atomic {
    run Producer(RING_A);
    run Producer(RING_B);
#if PLAIN_A
    run Consumer();
#endif
    run Selector()
  }
}
