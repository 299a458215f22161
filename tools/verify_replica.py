#!/usr/bin/env python3
"""Independent reseller-side verifier for a partnerfeed channel.

What it proves: a partner that knows nothing of partnerfeed's code, only the published sync
protocol (docs/sync-protocol.md) and an independent RFC 8785 (JCS) implementation -- the PyPI
package ``rfc8785``, not the service's Rust crate -- recomputes exactly what the service serves:

* every record's ``hash`` (in the full feed and in every upsert) is the lowercase hex SHA-256 of
  ``rfc8785.dumps(record)``;
* a replica built from the feed at its cursor and brought forward with ``/changes`` (upserts
  replace, deletes remove) has the same record count and channel digest as ``/digest`` reports
  for that same cursor (SHA-256 over ``sku<TAB>hash<LF>`` lines sorted by SKU bytes).

Setup:     pip install rfc8785          (Python 3.11; otherwise the standard library only)
Usage:     python3 tools/verify_replica.py --url http://127.0.0.1:8080 --token TOKEN \\
               --channel CODE [--follow-seconds S] [--limit N]
           python3 tools/verify_replica.py --self-test
Exit code: 0 verified; 1 a mismatch (each printed to stderr as sku, expected, got);
           2 an HTTP or transport error (status and problem body printed to stderr).
"""

import argparse
import hashlib
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import rfc8785

DIGEST_RETRIES = 5
EMPTY_POLL_SLEEP = 0.2


class HttpFailure(Exception):
    """An HTTP error, an unreachable server or a body that is not JSON: exit 2."""


def record_hash(record):
    """Lowercase hex SHA-256 of the record's RFC 8785 canonical bytes."""
    return hashlib.sha256(rfc8785.dumps(record)).hexdigest()


def channel_digest(pairs):
    """Digest of (sku, hash) pairs: SHA-256 over "sku\\thash\\n", sorted by SKU's UTF-8 bytes."""
    h = hashlib.sha256()
    for sku, sku_hash in sorted(pairs, key=lambda p: p[0].encode("utf-8")):
        h.update(f"{sku}\t{sku_hash}\n".encode("utf-8"))
    return h.hexdigest()


