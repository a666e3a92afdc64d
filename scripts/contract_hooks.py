"""schemathesis hooks for scripts/contract.

* Batch files are sent as they are (text/csv, application/x-ndjson).
* The document the run uses names what valid requests need to find something: the seeded
  member (CONTRACT_SKYJOY_ID), and the benefit template and client code of issue and reverse
  requests (CONTRACT_BENEFITS_TEMPLATE_ID, CONTRACT_BENEFITS_CLIENT_CODE).
* Requests to the signed APIs are signed (`process_call_kwargs`): the body is serialized here
  to the exact bytes sent (kwargs["data"]), and the family is chosen by the path:

  | path | signed with | variables |
  |---|---|---|
  | /miniapp/tikivip/… | X-Tikivip-Timestamp, -Client-Id, -Signature: HMAC-SHA256 of the body (GET: empty) | CONTRACT_TIKIVIP_CLIENT_ID, CONTRACT_TIKIVIP_CLIENT_SECRET |
  | /isv/benefit/… | Client-Id, Request-Time, Signature: algorithm=RSA256 as the platform | CONTRACT_BENEFITS_CLIENT_ID, CONTRACT_BENEFITS_KEY_VERSION, CONTRACT_BENEFITS_PRIVATE_KEY (PEM) |
  | /api-benefit/… | Authorization: Bearer, a token of scope benefit:use | CONTRACT_BENEFITS_TOKEN |
  | /saas/… | Client-Id, Api-Key; Request In also Data.signature, RSA over Data as the server reads it | CONTRACT_REWARDS_CLIENT_ID, CONTRACT_REWARDS_API_KEY, CONTRACT_REWARDS_PRIVATE_KEY (PEM) |

  CONTRACT_BENEFITS_KEY_VERSION defaults to 1. A family whose variables are unset is sent as
  generated. When schemathesis made a case's headers invalid on purpose, the headers the
  document declares are left as it made them; an invalid body is signed as it is, unless its
  Data.signature was removed or is not a string. `signed` and `send` sign the same way for
  scripts (scripts/contract's notifyBenefitSync).
"""
import base64
import datetime
import decimal
import hashlib
import hmac
import json
import math
import os
import time
import urllib.parse

import requests
import schemathesis
import schemathesis.cli  # noqa: F401 (defines the process_call_kwargs hook when imported alone)
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


class Text:
    def as_requests(self, context, value):
        data = value if isinstance(value, (str, bytes)) else str(value)
        return {"data": data.encode("utf-8") if isinstance(data, str) else data}

    def as_werkzeug(self, context, value):
        return self.as_requests(context, value)


schemathesis.serializer("text/csv")(Text)
schemathesis.serializer("application/x-ndjson")(Text)


def _name(node, skyjoy_id, template_id, client_code):
    if isinstance(node, dict):
        if skyjoy_id and node.get("pattern") == "^SJ[0-9]{10}$":
            node["enum"] = [skyjoy_id]
        props = node.get("properties")
        if isinstance(props, dict) and "benefitIssueRequestId" in props:  # issue, reverse
            for name, value in (("benefitTemplateId", template_id), ("clientCode", client_code)):
                if value and isinstance(props.get(name), dict):
                    props[name]["enum"] = [value]
        for v in node.values():
            _name(v, skyjoy_id, template_id, client_code)
    elif isinstance(node, list):
        for v in node:
            _name(v, skyjoy_id, template_id, client_code)


@schemathesis.hook
def before_load_schema(context, raw_schema):
    env = os.environ.get
    _name(raw_schema, env("CONTRACT_SKYJOY_ID"), env("CONTRACT_BENEFITS_TEMPLATE_ID"), env("CONTRACT_BENEFITS_CLIENT_CODE"))


# --- the signatures ---------------------------------------------------------------------------

def _private_key(variable):
    return serialization.load_pem_private_key(os.environ[variable].encode(), password=None)


