"""``python -m sandbox``: run the sandbox upstream server in the foreground (the offline demo)."""

from __future__ import annotations

import argparse
from datetime import datetime

from sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--universe", choices=("default", "full"), default="default")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--now", help="freeze the sandbox clock at this aware ISO datetime")
    parser.add_argument("--kis-rate", type=float, default=20.0, help="KIS requests per second per appkey")
    parser.add_argument("--naver-quota", type=int, default=25_000, help="Naver calls per day")
    parser.add_argument("--telegram-flood-control", action="store_true")
    parser.add_argument("--print-env", action="store_true", help="print StockInsight settings as KEY=VALUE")
    args = parser.parse_args(argv)

    server = SandboxServer(
        host=args.host,
        port=args.port,
        universe=args.universe,
        seed=args.seed,
        kis_rate_per_second=args.kis_rate,
        naver_daily_quota=args.naver_quota,
        telegram_flood_control=args.telegram_flood_control,
        now=datetime.fromisoformat(args.now) if args.now else None,
    )
    server.start()
    print(server.base_url, flush=True)
    if args.print_env:
        for key, value in server.env().items():
            print(f"{key}={value}", flush=True)
    try:
        while True:
            server.wait(0.5)  # short joins keep Ctrl-C responsive
    except KeyboardInterrupt:
        pass  # Ctrl-C is how this foreground server is meant to stop
    finally:
        server.stop()


if __name__ == "__main__":
    main()
