#!/usr/bin/env python3
"""Count the outcomes on notify.status by channel and status, reading through the schema registry.

An analyst's consumer written with Confluent's Python client. It reads the topic from the
earliest offset in its own consumer group, decodes each value with the registry-aware Avro
deserializer (the Confluent framing: 00, the writer schema's registry id, the datum), resolves
it to the reader schema from the repository's schemas/avro/delivery_status.avsc, and counts.

    python3 status_counts.py --registry http://127.0.0.1:8081/apis/ccompat/v7 --tenant acme

Records it cannot decode are counted as "unreadable" (by kind) and skipped, never fatal:
records written before the registry was in use are Avro single-object encoded (C3 01, an 8-byte
schema fingerprint, the datum) and sit on the same topic until retention removes them; a
record naming a schema id the registry does not have is counted the same way. While the
registry cannot be reached the same record is tried again, and after --registry-wait-s the
script stops with exit 3 rather than count every record as unreadable.

Statuses are delivered at least once. A dispatcher's repeat is byte-identical to the first
copy, so by default a record with the same key and the same bytes as one already counted is
skipped (--repeats bytes). A request the router routes again reports its router statuses again
with a later occurred_at; --repeats content also skips those (it compares everything but
occurred_at), --repeats keep counts every record.

Stops after --idle-seconds without a record, once --expect N matching statuses were counted,
or after --max-seconds. Prints the counts as JSON on stdout and a table on stderr. Exits 0, or
1 when --expect was given and fewer were seen.
"""
import argparse
import hashlib
import json
import pathlib
import sys
import time
import uuid
from collections import Counter, defaultdict

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_SCHEMA = HERE.parents[2] / "schemas" / "avro" / "delivery_status.avsc"
REQUEST_ROW = "(request)"  # statuses of the whole request have no channel (ACCEPTED, some SUPPRESSED)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers (default %(default)s)")
    p.add_argument("--registry", required=True,
                   help="Confluent-compatible registry URL, e.g. http://127.0.0.1:8081/apis/ccompat/v7")
    p.add_argument("--topic", default="notify.status", help="default %(default)s")
    p.add_argument("--group", help="consumer group (default: a new one per run, status-counts-<random>); "
                                   "offsets are never committed, so every run reads from the earliest offset")
    p.add_argument("--schema", type=pathlib.Path, default=DEFAULT_SCHEMA,
                   help="reader schema (default: the repository's delivery_status.avsc)")
    p.add_argument("--event-ids", type=pathlib.Path, metavar="FILE",
                   help="count only these events: one per line, a bare id or a JSON object with "
                        "event_id (producer.py's output)")
    p.add_argument("--tenant", help="count only this tenant's statuses")
    p.add_argument("--expect", type=int, help="stop once this many matching statuses were counted")
    p.add_argument("--idle-seconds", type=float, default=10.0,
                   help="stop after this long without a record (default %(default)s)")
    p.add_argument("--max-seconds", type=float, help="stop after this long in any case")
    p.add_argument("--repeats", choices=("bytes", "content", "keep"), default="bytes",
                   help="which repeats to count once: byte-identical records (default), records equal "
                        "but for occurred_at, or none (count every record)")
    p.add_argument("--registry-wait-s", type=float, default=60.0,
                   help="how long to retry a record while the registry is unreachable (default %(default)s)")
    return p.parse_args(argv)


def read_event_ids(path):
    ids = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            line = json.loads(line).get("event_id") or ""
            if not line:
                continue
        ids.add(str(uuid.UUID(line)))
    return ids


def unreadable_kind(value):
    """What an undecodable value looks like, for the unreadable counts."""
    if not value:
        return "empty"
    if value[:2] == b"\xc3\x01":
        return "single_object"  # Avro single-object encoding: C3 01 + 8-byte fingerprint
    if value[0] == 0:
        return "confluent_undecodable"  # unknown schema id, or a datum that does not fit it
    return "unknown_framing"


def repeat_identity(key, value, status, mode):
    """What two copies of one status have in common: the key and the bytes, or (mode content,
    for a readable status) the key and every field but occurred_at."""
    if mode == "content" and status is not None:
        fields = {k: str(v) if v is not None else None for k, v in status.items() if k != "occurred_at"}
        return (key, json.dumps(fields, sort_keys=True))
    return (key, hashlib.sha256(value).digest())


class RegistryDown(Exception):
    pass


