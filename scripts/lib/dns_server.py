#!/usr/bin/env python3
"""A loopback DNS server for the tests (started by scripts/lib/services.sh `start_dns`).

Answers TXT queries from a records directory, over UDP and TCP: the file named after the query
name (lowercase, without the final dot), e.g. `RECORDS/_shopfleet.www.example-xyz.test`, holds
one TXT value per line. An empty file is a name without TXT records (NOERROR, no answer); a
file whose first line is `!servfail` answers SERVFAIL (a DNS failure, for error paths); no file
is NXDOMAIN. Queries of other types for an existing name answer NOERROR with no records.

`whoami.shopfleet-test-dns` answers the TXT value `shopfleet-test-dns <records dir>`, so that
the scripts can tell this server (and which directory it serves) from anything else on the port.

Needs `dnslib` (PyPI). Usage: dns_server.py --port PORT --records DIR
"""
import argparse
import os
import signal
import sys
import threading

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer

WHOAMI = "whoami.shopfleet-test-dns"


class RecordsDirectory(BaseResolver):
    def __init__(self, records):
        self.records = os.path.abspath(records)

    def values(self, name):
        """The TXT values of `name`, '!servfail', or None when the name does not exist."""
        if name == WHOAMI:
            return [f"shopfleet-test-dns {self.records}"]
        # A query name is never a path: one file directly in the directory, or nothing.
        if not name or "/" in name or name.startswith("."):
            return None
        try:
            with open(os.path.join(self.records, name), encoding="utf-8") as f:
                lines = [line.rstrip("\r\n") for line in f]
        except (FileNotFoundError, IsADirectoryError):
            return None
        if lines and lines[0].strip() == "!servfail":
            return "!servfail"
        return [line for line in lines if line.strip()]

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        values = self.values(name)
        if values is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif values == "!servfail":
            reply.header.rcode = RCODE.SERVFAIL
        elif request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
            for value in values:
                # One character-string holds at most 255 bytes: longer values are split.
                raw = value.encode("utf-8")
                parts = [raw[i : i + 255] for i in range(0, len(raw), 255)]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(parts), ttl=0))
        return reply


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--records", required=True)
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args()
    os.makedirs(args.records, exist_ok=True)
    resolver = RecordsDirectory(args.records)
    # Errors only: one line per query would fill the log.
    logger = DNSLogger(log="-recv,-send,-request,-reply,-truncated,-data", prefix=False)
    servers = [
        DNSServer(resolver, port=args.port, address=args.address, logger=logger),
        DNSServer(resolver, port=args.port, address=args.address, logger=logger, tcp=True),
    ]
    for server in servers:
        server.start_thread()
    print(f"serving {resolver.records} on {args.address}:{args.port} (UDP, TCP)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
