#!/usr/bin/env python3
"""A stand-in for the X-Ray daemon: receives segment documents over UDP and prints each trace as a tree.

Each datagram is the daemon protocol: a header line {"format": "json", "version": 1}, a newline,
then one (sub)segment document. The listener stops once no datagram has arrived for --idle seconds
after the first (or after --timeout seconds in all) and exits 0 only if at least --expect documents
arrived, every one with a valid header.
"""
import argparse
import json
import socket
import sys
import time

HEADER = '{"format": "json", "version": 1}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=2000)
    parser.add_argument("--expect", type=int, default=1)
    parser.add_argument("--idle", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", args.port))
    print(f"listening on udp 127.0.0.1:{args.port}", flush=True)
    documents, started, last = [], time.monotonic(), None
    while time.monotonic() - started < args.timeout:
        if last is not None and time.monotonic() - last > args.idle:
            break
        sock.settimeout(0.2)
        try:
            data = sock.recv(65536).decode()
        except socket.timeout:
            continue
        header, _, body = data.partition("\n")
        if header != HEADER:
            print(f"bad header: {header!r}", file=sys.stderr)
            return 1
        documents.append(json.loads(body))
        last = time.monotonic()

    print_trees(documents)
    if len(documents) < args.expect:
        print(f"expected at least {args.expect} documents, got {len(documents)}", file=sys.stderr)
        return 1
    return 0


def print_trees(documents):
    by_parent = {}
    ids = {d["id"] for d in documents}
    for d in documents:
        by_parent.setdefault(d.get("parent_id") if d.get("parent_id") in ids else None, []).append(d)
    for trace_id in sorted({d["trace_id"] for d in documents}):
        print(f"trace {trace_id}")
        for root in [d for d in by_parent.get(None, []) if d["trace_id"] == trace_id]:
            print_node(root, by_parent, 1)


def print_node(document, by_parent, depth):
    millis = (document["end_time"] - document["start_time"]) * 1000
    aws = document.get("aws", {})
    what = " ".join(filter(None, [aws.get("operation"), aws.get("table_name")]))
    flags = " ".join(f for f in ("error", "throttle", "fault") if document.get(f))
    notes = document.get("annotations", {})
    print(f"{'  ' * depth}{document['name']} {what} {millis:.1f} ms {flags} {notes if notes else ''}".rstrip())
    for child in sorted(by_parent.get(document["id"], []), key=lambda d: d["start_time"]):
        print_node(child, by_parent, depth + 1)


if __name__ == "__main__":
    sys.exit(main())
