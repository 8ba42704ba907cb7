//! Exposing Kokoro's per-phoneme durations as an extra graph output, at load time.
//!
//! Kokoro predicts how many 25 ms frames (600 samples at 24 kHz) each input token lasts before it
//! decodes; the decoder's alignment is the cumulative sum of those counts. The published graph
//! computes them but does not return them, so word timings would have to be guessed from the
//! audio. The counts are the input of the `/encoder/CumSum` node; naming that tensor among the
//! graph outputs makes ONNX Runtime return it beside `audio`, at no extra compute.
//!
//! The edit is done on the protobuf wire format, without an ONNX or protobuf dependency: a
//! `ModelProto` is a sequence of tagged fields, its `graph` (field 7) is one length-delimited
//! field, and a repeated field (`GraphProto.output`, field 12) may be extended by appending one
//! more occurrence anywhere in the message. So the patch reads the graph's nodes to find the
//! tensor's name, appends one `ValueInfoProto { name }` to the graph and rewrites the graph's
//! length prefix; every other byte is copied unchanged.

/// Samples per duration frame of Kokoro's decoder (24 kHz, hop 600).
pub const FRAME_SAMPLES: usize = 600;

/// The node whose first input is the duration of every token.
const CUMSUM_NODE: &str = "/encoder/CumSum";

// Field numbers of onnx.proto3.
const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const GRAPH_OUTPUT: u64 = 12;
const NODE_INPUT: u64 = 1;
const NODE_NAME: u64 = 3;
const NODE_OP_TYPE: u64 = 4;
const VALUE_INFO_NAME: u64 = 1;
const LEN: u64 = 2;

/// One field of a message: its number, wire type and payload (the bytes of a length-delimited
/// field, else the raw encoding after the tag).
struct Field<'a> {
    number: u64,
    wire: u64,
    payload: &'a [u8],
    /// The whole field, tag included, for copying unchanged.
    raw: &'a [u8],
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 64 bits".into())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The fields of one message, in order.
fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let tag = varint(buf, &mut pos)?;
        let (number, wire) = (tag >> 3, tag & 7);
        let payload_start;
        match wire {
            0 => {
                payload_start = pos;
                varint(buf, &mut pos)?;
            }
            1 => {
                payload_start = pos;
                pos += 8;
            }
            LEN => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|e| e.to_string())?;
                payload_start = pos;
                pos = pos.checked_add(len).ok_or("length overflow")?;
            }
            5 => {
                payload_start = pos;
                pos += 4;
            }
            other => return Err(format!("unsupported wire type {other} in field {number}")),
        }
        if pos > buf.len() {
            return Err(format!("field {number} runs past the end of its message"));
        }
        out.push(Field {
            number,
            wire,
            payload: &buf[payload_start..pos],
            raw: &buf[start..pos],
        });
    }
    Ok(out)
}

fn string_field<'a>(f: &Field<'a>) -> Option<&'a str> {
    (f.wire == LEN).then(|| std::str::from_utf8(f.payload).ok())?
}

/// The name of the tensor holding the per-token durations: the first input of the CumSum node
/// (by name, else the only CumSum in the graph).
fn duration_tensor(graph: &[u8]) -> Result<String, String> {
    let mut cumsums = Vec::new();
    for node in fields(graph)?.iter().filter(|f| f.number == GRAPH_NODE) {
        let parts = fields(node.payload)?;
        let get = |n| {
            parts
                .iter()
                .filter(move |f| f.number == n)
                .filter_map(string_field)
        };
        let Some(input) = get(NODE_INPUT).next() else {
            continue;
        };
        if get(NODE_NAME).next() == Some(CUMSUM_NODE) {
            return Ok(input.to_owned());
        }
        if get(NODE_OP_TYPE).next() == Some("CumSum") {
            cumsums.push(input.to_owned());
        }
    }
    match cumsums.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(format!("the graph has no {CUMSUM_NODE} node")),
        _ => Err(format!(
            "the graph has no {CUMSUM_NODE} node and {} CumSum nodes",
            cumsums.len()
        )),
    }
}

