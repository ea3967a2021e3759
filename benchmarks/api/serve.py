"""One uvicorn process serving Rapport or the minimal app, the way `rapport serve` does.

    python benchmarks/api/serve.py rapport|minimal --port 18001

Both run in this process (no reloader, no worker processes), so the pid `bench.py` samples is the
server's. Rapport is `uvicorn.run(create_app(settings), log_config=None)` exactly as
`rapport serve` runs it, without the migration, demo data and Stripe sandbox steps around it;
its settings come from the environment (`RAPPORT_*`) as in production.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("side", choices=["rapport", "minimal"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.side == "rapport":
        from app.main import create_app

        uvicorn.run(create_app(), host=args.host, port=args.port, log_config=None)
    else:
        sys.path.insert(0, str(HERE))
        from minimal import app

        uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
