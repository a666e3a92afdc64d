#!/usr/bin/env python3
"""Sets up the Tiki VIP bench rows (scripts/bench): as the sandbox payment partner (its
credentials read from the database), open the webview for a customer, check a plan out (the
platform creates the transaction at the sandbox partner), and print shell assignments for wrk:
the webview session cookie, the signed IPN body and headers for that payment (valid 5 minutes;
the IPN is idempotent, so replaying it measures the duplicate-IPN path after the first).
Usage: bench-tikivip.py URL DB_PATH"""
import base64, hashlib, hmac, json, shlex, sqlite3, sys, time, urllib.parse, urllib.request

url, db_path = sys.argv[1], sys.argv[2]
db = sqlite3.connect(db_path)
client_id, secret = db.execute("SELECT client_id, client_secret FROM tikivip_partners WHERE partner_code = 'SANDBOXPAY'").fetchone()

def signed(body: bytes):
    ts = str(int(time.time() * 1000))
    payload = base64.urlsafe_b64encode(ts.encode() + b"." + client_id.encode() + b"." + body).rstrip(b"=")
    sig = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return {"X-Tikivip-Timestamp": ts, "X-Tikivip-Client-Id": client_id, "X-Tikivip-Signature": sig, "Content-Type": "application/json"}

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

opener = urllib.request.build_opener(NoRedirect)
def call(req):
    try:
        return opener.open(req)
    except urllib.error.HTTPError as e:  # 3xx arrive here without redirect handling
        return e

body = json.dumps({"identify_code": "BENCH-1", "identify_phone": "0912000999"}, separators=(",", ":")).encode()
res = call(urllib.request.Request(f"{url}/miniapp/tikivip/webview", data=body, headers=signed(body), method="POST"))
answer = json.load(res)
if "data" not in answer:
    sys.exit(f"bench-tikivip: the webview request was refused: HTTP {res.status} {answer}")
url_open = answer["data"]["url_open"]
opened = call(urllib.request.Request(url_open))
cookie = opened.headers["Set-Cookie"].split(";")[0]
form = urllib.parse.urlencode({"plan": "VIP1M"}).encode()
checkout = call(urllib.request.Request(f"{url}/api/tikivip/checkout", data=form, method="POST",
    headers={"Cookie": cookie, "Origin": url, "Content-Type": "application/x-www-form-urlencoded"}))
assert checkout.status in (200, 302, 303), checkout.status
tiki_id, partner_id, amount = db.execute(
    "SELECT tiki_transaction_id, partner_transaction_id, amount FROM tikivip_transactions ORDER BY created_at DESC LIMIT 1").fetchone()
ipn = json.dumps({"reference_transaction_id": tiki_id, "transaction_amount": amount, "transaction_id": partner_id,
                  "status": "SUCCESS", "partner_banking_method": "SANDBOX_WALLET"}, separators=(",", ":")).encode()
h = signed(ipn)
print(f"VIP_COOKIE={shlex.quote(cookie)}")
print(f"IPN_BODY={shlex.quote(ipn.decode())}")
print(f"IPN_TS={h['X-Tikivip-Timestamp']} IPN_CLIENT={shlex.quote(client_id)} IPN_SIG={h['X-Tikivip-Signature']}")