/// The model with the duration tensor added to its outputs, and that tensor's name.
pub fn expose_durations(model: &[u8]) -> Result<(Vec<u8>, String), String> {
    let top = fields(model)?;
    let graph = top
        .iter()
        .find(|f| f.number == MODEL_GRAPH && f.wire == LEN)
        .ok_or("the model has no graph")?;
    let name = duration_tensor(graph.payload)?;
    let already = fields(graph.payload)?
        .iter()
        .filter(|f| f.number == GRAPH_OUTPUT)
        .filter_map(|f| fields(f.payload).ok())
        .any(|vi| {
            vi.iter()
                .any(|f| f.number == VALUE_INFO_NAME && string_field(f) == Some(&name))
        });
    let mut out = Vec::with_capacity(model.len() + name.len() + 16);
    for f in &top {
        if f.number != MODEL_GRAPH || already {
            out.extend_from_slice(f.raw);
            continue;
        }
        let mut value_info = Vec::with_capacity(name.len() + 4);
        put_varint(&mut value_info, (VALUE_INFO_NAME << 3) | LEN);
        put_varint(&mut value_info, name.len() as u64);
        value_info.extend_from_slice(name.as_bytes());
        let mut graph = f.payload.to_vec();
        put_varint(&mut graph, (GRAPH_OUTPUT << 3) | LEN);
        put_varint(&mut graph, value_info.len() as u64);
        graph.extend_from_slice(&value_info);
        put_varint(&mut out, (MODEL_GRAPH << 3) | LEN);
        put_varint(&mut out, graph.len() as u64);
        out.extend_from_slice(&graph);
    }
    Ok((out, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
        put_varint(out, (number << 3) | LEN);
        put_varint(out, payload.len() as u64);
        out.extend_from_slice(payload);
    }

    fn node(name: &str, op: &str, inputs: &[&str]) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            len_field(&mut n, NODE_INPUT, i.as_bytes());
        }
        len_field(&mut n, NODE_NAME, name.as_bytes());
        len_field(&mut n, NODE_OP_TYPE, op.as_bytes());
        n
    }

    /// A model with a version field before the graph and an opset after it, so the patch must
    /// keep fields on both sides.
    fn model(nodes: &[Vec<u8>]) -> Vec<u8> {
        let mut graph = Vec::new();
        for n in nodes {
            len_field(&mut graph, GRAPH_NODE, n);
        }
        let mut out_vi = Vec::new();
        len_field(&mut out_vi, VALUE_INFO_NAME, b"audio");
        len_field(&mut graph, GRAPH_OUTPUT, &out_vi);
        let mut m = vec![0x08, 0x08]; // ir_version = 8
        len_field(&mut m, MODEL_GRAPH, &graph);
        len_field(&mut m, 8, b"\x0a\x00\x10\x11"); // opset_import
        m
    }

    fn outputs(model: &[u8]) -> Vec<String> {
        let top = fields(model).unwrap();
        let graph = top.iter().find(|f| f.number == MODEL_GRAPH).unwrap();
        fields(graph.payload)
            .unwrap()
            .iter()
            .filter(|f| f.number == GRAPH_OUTPUT)
            .map(|f| {
                let vi = fields(f.payload).unwrap();
                string_field(&vi[0]).unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn the_cumsum_input_becomes_an_output_and_the_rest_is_kept() {
        let m = model(&[
            node("/encoder/Round", "Round", &["x"]),
            node(
                "/encoder/CumSum",
                "CumSum",
                &["/encoder/Clip_output_0", "axis"],
            ),
            node("/decoder/Conv", "Conv", &["y", "w"]),
        ]);
        let (patched, name) = expose_durations(&m).unwrap();
        assert_eq!(name, "/encoder/Clip_output_0");
        assert_eq!(outputs(&patched), ["audio", "/encoder/Clip_output_0"]);
        assert_eq!(&patched[..2], &m[..2], "fields before the graph are kept");
        assert!(
            patched.ends_with(b"\x0a\x00\x10\x11"),
            "fields after it too"
        );
        let (twice, _) = expose_durations(&patched).unwrap();
        assert_eq!(twice, patched, "patching is idempotent");
    }

    #[test]
    fn a_renamed_node_is_found_by_its_op_and_a_missing_one_is_an_error() {
        let m = model(&[node("cs", "CumSum", &["d", "axis"])]);
        assert_eq!(expose_durations(&m).unwrap().1, "d");
        let none = model(&[node("n", "Conv", &["a"])]);
        assert!(expose_durations(&none).unwrap_err().contains("CumSum"));
        assert!(expose_durations(&[0x3a, 0x10, 0x01]).is_err(), "truncated");
    }
}
