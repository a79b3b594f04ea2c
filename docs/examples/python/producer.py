#!/usr/bin/env python3
"""Publish NotificationRequest records to notify.requests through the schema registry.

A producer service written the way a customer would, with Confluent's Python client: the value
is Avro in the Confluent framing (00, the schema's registry id as 4 big-endian bytes, the binary
datum), the key is the text "<tenant>:<user_id>", no headers. The writer schema is read from an
.avsc file (by default the repository's schemas/avro/notification_request.avsc) and the
serializer only looks up its id under the subject "<topic>-value": it never registers a schema.

    python3 producer.py --registry http://127.0.0.1:8081/apis/ccompat/v7 \\
        --tenant acme --user user-42 --category orders --channel sms --count 3

Prints one JSON line per record on stdout (event_id, key, topic, partition, offset, schema_id,
error) and a summary with the schema id on stderr. Exits 0 when the broker acknowledged every
record, 1 when any record failed, 2 when nothing could be sent (bad arguments, the writer schema
not registered, the registry unreachable).
"""
import argparse
import hashlib
import json
import pathlib
import sys
import time
import uuid

from confluent_kafka import KafkaException, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_SCHEMA = HERE.parents[2] / "schemas" / "avro" / "notification_request.avsc"

CHANNELS = ("APNS", "FCM", "WEBPUSH", "SMS", "EMAIL")
PRIORITIES = ("CRITICAL", "HIGH", "NORMAL", "BULK")

# The event id the HTTP gateway gives a request with an Idempotency-Key: a UUIDv5, in this
# namespace, of the tenant's length (8 bytes, big-endian), the tenant and the key. A record
# produced here with the same (tenant, key) as an HTTP request carries the same event id, so
# the platform treats the two as one notification.
IDEMPOTENT_EVENT_NAMESPACE = uuid.UUID("5f0e8a8e-41c4-4d0b-9a7e-1c2f6e63a7d1")


def event_id_for_key(tenant: str, key: str) -> str:
    t = tenant.encode("utf-8")
    name = len(t).to_bytes(8, "big") + t + key.encode("utf-8")
    digest = hashlib.sha1(IDEMPOTENT_EVENT_NAMESPACE.bytes + name).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    conn = p.add_argument_group("where")
    conn.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers (default %(default)s)")
    conn.add_argument("--registry", required=True,
                      help="Confluent-compatible registry URL, e.g. http://127.0.0.1:8081/apis/ccompat/v7")
    conn.add_argument("--topic", default="notify.requests", help="default %(default)s; the subject is <topic>-value")
    conn.add_argument("--schema", type=pathlib.Path, default=DEFAULT_SCHEMA,
                      help="writer schema (.avsc); must already be registered under the subject "
                           "(default: the repository's notification_request.avsc)")
    conn.add_argument("--timeout-s", type=float, default=30.0,
                      help="how long a record may wait for the broker's acknowledgement (default %(default)s)")

    req = p.add_argument_group("the notification")
    req.add_argument("--tenant", required=True)
    req.add_argument("--user", action="append", required=True, dest="users", metavar="USER",
                     help="user id; repeat to rotate the records over several users")
    req.add_argument("--category", required=True, help="notification type the user's preferences refer to")
    req.add_argument("--priority", type=str.upper, choices=PRIORITIES, default="NORMAL")
    req.add_argument("--channel", action="append", type=str.upper, choices=CHANNELS, dest="channels",
                     default=[], help="repeat for several; none means every channel the user has")
    req.add_argument("--template", help="template id; --param NAME=VALUE for its variables")
    req.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    req.add_argument("--push-title")
    req.add_argument("--push-body")
    req.add_argument("--sms-text")
    req.add_argument("--email-subject")
    req.add_argument("--email-text")
    req.add_argument("--locale", help="BCP 47 tag overriding the user's locale")
    req.add_argument("--send-in-s", type=int, help="deliver no earlier than this many seconds from now")
    req.add_argument("--expires-in-s", type=int, help="drop (EXPIRED) if not delivered within this many seconds")

    many = p.add_argument_group("how many")
    many.add_argument("--count", type=int, default=1, help="records to publish (default %(default)s)")
    many.add_argument("--id-prefix",
                      help="deterministic ids: record i gets idempotency key <prefix>-<i> and the event id "
                           "the gateway derives from (tenant, key), so running the same command again "
                           "publishes the same events (deduplicated downstream); default: random UUIDv4 ids")
    args = p.parse_args(argv)
    if args.count < 1:
        p.error("--count must be at least 1")
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            p.error(f"--param wants NAME=VALUE, got {item!r}")
        params[name] = value
    args.params = params
    if params and not args.template:
        p.error("--param needs --template")
    return args


def inline_content(args, i):
    """Inline content from the arguments; with neither a template nor any inline part, a small
    text for every channel family, so the record is deliverable on whatever the user has."""
    given = any([args.push_title, args.push_body, args.sms_text, args.email_subject, args.email_text])
    if not given and args.template:
        return None
    if not given:
        text = f"Test notification {i + 1} from producer.py"
        return {
            "push": {"title": "Test notification", "body": text, "data": {},
                     "image_url": None, "click_url": None, "sound": None, "badge": None},
            "sms": {"text": text},
            "email": {"subject": "Test notification", "html": None, "text": text},
        }
    push = None
    if args.push_title or args.push_body:
        push = {"title": args.push_title or "", "body": args.push_body or "", "data": {},
                "image_url": None, "click_url": None, "sound": None, "badge": None}
    email = None
    if args.email_subject or args.email_text:
        email = {"subject": args.email_subject or "", "html": None, "text": args.email_text}
    return {
        "push": push,
        "sms": {"text": args.sms_text} if args.sms_text else None,
        "email": email,
    }


