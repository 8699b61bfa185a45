# Python + requests: HmacKitAuth signs every request of the session (clients/python on PYTHONPATH).
import os

import requests
from hmac_kit_client import HmacKitAuth

session = requests.Session()
session.auth = HmacKitAuth(os.environ["HMAC_KIT_KEY_ID"], os.environ["HMAC_KIT_SECRET"])
response = session.post(os.environ["HMAC_KIT_URL"] + "/orders", json={"sku": "A1", "note": "café"})
print(response.status_code, response.text)
