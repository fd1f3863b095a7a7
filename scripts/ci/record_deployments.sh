#!/usr/bin/env bash
# Write the currently active (status SUCCESS) Railway deployment id of each service to
# OUT_FILE, one "service id" line per service ("-" when the service has none yet), so a
# failed deploy can be rolled back to exactly these deployments by rollback.sh.
#
# Usage: record_deployments.sh OUT_FILE SERVICE...
# Needs the Railway CLI (RAILWAY_TOKEN: a project token, which also selects the project
# and environment) and python3.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 OUT_FILE SERVICE..." >&2
  exit 2
fi
out=$1
shift
railway_bin=${RAILWAY_BIN:-railway}

: >"$out"
for service in "$@"; do
  listing=$("$railway_bin" deployment list --service "$service" --json --limit 20)
  id=$(printf '%s' "$listing" | python3 -c '
import json
import sys

deployments = json.load(sys.stdin)
active = [d for d in deployments if d.get("status") == "SUCCESS"]
active.sort(key=lambda d: d.get("createdAt", ""), reverse=True)
print(active[0]["id"] if active else "")
')
  printf '%s %s\n' "$service" "${id:--}" >>"$out"
  echo "$service: active deployment ${id:-none}"
done
