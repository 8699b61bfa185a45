"""Family 1 of issue #12, as such clients are written: the HMAC of Python's str() of the payload
dict, hex, in `Authorization: HMAC <hex>`, sent with requests.post(url, json=payload).

usage: authorization_hmac.py URL API_KEY   (prints ACCEPTED/REPLAY/TAMPERED status codes)
"""
import hmac
import sys
from hashlib import sha256

import requests

url, api_key = sys.argv[1], sys.argv[2]
payload = {'device': "O'Brien's sensor", 'reading': 21.5, 'ok': True, 'note': None, 'tags': ['é', 1, 1e16], 'n': 12}
signature = hmac.new(api_key.encode(), str(payload).encode(), sha256).hexdigest()
headers = {'Authorization': f'HMAC {signature}'}
r = requests.post(url, json=payload, headers=headers)
print('ACCEPTED', r.status_code, r.text.replace('\n', ' '))
r = requests.post(url, json=payload, headers=headers)
print('REPLAY', r.status_code)
changed = dict(payload, reading=99.0)
r = requests.post(url, json=changed, headers=headers)
print('TAMPERED', r.status_code)
