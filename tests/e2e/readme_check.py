#!/usr/bin/env python3
"""Keeps README.md and docs/*.md from going stale: checks them against the repository and the
built programs. Standard library only.

Usage: readme_check.py SOURCE_DIR VIT_TRAIN
  SOURCE_DIR  the repository root
  VIT_TRAIN   the built vit-train; vit-eval and vit-predict are looked for beside it

Checks (each failure is one line "FAIL: FILE:LINE: what is wrong"; exit 1 when any failed):
  length    README.md has at most MAX_README_LINES lines
  links     every relative link of README.md and docs/*.md names an existing file, and an anchor
            into a Markdown file names one of its headings
  paths     no absolute path of a machine: nothing under /work, /root or /home anywhere, nothing
            under /tmp in code (fenced or indented blocks, inline code)
  named     every launch/, slurm/, bench/, configs/ path README.md names exists
  keys      every config key of src/config/train_config.cpp appears in docs/configuration.md,
            and every key that page names is one of them
  layout    every unit of src/ appears in docs/layout.md
  metrics   docs/run-directory.md's table of metrics.jsonl's fields and its table of TensorBoard
            tags hold exactly the fields and tags `vit-train --metric-schema` declares, and every
            sample metrics line of README.md and docs/*.md has its kind's fields in their order
  commands  README.md's sh blocks: commands starting with launch/, slurm/, bench/, build*/vit-*,
            sbatch or mpirun (also inside eval "$(...)"): the flags of vit-train, vit-eval and
            vit-predict appear in their --help; a script's flags appear in the script (usage text
            or case patterns), or, for a script that passes overrides on to vit-train, in
            vit-train's --help; the flags of sbatch and mpirun themselves appear in the files of
            tests/, launch/ or slurm/
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

MAX_README_LINES = 260
SECTIONS = ("model", "optim", "train", "data", "dist", "checkpoint", "log")
# section.name tokens that are file names, not keys (train.log, ...).
FILE_EXTENSIONS = {"sh", "log", "ini", "py", "md", "pt", "png", "jsonl", "cpp", "h", "proto"}

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --- Markdown structure -------------------------------------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)")


def classify(lines):
    """For each line: (kind, fence_lang) with kind 'fence' (a fence line), 'code' (inside a fenced
    block), 'indented' (an indented code block) or 'text'."""
    out = []
    in_fence, lang, prev_blank, in_indented = False, "", True, False
    for line in lines:
        m = FENCE.match(line)
        if in_fence:
            if m and m.group(1) and not m.group(2):
                in_fence = False
                out.append(("fence", lang))
            else:
                out.append(("code", lang))
            prev_blank = False
            continue
        if m:
            in_fence, lang = True, m.group(2)
            out.append(("fence", lang))
            continue
        blank = not line.strip()
        indented = line.startswith("    ") and not blank
        if indented and (prev_blank or in_indented) and not _in_list_item(out, lines, len(out)):
            in_indented = True
            out.append(("indented", ""))
        else:
            if not blank:
                in_indented = False
            out.append(("text", ""))
        prev_blank = blank
    return out


def _in_list_item(kinds, lines, i):
    """An indented line that continues a list item (the nearest text line above starts with a
    bullet and the line is not a code block of its own) is text."""
    for j in range(i - 1, -1, -1):
        if not lines[j].strip():
            return False
        if kinds[j][0] != "text":
            return False
        if re.match(r"^\s*([-*+]|\d+\.)\s", lines[j]):
            return True
    return False


INLINE_CODE = re.compile(r"`[^`]*`")


def slug(heading):
    """GitHub's anchor of a heading: inline code and links reduced to their text, lower case,
    punctuation dropped, spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        lines = read(path).split("\n")
        seen, result = {}, set()
        for line, (kind, _) in zip(lines, classify(lines)):
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if kind == "text" and m:
                base = slug(m.group(1))
                n = seen.get(base, 0)
                seen[base] = n + 1
                result.add(base if n == 0 else f"{base}-{n}")
        cache[path] = result
    return cache[path]


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def check_links(root, md):
    rel = os.path.relpath(md, root)
    lines = read(md).split("\n")
    for no, (line, (kind, _)) in enumerate(zip(lines, classify(lines)), 1):
        if kind != "text":
            continue
        for m in LINK.finditer(INLINE_CODE.sub("", line)):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, frag = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
            if not os.path.exists(dest):
                fail(f"{rel}:{no}", f"link to {target}: {path} does not exist")
                continue
            if frag and dest.endswith(".md") and frag not in anchors(dest):
                fail(f"{rel}:{no}", f"link to {target}: {os.path.relpath(dest, root)} has no "
                     f"heading with the anchor #{frag}")


