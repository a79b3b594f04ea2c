#!/usr/bin/env python3
"""Publish a NotificationRequest straight to notify.requests, skipping the HTTP gateway.

The record is Avro in single-object encoding (C3 01, the schema's 8-byte CRC-64-AVRO
fingerprint, little-endian, then the datum), keyed tenant:user so one user's notifications stay
in order on one partition. Needs: pip install confluent-kafka fastavro

    python3 docs/examples/produce_request.py --brokers 127.0.0.1:9092 --tenant acme --user user-42

The tenant must exist: the router dead-letters records of unknown tenants (notify.dlq, reason
in the headers), as it does any record it cannot decode or validate.
"""
import argparse
import io
import json
import pathlib
import time
import uuid

import fastavro
from confluent_kafka import Producer

SCHEMA_FILE = pathlib.Path(__file__).resolve().parents[2] / "schemas" / "avro" / "notification_request.avsc"


def single_object(schema: dict, record: dict) -> bytes:
    parsed = fastavro.parse_schema(schema)
    # fastavro gives the fingerprint as hex of the bytes in the spec's (little-endian) order
    fingerprint = bytes.fromhex(fastavro.schema.fingerprint(fastavro.schema.to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed, record)
    return b"\xc3\x01" + fingerprint + body.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="notify.requests")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--category", default="account")
    args = parser.parse_args()

    schema = json.loads(SCHEMA_FILE.read_text())
    now_ms = int(time.time() * 1000)
    record = {
        "tenant": args.tenant,
        "event_id": str(uuid.uuid4()),
        "idempotency_key": None,
        "user_id": args.user,
        "category": args.category,
        "priority": "NORMAL",
        "channels": ["SMS", "EMAIL"],
        "template": None,
        "content": {
            "push": None,
            "sms": {"text": "Your sign-in code is 123456"},
            "email": {"subject": "Your sign-in code", "html": None, "text": "Your code is 123456"},
        },
        "locale": None,
        "send_at": None,
        "expires_at": now_ms + 15 * 60 * 1000,
        "created_at": now_ms,
        "trace": None,
    }
    payload = single_object(schema, record)

    # the same delivery guarantees the gateway uses: acknowledged by all in-sync replicas, idempotent
    producer = Producer({"bootstrap.servers": args.brokers, "acks": "all", "enable.idempotence": True,
                         # place keys as the platform does (murmur2, the Java client's way)
                         "partitioner": "murmur2_random"})
    outcome = {}
    producer.produce(args.topic, key=f"{args.tenant}:{args.user}", value=payload,
                     on_delivery=lambda err, msg: outcome.update(err=err, msg=msg))
    producer.flush(10)
    if outcome.get("err") is not None or "msg" not in outcome:
        raise SystemExit(f"not acknowledged: {outcome.get('err', 'no delivery report within 10 s')}")
    msg = outcome["msg"]
    print(f"event {record['event_id']} written to {msg.topic()}[{msg.partition()}]@{msg.offset()}")


if __name__ == "__main__":
    main()
