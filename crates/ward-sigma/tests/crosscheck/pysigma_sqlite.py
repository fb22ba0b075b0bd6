#!/usr/bin/env python3
"""Independent cross-check: convert Sigma rules to SQL with pySigma and
pysigma-backend-sqlite, run them over the same events in SQLite, and print
each rule's matching event indices as JSON: {"rule_id": [indices], ...},
plus {"_unsupported": {"rule_id": "reason"}}.

usage: pysigma_sqlite.py EVENTS.jsonl RULE_DIR...

Events are flat JSON objects (one per line); each key is a column. Keyword
(fieldless) values match a `fulltext` column holding every value of the
event. Columns are COLLATE NOCASE, as Zircolite builds its table, so that
equality is case-insensitive like Sigma.
"""
import json
import re
import sqlite3
import sys
from pathlib import Path

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule


def regexp(pattern, value):
    if value is None:
        return False
    try:
        return re.search(pattern, str(value)) is not None
    except re.error:
        return False


def main():
    events = [json.loads(l) for l in Path(sys.argv[1]).read_text().splitlines() if l.strip()]
    columns = sorted({k for e in events for k in e})
    db = sqlite3.connect(":memory:")
    db.create_function("REGEXP", 2, regexp, deterministic=True)
    quoted = lambda c: '"' + c.replace('"', '""') + '"'
    db.execute(
        "CREATE TABLE logs (idx INTEGER, fulltext TEXT COLLATE NOCASE"
        + "".join(f", {quoted(c)} COLLATE NOCASE" for c in columns)
        + ")"
    )
    known = set(columns) | {"idx", "fulltext"}
    for i, e in enumerate(events):
        keys = list(e)
        vals = [v if isinstance(v, (int, float, str)) or v is None else json.dumps(v) for v in e.values()]
        vals = ["true" if v is True else "false" if v is False else v for v in vals]
        full = " ".join(str(v) for v in vals if v is not None)
        db.execute(
            f"INSERT INTO logs (idx, fulltext{''.join(', ' + quoted(k) for k in keys)}) VALUES (?, ?{', ?' * len(keys)})",
            [i, full, *vals],
        )
    backend = sqliteBackend(fulltext_field="fulltext")
    results, unsupported = {}, {}
    files = sorted(p for d in sys.argv[2:] for p in Path(d).rglob("*.yml"))
    for f in files:
        try:
            collection = SigmaCollection.from_yaml(f.read_text())
        except Exception as e:  # noqa: BLE001 - report, do not stop
            unsupported[str(f)] = f"parse: {e}"
            continue
        for rule in collection.rules:
            if not isinstance(rule, SigmaRule):
                continue
            rid = str(rule.id) if rule.id else str(f)
            try:
                queries = backend.convert_rule(rule)
            except (SigmaError, Exception) as e:  # noqa: BLE001
                unsupported[rid] = f"convert: {type(e).__name__}: {e}"[:300]
                continue
            hits = set()
            for q in queries:
                sql = re.sub(r"^SELECT \* FROM", "SELECT idx FROM", q)
                for _ in range(50):
                    try:
                        hits.update(r[0] for r in db.execute(sql))
                        break
                    except sqlite3.OperationalError as e:
                        m = re.match(r"no such column: (.+)", str(e))
                        if not m or m.group(1) in known:
                            unsupported[rid] = f"sqlite: {e}"[:300]
                            break
                        known.add(m.group(1))
                        db.execute(f"ALTER TABLE logs ADD COLUMN {quoted(m.group(1))} COLLATE NOCASE")
            results[rid] = sorted(hits)
    results["_unsupported"] = unsupported
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
