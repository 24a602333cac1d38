#!/usr/bin/env python3
"""tests/backend/openai_server.py on a port of the caller's choice, so that the soak test can kill a tier
and start it again where the router expects it.

    tier_server.py PORT     PORT 0 picks a free one; prints "PORT <n>" once listening; stops on stdin EOF

The backlog is deeper than socketserver's 5: the soak's threads connect at once, and a SYN dropped on a
full backlog would look like a tier that is down.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "backend"))
import openai_server  # noqa: E402


class Server(openai_server.Server):
    request_queue_size = 128


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    # A port just freed by a killed server may take a moment to be bindable again.
    for attempt in range(50):
        try:
            server = Server(("127.0.0.1", port), openai_server.Handler)
            break
        except OSError:
            if attempt == 49:
                raise
            time.sleep(0.1)
    print(f"PORT {server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
