#!/usr/bin/env python3
"""Checks a metrics.jsonl against the contract of DESIGN.md / docs/run-directory.md.

Usage: check_metrics.py METRICS_FILE [--world N] [--epochs N]

Every line is one JSON object with the fields its event requires, of the right types; steps
never go down; no (event, step) pair appears twice (a second writer under mpirun, or a resumed
run that wrote a line again, would show as one); epochs count up from 1 without gaps. Prints
"ok: ..." or the first problem, naming the line, and exits non-zero.
"""
import json
import sys

REQUIRED = {
    "epoch": {"epoch": int, "step": int, "train_loss": float, "test_loss": float,
              "test_acc": float, "images_per_s": float, "epoch_s": float, "allreduce_s": float,
              "world_size": int, "lr": float, "elapsed_s": float},
    "step": {"step": int, "epoch": int, "loss": float, "lr": float, "images_per_s": float,
             "step_s": float, "allreduce_s": float, "world_size": int},
}


def fail(path, number, message):
    sys.exit(f"FAIL: {path}:{number}: {message}")


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    path = args[0]
    world = int(args[args.index("--world") + 1]) if "--world" in args else None
    epochs = int(args[args.index("--epochs") + 1]) if "--epochs" in args else None
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
            if event not in REQUIRED:
                fail(path, number, f"unknown event {event!r}")
            for key, kind in REQUIRED[event].items():
                if key not in line:
                    fail(path, number, f"{event} line lacks {key}")
                value = line[key]
                ok = isinstance(value, int) if kind is int else isinstance(value, (int, float))
                if not ok or isinstance(value, bool):
                    fail(path, number, f"{key} is not a {kind.__name__}: {value!r}")
            if world is not None and line["world_size"] != world:
                fail(path, number, f"world_size {line['world_size']}, expected {world}")
            if line["step"] < last_step:
                fail(path, number, f"step {line['step']} after step {last_step}")
            last_step = line["step"]
            if (event, line["step"]) in seen:
                fail(path, number, f"a second {event} line for step {line['step']}")
            seen.add((event, line["step"]))
            if event == "epoch":
                epoch_numbers.append(line["epoch"])
                if not 0 <= line["test_acc"] <= 1:
                    fail(path, number, f"test_acc {line['test_acc']} outside [0, 1]")
    if epoch_numbers != list(range(1, len(epoch_numbers) + 1)):
        sys.exit(f"FAIL: {path}: epochs {epoch_numbers} do not count up from 1")
    if epochs is not None and len(epoch_numbers) != epochs:
        sys.exit(f"FAIL: {path}: {len(epoch_numbers)} epoch lines, expected {epochs}")
    print(f"ok: {path}: {len(seen)} lines, last step {last_step}")


if __name__ == "__main__":
    main()
