#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# model/check.sh -- verify one Promela model exhaustively with spin.
#
# usage: check.sh MODEL.pml [--expect-fail TEXT] [--liveness] [--pan-cflag=FLAG]...
#                 [--pan-arg=ARG]... [-DNAME[=VALUE] | -UNAME | -IDIR]...
#
#   -D/-U/-I        passed to spin's C preprocessor (`spin -a -DNW=2 ...`): model sizes
#                   and the broken variants are chosen this way.
#   --expect-fail TEXT (or --expect-fail=TEXT)  the model is a deliberately broken
#                   variant: succeed only when spin reports the violation TEXT names,
#                   e.g. 'assertion violated (!must_return[k] || returned[k])' or
#                   'non-progress cycle'. TEXT must occur in pan's error line
#                   ("pan:1: assertion violated ( !(must_return[k])||returned[k]) ...")
#                   with spaces and parentheses ignored (spin rewrites both); any
#                   other error fails the check.
#   --liveness      search for non-progress cycles under weak fairness (pan -DNP, -l -f)
#                   instead of safety only (-DSAFETY: assertions, invalid end states).
#                   The models have no progress labels, so any fair infinite execution
#                   is an error: it proves that every fair execution terminates.
#   --pan-cflag=F   extra flag for compiling pan.c, after the defaults (-O0 -DSAFETY
#                   -DCOLLAPSE -DMEMLIM=$FEV_MODEL_MEMLIM_MB); e.g. -O1 for models of
#                   several million states (compiling pan.c at -O1 costs ~4 s).
#   --pan-arg=A     extra run-time argument for pan (default: -n -m$FEV_MODEL_DEPTH).
#
# Runs in a temporary directory. Exit status: 0 when the outcome is the expected one
# (no error and a complete search, or the expected error with --expect-fail), 1 when
# it is not, 2 on bad usage, 77 when spin or a C compiler is missing (meson: skipped;
# but 1 when FEV_CI=1, as in CI, which installs spin).
# Environment: SPIN (the spin binary), CC (C compiler for pan.c),
# FEV_MODEL_MEMLIM_MB (default 3072), FEV_MODEL_DEPTH (default 1000000),
# FEV_MODEL_KEEP=1 keeps the temporary directory, FEV_CI=1 makes a missing tool fail.
set -u

usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

model=""
expect_fail=0
expected_error=""
liveness=0
cpp_flags=()
pan_cflags=()
pan_args=()
while [[ $# -gt 0 ]]; do
  arg="$1"
  shift
  case "$arg" in
    --expect-fail)
      [[ $# -gt 0 && -n "$1" ]] || { echo "check.sh: --expect-fail needs the expected violation" >&2; usage; }
      expect_fail=1; expected_error="$1"; shift ;;
    --expect-fail=?*) expect_fail=1; expected_error="${arg#--expect-fail=}" ;;
    --liveness) liveness=1 ;;
    --pan-cflag=*) pan_cflags+=("${arg#--pan-cflag=}") ;;
    --pan-arg=*) pan_args+=("${arg#--pan-arg=}") ;;
    -D*|-U*|-I*) cpp_flags+=("$arg") ;;
    -h|--help) usage ;;
    -*) echo "check.sh: unknown option $arg" >&2; usage ;;
    *)
      if [[ -n "$model" ]]; then echo "check.sh: more than one model: $model, $arg" >&2; usage; fi
      model="$arg" ;;
  esac
done
[[ -n "$model" ]] || usage
[[ -f "$model" ]] || { echo "check.sh: no such model: $model" >&2; exit 2; }

spin_bin="${SPIN:-spin}"
# missing TOOL: skip (77), except in CI (FEV_CI=1), which installs every tool: fail.
missing() {
  if [[ "${FEV_CI:-0}" == 1 ]]; then
    echo "check.sh: $1 is missing, and CI (FEV_CI=1) needs it: FAIL for $(basename "$model")"
    exit 1
  fi
  echo "check.sh: $1 is missing: skipping $(basename "$model")"
  exit 77
}
if ! command -v "$spin_bin" >/dev/null 2>&1; then
  missing "spin"
fi
cc_bin="${CC:-}"
if [[ -z "$cc_bin" ]]; then
  for candidate in cc gcc clang; do
    if command -v "$candidate" >/dev/null 2>&1; then cc_bin="$candidate"; break; fi
  done
fi
if [[ -z "$cc_bin" ]] || ! command -v "${cc_bin%% *}" >/dev/null 2>&1; then
  missing "a C compiler for pan.c"
fi

memlim="${FEV_MODEL_MEMLIM_MB:-3072}"
depth="${FEV_MODEL_DEPTH:-1000000}"

work="$(mktemp -d "${TMPDIR:-/tmp}/fev-model.XXXXXX")" || exit 1
if [[ "${FEV_MODEL_KEEP:-0}" == 1 ]]; then
  echo "check.sh: working in $work (kept)"
else
  trap 'rm -rf "$work"' EXIT
fi

name="$(basename "$model")"
cp "$model" "$work/$name" || exit 1
cd "$work" || exit 1

