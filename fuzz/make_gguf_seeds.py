#!/usr/bin/env python3
"""Writes the GGUF fuzz seed corpus (fuzz/corpus/gguf/) from the oracle files in tests/data/oracle.

Per oracle file, two seeds:
  *.head.gguf   the file cut where the tensor data starts: every real header, metadata pair and
                tensor info, no data (the reader rejects it at the first tensor's bounds);
  *.small.gguf  (five of them) the same model shrunk to one layer, a vocabulary of 8, a 64-wide embedding and FFN (256 where K-quant blocks need it), with the
                real metadata types and tensor types and seeded random data: a valid Qwen2 file
                that load_qwen2 accepts, a few dozen KiB instead of megabytes.
Run from the repository root: python3 fuzz/make_gguf_seeds.py
"""
import glob
import os
import random
import struct

ORACLE = "tests/data/oracle"
OUT = "fuzz/corpus/gguf"
# ggml type id -> (block elements, block bytes)
BLOCK = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         12: (256, 144), 13: (256, 176), 14: (256, 210), 30: (1, 2)}
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.b[self.p:self.p + n]
        self.p += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        return self.take(SCALAR[t])


def w_string(s):
    return struct.pack("<Q", len(s)) + s


def w_value(t, v):
    if t == 8:
        return w_string(v)
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(w_value(et, i) for i in items)
    return struct.pack(SCALAR[t], v)


def parse(b):
    r = Reader(b)
    magic, version, n_t, n_kv = r.take("<I"), r.take("<I"), r.take("<Q"), r.take("<Q")
    assert magic == 0x46554747, "not GGUF"
    kv = []
    for _ in range(n_kv):
        k = r.string()
        t = r.take("<I")
        kv.append((k, t, r.value(t)))
    tensors = []
    for _ in range(n_t):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<q") for _ in range(nd)]
        tensors.append([name, ne, r.take("<i"), r.take("<Q")])
    align = 32
    for k, t, v in kv:
        if k == b"general.alignment":
            align = v
    data_start = (r.p + align - 1) // align * align
    return version, kv, tensors, data_start, align


def write(version, kv, tensors, align, rng):
    head = struct.pack("<IIQQ", 0x46554747, version, len(tensors), len(kv))
    head += b"".join(w_string(k) + struct.pack("<I", t) + w_value(t, v) for k, t, v in kv)
    blobs, off = [], 0
    for name, ne, typ, _ in tensors:
        n = 1
        for d in ne:
            n *= d
        be, bb = BLOCK[typ]
        nbytes = n // be * bb
        head += w_string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<q", d) for d in ne)
        head += struct.pack("<iQ", typ, off)
        blob = bytes(rng.getrandbits(8) for _ in range(nbytes))
        if typ in (0, 1, 30):  # keep float tensors finite: small values
            blob = (struct.pack("<f", 0.01) * (nbytes // 4)) if typ == 0 else (b"\x00\x20" * (nbytes // 2))
        pad = (-nbytes) % align
        blobs.append(blob + b"\0" * pad)
        off += nbytes + pad
    head += b"\0" * ((-len(head)) % align)
    return head + b"".join(blobs)


def shrink(kv, tensors):
    # Rows of K-quant tensors hold whole 256-element blocks: such files keep a 256-wide embedding.
    k_quant = any(typ in (12, 13, 14) for _, _, typ, _ in tensors)
    n_embd = 256 if k_quant else 64
    dims = {b"qwen2.block_count": 1, b"qwen2.vocab_size": 8, b"qwen2.feed_forward_length": n_embd,
            b"qwen2.context_length": 64}
    if not k_quant:
        dims.update({b"qwen2.embedding_length": 64, b"qwen2.attention.head_count": 2,
                     b"qwen2.attention.head_count_kv": 1})
    old_embd = next(v for k, t, v in kv if k == b"qwen2.embedding_length")
    old_kv_dim = old_embd // next(v for k, t, v in kv if k == b"qwen2.attention.head_count") * \
        next(v for k, t, v in kv if k == b"qwen2.attention.head_count_kv")
    kv = [(k, t, dims.get(k, v)) for k, t, v in kv]
    out = []
    for name, ne, typ, off in tensors:
        if name.startswith(b"blk.") and not name.startswith(b"blk.0."):
            continue
        ne = list(ne)
        # the embedding and K/V dimensions scale with n_embd (head_dim 32, one KV head)
        ne = [n_embd if d == old_embd else (32 if not k_quant and d == old_kv_dim else d) for d in ne]
        if name in (b"token_embd.weight", b"output.weight"):
            ne[1] = 8
        elif b"ffn_gate" in name or b"ffn_up" in name:
            ne[1] = n_embd
        elif b"ffn_down" in name:
            ne[0] = n_embd
        out.append([name, ne, typ, off])
    return kv, out


# The files shrunk into valid small models (the others' types are covered by these).
SMALL = {"tiny-a-f32", "tiny-a-f16", "tiny-a-q4_0", "tiny-a-q4_k_m", "tiny-b-q5_0"}


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(1)
    for path in sorted(glob.glob(os.path.join(ORACLE, "*.gguf"))):
        b = open(path, "rb").read()
        version, kv, tensors, data_start, align = parse(b)
        stem = os.path.basename(path)[:-len(".gguf")]
        base = os.path.join(OUT, stem)
        open(base + ".head.gguf", "wb").write(b[:data_start])
        if stem not in SMALL:
            continue
        skv, st = shrink(kv, tensors)
        open(base + ".small.gguf", "wb").write(write(version, skv, st, align, rng))


if __name__ == "__main__":
    main()
