"""Schemathesis hooks for tools/schemathesis.sh: NDJSON bodies (the batch endpoint), one JSON
value a line."""
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode()