class Replica:
    def __init__(self, url, token, channel, limit=None):
        self.base = f"{url.rstrip('/')}/v1/channels/{urllib.parse.quote(channel, safe='')}"
        self.token, self.channel, self.limit = token, channel, limit
        self.records = {}  # sku -> (hash, record)
        self.cursor = None
        self.changes = 0
        self.problems = []  # (sku, what, expected, got)

    def get(self, path, **query):
        query = {k: v for k, v in query.items() if v is not None}
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        req = urllib.request.Request(url, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw, headers = resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            raise HttpFailure(f"HTTP {e.code} {e.reason} for GET {url}\n{body}") from None
        except (urllib.error.URLError, OSError) as e:
            raise HttpFailure(f"GET {url} failed: {e}") from None
        try:
            return json.loads(raw), headers
        except ValueError as e:
            raise HttpFailure(f"GET {url}: the body is not JSON ({e})") from None

    def check(self, sku, what, expected, got):
        if expected != got:
            self.problems.append((sku, what, expected, got))

    def accept(self, sku, served_hash, record):
        """Verifies one record against its served hash and SKU, then stores it."""
        try:
            computed = record_hash(record)
        except rfc8785.CanonicalizationError as e:
            computed = f"<not canonicalizable: {e}>"
        self.check(sku, "hash", computed, served_hash)
        self.check(sku, "record.sku", sku, record.get("sku") if isinstance(record, dict) else None)
        self.records[sku] = (served_hash, record)

    def load_feed(self):
        body, headers = self.get("/feed")
        self.check("-", "feed channel", self.channel, body.get("channel"))
        self.check("-", "Feed-Cursor header", body["cursor"], headers.get("Feed-Cursor"))
        for product in body["products"]:
            self.check(product["sku"], "listed twice in feed", False, product["sku"] in self.records)
            self.accept(product["sku"], product["hash"], product["record"])
        self.cursor = body["cursor"]

    def catch_up(self):
        """Follows `next` from the replica's cursor until has_more is false; changes applied."""
        before = self.changes
        while True:
            page, _ = self.get("/changes", since=self.cursor, limit=self.limit)
            self.check("-", "changes channel", self.channel, page.get("channel"))
            self.check("-", "changes since", self.cursor, page.get("since"))
            for change in page["changes"]:
                if change["op"] == "upsert":
                    self.accept(change["sku"], change["hash"], change["record"])
                elif change["op"] == "delete":
                    self.records.pop(change["sku"], None)
                else:
                    self.check(change.get("sku", "-"), "op", "upsert|delete", change["op"])
            self.changes += len(page["changes"])
            if page["has_more"] and page["next"] == self.cursor:
                self.check("-", "next of a has_more page", "a new cursor", page["next"])
            self.cursor = page["next"]
            if not page["has_more"] or self.problems:
                break
        return self.changes - before

    def follow(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.problems:
            if self.catch_up() == 0:
                time.sleep(EMPTY_POLL_SLEEP)

    def digest(self):
        return channel_digest((sku, h) for sku, (h, _) in self.records.items())

    def compare_digest(self):
        for attempt in range(DIGEST_RETRIES + 1):
            served, _ = self.get("/digest")
            if served["cursor"] == self.cursor:
                self.check("-", "digest count", len(self.records), served["count"])
                self.check("-", "digest", self.digest(), served["digest"])
                return
            if attempt < DIGEST_RETRIES:
                self.catch_up()
                if self.problems:
                    return
        self.check("-", f"digest cursor after {DIGEST_RETRIES} retries", self.cursor,
                   served["cursor"])


def verify(args):
    replica = Replica(args.url, args.token, args.channel, args.limit)
    steps = [replica.load_feed, replica.catch_up,
             lambda: replica.follow(args.follow_seconds), replica.compare_digest]
    try:
        for step in steps:
            step()
            if replica.problems:
                break
    except HttpFailure as e:
        print(e, file=sys.stderr)
        return 2
    except (KeyError, TypeError, AttributeError) as e:
        print(f"unexpected response shape: {e!r}", file=sys.stderr)
        return 1
    for sku, what, expected, got in replica.problems:
        print(f"MISMATCH sku={sku} {what}: expected {expected!r}, got {got!r}", file=sys.stderr)
    if replica.problems:
        return 1
    print(f"verified {len(replica.records)} records, {replica.changes} changes, "
          f"digest {replica.digest()}")
    return 0


def self_test():
    drl = {"sku": "DRL-1001", "gtin": "03700123456780", "title": "Perceuse 18 V",
           "attributes": {"voltage": 18, "cordless": True},
           "price": {"amount": "79.80", "currency": "EUR", "min_qty": 1},
           "price_tiers": [{"min_qty": 1, "amount": "79.80"}],
           "weight": {"net": "1450", "gross": "1900", "unit": "g"}}
    saw = {"sku": "SAW-2002", "title": "Scie sauteuse"}
    drl_hash = "8b5562a59352a528fb5f9cdef291cc9f3eb3560dde819916056f59857a3317a9"
    saw_hash = "65c3c3cffd31b9edf56b0e53f837285bb679564329c2aeefa76496b31e6f683b"
    cases = [  # (name, expected, got)
        ("rfc8785 key order and UTF-8", b'{"a":"\xc3\xa9","b":1}', rfc8785.dumps({"b": 1, "a": "é"})),
        ("digest of two lines", hashlib.sha256(b"A-1\taa\nB-2\tbb\n").hexdigest(),
         channel_digest([("B-2", "bb"), ("A-1", "aa")])),
        # The worked examples of docs/sync-protocol.md, sections 2 and 6.
        ("docs hash DRL-1001", drl_hash, record_hash(drl)),
        ("docs hash SAW-2002", saw_hash, record_hash(saw)),
        ("docs digest", "6ea89db87cf5571c38235777fba5e3d2207d83d0190da5c24301e69664eed441",
         channel_digest([("SAW-2002", saw_hash), ("DRL-1001", drl_hash)])),
    ]
    failed = [(n, e, g) for n, e, g in cases if e != g]
    for name, expected, got in failed:
        print(f"self-test FAILED {name}: expected {expected!r}, got {got!r}", file=sys.stderr)
    if not failed:
        print(f"self-test passed ({len(cases)} vectors)")
    return 1 if failed else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--token", help="bearer token of the reseller")
    parser.add_argument("--channel", help="channel code")
    parser.add_argument("--follow-seconds", type=float, default=0.0, metavar="S",
                        help="keep polling changes for S seconds before the digest check")
    parser.add_argument("--limit", type=int, metavar="N", help="changes per page (server default)")
    parser.add_argument("--self-test", action="store_true", help="check the vectors and exit")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    missing = [f"--{n}" for n in ("url", "token", "channel") if not getattr(args, n)]
    if missing:
        parser.error("required: " + ", ".join(missing))
    return verify(args)


if __name__ == "__main__":
    sys.exit(main())
