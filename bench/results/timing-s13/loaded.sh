#!/usr/bin/env bash
# The loaded rounds: two CPU burners at normal priority (killed at the end, by their pids), then ROUNDS rounds, each
# the changed classes on this tree, then the two timing-margin classes on the old tree (OLD_TREE) for comparison.
# usage: OLD_TREE=/tmp/old loaded.sh ROUNDS
here=$(cd "$(dirname "$0")" && pwd)
. "$here/filters.sh"
burners=()
for i in 1 2; do (while :; do :; done) & burners+=($!); done
echo "burners: ${burners[*]}" >> "$here/rounds.log"
for r in $(seq 1 "$1"); do
  "$here/loop.sh" 1 "$KEY|$REST" "loaded-new-$r"
  [ -n "$OLD_TREE" ] && TREE="$OLD_TREE" "$here/loop.sh" 1 "$KEY" "loaded-old-key-$r"
done
kill "${burners[@]}"
echo "burners stopped $(date -u +%H:%M:%S)" >> "$here/rounds.log"
