# mpirun-filter.awk -- launch/train.sh passes mpirun's stderr through this filter (the ranks'
# stderr arrives there too), line by line:
#   - Open MPI's boxes (between lines of dashes) that only say a rank exited with a non-zero status
#     are dropped when the status is 1 (the rank printed its error) or 75 (stopped with a
#     checkpoint: the stop was announced); other statuses become one line naming the rank;
#   - a box saying a rank died by a signal becomes one line naming the rank, its machine and the
#     signal: "error: rank 1 on node1 exited on signal 9 (Killed)";
#   - "mpirun: Forwarding signal N to job" is dropped (train.sh says which stop it passed on);
#   - every other line and box passes unchanged.
function emit(line) { print line; fflush() }
function flush_box(   i) { for (i = 1; i <= n; i++) print box[i]; fflush(); n = 0 }
function summarise(   text, i, rest, words, status) {
  text = ""
  for (i = 2; i < n; i++) text = text " " box[i]
  gsub(/  +/, " ", text)
  if (match(text, /process rank [0-9]+ with PID [0-9]+ on node [^ ]+ exited on signal [0-9]+/)) {
    split(substr(text, RSTART, RLENGTH), words, " ")
    rest = substr(text, RSTART + RLENGTH)
    sub(/^ /, "", rest); sub(/\.? *$/, "", rest)
    emit("error: rank " words[3] " on " words[9] " exited on signal " words[13] \
         (rest == "" ? "" : " " rest))
    return 1
  }
  if (text ~ /Primary job terminated normally, but [0-9]+ process(es)? returned/) return 1
  if (text ~ /exited with non-zero status/ && match(text, /Exit code: *[0-9]+/)) {
    status = substr(text, RSTART, RLENGTH); sub(/^Exit code: */, "", status)
    if (status == 1 || status == 75) return 1
    if (match(text, /Process name: *\[\[[0-9]+,[0-9]+\],[0-9]+\]/)) {
      split(substr(text, RSTART, RLENGTH), words, ",")
      sub(/\]$/, "", words[3])
      emit("error: rank " words[3] " exited with status " status)
      return 1
    }
  }
  return 0
}
/^-----------------------------------------------------------------+$/ {
  box[++n] = $0
  if (!inbox) { inbox = 1; next }
  inbox = 0
  if (!summarise()) flush_box()
  n = 0
  next
}
inbox { box[++n] = $0; next }
/^mpirun: Forwarding signal [0-9]+ to job$/ { next }
{ emit($0) }
END { if (inbox) flush_box() }
