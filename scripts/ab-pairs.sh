#!/bin/sh
# Interleaved A/B pairs of scripts/train-step-time.ts between two checkouts: A B A B ...
# Prints each pair's in-process medians and ratio A/B, then the median ratio and its range.
#   sh scripts/ab-pairs.sh DIR_A DIR_B PAIRS [extra args for train-step-time.ts, e.g. --infer]
# Each checkout runs its own copy of the script (copy this one's into an older checkout first if
# it lacks an option). Name the CPU model with the result: lscpu | grep 'Model name'.
A=$1; B=$2; N=$3; shift 3
i=0; : > /tmp/ab-ratios.$$
while [ $i -lt "$N" ]; do
  a=$(cd "$A" && npx tsx scripts/train-step-time.ts "$@" | sed -n 's/.*"medianMs":\([0-9.]*\).*/\1/p')
  b=$(cd "$B" && npx tsx scripts/train-step-time.ts "$@" | sed -n 's/.*"medianMs":\([0-9.]*\).*/\1/p')
  r=$(echo "$a $b" | awk '{printf "%.3f", $1/$2}')
  echo "pair $i: A $a ms, B $b ms, A/B $r"; echo "$r" >> /tmp/ab-ratios.$$
  i=$((i+1))
done
sort -n /tmp/ab-ratios.$$ | awk '{v[NR]=$1} END {m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "median A/B %.3f (range %.3f-%.3f over %d pairs)\n", m, v[1], v[NR], NR}'
rm -f /tmp/ab-ratios.$$
