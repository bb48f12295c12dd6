#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/expect-status.sh STATUS TEXT PROGRAM [ARG...] — runs PROGRAM and passes only if
# it exits with exactly STATUS and its output (stdout or stderr) contains TEXT.
#
# For tests that prove a check can fail: meson's should_fail would also accept a crash
# (SIGABRT, SIGSEGV), which proves nothing about the check.
set -u
if [ $# -lt 3 ]; then
  echo "usage: expect-status.sh STATUS TEXT PROGRAM [ARG...]" >&2
  exit 2
fi
want=$1
text=$2
shift 2
output=$("$@" 2>&1)
got=$?
if [ "$got" -ne "$want" ]; then
  printf '%s\n' "$output" | tail -n 20
  echo "expect-status: $1 exited with status $got, expected exactly $want" >&2
  exit 1
fi
case $output in
  *"$text"*) echo "expect-status: $1 exited with status $got and said \"$text\", as expected" ;;
  *)
    printf '%s\n' "$output" | tail -n 20
    echo "expect-status: $1 exited with status $got but did not say \"$text\"" >&2
    exit 1 ;;
esac
