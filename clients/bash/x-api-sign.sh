#!/usr/bin/env bash
# Sends one request signed with hmac-kit's X-API-* scheme (docs/protocol-x-api.md). Needs bash, openssl, curl.
# Usage: HMAC_KIT_KEY_ID=hk_... HMAC_KIT_SECRET=hks_... [HMAC_KIT_ALG=sha256] x-api-sign.sh METHOD URL [BODY]
set -euo pipefail
method=$1 url=$2 body=${3-} alg=${HMAC_KIT_ALG:-sha256}
b64=$(printf '%s' "${HMAC_KIT_SECRET#hks_}" | tr -- '-_' '+/'); while (( ${#b64} % 4 )); do b64+='='; done
key=$(printf '%s' "$b64" | base64 -d | od -An -v -tx1 | tr -d ' \n')
rest=${url#*://} target=/; [[ $rest == */* ]] && target=/${rest#*/}; target=${target%%#*}
path=${target%%\?*} query=; [[ $target == *\?* ]] && query=$(printf '%s' "${target#*\?}" | tr '&' '\n' | sed '/^$/d' | LC_ALL=C sort | paste -sd '&' -)
ts=$(date +%s) nonce=$(openssl rand -hex 16) body_hash=$(printf '%s' "$body" | openssl dgst "-$alg" -r | cut -d' ' -f1)
# HMAC by its definition, H((K^opad) || H((K^ipad) || m)), so the key never appears in a process's arguments.
bs=64; [[ $alg == sha256 ]] || bs=128; ipad= opad=
for ((i = 0; i < bs; i++)); do k=${key:i*2:2}; k=$((16#${k:-00})); printf -v ipad '%s\\x%02x' "$ipad" $((k ^ 0x36)); printf -v opad '%s\\x%02x' "$opad" $((k ^ 0x5c)); done
inner=$({ printf "$ipad"; printf 'hmac-kit-x-api-v1\n%s\n%s\n%s\n%s\n%s\n%s' "$method" "$path" "$query" "$ts" "$nonce" "$body_hash"; } | openssl dgst "-$alg" -binary | od -An -v -tx1 | tr -d ' \n')
sig=$({ printf "$opad"; printf "$(printf '%s' "$inner" | sed 's/../\\x&/g')"; } | openssl dgst "-$alg" -r | cut -d' ' -f1)
data=(); [[ -n $body ]] && data=(--data-binary "$body")
exec curl -sS -X "$method" -H "X-API-Key: $HMAC_KIT_KEY_ID" -H "X-API-Timestamp: $ts" -H "X-API-Nonce: $nonce" -H "X-API-Signature: $sig" "${data[@]}" "$url"
