# Per-class time of the tests in one loop.sh output: sums the "Passed/Failed NAME [t]" lines by class.
# usage: classes.sh raw/X.out
grep -E "^\s+(Passed|Failed) [A-Za-z]" "$1" | sed -E 's/^\s+(Passed|Failed) ([^ ]+).*\[([0-9.]+) (ms|s|m)\]?.*/\2 \3 \4/' |
  awk '{ n=split($1, p, "."); cls=p[n-1]; t=$2; if ($3=="ms") t/=1000; else if ($3=="m") t*=60; sum[cls]+=t; cnt[cls]++ }
       END { for (c in sum) printf "%-45s %3d tests %8.1f s\n", c, cnt[c], sum[c] }' | sort
