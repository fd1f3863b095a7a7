#!/usr/bin/env bash
# Poll a /health/deep URL until it answers 200 AND reports the expected git_sha, for the api
# and for every process named in WAIT_HEALTHY_PROCESSES (their `versions`: the builds the
# running worker and scheduler processes announced lately, app/core/versions.py).
#
# Usage: wait_healthy.sh URL EXPECTED_SHA [TRIES]      (TRIES defaults to 30)
# Env:   WAIT_HEALTHY_SLEEP    seconds between tries (default 10)
#        WAIT_HEALTHY_TIMEOUT  seconds allowed per request (default 10)
#        WAIT_HEALTHY_PROCESSES  e.g. "worker scheduler": each must run EXPECTED_SHA too
# Exit:  0 healthy on the expected sha; 1 not within TRIES; 2 bad usage.
# Needs only curl and python3 (for the JSON).
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 URL EXPECTED_SHA [TRIES]" >&2
  exit 2
fi
url=$1
expected=$2
tries=${3:-30}
pause=${WAIT_HEALTHY_SLEEP:-10}
timeout=${WAIT_HEALTHY_TIMEOUT:-10}

if [[ -z $expected ]]; then
  echo "EXPECTED_SHA is empty" >&2
  exit 2
fi
if ! [[ $tries =~ ^[1-9][0-9]*$ ]]; then
  echo "TRIES must be a positive integer, got: $tries" >&2
  exit 2
fi

body=$(mktemp)
trap 'rm -f "$body"' EXIT

# Prints "<git_sha><TAB><detail>"; detail names the failing checks when there are any.
describe() {
  python3 - "$1" "$expected" "${WAIT_HEALTHY_PROCESSES:-}" <<'PY'
import json
import sys


def matches(want: str, got: str) -> bool:
    if got == want:
        return True
    return (len(got) >= 7 and want.startswith(got)) or (len(want) >= 7 and got.startswith(want))


try:
    with open(sys.argv[1], encoding="utf-8") as fh:
        data = json.load(fh)
except (OSError, ValueError):
    print("-\t-\tresponse is not JSON")
    sys.exit(0)
if not isinstance(data, dict):
    print("-\t-\tresponse is not a JSON object")
    sys.exit(0)
sha = str(data.get("git_sha") or "-")
checks = data.get("checks")
failing = []
if isinstance(checks, dict):
    failing = [f"{name}={value}" for name, value in checks.items() if value != "ok"]
detail = ("failing: " + ", ".join(failing)) if failing else f"status={data.get('status', '-')}"
# Every named process must have announced the expected build lately.
versions = data.get("versions") if isinstance(data.get("versions"), dict) else {}
waiting = []
for service in sys.argv[3].split():
    seen = versions.get(service) if isinstance(versions.get(service), dict) else {}
    if not any(matches(sys.argv[2], str(build)) for build in seen):
        waiting.append(f"{service} runs {','.join(sorted(map(str, seen))) or 'nothing'}")
if waiting:
    detail += "; waiting for " + "; ".join(waiting)
print(f"{sha}\t{'no' if waiting else 'yes'}\t{detail}")
PY
}

# A full sha matches itself or a short (>= 7 chars) prefix of itself, either way round.
sha_matches() {
  local want=$1 got=$2
  [[ $got == "$want" ]] && return 0
  [[ ${#got} -ge 7 && $want == "$got"* ]] && return 0
  [[ ${#want} -ge 7 && $got == "$want"* ]] && return 0
  return 1
}

for ((i = 1; i <= tries; i++)); do
  : >"$body"
  code=$(curl --silent --show-error --output "$body" --write-out '%{http_code}' \
    --max-time "$timeout" "$url") || code=000
  IFS=$'\t' read -r reported processes_ready detail < <(describe "$body") || true
  if [[ $code == 200 ]] && sha_matches "$expected" "${reported:-}" \
    && [[ ${processes_ready:-no} == yes ]]; then
    echo "healthy: $url answers 200 with git_sha=$reported (try $i/$tries)"
    if [[ -n ${WAIT_HEALTHY_PROCESSES:-} ]]; then
      echo "and ${WAIT_HEALTHY_PROCESSES} run it too"
    fi
    exit 0
  fi
  echo "try $i/$tries: HTTP $code, git_sha=${reported:--} (want $expected), ${detail:-}"
  if ((i < tries)); then
    sleep "$pause"
  fi
done

echo "not healthy on $expected after $tries tries: $url" >&2
exit 1