def _rsa_sha256_b64(variable, message: bytes) -> str:
    return base64.b64encode(_private_key(variable).sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def tikivip_headers(body: bytes, now_ms=None) -> dict:
    """X-Tikivip-*: hex(HMAC_SHA256(secret, base64url_nopad(timestamp.client_id.body)))."""
    client, secret = os.environ["CONTRACT_TIKIVIP_CLIENT_ID"], os.environ["CONTRACT_TIKIVIP_CLIENT_SECRET"]
    ts = str(now_ms if now_ms is not None else int(time.time() * 1000))
    payload = base64.urlsafe_b64encode(f"{ts}.{client}.".encode() + body).rstrip(b"=")
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return {"X-Tikivip-Timestamp": ts, "X-Tikivip-Client-Id": client, "X-Tikivip-Signature": signature}


def alipay_headers(method: str, uri: str, body: bytes, at=None) -> dict:
    """Alipay+: RSA256 over "METHOD uri\\nClient-Id.Request-Time.body", base64, URL-encoded."""
    client = os.environ["CONTRACT_BENEFITS_CLIENT_ID"]
    at = at or datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=7))).isoformat(timespec="milliseconds")
    content = f"{method.upper()} {uri}\n{client}.{at}.".encode() + body
    signature = urllib.parse.quote(_rsa_sha256_b64("CONTRACT_BENEFITS_PRIVATE_KEY", content), safe="")
    version = os.environ.get("CONTRACT_BENEFITS_KEY_VERSION", "1")
    return {"Client-Id": client, "Request-Time": at, "Signature": f"algorithm=RSA256,keyVersion={version},signature={signature}"}


def _float(x: float) -> str:
    """A float as serde_json 1.0.154 writes it (zmij): 0.0001, 1e-6, 100.0, 1e+16, 1.5e+300."""
    if x == 0:
        return "-0.0" if str(x).startswith("-") else "0.0"
    sign, (_, digits, k) = ("-" if x < 0 else ""), decimal.Decimal(repr(abs(x))).normalize().as_tuple()
    m = "".join(map(str, digits))
    e = len(m) + k - 1  # x = m[0].m[1:] × 10^e
    if 0 <= k and e <= 15:
        return f"{sign}{m}{'0' * k}.0"
    if 0 <= e <= 15:
        return f"{sign}{m[:e + 1]}.{m[e + 1:]}"
    if -5 <= e < 0:
        return f"{sign}0.{'0' * (-e - 1)}{m}"
    return f"{sign}{m[0]}{'.' + m[1:] if len(m) > 1 else ''}e{'+' if e > 0 else ''}{e}"


_POW10 = [float(f"1e{i}") for i in range(309)]


def _read(text: str):
    """The number serde_json 1.0.154 (without float_roundtrip) reads from `text`: an integer
    in u64/i64, else significand × 10^exponent computed in f64 steps (digits past u64 dropped)."""
    positive = not text.startswith("-")
    mantissa, _, exp = text.lstrip("-").lower().partition("e")
    whole, _, frac = mantissa.partition(".")
    digits, e = (whole + frac).lstrip("0") or "0", int(exp or 0) - len(frac)
    while int(digits) >= 2**64:
        digits, e = digits[:-1], e + 1
    sig = int(digits)
    if mantissa == whole and not exp and (positive or 0 < sig <= 2**63) and e == 0:
        return sig if positive else -sig
    f = float(sig)
    while abs(e) > 308 and f != 0:
        if e > 0:
            return math.inf  # serde_json: "number out of range"
        f, e = f / 1e308, e + 308
    if abs(e) <= 308:
        f = f * _POW10[e] if e >= 0 else f / _POW10[-e]
    return f if positive else -f


def canonical(value) -> str:
    """Compact JSON of a parsed value as the server writes it back (serde_json: members in
    order, numbers as it read them): what a reward Data signature covers."""
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value):
        read = _read(json.dumps(value))
        return str(read) if isinstance(read, int) else _float(read) if math.isfinite(read) else json.dumps(value)
    return json.dumps(value, ensure_ascii=False)


