"""Writes test-set images of an IDX file as PNG files, with the standard library alone (zlib,
struct), so that vit-predict's input is the test set's own pixels and not the output of code
under test.

Usage: idx_to_png.py IMAGES.idx[.gz] OUT_DIR COUNT [--photos]
  OUT_DIR/test-NNNN.png: the first COUNT images as 8-bit gray PNGs, pixel for pixel;
  OUT_DIR/variant-<kind>.png: image 0 in other colour types, bit depths and sizes that must
  decode to the same 28x28 pixels (gray16, rgb, rgba, gray_alpha, palette, double: each pixel
  2x2, inverted: 255 - v on a light background, which vit-predict inverts back).
With --photos, instead OUT_DIR/photo-NNNN.png: each of the first COUNT images as a user's photo
of a digit written on paper would show it: dark ink on grey paper (its level varying), enlarged 3
to 7 times, rotated up to 10 degrees, anywhere in a 240x180 frame, with noise (seeded: the same
files every run).
"""
import math
import random
import gzip
import os
import struct
import sys
import zlib


def read_idx_images(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, count, rows, columns = struct.unpack(">IIII", data[:16])
    assert magic == 0x803, f"{path}: not an IDX image file"
    size = rows * columns
    return [
        [list(data[16 + i * size + r * columns:16 + i * size + (r + 1) * columns])
         for r in range(rows)]
        for i in range(count)
    ]


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_png(path, width, height, colour_type, bit_depth, rows, palette=None):
    """rows: one bytes object per row, already in the file's sample layout."""
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette is not None:
        data += chunk(b"PLTE", palette)
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def sample(image, x, y):
    """Bilinear sample of a 28x28 image at (x, y) in pixel units; 0 outside."""
    x0, y0 = math.floor(x), math.floor(y)
    fx, fy = x - x0, y - y0
    total = 0.0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            r, c = y0 + dy, x0 + dx
            if 0 <= r < len(image) and 0 <= c < len(image[0]):
                total += wy * wx * image[r][c]
    return total


def photo(image, rng, width=240, height=180):
    scale = rng.uniform(3, 7)
    angle = math.radians(rng.uniform(-10, 10))
    paper, ink, noise = rng.uniform(140, 210), rng.uniform(20, 60), rng.uniform(3, 8)
    side = 28 * scale
    cx, cy = rng.uniform(side / 2, width - side / 2), rng.uniform(side / 2, height - side / 2)
    cos, sin = math.cos(angle), math.sin(angle)
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            # The frame's pixel centre, back into the digit's 28x28 pixels.
            dx, dy = x + 0.5 - cx, y + 0.5 - cy
            u = (cos * dx + sin * dy) / scale + 14 - 0.5
            v = (-sin * dx + cos * dy) / scale + 14 - 0.5
            darkness = sample(image, u, v) / 255 if -1 < u < 28 and -1 < v < 28 else 0.0
            level = paper + (ink - paper) * darkness + rng.gauss(0, noise)
            row.append(max(0, min(255, round(level))))
        rows.append(bytes(row))
    return rows


def main():
    images_path, out, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    images = read_idx_images(images_path)
    if sys.argv[4:] == ["--photos"]:
        rng = random.Random(7)
        for i in range(count):
            write_png(f"{out}/photo-{i:04d}.png", 240, 180, 0, 8, photo(images[i], rng))
        return
    for i in range(count):
        image = images[i]
        write_png(f"{out}/test-{i:04d}.png", len(image[0]), len(image), 0, 8,
                  [bytes(row) for row in image])
    image = images[0]
    h, w = len(image), len(image[0])
    variants = {
        "gray16": (w, h, 0, 16, [b"".join(struct.pack(">H", v * 257) for v in row)
                                 for row in image], None),
        "rgb": (w, h, 2, 8, [bytes(c for v in row for c in (v, v, v)) for row in image], None),
        "rgba": (w, h, 6, 8, [bytes(c for v in row for c in (v, v, v, 255)) for row in image],
                 None),
        "gray_alpha": (w, h, 4, 8, [bytes(c for v in row for c in (v, 255)) for row in image],
                       None),
        "palette": (w, h, 3, 8, [bytes(row) for row in image],
                    bytes(c for v in range(256) for c in (v, v, v))),
        "double": (2 * w, 2 * h, 0, 8,
                   [bytes(v for v in row for _ in range(2)) for row in image for _ in range(2)],
                   None),
        "inverted": (w, h, 0, 8, [bytes(255 - v for v in row) for row in image], None),
    }
    for name, (width, height, colour, depth, rows, palette) in variants.items():
        write_png(f"{out}/variant-{name}.png", width, height, colour, depth, rows, palette)


if __name__ == "__main__":
    main()
