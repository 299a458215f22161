"""A webhook receiver for smoke tests: verifies every delivery with the PyPI `standardwebhooks`
library (an implementation independent of partnerfeed) and prints one line per delivery:
`verified <webhook-id> <from> <to> <skus...>` or `FAILED <reason>`. Answers 200 when the
signature verifies, 401 otherwise.

Usage: python3 tools/webhook_receiver.py PORT SECRET   (needs `pip install standardwebhooks`)
"""

import http.server
import json
import sys

from standardwebhooks.webhooks import Webhook


def main() -> None:
    port, secret = int(sys.argv[1]), sys.argv[2]
    webhook = Webhook(secret)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                webhook.verify(body, headers)
            except Exception as error:  # the library raises its own verification errors
                print(f"FAILED {error}", flush=True)
                self.send_response(401)
                self.end_headers()
                return
            batch = json.loads(body)
            skus = " ".join(change["sku"] for change in batch["changes"])
            print(f"verified {headers['webhook-id']} {batch['from']} {batch['to']} {skus}", flush=True)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
