#!/usr/bin/env bash
# curl's built-in SigV4 (no hmac-kit code): the credentials go through a config on stdin, not argv.
set -euo pipefail
printf 'user = "%s:%s"\n' "$HMAC_KIT_KEY_ID" "$HMAC_KIT_SECRET" |
  curl -sS -K - --aws-sigv4 "aws:amz:us-east-1:hmac-kit" \
    -H 'Content-Type: application/json' --data '{"sku":"A1","note":"café"}' \
    -w ' %{http_code}\n' "$HMAC_KIT_URL/orders"