def sign_reward_data(data: dict) -> dict:
    """Data with its signature: base64(RSA-SHA256(canonical(Data without signature))), kept in
    its place when Data had one, else last."""
    unsigned = {k: v for k, v in data.items() if k != "signature"}
    signature = _rsa_sha256_b64("CONTRACT_REWARDS_PRIVATE_KEY", canonical(unsigned).encode("utf-8"))
    return {**data, "signature": signature} if "signature" in data else {**unsigned, "signature": signature}


def reward_headers() -> dict:
    return {"Client-Id": os.environ["CONTRACT_REWARDS_CLIENT_ID"], "Api-Key": os.environ["CONTRACT_REWARDS_API_KEY"]}


def family(path: str):
    """Which signed API family a path is, when its variables are set; else None."""
    families = (("/miniapp/tikivip/", "tikivip", ("CONTRACT_TIKIVIP_CLIENT_ID", "CONTRACT_TIKIVIP_CLIENT_SECRET")),
                ("/isv/benefit/", "benefits", ("CONTRACT_BENEFITS_CLIENT_ID", "CONTRACT_BENEFITS_PRIVATE_KEY")),
                ("/api-benefit/", "benefit-use", ("CONTRACT_BENEFITS_TOKEN",)),
                ("/saas/", "rewards", ("CONTRACT_REWARDS_CLIENT_ID", "CONTRACT_REWARDS_API_KEY", "CONTRACT_REWARDS_PRIVATE_KEY")))
    for prefix, name, variables in families:
        if path.startswith(prefix) and all(os.environ.get(v) for v in variables):
            return name
    return None


def signed(method: str, uri: str, body, sign_data=True):
    """(body bytes, headers) of a request to `uri` (path and query, as sent); `body` is the
    JSON value to send, bytes as they are, or None for no body."""
    path = urllib.parse.urlsplit(uri).path
    kind = family(path)
    if kind == "rewards" and path == "/saas/requestin" and sign_data and isinstance(body, dict) and isinstance(body.get("Data"), dict):
        body = {**body, "Data": sign_reward_data(body["Data"])}
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    if kind == "tikivip":
        return raw, tikivip_headers(raw)
    if kind == "benefits":
        return raw, alipay_headers(method, uri, raw)
    if kind == "benefit-use":
        return raw, {"Authorization": "Bearer " + os.environ["CONTRACT_BENEFITS_TOKEN"]}
    if kind == "rewards":
        return raw, reward_headers()
    return raw, {}


def send(base_url: str, method: str, path: str, body=None, tamper=None) -> requests.Response:
    """One signed request (scripts/contract's seeding, the proof); `tamper(headers)` may change
    the signed headers before it goes."""
    raw, headers = signed(method, path, body)
    headers = {"Content-Type": "application/json", **headers}
    if tamper:
        tamper(headers)
    return requests.request(method, base_url.rstrip("/") + path, data=raw, headers=headers, timeout=30)


def _negative(case, part):
    method = getattr(case.meta, part, None)
    return method is not None and method.is_negative


def _field_value(value: str) -> str:
    """A header value HTTP/1.1 can carry: control characters (but tab) removed. hyper refuses a
    request with one, with an empty 400 before any of our code runs (RFC 9110 §5.5), so such
    requests test the HTTP library, not the API; the README's "Limits and errors" says so."""
    return "".join(c for c in value if c == "\t" or (c >= " " and c != "\x7f"))


