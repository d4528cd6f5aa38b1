# lib.sh: what the bench scripts share. Sourced (". "$here/lib.sh""), after the script has
# defined die().

# wait_listen LOG WHAT PID [TRIES]: waits for "<WHAT> listening on 127.0.0.1:PORT" in LOG and
# prints PORT; dies (with LOG on stderr) if PID exits first or TRIES × 50 ms pass (default 200).
wait_listen() {
    local log="$1" what="$2" pid="$3" tries="${4:-200}" port=""
    for _ in $(seq "$tries"); do
        port="$(sed -n "s/.*$what listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p" "$log" | head -1)"
        [ -n "$port" ] && { echo "$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$what exited before listening"; }
        sleep 0.05
    done
    cat "$log" >&2
    die "$what did not report its port"
}
