#!/usr/bin/env bash
# make demo, part 3: file distribution to 75 repositories of a local GitHub-compatible server (5 protected),
# in waves of 25 under a small rate limit (400 requests per 300 s) with 10 % of writes secondary-limited,
# then the same sync again to show that no pull request is opened twice. Everything stays on 127.0.0.1.
set -euo pipefail
BIN=${BIN:-.venv/bin}
STATE=${HUBSPOKE_HOME:-.hubspoke}
mkdir -p "$STATE"
url_file="$STATE/github-url"
rm -f "$url_file"
# The server's clock runs at the engine's time scale, so the gate's wait for the reset is scaled too.
"$BIN/python" -m devtools.github serve --org acme --repos 75 --protected 5 --rate-limit 400 --rate-window 300 \
  --secondary-share 0.1 --retry-after 1 --time-scale 0.01 --url-file "$url_file" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$url_file" ] && break; sleep 0.1; done
[ -s "$url_file" ] || { echo "the local GitHub server did not start" >&2; exit 1; }
url=$(cat "$url_file")

sync() {
  "$BIN/hubspoke" local run --operation github-file-sync --github-url "$url" \
    --source-json '{"type": "github-org", "org": "acme"}' --params-json "$(cat examples/github-files.json)" \
    --wave-size 25 --failure-threshold 10 --time-scale 0.01 "$@"
}
sync --summary-json "$STATE/demo-github.json"
echo
echo "== The same sync again: every pull request is found and reused, none is opened twice =="
sync --summary-json "$STATE/demo-github-rerun.json"
