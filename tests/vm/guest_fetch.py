"""Runs in the guest (system Python, standard library only): GET a URL on the guest's loopback and
save what came, for the host to read from the results share.

Usage: guest_fetch.py URL OUT [MAX_BYTES]. Prints `status content-type`. With MAX_BYTES, reads at
most that much (a stream never ends) and stops after 30 s.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(url: str, out: str, limit: int) -> None:
    try:
        response = urllib.request.urlopen(url, timeout=30)
    except urllib.error.HTTPError as exc:
        response = exc
    body = response.read(limit) if limit else response.read()
    with open(out, "wb") as f:
        f.write(body)
    print(response.status, response.headers.get("Content-Type", ""))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
