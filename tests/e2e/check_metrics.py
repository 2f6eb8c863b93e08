#!/usr/bin/env python3
"""Checks a metrics.jsonl against the fields vit-train declares for it (src/train/metric_schema.cpp,
printed by `vit-train --metric-schema`) and the contract of docs/run-directory.md.

Usage: check_metrics.py --schema SCHEMA_FILE METRICS_FILE [--world N] [--epochs N]
  SCHEMA_FILE  the output of `vit-train --metric-schema`: one JSON object per field

Every line is one JSON object of a declared kind ("event") with exactly its declared fields, in
their order, of their types; fractions lie in [0, 1]; steps never go down; no (event, step) pair
appears twice (a second writer under mpirun, or a resumed run that wrote a line again, would show
as one); epochs count up from 1 without gaps. Prints "ok: ..." or the first problem, naming the
line, and exits non-zero.
"""
import json
import sys

TYPES = {"integer": (int,), "number": (int, float), "text": (str,)}
TYPE_NAMES = {"integer": "an integer", "number": "a number", "text": "a string"}


def fail(path, number, message):
    sys.exit(f"FAIL: {path}:{number}: {message}")


def read_schema(path):
    """{event: [field, ...]} in the declared order."""
    schema = {}
    with open(path, encoding="utf-8") as lines:
        for text in lines:
            field = json.loads(text)
            schema.setdefault(field["event"], []).append(field)
    if not schema:
        sys.exit(f"FAIL: {path}: no fields in the metric schema")
    return schema


def check_fields(path, number, line, fields):
    keys = [f["key"] for f in fields]
    for key in keys:
        if key not in line:
            fail(path, number, f"{line['event']} line lacks {key}")
    for key in line:
        if key not in keys:
            fail(path, number, f"{key} is no field of {line['event']} lines")
    if list(line) != keys:
        fail(path, number, f"fields in the order {list(line)}, declared {keys}")
    for field in fields:
        value = line[field["key"]]
        if not isinstance(value, TYPES[field["type"]]) or isinstance(value, bool):
            fail(path, number, f"{field['key']} is not {TYPE_NAMES[field['type']]}: {value!r}")
        if field["unit"] == "fraction" and not 0 <= value <= 1:
            fail(path, number, f"{field['key']} {value} outside [0, 1]")


def option(args, name):
    return args[args.index(name) + 1] if name in args else None


def main():
    args = sys.argv[1:]
    schema_path = option(args, "--schema")
    rest = [a for i, a in enumerate(args) if not a.startswith("--") and
            (i == 0 or not args[i - 1].startswith("--"))]
    if schema_path is None or len(rest) != 1:
        sys.exit(__doc__)
    schema = read_schema(schema_path)
    path = rest[0]
    world = option(args, "--world")
    epochs = option(args, "--epochs")
    seen = set()
    last_step = -1
    epoch_numbers = []
    with open(path, encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            try:
                line = json.loads(text)
            except json.JSONDecodeError as e:
                fail(path, number, f"not JSON ({e}): {text.strip()}")
            event = line.get("event")
            if event not in schema:
                fail(path, number, f"unknown event {event!r}")
            check_fields(path, number, line, schema[event])
            if world is not None and line["world_size"] != int(world):
                fail(path, number, f"world_size {line['world_size']}, expected {world}")
            if line["step"] < last_step:
                fail(path, number, f"step {line['step']} after step {last_step}")
            last_step = line["step"]
            if (event, line["step"]) in seen:
                fail(path, number, f"a second {event} line for step {line['step']}")
            seen.add((event, line["step"]))
            if event == "epoch":
                epoch_numbers.append(line["epoch"])
    if epoch_numbers != list(range(1, len(epoch_numbers) + 1)):
        sys.exit(f"FAIL: {path}: epochs {epoch_numbers} do not count up from 1")
    if epochs is not None and len(epoch_numbers) != int(epochs):
        sys.exit(f"FAIL: {path}: {len(epoch_numbers)} epoch lines, expected {epochs}")
    print(f"ok: {path}: {len(seen)} lines, last step {last_step}")


if __name__ == "__main__":
    main()
