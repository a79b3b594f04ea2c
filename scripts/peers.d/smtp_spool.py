"""SMTP peer for the integration tests: aiosmtpd on loopback, every accepted message appended
to a JSON Lines spool file.

Each line: {"mail_from", "rcpt_tos", "data" (the message as received, UTF-8 with invalid bytes
replaced), "received_at" (seconds since the epoch)}. Recipients whose local part starts with
"defer-" are refused with 451 and "reject-" with 550, so a client's transient and permanent
paths can be exercised against an SMTP server that is not ours; the local part "bounce" (or
"bounce+<tag>") is refused with 550 5.1.1 like a mailbox that does not exist, as the project's
own simulators treat it.

Usage: python smtp_spool.py --host 127.0.0.1 --port 2525 --spool /path/spool.jsonl
"""

import argparse
import asyncio
import json
import signal
import sys
import time

from aiosmtpd.controller import Controller


class SpoolHandler:
    def __init__(self, spool):
        self.spool = spool

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("defer-"):
            return "451 4.3.0 deferred by the test peer"
        if local.startswith("reject-"):
            return "550 5.1.1 mailbox unavailable"
        if local == "bounce" or local.startswith("bounce+"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.original_content.decode("utf-8", "replace"),
            "received_at": time.time(),
        }
        with open(self.spool, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return "250 2.0.0 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spool", required=True)
    args = parser.parse_args()

    controller = Controller(
        SpoolHandler(args.spool),
        hostname=args.host,
        port=args.port,
        data_size_limit=10 * 1024 * 1024,
    )
    controller.start()
    print(f"aiosmtpd listening on {args.host}:{args.port}, spool {args.spool}", flush=True)

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
