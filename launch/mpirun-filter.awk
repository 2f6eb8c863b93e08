# mpirun-filter.awk -- launch/train.sh passes mpirun's stderr through this filter (the ranks'
# stderr arrives there too), line by line:
#   - Open MPI's boxes (between lines of dashes) that only say a rank exited with a non-zero status
#     are dropped when the status is 1 or 69 (the rank printed its error) or 75 (stopped with a
#     checkpoint: the stop was announced); other statuses become one line naming the rank;
#   - a box saying a rank died by a signal becomes one line naming the rank, its machine and the
#     signal: "error: rank 1 on node1 exited on signal 9 (Killed)";
#   - "mpirun: Forwarding signal N to job" is dropped (train.sh says which stop it passed on);
#   - every other line and box passes unchanged.
# With -v causes=FILE, what ended the job is also appended to FILE, one line each, for
# train.sh --max-restarts to name and classify: a rank killed by a signal (the line above, without
# "error: "), a collective that timed out (a rank's watchdog error, parallel/watchdog.h), a machine
# that mpirun lost or whose daemon it could not start.
function emit(line) { print line; fflush() }
function record(cause) { if (causes != "") { print cause >> causes; close(causes) } }
function flush_box(   i) { for (i = 1; i <= n; i++) print box[i]; fflush(); n = 0 }
function summarise(   text, i, rest, words, status, line, node) {
  text = ""
  for (i = 2; i < n; i++) text = text " " box[i]
  gsub(/  +/, " ", text)
  if (match(text, /process rank [0-9]+ with PID [0-9]+ on node [^ ]+ exited on signal [0-9]+/)) {
    split(substr(text, RSTART, RLENGTH), words, " ")
    rest = substr(text, RSTART + RLENGTH)
    sub(/^ /, "", rest); sub(/\.? *$/, "", rest)
    line = "rank " words[3] " on " words[9] " exited on signal " words[13] (rest == "" ? "" : " " rest)
    emit("error: " line)
    record(line)
    return 1
  }
  if (text ~ /ORTE has lost communication with a remote daemon/) {
    node = "a machine"
    if (match(text, /Remote daemon: *[^ ]+ on node [^ ]+/)) {
      split(substr(text, RSTART, RLENGTH), words, " ")
      node = words[length(words)]
    }
    record("mpirun lost contact with " node " (the machine, or the network to it, is down)")
  }
  if (text ~ /ORTE was unable to reliably start one or more daemons/) {
    record("mpirun could not start its daemon on a machine (unreachable, or no vit-train there)")
  }
  if (text ~ /A daemon died unexpectedly/) record("a daemon of mpirun died while starting the job")
  if (text ~ /Primary job terminated normally, but [0-9]+ process(es)? returned/) return 1
  if (text ~ /exited with non-zero status/ && match(text, /Exit code: *[0-9]+/)) {
    status = substr(text, RSTART, RLENGTH); sub(/^Exit code: */, "", status)
    if (status == 1 || status == 69 || status == 75) return 1
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
/^error: rank [0-9]+: .* did not finish within dist\.timeout_s = / {
  line = substr($0, 8); sub(/; ending the job.*$/, "", line); record(line)
}
{ emit($0) }
END { if (inbox) flush_box() }
