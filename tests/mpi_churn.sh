#!/usr/bin/env bash
# The churn drill on the mpi backend: 4 ranks under a real mpirun
# (--enable-recovery) train 1 epoch; rank 1 is kill -9'd at 30% of the job.
# The survivors must not hang: they detect the loss by deadline, agree on who
# is left, shrink the communicator and finish the job with identical weights,
# without restarting it. mpirun's exit code hides failures, so each rank's
# result file is checked instead. Bounded: mpirun is killed after 150 s.
# Usage: mpi_churn.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
t0=$(date +%s)
timeout -k 5 150 mpirun --oversubscribe --enable-recovery -np 4 \
  --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo \
  "$hydra" node --backend mpi --train --state "$tmp/job" --threads 1 --seed 2 >"$tmp/mpirun.log" 2>&1 &
run=$!
wait_progress "$tmp/job/rank-0/progress" 0.3
victim=$(cat "$tmp/job/rank-1/pid" 2>/dev/null)
check "rank 1 is running (pid ${victim:-none})" test -n "$victim"
kill -9 "$victim" 2>/dev/null
echo "killed rank 1 at ${p:-?} of the job"
wait $run
echo "mpirun exited with $? after $(( $(date +%s) - t0 )) s (not trusted)"
# Open MPI 4.1 sometimes takes a second rank down with the first (ob1
# "FATAL" on the failing path, ~1 in 20 runs — mpi/mpi_group.hpp): the
# promise is that the rest never hang and finish together.
done_ranks=()
for r in 0 2 3; do [ -s "$tmp/job/rank-$r/result.json" ] && done_ranks+=("$r"); done
check "at least 2 of the 3 survivors finished (${done_ranks[*]:-none})" test "${#done_ranks[@]}" -ge 2
if [ $failures -ne 0 ]; then tail -n 40 "$tmp/mpirun.log"; finish; exit 1; fi
first=${done_ranks[0]}
r0=$(cat "$tmp/job/rank-$first/result.json")
echo "rank $first: $r0"
check "rank 1 left no result" test ! -e "$tmp/job/rank-1/result.json"
check "restarts = 0" test "$(get "$r0" restarts)" = 0
check "the group shrank" $py -c "assert $(get "$r0" peers_lost) >= 1"
check "the killed rank is gone from the group" $py -c "assert $(get "$r0" world) <= 3"
for r in "${done_ranks[@]}"; do
  check "rank $r has rank $first's weights" test "$(get "$(cat "$tmp/job/rank-$r/result.json")" weights_hash)" = "$(get "$r0" weights_hash)"
done
check "accuracy is a trained model's (> 0.75)" $py -c "assert $(get "$r0" test_accuracy) > 0.75"
finish
