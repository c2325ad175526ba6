"""A moto server that handles one request at a time.

DynamoDB applies each write to an item atomically: a condition is checked and the update applied
as one step, and no read ever sees half of an update. moto applies an UpdateItem in several
Python steps (check the condition, then set each attribute) without a lock, so its usual
threaded server lets two concurrent requests interleave: a read can see the new `version` with
the old `items`, and two conditional writes can both pass. Serving one request at a time gives
back DynamoDB's per-item atomicity. Clients still run concurrently: their read-modify-write
cycles interleave between requests, which is what optimistic locking is about.

Usage: python moto_server.py [--host 127.0.0.1] [--port 5000] [--exit-on-stdin-eof]
Prints "ready <port>" once it listens (--port 0 picks a free port).
With --exit-on-stdin-eof it stops when its standard input closes: a test process holds the
other end, so the server cannot outlive the tests, however they end.
"""

import argparse
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        args.host, args.port, app, threaded=False, request_handler=MotoRequestHandler
    )
    print(f"ready {server.port}", flush=True)
    if args.exit_on_stdin_eof:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
        server.shutdown()
    else:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
