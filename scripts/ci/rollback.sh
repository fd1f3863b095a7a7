#!/usr/bin/env bash
# Roll every service listed in FILE (lines "service deployment-id", as written by
# record_deployments.sh) back to that deployment. Railway restores both the image and the
# variables of the deployment, so GIT_SHA/BUILD_TIME go back too.
#
# The Railway CLI has no rollback command, so this calls the public GraphQL API's
# deploymentRollback mutation, authenticated with the project token.
#
# Usage: rollback.sh FILE
# Env:   RAILWAY_TOKEN (project token, required)
#        RAILWAY_GRAPHQL_URL (default https://backboard.railway.com/graphql/v2)
# Exit:  0 when every recorded service was rolled back (or had nothing to roll back to).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 FILE" >&2
  exit 2
fi
file=$1
api=${RAILWAY_GRAPHQL_URL:-https://backboard.railway.com/graphql/v2}
: "${RAILWAY_TOKEN:?RAILWAY_TOKEN must be set}"

# GraphQL variables are written $id; they must not expand here.
# shellcheck disable=SC2016
mutation='mutation deploymentRollback($id: String!) { deploymentRollback(id: $id) }'

failed=0
while read -r service id; do
  [[ -n ${service:-} ]] || continue
  if [[ -z ${id:-} || $id == - ]]; then
    echo "$service: no previous deployment recorded, nothing to roll back to"
    continue
  fi
  payload=$(python3 -c 'import json, sys; print(json.dumps({"query": sys.argv[1], "variables": {"id": sys.argv[2]}}))' \
    "$mutation" "$id")
  if response=$(curl --silent --show-error --max-time 30 --request POST \
    --header "Content-Type: application/json" \
    --header "Project-Access-Token: $RAILWAY_TOKEN" \
    --data "$payload" "$api") &&
    printf '%s' "$response" | python3 -c '
import json
import sys

reply = json.load(sys.stdin)
sys.exit(0 if not reply.get("errors") and (reply.get("data") or {}).get("deploymentRollback") is True else 1)
' 2>/dev/null; then
    echo "$service: rolled back to deployment $id"
  else
    echo "$service: rollback to deployment $id FAILED: ${response:-no response}" >&2
    failed=1
  fi
done <"$file"

exit "$failed"
