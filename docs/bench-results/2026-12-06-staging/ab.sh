#!/bin/bash
# A/B: base (before staging) vs new (staged writes) vs plain; realistic mix, 50 users, 30 s, --spread.
# usage: ab.sh ROUNDS MIX
set -u
cd /work/benchdata
rounds=${1:-2}; mix=${2:-realistic}
for round in $(seq ${3:-1} $rounds); do
  for v in base new plain; do
    case $v in
      base) bin=/work/bin/confidant-base data=/work/benchdata/vastaamo flag=;;
      new) bin=/work/bin/confidant-new data=/work/benchdata/vastaamo flag=;;
      plain) bin=/work/bin/confidant-baseline data=/work/benchdata/vastaamo-plain flag=--insecure-plain-baseline;;
    esac
    $bin serve $flag --data $data --addr 127.0.0.1:18100 --log-level error > out/serve-$v-$mix-$round.log 2>&1 & pid=$!
    until curl -fs -o /dev/null http://127.0.0.1:18100/healthz; do sleep 0.5; done
    echo "$(date -u +%H:%M:%S) $v round $round $(cut -d' ' -f1-3 /proc/loadavg)"
    /work/bin/confidant-new bench --url http://127.0.0.1:18100 --server-pid $pid --logins $data/seed-logins.json \
      --users 50 --duration 30s --spread --mix $mix --json > out/$v-$mix-$round.json 2> out/bench-$v-$mix-$round.err
    kill -INT $pid; wait $pid
  done
done