def build_request(args, i, now_ms):
    """The i-th record, as a dict shaped like io.notify.v1.NotificationRequest."""
    user = args.users[i % len(args.users)]
    if args.id_prefix:
        idempotency_key = f"{args.id_prefix}-{i}"
        event_id = event_id_for_key(args.tenant, idempotency_key)
    else:
        idempotency_key = None
        event_id = str(uuid.uuid4())
    return {
        "tenant": args.tenant,
        "event_id": event_id,
        "idempotency_key": idempotency_key,
        "user_id": user,
        "category": args.category,
        "priority": args.priority,
        "channels": list(dict.fromkeys(args.channels)),
        "template": {"template_id": args.template, "params": args.params} if args.template else None,
        "content": inline_content(args, i),
        "locale": args.locale,
        "send_at": now_ms + args.send_in_s * 1000 if args.send_in_s else None,
        "expires_at": now_ms + args.expires_in_s * 1000 if args.expires_in_s else None,
        "created_at": now_ms,
        "trace": None,
    }


def fail(message):
    print(f"producer.py: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv=None):
    args = parse_args(argv)
    try:
        schema_text = args.schema.read_text()
        writer_schema = json.loads(schema_text)
    except (OSError, ValueError) as err:
        fail(f"cannot read the writer schema {args.schema}: {err}")
    subject = f"{args.topic}-value"

    registry = SchemaRegistryClient({"url": args.registry})
    serializer = AvroSerializer(
        registry,
        schema_text,
        conf={
            # The platform owns the subjects: `notify schemas register` registers each .avsc
            # after the registry's compatibility check. A producer that registered its own
            # schema could put a version on the subject that the router cannot read; with
            # auto-registration off the serializer only looks its writer schema up.
            "auto.register.schemas": False,
            # Use exactly the writer schema from the file (its id), not whatever version is
            # latest under the subject: the datum is written with the schema it is framed with.
            "use.latest.version": False,
            # Subjects follow the topic-name strategy: <topic>-value.
            "subject.name.strategy.type": "TOPIC",
        },
    )
    value_ctx = SerializationContext(args.topic, MessageField.VALUE)

    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        # the same guarantees the platform's own producers use
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.timeout.ms": int(args.timeout_s * 1000),
        # murmur2, as the gateway, `notify produce` and Kafka's Java client place keys (not
        # librdkafka's CRC32 default): one key, one partition, whichever of them published the
        # record (see docs/producers.md)
        "partitioner": "murmur2_random",
    })

    results = []  # one dict per record, in produce order; delivery reports fill them in
    schema_id = None

    def on_delivery(result):
        def report(err, msg):
            if err is not None:
                result["error"] = str(err)
            else:
                result.update(partition=msg.partition(), offset=msg.offset(), error=None)
        return report

    now_ms = int(time.time() * 1000)
    for i in range(args.count):
        record = build_request(args, i, now_ms)
        key = f"{record['tenant']}:{record['user_id']}"
        try:
            value = serializer(record, value_ctx)
        except SchemaRegistryError as err:
            if err.http_status_code == 404:
                fail(f"the writer schema {args.schema} is not registered under subject {subject} "
                     f"(registry: {err.error_message}); schemas are registered by the platform "
                     f"(notify schemas register), not by producers")
            fail(f"schema registry error for subject {subject}: {err}")
        except SerializationError as err:
            fail(f"record {i} does not fit the writer schema {args.schema}: {err}")
        except Exception as err:  # the registry unreachable: httpx errors, timeouts
            fail(f"schema registry at {args.registry} unreachable: {err!r}")
        if schema_id is None:
            # Confluent framing: magic byte 0, then the id as 4 big-endian bytes
            if value[0] != 0:
                fail(f"serializer wrote magic byte {value[0]:#04x}, not the Confluent framing 0x00")
            schema_id = int.from_bytes(value[1:5], "big")
            print(f"writer schema {writer_schema.get('namespace', '')}.{writer_schema.get('name')} "
                  f"from {args.schema.name} is id {schema_id} under subject {subject}", file=sys.stderr)
        result = {"event_id": record["event_id"], "key": key, "topic": args.topic,
                  "partition": None, "offset": None, "schema_id": schema_id,
                  "error": "no delivery report"}
        results.append(result)
        while True:
            try:
                producer.produce(args.topic, key=key.encode("utf-8"), value=value,
                                 on_delivery=on_delivery(result))
                break
            except BufferError:
                producer.poll(0.5)  # local queue full: let deliveries drain, then retry
            except KafkaException as err:
                result["error"] = str(err)
                break
        producer.poll(0)

    left = producer.flush(args.timeout_s + 5)
    failed = 0
    for result in results:
        if result["error"] is not None:
            failed += 1
            if left and result["error"] == "no delivery report":
                result["error"] = f"not acknowledged within {args.timeout_s} s"
        print(json.dumps(result), flush=True)
    print(f"{len(results) - failed} of {len(results)} records acknowledged on {args.topic} "
          f"(schema id {schema_id}, subject {subject}); {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