label="$name${cpp_flags[*]:+ ${cpp_flags[*]}}"
mode=$([[ $liveness == 1 ]] && echo 'no non-progress cycle' || echo 'safety')
echo "== $label: $mode ($([[ $expect_fail == 1 ]] && echo "must FAIL with: $expected_error" || echo 'must pass'))"

start=$(date +%s.%N)
# spin runs the C preprocessor on the model with the -D/-U/-I flags.
if ! "$spin_bin" -a "${cpp_flags[@]}" "$name" >spin.out 2>&1; then
  cat spin.out
  echo "check.sh: spin -a failed for $label"
  exit 1
fi
if grep -qi 'error' spin.out; then
  cat spin.out
  echo "check.sh: spin -a reported errors for $label"
  exit 1
fi

# -DSAFETY: safety properties only (assertions, invalid end states); no never claim.
# -DNP: non-progress cycle detection (assertions are still checked); -DNFAIR: room for
# the weak-fairness bookkeeping of up to 12 processes.
# -DCOLLAPSE: lossless state compression.  -DMEMLIM: stop (and fail) instead of swapping.
# -O0: compiling pan.c optimized costs more time than it saves below a few million
# states; big models ask for -O1 with --pan-cflag (-O2 is no faster overall).
if [[ $liveness == 1 ]]; then
  search_cflags=(-DNP -DNFAIR=4)
  search_args=(-l -f)
else
  search_cflags=(-DSAFETY)
  search_args=()
fi
# shellcheck disable=SC2086
if ! $cc_bin -O0 -w "${search_cflags[@]}" -DCOLLAPSE -DMEMLIM="$memlim" "${pan_cflags[@]}" -o pan pan.c >cc.out 2>&1; then
  cat cc.out
  echo "check.sh: compiling pan.c failed for $label"
  exit 1
fi

# -n: no unreached-code report.  -m: search depth bound (a hit is reported, not silent).
./pan -n -m"$depth" "${search_args[@]}" "${pan_args[@]}" >pan.out 2>&1
pan_rc=$?
end=$(date +%s.%N)
seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out | tail -1)
stored=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.out | tail -1)
visited=$(sed -n 's/.*states, stored (\([0-9.e+]*\) visited).*/\1/p' pan.out | tail -1)
matched=$(sed -n 's/^ *\([0-9.e+]*\) states, matched.*/\1/p' pan.out | tail -1)
transitions=$(sed -n 's/^ *\([0-9.e+]*\) transitions.*/\1/p' pan.out | tail -1)
depth_reached=$(sed -n 's/.*depth reached \([0-9]*\),.*/\1/p' pan.out | tail -1)
memory=$(sed -n 's/^ *\([0-9.]*\).*total actual memory usage.*/\1/p' pan.out | tail -1)

truncated=""
grep -q 'max search depth too small' pan.out && truncated="search depth bound hit"
grep -q 'reached -DMEMLIM bound' pan.out && truncated="memory bound hit (-DMEMLIM=$memlim MB)"
grep -qi 'out of memory' pan.out && truncated="out of memory"
grep -q 'hash table is full' pan.out && truncated="hash table full"

if [[ -z "$errors" ]]; then
  tail -30 pan.out
  echo "check.sh: could not read pan's result for $label (pan exit status $pan_rc)"
  exit 1
fi

echo "states stored: ${stored:-?}${visited:+ ($visited visited)}, matched: ${matched:-?}, transitions: ${transitions:-?}," \
     "depth reached: ${depth_reached:-?}, memory: ${memory:-?} MB, time: ${seconds}s"
grep -E '^pan:[0-9]+: ' pan.out | head -3

if [[ "$errors" -gt 0 ]]; then
  # Show the counterexample's end: what each process was doing.
  "$spin_bin" -t "${cpp_flags[@]}" "$name" >trail.out 2>&1 || true
  if [[ $expect_fail == 1 ]]; then
    # Spaces and parentheses differ between the model's source and spin's report.
    normalize() { tr -d ' \t()'; }
    wanted=$(printf '%s' "$expected_error" | normalize)
    if grep -E '^pan:[0-9]+: ' pan.out | normalize | grep -qF -- "$wanted"; then
      echo "errors: $errors -- found the expected violation ($expected_error): PASS"
      tail -n 12 trail.out
      exit 0
    fi
    "$spin_bin" -t -p -g -l "${cpp_flags[@]}" "$name" 2>&1 | tail -n 80
    echo "errors: $errors -- but not the expected violation ($expected_error); spin reported:"
    grep -E '^pan:[0-9]+: ' pan.out | head -3
    echo "a different error than the one this broken variant must show: FAIL"
    exit 1
  fi
  "$spin_bin" -t -p -g -l "${cpp_flags[@]}" "$name" 2>&1 | tail -n 80
  echo "errors: $errors -- the model has a counterexample (above): FAIL"
  exit 1
fi

if [[ -n "$truncated" ]]; then
  echo "errors: 0 but the search was not exhaustive ($truncated): FAIL"
  exit 1
fi
if [[ $expect_fail == 1 ]]; then
  echo "errors: 0 -- spin accepted a variant that must be rejected: FAIL"
  exit 1
fi
echo "errors: 0, exhaustive: PASS"
exit 0
