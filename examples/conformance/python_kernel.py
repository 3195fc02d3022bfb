#!/usr/bin/env python3
"""A quantize kernel in another language, checked through the kit's golden vectors.

Reads vectors.bin (layout in docs/conformance.md) with only the standard library, computes
quantize's level for every quant record, and writes outputs.json for `cli.ts check`.

  python3 examples/conformance/python_kernel.py VECTOR_DIR OUT.json [--float64]

By default it follows PyTorch: level = zp + round(float32(x * float32(1 / scale))), ties to even
(Python's round() is ties-to-even). --float64 forms x / scale in double precision instead, the
mistake the kit should catch at near-ties.
"""
import json
import struct
import sys


def f32(v):
    """Round a Python float (double) to float32."""
    return struct.unpack('<f', struct.pack('<f', v))[0]


def main(argv):
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != '--float64'):
        sys.exit('usage: python_kernel.py VECTOR_DIR OUT.json [--float64]')
    data = open(argv[0] + '/vectors.bin', 'rb').read()
    magic, version, convention, rounding, n_groups, n_quant, n_req = struct.unpack_from('<4sHBBIII', data, 0)
    assert magic == b'QGCV' and version == 1, 'not a version-1 qgrad vector file'
    groups = [struct.unpack_from('<iifi', data, 32 + 16 * g) for g in range(n_groups)]
    base = 32 + 16 * n_groups
    out = []
    for i in range(n_quant):
        group, x = struct.unpack_from('<If', data, base + 24 * i)
        qmin, qmax, scale, zp = groups[group]
        t = x / scale if len(argv) == 3 else f32(x * f32(1.0 / scale))
        level = min(qmax, max(qmin, zp + round(t)))
        out.append({'id': i, 'level': level})
    json.dump({'quant': out}, open(argv[1], 'w'))


if __name__ == '__main__':
    main(sys.argv[1:])
