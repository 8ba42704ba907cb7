"""Builds an fp32 variant of Kokoro's int8 ONNX graph: the same weights, dequantized once at set-up.

The int8 export is onnxruntime's dynamic quantization: every MatMul and Conv became
DynamicQuantizeLinear(x) -> MatMulInteger/ConvInteger(xq, Wq) -> Cast -> Mul(x_scale * W_scale),
and the LSTMs became com.microsoft DynamicQuantizeLSTM. At run time that quantizes every
activation (a min/max pass, a rounding pass) before each product. Here the products run in fp32 on
the dequantized integer weights instead, so the output differs from the int8 graph only by the
activation rounding that is no longer done:

- DynamicQuantizeLinear(x) -> (x, 1.0, 0): activations pass through unquantized, with scale 1;
- MatMulInteger/ConvInteger(x, Wq, _, Wzp) -> MatMul/Conv(x, float(Wq) - Wzp); the Mul by
  x_scale * W_scale that follows (now 1 * W_scale) restores the weight scale unchanged;
- a conv's bias, re-quantized at run time to int32 for the integer accumulator, stays float;
- DynamicQuantizeLSTM -> LSTM with W and R dequantized per direction and transposed to LSTM's
  [directions, 4*hidden, input] layout.

Usage: python dequantize_kokoro.py INT8_MODEL OUT_FP32_MODEL
"""

import collections
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main(src, dst):
    model = onnx.load(src)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers = collections.defaultdict(list)
    for n in g.node:
        for i in n.input:
            consumers[i].append(n)

    def array(name):
        return numpy_helper.to_array(inits[name])

    def add_init(name, arr):
        # A weight shared by several products is converted once.
        if name in inits:
            return name
        t = numpy_helper.from_array(np.ascontiguousarray(arr), name)
        g.initializer.append(t)
        inits[name] = t
        return name

    new_nodes = []
    counts = collections.Counter()
    for n in g.node:
        if n.op_type == "DynamicQuantizeLinear":
            x = n.input[0]
            q, scale, zp = n.output
            new_nodes.append(helper.make_node("Identity", [x], [q], name=n.name + "_fp32"))
            new_nodes.append(helper.make_node(
                "Constant", [], [scale], name=n.name + "_one",
                value=helper.make_tensor(scale + "_v", TensorProto.FLOAT, [], [1.0])))
            new_nodes.append(helper.make_node(
                "Constant", [], [zp], name=n.name + "_zero",
                value=helper.make_tensor(zp + "_v", TensorProto.UINT8, [], [0])))
            counts["DynamicQuantizeLinear"] += 1
        elif n.op_type in ("MatMulInteger", "ConvInteger"):
            x, wq, _xzp, wzp = (list(n.input) + [""] * 4)[:4]
            w = array(wq).astype(np.float32)
            z = array(wzp).astype(np.float32) if wzp else np.float32(0)
            if n.op_type == "ConvInteger" and z.ndim == 1:
                z = z.reshape((-1,) + (1,) * (w.ndim - 1))
            wf = add_init(wq + "_fp32", w - z)
            op = "MatMul" if n.op_type == "MatMulInteger" else "Conv"
            node = helper.make_node(op, [x, wf], list(n.output), name=n.name + "_fp32")
            if op == "Conv":
                node.attribute.extend(n.attribute)
            new_nodes.append(node)
            counts[n.op_type] += 1
        elif n.op_type == "DynamicQuantizeLSTM":
            x, wq, rq, b, seq, h0, c0, p, ws, wzp, rs, rzp = (list(n.input) + [""] * 12)[:12]

            def deq(q, s, z):
                q = array(q).astype(np.float32)
                s = array(s).astype(np.float32).reshape(-1, 1, 1)
                z = array(z).astype(np.float32).reshape(-1, 1, 1)
                return ((q - z) * s).transpose(0, 2, 1)

            w = add_init(wq + "_fp32", deq(wq, ws, wzp))
            r = add_init(rq + "_fp32", deq(rq, rs, rzp))
            node = helper.make_node("LSTM", [x, w, r, b, seq, h0, c0, p], list(n.output),
                                    name=n.name + "_fp32")
            node.attribute.extend(n.attribute)
            new_nodes.append(node)
            counts["DynamicQuantizeLSTM"] += 1
        else:
            new_nodes.append(n)

    # Conv biases: ConvInteger's output plus an int32 bias (re-quantized from the float bias at run
    # time). The product is float now, so the bias's cast to int32 becomes a cast to float.
    for n in g.node:
        if n.op_type != "ConvInteger":
            continue
        for add in consumers[n.output[0]]:
            if add.op_type != "Add":
                continue
            for other in add.input:
                cur = producer.get(other)
                while cur is not None and cur.op_type in ("Reshape", "Cast"):
                    if cur.op_type == "Cast":
                        for a in cur.attribute:
                            if a.name == "to" and a.i == TensorProto.INT32:
                                a.i = TensorProto.FLOAT
                                counts["bias cast"] += 1
                        break
                    cur = producer.get(cur.input[0])

    if not any(o.domain == "" and o.version >= 14 for o in model.opset_import):
        raise SystemExit("unexpected opset")
    dropped = save_rewritten(model, new_nodes, dst)
    print(f"rewrote {dict(counts)}, dropped {dropped} integer initializers -> {dst}", file=sys.stderr)


def save_rewritten(model, nodes, dst):
    """Saves `model` with `nodes` as its graph, without the initializers nothing reads any more and
    without the intermediate shapes/types, which a rewrite may change (ORT infers them anew).
    Returns how many initializers were dropped."""
    g = model.graph
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    dropped = len(g.initializer) - len(keep)
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.value_info[:]
    onnx.save(model, dst)
    return dropped


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