@schemathesis.hook
def process_call_kwargs(context, case, kwargs):
    if case.headers:
        case.headers = {k: _field_value(v) if isinstance(v, str) else v for k, v in case.headers.items()}
    sent = case.as_transport_kwargs(headers=kwargs.get("headers"))  # what schemathesis would send
    uri = requests.Request(sent["method"], sent["url"], params=sent.get("params")).prepare().path_url
    body = sent["data"] if "data" in sent else sent.get("json")
    if family(urllib.parse.urlsplit(uri).path) is None or "files" in sent or "data" in sent and not isinstance(body, (bytes, str)):
        return  # not a signed API, or a form: left as generated
    if isinstance(body, str):
        body = body.encode("utf-8")
    # an invalid body whose Data.signature schemathesis removed or mistyped keeps it so
    data = body.get("Data") if isinstance(body, dict) else None
    sign_data = not _negative(case, "body") or (isinstance(data, dict) and isinstance(data.get("signature"), str))
    raw, add = signed(sent["method"], uri, body, sign_data)
    if _negative(case, "headers"):  # headers made invalid on purpose (auth ones included) stay so
        declared = {p.name.lower() for p in case.operation.headers}
        add = {k: v for k, v in add.items() if k.lower() not in declared}
    elif add:
        # auth we supply, as a custom auth would: ignored_auth then checks that the same request
        # without it (and with a wrong value) is refused, rather than taking it for generated
        case._has_explicit_auth = True
    kwargs["headers"] = {**(kwargs.get("headers") or {}), **add}  # a copy: the run's -H stay as given
    kwargs["data"], kwargs["json"] = raw, None


# --- checks for the families that refuse with HTTP 200 ------------------------------------------
# Tiki VIP answers a refusal with HTTP 200 and a code other than 0 (only an unsigned request is
# 401), and the benefit ISV APIs every answer with HTTP 200, `success: false` and a documented
# resultCode (counterparts.md §2.5, §4.4). schemathesis' negative_data_rejection and
# ignored_auth read only the status; these two read the family's own answer, and hand every
# other operation to the built-in check. scripts/contract runs them in place of the built-ins.
from schemathesis.specs.openapi import checks as builtin  # noqa: E402


def _answer(response):
    try:
        return response.json()
    except ValueError:
        return None


def _refused(kind, response):
    """Whether the family's answer is a refusal; None for a family the status tells."""
    body = _answer(response)
    if kind == "tikivip":
        return response.status_code >= 400 or not isinstance(body, dict) or body.get("code") != 0
    if kind == "benefits":
        return not (isinstance(body, dict) and body.get("success") is True)
    return None


@schemathesis.check
def family_negative_data_rejection(ctx, response, case):
    """negative_data_rejection, with Tiki's and the ISV APIs' refusals read from their bodies."""
    kind = family(case.operation.path)
    if kind not in ("tikivip", "benefits"):
        return builtin.negative_data_rejection(ctx, response, case)
    if case.data_generation_method and case.data_generation_method.is_negative and not builtin.has_only_additional_properties_in_non_body_parameters(case):
        assert _refused(kind, response), f"invalid data accepted: {response.status_code} {response.text[:300]}"
    return None


@schemathesis.check
def family_ignored_auth(ctx, response, case):
    """ignored_auth; for the ISV APIs, whose refusals are HTTP 200: a request they accepted is
    refused (INVALID_CLIENT / INVALID_SIGNATURE) without its signature headers and with a
    signature changed by one character."""
    if family(case.operation.path) != "benefits":
        return builtin.ignored_auth(ctx, response, case)
    if _refused("benefits", response):
        return None
    sent = response.request
    headers = {k: v for k, v in sent.headers.items() if k.lower() not in ("signature", "client-id", "request-time")}
    bare = requests.request(sent.method, sent.url, data=sent.body, headers=headers, timeout=30)
    assert _answer(bare).get("resultCode") == "INVALID_CLIENT", f"accepted without a signature: {bare.text[:300]}"
    tampered = dict(sent.headers)
    value = tampered["Signature"]
    tampered["Signature"] = value[:-4] + ("A" if value[-4] != "A" else "B") + value[-3:]
    forged = requests.request(sent.method, sent.url, data=sent.body, headers=tampered, timeout=30)
    assert _answer(forged).get("resultCode") == "INVALID_SIGNATURE", f"accepted with a changed signature: {forged.text[:300]}"
    return None
