# Sourced by the bench/*transcript.sh scripts: `step CMD ...` prints the command as typed, then its output
# (library warnings and progress bars dropped) and its exit status and seconds. Paths are shortened by the sed
# expression in $SHORTEN (e.g. "s#/tmp/x#RUNS#g"), set by the caller.
step() {
  echo "\$ $*" | sed "$SHORTEN"
  local t0=$(date +%s)
  "$@" 2>&1 | grep -v -e 'Warning' -e 'warnings.warn' -e 'Loading weights' -e 'kernels-community' -e 'it/s\]' -e 's/it\]' -e 'step/s' -e 's/step' -e '^\s*$' | sed "$SHORTEN"
  echo "[exit ${PIPESTATUS[0]}, $(( $(date +%s) - t0 )) s]"; echo
}