def decode(registry, deserializer, msg, wait_s):
    """The status as a dict, or None when it cannot be decoded. The writer schema is fetched
    first: while the registry does not answer it is asked again for up to wait_s, and only its
    definite answers (no such id) or a datum that does not decode make a record unreadable."""
    value = msg.value()
    if not value or len(value) < 6 or value[0] != 0:
        return None  # not the Confluent framing
    schema_id = int.from_bytes(value[1:5], "big")
    subject = f"{msg.topic()}-value"
    deadline = time.monotonic() + wait_s
    delay = 0.5
    while True:
        try:
            registry.get_schema(schema_id, subject)  # cached by the client after the first time
            break
        except SchemaRegistryError as err:
            if 400 <= err.http_status_code < 500:
                return None  # e.g. 404: the registry has no such schema id
            problem = err
        except Exception as err:  # connection refused, timeouts: the registry is unreachable
            problem = err
        if time.monotonic() >= deadline:
            raise RegistryDown(f"{problem!r}")
        print(f"status_counts.py: registry unavailable ({problem!r}); retrying", file=sys.stderr)
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    try:
        # no headers: the schema id is read from the value, as the platform writes and reads it
        return deserializer(value, SerializationContext(msg.topic(), MessageField.VALUE))
    except Exception:  # noqa: BLE001 - a datum that does not fit its writer schema
        return None


def print_table(counts, unreadable, out):
    if not counts and not unreadable:
        print("no statuses counted", file=out)
        return
    statuses = sorted({s for row in counts.values() for s in row})
    rows = sorted(counts, key=lambda c: (c == REQUEST_ROW, c))
    width = max([len("channel")] + [len(r) for r in rows])
    cols = [max(len(s), 5) for s in statuses]
    print("channel".ljust(width) + "".join(f"  {s:>{w}}" for s, w in zip(statuses, cols)), file=out)
    for r in rows:
        print(r.ljust(width) + "".join(f"  {counts[r].get(s, 0):>{w}}" for s, w in zip(statuses, cols)), file=out)
    if unreadable:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(unreadable.items()))
        print(f"unreadable: {sum(unreadable.values())} ({kinds})", file=out)


def main(argv=None):
    args = parse_args(argv)
    try:
        reader_schema = args.schema.read_text()
        json.loads(reader_schema)
    except (OSError, ValueError) as err:
        print(f"status_counts.py: cannot read the reader schema {args.schema}: {err}", file=sys.stderr)
        return 2
    wanted = read_event_ids(args.event_ids) if args.event_ids else None
    group = args.group or f"status-counts-{uuid.uuid4()}"

    registry = SchemaRegistryClient({"url": args.registry})
    deserializer = AvroDeserializer(
        registry,
        reader_schema,  # the writer schema (by id, from the registry) is resolved to this one
        conf={"subject.name.strategy.type": "TOPIC"},
    )
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        # read-only: nothing committed, so the group never moves past what a later run counts
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    })
    consumer.subscribe([args.topic])

    counts = defaultdict(Counter)  # channel -> status -> n
    unreadable = Counter()  # kind -> n
    seen = set()  # (key, digest of the value) of counted records, for repeats
    read = matched = repeats = 0
    started = last_record = time.monotonic()
    stopped_by = "idle"
    try:
        while True:
            now = time.monotonic()
            if args.expect is not None and matched >= args.expect:
                stopped_by = "expect"
                break
            if args.max_seconds is not None and now - started >= args.max_seconds:
                stopped_by = "max_seconds"
                break
            if now - last_record >= args.idle_seconds:
                break
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    print(f"status_counts.py: {msg.error()}", file=sys.stderr)
                continue
            last_record = time.monotonic()
            read += 1
            key = (msg.key() or b"").decode("utf-8", "replace")
            value = msg.value() or b""
            status = decode(registry, deserializer, msg, args.registry_wait_s)
            event_id = str(status["event_id"]) if status else key  # the key is the event id
            if wanted is not None and event_id not in wanted:
                continue
            if status is not None and args.tenant is not None and status["tenant"] != args.tenant:
                continue  # an unreadable record's tenant is unknown: it is counted in any case
            if args.repeats != "keep":
                identity = repeat_identity(key, value, status, args.repeats)
                if identity in seen:
                    repeats += 1
                    continue
                seen.add(identity)
            matched += 1
            if status is None:
                unreadable[unreadable_kind(value)] += 1
            else:
                # a provider's receipt (stage TRACKER) is counted as itself, not as another SENT
                counts[status["channel"] or REQUEST_ROW][status.get("receipt") or status["status"]] += 1
    except RegistryDown as err:
        print(f"status_counts.py: schema registry at {args.registry} unreachable for "
              f"{args.registry_wait_s} s ({err}); stopping", file=sys.stderr)
        return 3
    except KafkaException as err:
        print(f"status_counts.py: {err}", file=sys.stderr)
        return 2
    finally:
        consumer.close()

    result = {
        "topic": args.topic,
        "group": group,
        "records_read": read,
        "statuses": matched - sum(unreadable.values()),
        "counts": {channel: dict(sorted(row.items())) for channel, row in sorted(counts.items())},
        "unreadable": sum(unreadable.values()),
        "unreadable_by_kind": dict(sorted(unreadable.items())),
        "repeats_skipped": repeats,
        "stopped_by": stopped_by,
    }
    print(json.dumps(result), flush=True)
    print_table(counts, unreadable, sys.stderr)
    if args.expect is not None and matched < args.expect:
        print(f"status_counts.py: expected {args.expect} statuses, counted {matched}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
