"""A bare Flask "hello world" under waitress, with the settings `ep serve` uses: the
reference bench/run.py compares each page's throughput with.

    python bench/hello.py --port P [--threads 8] [--connection-limit 500] [--channel-timeout 30]
"""

import argparse

import waitress
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    """The smallest page Flask serves."""
    return "Hello, World!"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--connection-limit", type=int, default=500)
    parser.add_argument("--channel-timeout", type=int, default=30)
    args = parser.parse_args(argv)
    # The same call as ep/cli.py's serve_cmd.
    waitress.serve(
        app,
        host=args.host,
        port=args.port,
        threads=args.threads,
        connection_limit=args.connection_limit,
        channel_timeout=args.channel_timeout,
        cleanup_interval=max(1, min(30, args.channel_timeout // 3)),
        asyncore_use_poll=True,
        ident="ep",
    )


if __name__ == "__main__":
    main()