MACHINE_PATH = re.compile(r"(?<![\w./~-])/(work|root|home)/")
TMP_PATH = re.compile(r"(?<![\w./~-])/tmp/")


def check_paths(root, md):
    rel = os.path.relpath(md, root)
    lines = read(md).split("\n")
    for no, (line, (kind, _)) in enumerate(zip(lines, classify(lines)), 1):
        m = MACHINE_PATH.search(line)
        if m:
            fail(f"{rel}:{no}", f"an absolute path of a machine (/{m.group(1)}/...): "
                 "write paths relative to the repository")
        code = line if kind in ("code", "indented") else " ".join(INLINE_CODE.findall(line))
        if TMP_PATH.search(code):
            fail(f"{rel}:{no}", "a /tmp/ path in sample output or a command: write what the "
                 "reader's machine would show, relative to the repository")


NAMED_PATH = re.compile(r"(?<![\w./-])((?:launch|slurm|bench|configs)/[\w.*-]+(?:/[\w.*-]+)*)")


def check_named_paths(root, readme):
    for no, line in enumerate(read(readme).split("\n"), 1):
        for m in NAMED_PATH.finditer(line):
            path = m.group(1).rstrip(".")
            full = os.path.join(root, path)
            if not (glob.glob(full) if "*" in path else os.path.exists(full)):
                fail(f"README.md:{no}", f"names {path}, which does not exist")


# --- config keys and layout ---------------------------------------------------------------------

def check_keys(root):
    source = read(os.path.join(root, "src/config/train_config.cpp"))
    keys = re.findall(r"\bv\(\s*\"([a-z_]+\.[a-z0-9_]+)\"", source)
    if len(keys) < 10:
        fail("src/config/train_config.cpp", f"found only {len(keys)} keys (v(\"section.name\", "
             "...) calls): has visit_fields changed its form? Update tests/e2e/readme_check.py")
        return
    doc_path = os.path.join(root, "docs/configuration.md")
    doc = read(doc_path)
    for key in keys:
        if not re.search(r"(?<![\w.])" + re.escape(key) + r"(?![\w])", doc):
            fail("docs/configuration.md", f"the key {key} (src/config/train_config.cpp) is not "
                 "described: add it to the table of keys")
    known = set(keys)
    pattern = re.compile(r"(?<![\w./-])((?:%s)\.[a-z_][a-z0-9_]*)(?![\w(])" % "|".join(SECTIONS))
    for no, line in enumerate(doc.split("\n"), 1):
        for m in pattern.finditer(line):
            token = m.group(1)
            if token.split(".", 1)[1] in FILE_EXTENSIONS or token in known:
                continue
            fail(f"docs/configuration.md:{no}", f"names the key {token}, which "
                 "src/config/train_config.cpp does not have")


def check_layout(root):
    doc = read(os.path.join(root, "docs/layout.md"))
    units = set()
    for path in glob.glob(os.path.join(root, "src/*/*")):
        name = os.path.relpath(path, os.path.join(root, "src"))
        stem, ext = os.path.splitext(name)
        if ext in (".h", ".cpp"):
            units.add(stem)
        elif ext == ".proto":
            units.add(name)
    for path in glob.glob(os.path.join(root, "src/*.cpp")) + glob.glob(os.path.join(root, "src/*.h")):
        units.add(os.path.relpath(path, root))
    for unit in sorted(units):
        if not re.search(r"(?<![\w])" + re.escape(unit) + r"(?![\w])", doc):
            fail("docs/layout.md", f"the unit {unit} of src/ is not listed")


# --- metrics.jsonl's fields ---------------------------------------------------------------------

METRICS_DOC = "docs/run-directory.md"
CODE_NAME = re.compile(r"`([^`]+)`")


def table_rows(lines, header):
    """(line number, cells) of the rows of the Markdown table whose header row is `header`."""
    rows = []
    for i, line in enumerate(lines):
        if [c.strip() for c in line.strip().strip("|").split("|")] == header:
            for no in range(i + 2, len(lines)):
                if not lines[no].lstrip().startswith("|"):
                    break
                rows.append((no + 1, [c.strip() for c in lines[no].strip().strip("|").split("|")]))
            return rows
    return None


