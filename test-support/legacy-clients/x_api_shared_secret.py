"""Family 3 of issue #12: hex(HMAC-SHA256(shared_secret.encode(), f"{api_key}{timestamp}".encode())),
Unix seconds, X-API-Key / X-API-Timestamp / X-API-Signature, no nonce, standard library only.

usage: x_api_shared_secret.py URL API_KEY SHARED_SECRET   (prints ACCEPTED/REPLAY/OTHER_PATH/WRONG_KEY)
"""
import hashlib
import hmac
import sys
import time
import urllib.error
import urllib.request

url, api_key, shared_secret = sys.argv[1], sys.argv[2], sys.argv[3]


def send(target, headers):
    request = urllib.request.Request(target, headers=headers, method='GET')
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


timestamp = str(int(time.time()))
signature = hmac.new(shared_secret.encode(), f'{api_key}{timestamp}'.encode(), hashlib.sha256).hexdigest()
headers = {'X-API-Key': api_key, 'X-API-Timestamp': timestamp, 'X-API-Signature': signature}
status, body = send(url, headers)
print('ACCEPTED', status, body.replace('\n', ' '))
print('REPLAY', send(url, headers)[0])
# The same signature on another path: not signed by this family, but the signature is remembered.
print('OTHER_PATH', send(url.rstrip('/') + '/other', headers)[0])
wrong = hmac.new(b'not-the-secret', f'{api_key}{timestamp}'.encode(), hashlib.sha256).hexdigest()
print('WRONG_KEY', send(url, dict(headers, **{'X-API-Signature': wrong}))[0])
