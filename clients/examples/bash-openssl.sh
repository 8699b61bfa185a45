#!/usr/bin/env bash
# bash + openssl + curl, RFC 9421 profile: clients/bash/hmac-kit-sign.sh (reads HMAC_KIT_KEY_ID / HMAC_KIT_SECRET).
set -euo pipefail
here=$(dirname "$0")
"$here/../bash/hmac-kit-sign.sh" POST "$HMAC_KIT_URL/orders" \
  -H 'Content-Type: application/json' -d '{"sku":"A1","note":"café"}' -- -w ' %{http_code}\n'
