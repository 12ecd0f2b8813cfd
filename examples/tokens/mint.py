#!/usr/bin/env python3
"""Mints an oachat user token (HS256 JWT) with the standard library only.

Usage: OACHAT_SIGNING_SECRET=... python3 mint.py <sub> [name] [tier]
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time

TTL_SECONDS = 600  # short-lived: the widget asks for a new one when it expires


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _encode(value) -> str:
    return _b64url(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def mint_oachat_token(sub, secret, name=None, tier=None, now=None):
    now = int(time.time()) if now is None else now
    claims = {"sub": sub, "exp": now + TTL_SECONDS}
    if name:
        claims["name"] = name
    if tier:
        claims["tier"] = tier
    signing_input = _encode({"alg": "HS256", "typ": "JWT"}) + "." + _encode(claims)
    signature = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


if __name__ == "__main__":
    secret = os.environ.get("OACHAT_SIGNING_SECRET")
    if len(sys.argv) < 2 or not secret:
        print("usage: OACHAT_SIGNING_SECRET=... python3 mint.py <sub> [name] [tier]", file=sys.stderr)
        sys.exit(2)
    args = sys.argv[1:] + [None, None]
    print(mint_oachat_token(args[0], secret, name=args[1], tier=args[2]))