def check_metrics(root, vit_train, docs):
    """docs/run-directory.md's two tables and the sample lines against vit-train --metric-schema."""
    run = subprocess.run([vit_train, "--metric-schema"], capture_output=True, text=True,
                         timeout=60)
    if run.returncode != 0:
        fail("tests/e2e/readme_check.py", f"{vit_train} --metric-schema failed: {run.stderr}")
        return
    schema = [json.loads(line) for line in run.stdout.splitlines()]
    events = sorted({f["event"] for f in schema})
    lines = read(os.path.join(root, METRICS_DOC)).split("\n")

    # | field | line | meaning |: keys (one or more, in backticks); the kinds of line: "all",
    # "both" (step and epoch) or a list ("epoch, eval").
    rows = table_rows(lines, ["field", "line", "meaning"])
    if rows is None:
        fail(METRICS_DOC, "no table | field | line | meaning | of metrics.jsonl's fields")
    else:
        declared = {}
        for f in schema:
            declared.setdefault(f["key"], set()).add(f["event"])
        documented = {}
        for no, cells in rows:
            kinds = (set(events) if cells[1] == "all" else {"step", "epoch"}
                     if cells[1] == "both" else {k.strip() for k in cells[1].split(",")})
            for key in CODE_NAME.findall(cells[0]):
                documented[key] = kinds
                if key not in declared:
                    fail(f"{METRICS_DOC}:{no}", f"the field {key} is not in vit-train "
                         "--metric-schema (src/train/metric_schema.cpp)")
                elif declared[key] != kinds:
                    fail(f"{METRICS_DOC}:{no}", f"the field {key} is in {sorted(kinds)} lines "
                         f"here, in {sorted(declared[key])} lines in src/train/metric_schema.cpp")
        for key in declared.keys() - documented.keys():
            fail(METRICS_DOC, f"the field {key} ({'/'.join(sorted(declared[key]))} lines, "
                 "src/train/metric_schema.cpp) has no row in the table of fields")

    # | tag | from | field |: a tag, "<event> lines", the key (in backticks, first).
    rows = table_rows(lines, ["tag", "from", "field"])
    if rows is None:
        fail(METRICS_DOC, "no table | tag | from | field | of TensorBoard tags")
    else:
        declared = {f["tag"]: (f["event"], f["key"]) for f in schema if f["tag"]}
        documented = set()
        for no, cells in rows:
            tag = cells[0].strip("`")
            keys = CODE_NAME.findall(cells[2])
            row = (cells[1].removesuffix(" lines"), keys[0] if keys else "")
            documented.add(tag)
            if tag not in declared:
                fail(f"{METRICS_DOC}:{no}", f"the tag {tag} is not in vit-train --metric-schema "
                     "(src/train/metric_schema.cpp)")
            elif declared[tag] != row:
                fail(f"{METRICS_DOC}:{no}", f"the tag {tag} is of {row[0]} lines' {row[1]} here, "
                     f"of {declared[tag][0]} lines' {declared[tag][1]} in "
                     "src/train/metric_schema.cpp")
        for tag in declared.keys() - documented:
            fail(METRICS_DOC, f"the tag {tag} ({declared[tag][0]} lines' {declared[tag][1]}, "
                 "src/train/metric_schema.cpp) has no row in the table of tags")

    # Sample lines: {"event":"...",...} whole, anywhere in README.md and docs/*.md.
    keys_of = {}
    for f in schema:
        keys_of.setdefault(f["event"], []).append(f["key"])
    for md in [os.path.join(root, "README.md")] + docs:
        for no, line in enumerate(read(md).split("\n"), 1):
            text = line.strip()
            if not text.startswith('{"event":'):
                continue
            where = f"{os.path.relpath(md, root)}:{no}"
            try:
                sample = json.loads(text)
            except json.JSONDecodeError:
                fail(where, "a sample metrics line that is not one JSON object")
                continue
            want = keys_of.get(sample.get("event"))
            if want is None:
                fail(where, f"a sample metrics line of event {sample.get('event')!r}, which "
                     "src/train/metric_schema.cpp does not declare")
            elif list(sample) != want:
                fail(where, f"a sample {sample['event']} line with the fields {list(sample)}, "
                     f"declared {want} (src/train/metric_schema.cpp)")


# --- commands -----------------------------------------------------------------------------------

class Programs:
    """The --help texts of the built programs, and the text of the repository's scripts."""

    def __init__(self, root, vit_train):
        self.root = root
        self.bin_dir = os.path.dirname(os.path.abspath(vit_train))
        self.help = {}
        corpus = []
        for folder in ("tests", "launch", "slurm"):
            for dirpath, _, files in os.walk(os.path.join(root, folder)):
                for f in files:
                    try:
                        corpus.append(read(os.path.join(dirpath, f)))
                    except (UnicodeDecodeError, OSError):
                        pass
        self.corpus = "\n".join(corpus)

    def help_text(self, program):
        if program not in self.help:
            path = os.path.join(self.bin_dir, program)
            if not os.access(path, os.X_OK):
                self.help[program] = None
            else:
                run = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60)
                self.help[program] = run.stdout + run.stderr
        return self.help[program]


def has_flag(text, flag):
    return re.search(r"(?<![\w.-])" + re.escape(flag) + r"(?![\w.-])", text) is not None


def flags_of(tokens):
    return [t.split("=", 1)[0] for t in tokens if re.match(r"^--?[A-Za-z]", t)]


