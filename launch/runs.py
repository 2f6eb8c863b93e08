#!/usr/bin/env python3
"""runs.py -- list vit-train run directories with their state and figures (launch/runs.sh).

Usage: runs.py [--json] [DIR ...]   (default DIR: runs)

A DIR holding config.ini is one run; any other DIR is searched for runs two levels deep (runs/x,
runs/slurm/x). One row per run, newest first:

  run      the folder
  state    running (a job holds its .lock now), done (checkpoints/final.pt written),
           stopped (checkpoints but no final model: resume with --resume auto), or new;
           ", N restart(s)" when launch/train.sh --max-restarts restarted it (its restart lines)
  epochs   epochs done / train.epochs of its config
  ranks    world size of its last epoch line
  model    width x blocks, heads (model.hidden_d, n_blocks, n_heads) and data set
  test     test accuracy of the last epoch line
  best     with a validation split or checkpoint.keep_best: the best epoch by train.monitor
  trained  seconds of training over its epoch lines (evaluations excluded)
  updated  when metrics.jsonl was last written

--json prints one JSON object per run instead. Standard library only; reads the files vit-train
writes (config.ini, metrics.jsonl, checkpoints/) and never changes them. A line torn by a crash
is skipped, as vit-train itself drops it on resume.
"""
import configparser
import json
import os
import sys
import time

HIGHER_IS_BETTER = {"val_acc": True, "test_acc": True, "val_loss": False, "test_loss": False,
                    "train_loss": False}


def find_runs(folder, depth=2):
    if os.path.isfile(os.path.join(folder, "config.ini")):
        return [folder]
    if depth == 0 or not os.path.isdir(folder):
        return []
    found = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path) and name not in ("tb", "checkpoints"):
            found += find_runs(path, depth - 1)
    return found


def held(lock_path):
    """Whether a process holds the flock of `lock_path` now (vit-train's util/dir_lock), as
    /proc/locks lists it: trying the lock instead could make a job that starts at that very
    moment fail to take it."""
    try:
        st = os.stat(lock_path)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    # "1: FLOCK  ADVISORY  WRITE 1234 fd:00:1234567 0 EOF" (major:minor in hex, then the inode);
    # a waiter's line has "->" after the number.
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return any("FLOCK" in fields and key in fields and "->" not in fields
               for fields in (line.split() for line in text.splitlines()))


def read_config(path):
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return {}
    return {f"{s}.{k}": v for s in parser.sections() for k, v in parser.items(s)}


def read_lines(path):
    lines = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for text in f:
                try:
                    line = json.loads(text)
                except json.JSONDecodeError:
                    continue  # torn by a crash mid-write
                if isinstance(line, dict):
                    lines.append(line)
    except OSError:
        pass
    return lines


def best_of(config, lines):
    metric = config.get("train.monitor", "test_acc")
    if metric == "auto":
        metric = "val_acc" if float(config.get("data.val_split", "0")) > 0 else "test_acc"
    event = "val" if metric.startswith("val_") else "epoch"
    scored = [(l[metric], l["epoch"]) for l in lines
              if l.get("event") == event and isinstance(l.get(metric), (int, float))]
    if not scored:
        return None
    higher = HIGHER_IS_BETTER.get(metric, True)
    value, epoch = scored[0]
    for v, e in scored[1:]:
        if (v > value) if higher else (v < value):
            value, epoch = v, e
    return {"metric": metric, "value": value, "epoch": epoch}


def describe(run):
    config = read_config(os.path.join(run, "config.ini"))
    metrics = os.path.join(run, "metrics.jsonl")
    lines = read_lines(metrics)
    epochs = [l for l in lines if l.get("event") == "epoch"]
    checkpoints = os.path.join(run, "checkpoints")
    if held(os.path.join(run, ".lock")):
        state = "running"
    elif os.path.isfile(os.path.join(checkpoints, "final.pt")):
        state = "done"
    elif os.path.isfile(os.path.join(checkpoints, "LATEST")):
        state = "stopped"
    else:
        state = "new"
    last = epochs[-1] if epochs else {}
    with_best = (float(config.get("data.val_split", "0") or 0) > 0 or
                 config.get("checkpoint.keep_best") == "true")
    return {
        "run": run,
        "state": state,
        "epochs_done": last.get("epoch", 0),
        "epochs": int(config.get("train.epochs", "0") or 0),
        "world_size": last.get("world_size"),
        "model": "{}x{}, {} heads".format(config.get("model.hidden_d", "?"),
                                          config.get("model.n_blocks", "?"),
                                          config.get("model.n_heads", "?")),
        "dataset": config.get("data.dataset", "?"),
        "test_acc": last.get("test_acc"),
        "best": best_of(config, lines) if with_best else None,
        "train_s": sum(l.get("epoch_s") or 0 for l in epochs),
        # restarts by launch/train.sh --max-restarts (or VIT_MAX_RESTARTS), by their lines
        "restarts": sum(1 for l in lines if l.get("event") == "restart"),
        "updated": os.path.getmtime(metrics) if os.path.exists(metrics) else
                   os.path.getmtime(os.path.join(run, "config.ini")),
    }


def duration(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def table(rows):
    head = ["run", "state", "epochs", "ranks", "model", "test", "best", "trained", "updated"]
    cells = [head]
    for r in rows:
        best = r["best"]
        best_text = "-" if best is None else (
            f"{best['metric']} {100 * best['value']:.2f}% (epoch {best['epoch']})"
            if best["metric"].endswith("_acc") else
            f"{best['metric']} {best['value']:.4f} (epoch {best['epoch']})")
        cells.append([
            r["run"], r["state"] + (f", {r['restarts']} restart" + ("s" if r["restarts"] > 1 else "")
                                    if r["restarts"] else ""),
            f"{r['epochs_done']}/{r['epochs']}",
            str(r["world_size"] or "-"), f"{r['model']}, {r['dataset']}",
            "-" if r["test_acc"] is None else f"{100 * r['test_acc']:.2f}%", best_text,
            duration(r["train_s"]), time.strftime("%Y-%m-%d %H:%M", time.localtime(r["updated"])),
        ])
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def main(argv):
    as_json = "--json" in argv
    folders = [a for a in argv if a != "--json"]
    for a in folders:
        if a.startswith("-"):
            sys.exit(f"error: runs.sh: unknown option {a} (usage: launch/runs.sh [--json] [DIR ...])")
    folders = folders or ["runs"]
    runs = []
    for folder in folders:
        if not os.path.isdir(folder):
            sys.exit(f"error: runs.sh: {folder} is not a directory (a run directory, or a folder of them)")
        runs += find_runs(folder)
    rows = sorted((describe(r) for r in runs), key=lambda r: r["updated"], reverse=True)
    if as_json:
        for r in rows:
            print(json.dumps(r))
    elif rows:
        print(table(rows))
    else:
        print(f"no runs in {', '.join(folders)} (a run directory holds config.ini)")


if __name__ == "__main__":
    main(sys.argv[1:])
