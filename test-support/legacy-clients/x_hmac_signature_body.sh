#!/usr/bin/env bash
# Family 2 of issue #12 (bash): openssl dgst -sha256 -hmac over the exact JSON body, header
# X-HMAC-Signature, POST to /verify with curl. usage: x_hmac_signature_body.sh URL SECRET
set -euo pipefail
url=$1
secret=$2
body='{"mac_address":"12:34:56:78:9a:bc","timestamp":"2025-04-30T15:00:00"}'
signature=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.* //')
send() {
  curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H "X-HMAC-Signature: $signature" -d "$1" "$url"
}
echo "ACCEPTED $(send "$body")"
echo "REPLAY $(send "$body")"
echo "TAMPERED $(send '{"mac_address":"66:66:66:66:66:66","timestamp":"2025-04-30T15:00:00"}')"
