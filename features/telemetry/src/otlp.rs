//! Just enough protobuf to speak OTLP/HTTP: each span is encoded once, when it ends, straight
//! into the batch being filled, and a batch becomes an `ExportTraceServiceRequest` by writing
//! the envelope around it. Field numbers are those of `opentelemetry/proto/trace/v1/trace.proto`
//! and `common/v1/common.proto`.

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;

/// A span's or resource's attribute value (OTLP `AnyValue`), borrowed: it is encoded at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Text(&'a str),
    Int(i64),
    Bool(bool),
    Double(f64),
}

impl Value<'_> {
    fn encoded_len(&self) -> usize {
        match self {
            Value::Text(text) => len_field(text.len()),
            Value::Int(value) => uint_len(*value as u64),
            Value::Bool(_) => 2,
            Value::Double(_) => FIXED64_LEN,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Text(text) => bytes(out, 1, text.as_bytes()),
            Value::Bool(value) => uint(out, 2, u64::from(*value)),
            Value::Int(value) => uint(out, 3, *value as u64),
            Value::Double(value) => fixed64(out, 4, value.to_bits()),
        }
    }
}

/// A `KeyValue` as field `field` of the message being written.
pub(crate) fn attribute(out: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    let value_len = value.encoded_len();
    tag(out, field, LEN);
    varint(out, (len_field(key.len()) + len_field(value_len)) as u64);
    bytes(out, 1, key.as_bytes());
    tag(out, 2, LEN);
    varint(out, value_len as u64);
    value.encode(out);
}

/// A length-delimited field.
pub(crate) fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    tag(out, field, LEN);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

pub(crate) fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

pub(crate) fn uint(out: &mut Vec<u8>, field: u32, value: u64) {
    tag(out, field, VARINT);
    varint(out, value);
}

/// The header of a length-delimited field whose `len` bytes are written next.
pub(crate) fn message_header(out: &mut Vec<u8>, field: u32, len: usize) {
    tag(out, field, LEN);
    varint(out, len as u64);
}

fn tag(out: &mut Vec<u8>, field: u32, wire_type: u64) {
    varint(out, (u64::from(field) << 3) | wire_type);
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The size of a varint field (field numbers below 16).
pub(crate) fn uint_len(value: u64) -> usize {
    1 + varint_len(value)
}

/// The size of a fixed64 field (field numbers below 16).
pub(crate) const FIXED64_LEN: usize = 9;

fn varint_len(value: u64) -> usize {
    (64 - value.max(1).leading_zeros() as usize).div_ceil(7)
}

/// The size of a length-delimited field of `len` bytes (field numbers below 16).
pub(crate) fn len_field(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A `Resource` message with these attributes.
pub(crate) fn resource(attributes: &[(&str, &str)]) -> Vec<u8> {
    let mut resource = Vec::new();
    for (key, value) in attributes {
        attribute(&mut resource, 1, key, &Value::Text(value));
    }
    resource
}

/// The start of an `ExportTraceServiceRequest` whose `spans_len` bytes of spans (each already
/// a `ScopeSpans.spans` field) follow, from one resource (an encoded `Resource` message) and
/// instrumentation scope.
pub(crate) fn envelope(resource_message: &[u8], scope: &str, spans_len: usize) -> Vec<u8> {
    let mut scope_message = Vec::new();
    bytes(&mut scope_message, 1, scope.as_bytes());
    let scope_spans_len = len_field(scope_message.len()) + spans_len;
    let resource_spans_len = len_field(resource_message.len()) + len_field(scope_spans_len);
    let mut out = Vec::with_capacity(len_field(resource_spans_len) - spans_len);
    message_header(&mut out, 1, resource_spans_len);
    bytes(&mut out, 1, resource_message);
    message_header(&mut out, 2, scope_spans_len);
    bytes(&mut out, 1, &scope_message);
    out
}

/// The most bytes [`envelope`] writes for this resource and scope (spans below 4 GiB).
pub(crate) fn envelope_max_len(resource_message: &[u8], scope: &str) -> usize {
    envelope(resource_message, scope, u32::MAX as usize).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_take_the_bytes_their_value_needs() {
        for value in [0, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
        }
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
    }
}
