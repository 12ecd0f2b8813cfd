"""Receives oachat's server-tool webhooks with Python's standard library only.

Usage: OACHAT_TOOLS_SECRET=... PORT=8787 python3 receiver.py
Every check runs before the tool does; see README.md for the request format.
"""
import datetime
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY_BYTES = 64 * 1024  # the worker's tool calls are small; refuse anything bigger
MAX_CLOCK_SKEW_SECONDS = 300  # a captured request stops working after five minutes
REPLAY_WINDOW_SECONDS = 600  # remember delivery ids longer than the skew allows, both ways
MAX_REMEMBERED_DELIVERIES = 10_000  # bounded memory; beyond this, refuse rather than forget


class WebhookError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


# Delivery id -> when it was seen, oldest first. The server is threaded, hence the lock.
_seen_deliveries = OrderedDict()
_seen_lock = threading.Lock()


def remember_delivery(delivery_id, now):
    with _seen_lock:
        while _seen_deliveries:
            oldest_id, seen_at = next(iter(_seen_deliveries.items()))
            if now - seen_at < REPLAY_WINDOW_SECONDS:
                break
            del _seen_deliveries[oldest_id]
        if delivery_id in _seen_deliveries:
            raise WebhookError(409, "delivery already received")
        # Failing closed: forgetting an id early would let its request be replayed.
        if len(_seen_deliveries) >= MAX_REMEMBERED_DELIVERIES:
            raise WebhookError(503, "too many deliveries")
        _seen_deliveries[delivery_id] = now


def verify_delivery(secret, headers, raw_body, now=None):
    """Returns the delivery's parsed payload, or raises WebhookError with the status to answer.

    `headers` is any mapping with case-insensitive .get() (http.server's, Flask's, Django's
    request.headers); `raw_body` is the exact bytes received, before any JSON parsing.
    """
    now = time.time() if now is None else now
    if len(raw_body) > MAX_BODY_BYTES:
        raise WebhookError(413, "body too large")

    # 1. The signature covers "<timestamp>.<body bytes>": compare in constant time.
    timestamp = headers.get("x-oachat-timestamp") or ""
    signature = headers.get("x-oachat-signature") or ""
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        raise WebhookError(401, "bad timestamp")
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256)
    if not hmac.compare_digest(signature.encode(), ("v1=" + digest.hexdigest()).encode()):
        raise WebhookError(401, "bad signature")

    # 2. Fresh: a stale (or far-future) timestamp is refused as unauthenticated, 401.
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        raise WebhookError(401, "stale timestamp")

    # 3. The body is signed, the x-oachat-delivery header is not: take the id from the body
    #    and insist the header agrees, so a replay cannot pass by changing the header.
    try:
        payload = json.loads(raw_body)
    except ValueError:
        raise WebhookError(400, "body is not JSON") from None
    user = payload.get("user") if isinstance(payload, dict) else None
    if not (isinstance(user, dict) and isinstance(user.get("sub"), str)
            and all(isinstance(payload.get(k), str) for k in ("tool", "call_id", "request_id"))):
        raise WebhookError(400, "missing tool, call_id, request_id or user.sub")
    delivery_id = payload["request_id"] + ":" + payload["call_id"]
    if headers.get("x-oachat-delivery") != delivery_id:
        raise WebhookError(401, "delivery id does not match the body")

    # 4. Once only.
    remember_delivery(delivery_id, now)
    return payload


# The tools this OA backend answers. `user.sub` is who asked: the worker took it from the
# user's token, so scope every lookup to it.
def leave_balance(payload):
    args = payload.get("arguments")
    year = args.get("year") if isinstance(args, dict) else None
    if not isinstance(year, int) or isinstance(year, bool):
        year = datetime.date.today().year
    return {"user": payload["user"]["sub"], "days": 5, "year": year}  # ask your OA here


TOOLS = {"leave_balance": leave_balance}


def dispatch(payload):
    tool = TOOLS.get(payload["tool"])
    if tool is None:
        raise WebhookError(404, "unknown tool " + payload["tool"])
    return tool(payload)


class ReceiverHandler(BaseHTTPRequestHandler):
    secret = ""

    def do_POST(self):
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body must not be taken for a request
            if length < 0:
                return self.answer(400, {"error": "bad content-length"})
            return self.answer(413, {"error": "body too large"})
        try:
            payload = verify_delivery(self.secret, self.headers, self.rfile.read(length))
            self.answer(200, dispatch(payload))
        except WebhookError as error:
            self.answer(error.status, {"error": str(error)})

    def do_GET(self):
        self.answer(405, {"error": "POST only"})

    def answer(self, status, body):
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    secret = os.environ.get("OACHAT_TOOLS_SECRET")
    if not secret:
        sys.exit("usage: OACHAT_TOOLS_SECRET=... PORT=8787 python3 receiver.py")
    ReceiverHandler.secret = secret
    port = int(os.environ.get("PORT", "8787"))
    server = ThreadingHTTPServer(("127.0.0.1", port), ReceiverHandler)
    print(f"oachat tool receiver on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()
