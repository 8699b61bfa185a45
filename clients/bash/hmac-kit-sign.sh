#!/usr/bin/env bash
# hmac-kit-sign.sh: sign a request with hmac-kit's RFC 9421 profile (openssl) and send it with curl.
#
#   export HMAC_KIT_KEY_ID=hk_... HMAC_KIT_SECRET=hks_...
#   hmac-kit-sign.sh GET 'https://api.example.com/v1/whoami'
#   hmac-kit-sign.sh POST 'https://api.example.com/orders' -H 'Content-Type: application/json' -d '{"sku":"A1"}'
#
# Options:
#   -H 'Name: value'      extra request header (repeatable; sent, not covered unless --cover Name)
#   -d, --data STRING     body (sent byte for byte)
#   --data-file FILE      body from a file
#   --cover NAME          also cover this header in the signature (repeatable)
#   --secret-file FILE    read the secret from FILE instead of $HMAC_KIT_SECRET
#   --key-id ID           instead of $HMAC_KIT_KEY_ID
#   --algorithm ALG       the key's hash: sha256 (default), sha384 or sha512
#   --digest ALG          Content-Digest algorithm: sha-256 (default) or sha-512
#   --expires-in SECONDS  add an `expires` parameter
#   --tag TAG             add a `tag` parameter (for servers that accept only some tags)
#   --print-headers       print the headers to add and exit (use with any HTTP tool)
#   --print-base          print the signature base and exit
#   -i, -v                passed to curl; -v also prints the signature base to stderr
#   --                    the rest goes to curl unchanged
# The secret never appears in a process's arguments: HMAC is computed from files written by bash builtins.
# HMAC_KIT_CREATED and HMAC_KIT_NONCE fix the timestamp and nonce (known-answer tests only).
set -euo pipefail
export LC_ALL=C

die() { printf 'hmac-kit-sign: %s\n' "$*" >&2; exit 2; }
command -v openssl >/dev/null || die 'openssl is required'

key_id=${HMAC_KIT_KEY_ID:-}
secret=${HMAC_KIT_SECRET:-}
headers=() covered=() curl_args=()
body_source='' body_text='' mode=send verbose=0 method='' url=''
algorithm=sha256 digest_algorithm=sha-256 expires_in='' tag=''
while [ $# -gt 0 ]; do
  case $1 in
    -H|--header) headers+=("$2"); shift 2 ;;
    -d|--data|--data-binary|--data-raw) body_source=text; body_text=$2; shift 2 ;;
    --data-file) body_source=file; body_file_in=$2; shift 2 ;;
    --cover) covered+=("$2"); shift 2 ;;
    --key-id) key_id=$2; shift 2 ;;
    --algorithm) algorithm=$2; shift 2 ;;
    --digest) digest_algorithm=$2; shift 2 ;;
    --expires-in) expires_in=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --secret-file) IFS= read -r secret <"$2" || [ -n "$secret" ] || die "cannot read $2"; shift 2 ;;
    --print-headers) mode=headers; shift ;;
    --print-base) mode=base; shift ;;
    -v|--verbose) verbose=1; curl_args+=(-v); shift ;;
    -i|--include) curl_args+=(-i); shift ;;
    --) shift; curl_args+=("$@"); break ;;
    -*) die "unknown option $1" ;;
    *) if [ -z "$method" ]; then method=$1; elif [ -z "$url" ]; then url=$1; else die "unexpected argument $1"; fi; shift ;;
  esac
