"""A django_hmac_authentication client, written from that package's documented algorithm
(client_utils.prepare_string_to_sign / hmac_sign / compose_authorization_header) and shaped like its
example_python_client.py: `requests`, HMAC-SHA512 by default, GET then POST json={'a': 1, 'b': 2}.

usage: django_client.py URL API_KEY API_SECRET_BASE64 [DIGEST] [--forwarded-for ADDRESS]
Prints one line per request: "<method> <status> <body>".
--forwarded-for sends X-Forwarded-For: ADDRESS with every request (not signed by the scheme): a
server believing the loopback proxy then counts this run's failures against ADDRESS, so several
runs against one server do not throttle each other.
"""
import base64
import hashlib
import hmac
import json
import sys
from datetime import datetime, timezone

import requests

HASHES = {'HMAC-SHA512': hashlib.sha512, 'HMAC-SHA384': hashlib.sha384, 'HMAC-SHA256': hashlib.sha256}


def string_to_sign(data, utc_8601, digest):
    body = None if not data else json.dumps(data, separators=(',', ':')).encode('utf-8')
    prefix = base64.b64encode(HASHES[digest](body).digest()).decode() if body else ''
    return f'{prefix};{utc_8601}'


def hmac_sign(data, secret, digest):
    utc_8601 = datetime.now(timezone.utc).isoformat()
    mac = hmac.new(secret, string_to_sign(data, utc_8601, digest).encode('utf-8'), HASHES[digest])
    return base64.b64encode(mac.digest()).decode(), utc_8601


def main():
    url, api_key, api_secret = sys.argv[1], sys.argv[2], base64.b64decode(sys.argv[3])
    digest = sys.argv[4] if len(sys.argv) > 4 and not sys.argv[4].startswith('--') else 'HMAC-SHA512'
    extra = {}
    if '--forwarded-for' in sys.argv:
        extra['X-Forwarded-For'] = sys.argv[sys.argv.index('--forwarded-for') + 1]
    signature, utc_8601 = hmac_sign(None, api_secret, digest)
    r = requests.get(url, headers={'Authorization': f'{digest} {api_key};{signature};{utc_8601}', **extra})
    print('GET', r.status_code, r.text.replace('\n', ' '))
    req_data = {'a': 1, 'b': 2}
    signature, utc_8601 = hmac_sign(req_data, api_secret, digest)
    headers = {'Authorization': f'{digest} {api_key};{signature};{utc_8601}', 'Content-Type': 'application/json', **extra}
    r = requests.post(url, json=req_data, headers=headers)
    print('POST', r.status_code, r.text.replace('\n', ' '))
    # The same signed request again: a replay.
    r = requests.post(url, json=req_data, headers=headers)
    print('REPLAY', r.status_code, r.text.replace('\n', ' '))
    # The same signature over a changed body.
    r = requests.post(url, json={'a': 1, 'b': 3}, headers=headers)
    print('TAMPERED', r.status_code, r.text.replace('\n', ' '))


if __name__ == '__main__':
    main()
