"""Rewrites every 1-D Conv of an fp32 Kokoro graph as a 2-D Conv of height 1.

Why: ONNX Runtime's blocked-channel (NCHWc) convolution kernels, which its full optimization level
substitutes for fp32 Conv on x86, only apply to 2-D convolutions; Kokoro's decoder is built of
1-D ones, which run as im2col + GEMM. Written as 2-D (Unsqueeze the input to N,C,1,T, weight
M,C,1,k, Squeeze the output back) the arithmetic is identical and the NCHWc path becomes
eligible. Input: the fp32 graph from dequantize_kokoro.py.

Usage: python conv2d_variant.py FP32_MODEL OUT_MODEL
"""

import collections
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

from dequantize_kokoro import save_rewritten


def attr(node, name, default):
    """An attribute's ints, string or int, or `default` when the node does not set it."""
    for a in node.attribute:
        if a.name == name:
            return list(a.ints) if a.ints else a.s.decode() if a.s else a.i
    return default


def main(src, dst):
    model = onnx.load(src)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    axes = "conv2d_axes_2"
    g.initializer.append(numpy_helper.from_array(np.array([2], dtype=np.int64), axes))
    reshaped = {}
    out_nodes = []
    counts = collections.Counter()
    for n in g.node:
        w = inits.get(n.input[1]) if n.op_type == "Conv" and len(n.input) > 1 else None
        if w is None or len(w.dims) != 3:
            out_nodes.append(n)
            if n.op_type == "Conv":
                counts["Conv left (weight not an initializer or not 1-D)"] += 1
            continue
        if attr(n, "auto_pad", "NOTSET") not in ("NOTSET", 0):
            out_nodes.append(n)
            counts["Conv left (auto_pad)"] += 1
            continue
        if w.name not in reshaped:
            arr = numpy_helper.to_array(w)
            t = numpy_helper.from_array(arr.reshape(arr.shape[0], arr.shape[1], 1, arr.shape[2]),
                                        w.name + "_2d")
            g.initializer.append(t)
            reshaped[w.name] = t.name
        x4 = n.output[0] + "_x4"
        y4 = n.output[0] + "_y4"
        out_nodes.append(helper.make_node("Unsqueeze", [n.input[0], axes], [x4], name=n.name + "_u"))
        pads = attr(n, "pads", [0, 0])
        conv = helper.make_node(
            "Conv", [x4, reshaped[w.name]] + list(n.input[2:]), [y4], name=n.name + "_2d",
            kernel_shape=[1, list(w.dims)[2]],
            pads=[0, pads[0], 0, pads[1]],
            strides=[1] + attr(n, "strides", [1]),
            dilations=[1] + attr(n, "dilations", [1]),
            group=attr(n, "group", 1),
        )
        out_nodes.append(conv)
        out_nodes.append(helper.make_node("Squeeze", [y4, axes], [n.output[0]], name=n.name + "_s"))
        counts["Conv 1-D -> 2-D"] += 1
    save_rewritten(model, out_nodes, dst)
    print(f"rewrote {dict(counts)} -> {dst}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
