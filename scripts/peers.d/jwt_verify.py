#!/usr/bin/env python3
"""Independent check of the JWTs the APNs and FCM clients make, with PyJWT.

Reads one token on stdin and verifies it against a public key (PEM file):

  jwt_verify.py apns PUBLIC_KEY KEY_ID TEAM_ID
      ES256, header kid = KEY_ID, claims exactly {iss = TEAM_ID, iat}, iat within the last hour
  jwt_verify.py fcm PUBLIC_KEY CLIENT_EMAIL AUDIENCE
      RS256, iss = CLIENT_EMAIL, aud = AUDIENCE, scope has firebase.messaging,
      exp - iat <= 3600, not expired

Exits 0 and prints "ok" when the token passes, else exits 1 with the reason.
"""
import sys
import time

import jwt

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


def fail(reason):
    print(reason)
    sys.exit(1)


def check_apns(token, key, key_id, team_id):
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "ES256":
        fail(f"alg is {header.get('alg')}")
    if header.get("kid") != key_id:
        fail("kid does not match")
    claims = jwt.decode(
        token,
        key,
        algorithms=["ES256"],
        issuer=team_id,
        options={"require": ["iss", "iat"], "verify_exp": False},
    )
    if set(claims) != {"iss", "iat"}:
        fail(f"unexpected claims {sorted(claims)}")
    age = time.time() - claims["iat"]
    if not -60 <= age <= 3600:
        fail(f"iat is {age:.0f} s old")


def check_fcm(token, key, client_email, audience):
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "RS256":
        fail(f"alg is {header.get('alg')}")
    claims = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        issuer=client_email,
        audience=audience,
        options={"require": ["iss", "aud", "iat", "exp"]},
    )
    if SCOPE not in claims.get("scope", "").split(" "):
        fail("scope lacks firebase.messaging")
    if not 0 < claims["exp"] - claims["iat"] <= 3600:
        fail("exp is not within an hour after iat")


def main(argv):
    if len(argv) != 5 or argv[1] not in ("apns", "fcm"):
        fail(__doc__)
    kind, key_file, first, second = argv[1:]
    with open(key_file, encoding="ascii") as f:
        key = f.read()
    token = sys.stdin.read().strip()
    try:
        if kind == "apns":
            check_apns(token, key, first, second)
        else:
            check_fcm(token, key, first, second)
    except jwt.PyJWTError as err:
        fail(f"{type(err).__name__}: {err}")
    print("ok")


if __name__ == "__main__":
    main(sys.argv)