done
[ -n "$method" ] && [ -n "$url" ] || die 'usage: hmac-kit-sign.sh METHOD URL [options]'
[ -n "$key_id" ] || die 'set HMAC_KIT_KEY_ID or pass --key-id'
[ -n "$secret" ] || die 'set HMAC_KIT_SECRET or pass --secret-file'
method=${method^^}
case $algorithm in sha256) block=64 ;; sha384|sha512) block=128 ;; *) die 'algorithm must be sha256, sha384 or sha512' ;; esac
case $digest_algorithm in sha-256|sha-512) ;; *) die 'digest must be sha-256 or sha-512' ;; esac
[[ -z $expires_in || $expires_in =~ ^[0-9]+$ ]] || die '--expires-in takes whole seconds'
[[ -z $tag || ( $tag =~ ^[[:print:]]+$ && $tag != *[\"\\]* ) ]] || die 'tag must be printable ASCII without quotes'

work=$(umask 077 && mktemp -d)
trap 'rm -rf "$work"' EXIT
body_file=$work/body
case $body_source in
  text) printf '%s' "$body_text" >"$body_file" ;;
  file) cat -- "$body_file_in" >"$body_file" ;;
  *) : >"$body_file" ;;
esac

# --- URL: serialize as a WHATWG URL parser would (what Node, browsers and the server see) ---
# percent_encode TEXT EXTRA: UTF-8 bytes that are controls, space, non-ASCII or in EXTRA become %XX.
percent_encode() {
  local text=$1 extra=$2 out='' i c
  for ((i = 0; i < ${#text}; i++)); do
    c=${text:i:1}
    if [[ $c == [$'\x21'-$'\x7e'] && $extra != *"$c"* ]]; then out+=$c; else printf -v c '%%%02X' "'$c"; out+=$c; fi
  done
  printf '%s' "$out"
}
[[ $url =~ ^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#\\]*)([^?#]*)(\?[^#]*)?(#.*)?$ ]] || die "not an absolute URL: $url"
scheme=${BASH_REMATCH[1],,} authority=${BASH_REMATCH[2],,} raw_path=${BASH_REMATCH[3]} raw_query=${BASH_REMATCH[4]}
case $scheme in http) default_port=80 ;; https) default_port=443 ;; *) die 'only http(s) URLs' ;; esac
authority=${authority##*@}
if [[ $authority =~ ^(\[[^]]*\]|[^:]*)(:([0-9]*))?$ ]]; then
  host=${BASH_REMATCH[1]} port=${BASH_REMATCH[3]}
else
  die "bad authority in $url"
fi
[ -n "$host" ] || die "no host in $url"
if [ -n "$port" ] && [ "$((10#$port))" != "$default_port" ]; then authority="$host:$((10#$port))"; else authority=$host; fi
raw_path=${raw_path//\\//}
[[ $raw_path == /* ]] || raw_path=/$raw_path
IFS=/ read -r -a segments <<<"${raw_path#/}/" || true
out=()
count=${#segments[@]}
for ((i = 0; i < count; i++)); do
  seg=${segments[i]} last=$((i == count - 1))
  dots=${seg,,}; dots=${dots//%2e/.}
  if [ "$dots" = '..' ]; then
    [ ${#out[@]} -gt 0 ] && unset 'out[${#out[@]}-1]'
    [ "$last" = 1 ] && out+=('')
  elif [ "$dots" = '.' ]; then
    [ "$last" = 1 ] && out+=('')
  else
    out+=("$(percent_encode "$seg" '"#<>?`{}')")
  fi
done
# `read` dropped the trailing empty segment we appended: restore the path's own trailing slash.
path=/$(IFS=/; printf '%s' "${out[*]}")
[[ ${raw_path} == */ && $path != */ ]] && path+=/
if [ -n "$raw_query" ]; then query="?$(percent_encode "${raw_query#\?}" "\"#<>'")"; else query=''; fi
url="$scheme://$authority$path$query"

# --- signature base (RFC 9421) ---
created=${HMAC_KIT_CREATED:-$(date +%s)}
nonce=${HMAC_KIT_NONCE:-$(openssl rand -base64 16 | tr '+/' '-_' | tr -d '=\n')}
components=('"@method"' '"@authority"' '"@path"' '"@query"')
lines=("\"@method\": $method" "\"@authority\": $authority" "\"@path\": $path" "\"@query\": ${query:-?}")
added=()
if [ -s "$body_file" ] || [[ $method == POST || $method == PUT || $method == PATCH ]]; then
  digest="$digest_algorithm=:$(openssl dgst "-${digest_algorithm/-/}" -binary "$body_file" | openssl base64 -A):"
  added+=("Content-Digest: $digest")
  components+=('"content-digest"')
  lines+=("\"content-digest\": $digest")
fi
for name in "${covered[@]+"${covered[@]}"}"; do
  name=${name,,} value='' found=0
  for h in "${headers[@]+"${headers[@]}"}"; do
    hn=${h%%:*}
    if [ "${hn,,}" = "$name" ]; then
      v=${h#*:}; v="${v#"${v%%[![:space:]]*}"}"; v="${v%"${v##*[![:space:]]}"}"
      if [ $found = 1 ]; then value+=", $v"; else value=$v; fi
      found=1
    fi
  done
  [ $found = 1 ] || die "covered header $name is not in the request"
  components+=("\"$name\"")
  lines+=("\"$name\": $value")
done
[[ $key_id =~ ^[[:print:]]+$ && $key_id != *[\"\\]* ]] || die 'key id must be printable ASCII without quotes'
params="($(IFS=' '; printf '%s' "${components[*]}"));created=$created"
[ -n "$expires_in" ] && params+=";expires=$((created + expires_in))"
params+=";nonce=\"$nonce\";keyid=\"$key_id\";alg=\"hmac-$algorithm\""
[ -n "$tag" ] && params+=";tag=\"$tag\""
lines+=("\"@signature-params\": $params")
base=$(printf '%s\n' "${lines[@]}")

if [ $mode = base ]; then printf '%s\n' "$base"; exit 0; fi
[ $verbose = 1 ] && printf '> signature base:\n%s\n\n' "$base" >&2

# --- HMAC by its definition, H((K^opad) || H((K^ipad) || m)), so the key never sits in argv ---
[[ $secret == hks_* ]] || die 'the secret must be an hks_... string'
b64=${secret#hks_}; b64=${b64//-/+}; b64=${b64//_//}
while [ $((${#b64} % 4)) != 0 ]; do b64+='='; done
key_hex=$(printf '%s\n' "$b64" | openssl base64 -d -A | od -An -v -tx1 | tr -d ' \n')
[ ${#key_hex} -ge 64 ] || die 'the secret is not valid hks_<base64url>'
if [ ${#key_hex} -gt $((block * 2)) ]; then
  printf "$(printf '%s' "$key_hex" | sed 's/../\\x&/g')" >"$work/long-key"
  key_hex=$(openssl dgst "-$algorithm" -binary "$work/long-key" | od -An -v -tx1 | tr -d ' \n')
fi
ipad='' opad=''
for ((i = 0; i < block * 2; i += 2)); do
  byte=0 # the key is zero-padded to the block size
  [ $i -lt ${#key_hex} ] && byte=$((16#${key_hex:i:2}))
  printf -v ipad '%s\\x%02x' "$ipad" $((byte ^ 0x36))
  printf -v opad '%s\\x%02x' "$opad" $((byte ^ 0x5c))
done
printf "$ipad" >"$work/ipad"
printf "$opad" >"$work/opad"
printf '%s' "$base" >"$work/base"
cat "$work/ipad" "$work/base" | openssl dgst "-$algorithm" -binary >"$work/inner"
signature=$(cat "$work/opad" "$work/inner" | openssl dgst "-$algorithm" -binary | openssl base64 -A)

added+=("Signature-Input: sig=$params" "Signature: sig=:$signature:")
if [ $mode = headers ]; then printf '%s\n' "${added[@]}"; exit 0; fi

command -v curl >/dev/null || die 'curl is required'
args=(-sS --fail-with-body -X "$method")
for h in "${headers[@]+"${headers[@]}"}" "${added[@]}"; do args+=(-H "$h"); done
if [ -s "$body_file" ] || [[ $method == POST || $method == PUT || $method == PATCH ]]; then
  args+=(--data-binary "@$body_file")
fi
curl "${args[@]}" "${curl_args[@]+"${curl_args[@]}"}" -- "$url"