OPERATORS = {";", "&&", "||", "|", "&", "(", ")"}
VIT_PROGRAM = re.compile(r"^(?:\./)?build[\w-]*/(vit-(?:train|eval|predict))$")
SCRIPT = re.compile(r"^(?:\./)?((?:launch|slurm|bench)/[\w./-]+)$")


def tokenize(line):
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def split_commands(tokens):
    """The simple commands of a token list, split at ;, &&, ||, | and &."""
    command = []
    for token in tokens + [";"]:
        if token in OPERATORS or set(token) <= set(";&|()"):
            if command:
                yield command
            command = []
        else:
            command.append(token)


def check_vit(programs, where, command, program, args):
    text = programs.help_text(program)
    if text is None:
        fail(where, f"{program} is not built beside vit-train ({programs.bin_dir}), so "
             f"`{command}` cannot be checked")
        return
    for flag in flags_of(args):
        if not has_flag(text, flag):
            fail(where, f"`{command}`: {program} --help has no {flag}")


def check_script(programs, where, command, script, args):
    path = os.path.join(programs.root, script)
    if not os.path.isfile(path):
        fail(where, f"`{command}`: {script} does not exist")
        return
    text = read(path)
    passes_overrides = "--section.key" in text
    train_help = programs.help_text("vit-train") if passes_overrides else None
    for flag in flags_of(args):
        if has_flag(text, flag):
            continue
        if train_help is not None and has_flag(train_help, flag):
            continue
        also = " nor in vit-train --help" if passes_overrides else ""
        fail(where, f"`{command}`: {flag} is not in {script}'s usage or case patterns{also}")


def check_command(programs, where, command, tokens):
    while tokens and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[0]):
        tokens = tokens[1:]  # VAR=value before the command
    if tokens and tokens[0] == "sudo":
        tokens = tokens[1:]
    if not tokens:
        return
    head, args = tokens[0], tokens[1:]
    if head == "eval":
        for arg in args:
            if arg.startswith("$(") and arg.endswith(")"):
                check_line(programs, where, arg[2:-1])
        return
    m = VIT_PROGRAM.match(head)
    if m:
        check_vit(programs, where, command, m.group(1), args)
        return
    m = SCRIPT.match(head)
    if m:
        check_script(programs, where, command, m.group(1), args)
        return
    if head in ("sbatch", "mpirun"):
        for i, arg in enumerate(args):
            target = SCRIPT.match(arg) or VIT_PROGRAM.match(arg)
            if target:
                break
        else:
            fail(where, f"`{command}`: no program or batch script found after {head}")
            return
        for flag in flags_of(args[:i]):
            if not has_flag(programs.corpus, flag):
                fail(where, f"`{command}`: the {head} flag {flag} appears in no file of tests/, "
                     "launch/ or slurm/: nothing runs it")
        check_command(programs, where, command, args[i:])


def check_line(programs, where, line):
    try:
        tokens = tokenize(line)
    except ValueError as e:
        fail(where, f"`{line.strip()}`: cannot be parsed as a shell command ({e})")
        return
    shown = " ".join(tokens)  # the command without its comment
    for command in split_commands(tokens):
        check_command(programs, where, shown, command)


def check_commands(root, readme, programs):
    lines = read(readme).split("\n")
    for no, (line, (kind, lang)) in enumerate(zip(lines, classify(lines)), 1):
        if kind == "code" and lang in ("sh", "bash", "shell") and line.strip():
            check_line(programs, f"README.md:{no}", line.lstrip().removeprefix("$ "))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: readme_check.py SOURCE_DIR VIT_TRAIN")
    root, vit_train = os.path.abspath(sys.argv[1]), sys.argv[2]
    readme = os.path.join(root, "README.md")
    docs = sorted(glob.glob(os.path.join(root, "docs/*.md")))

    n = len(read(readme).split("\n")) - (1 if read(readme).endswith("\n") else 0)
    if n > MAX_README_LINES:
        fail("README.md", f"{n} lines, more than {MAX_README_LINES}: move the detail into docs/")
    for md in [readme] + docs:
        check_links(root, md)
        check_paths(root, md)
    check_named_paths(root, readme)
    check_keys(root)
    check_layout(root)
    if not os.access(vit_train, os.X_OK):
        fail("tests/e2e/readme_check.py", f"{vit_train} is not an executable vit-train")
    else:
        check_metrics(root, vit_train, docs)
        check_commands(root, readme, Programs(root, vit_train))

    for line in failures:
        print(f"FAIL: {line}")
    if failures:
        print(f"readme: {len(failures)} problem(s) in README.md or docs/*.md")
        return 1
    print(f"readme: README.md ({n} lines) and {len(docs)} pages of docs/ agree with the repository")
    return 0


if __name__ == "__main__":
    sys.exit(main())
