#!/usr/bin/env bash
# Post one line to Slack through an incoming webhook. A missing webhook or a Slack outage
# is reported but never fails the pipeline: the deploy result is what CI reports.
#
# Usage: notify_slack.sh success|failure TEXT
# Env:   SLACK_WEBHOOK_URL (optional)
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 success|failure TEXT" >&2
  exit 2
fi
status=$1
text=$2

if [[ -z ${SLACK_WEBHOOK_URL:-} ]]; then
  echo "SLACK_WEBHOOK_URL is not set; not notifying Slack. Message was: $text"
  exit 0
fi

case $status in
  success) icon=":white_check_mark:" ;;
  *) icon=":rotating_light:" ;;
esac

payload=$(python3 -c 'import json, sys; print(json.dumps({"text": sys.argv[1] + " " + sys.argv[2]}))' \
  "$icon" "$text")
if ! curl --silent --show-error --fail --max-time 15 --request POST \
  --header "Content-Type: application/json" --data "$payload" "$SLACK_WEBHOOK_URL" >/dev/null; then
  echo "::warning::Slack notification failed (message: $text)"
fi
