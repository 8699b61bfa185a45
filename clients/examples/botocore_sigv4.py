# Python + botocore's SigV4 signer with service "hmac-kit" (no hmac-kit code needed).
import json
import os
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

body = json.dumps({"sku": "A1", "note": "café"}).encode()
request = AWSRequest(method="POST", url=os.environ["HMAC_KIT_URL"] + "/orders", data=body,
                     headers={"Content-Type": "application/json"})
SigV4Auth(Credentials(os.environ["HMAC_KIT_KEY_ID"], os.environ["HMAC_KIT_SECRET"]), "hmac-kit", "us-east-1").add_auth(request)
prepared = request.prepare()
with urllib.request.urlopen(urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")) as response:
    print(response.status, response.read().decode())
