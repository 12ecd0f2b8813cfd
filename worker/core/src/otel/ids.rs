//! Trace and span ids, and the W3C `traceparent` header that makes a span the child of the
//! caller's trace. Ids are random bytes the shell draws from the platform's CSPRNG; here they
//! are only checked (an all-zero id is invalid everywhere) and spelled as OTLP/JSON wants
//! them: lowercase hex, 32 digits for a trace and 16 for a span.

use std::fmt;

/// A 16-byte trace id, never all zero.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceId([u8; 16]);

/// An 8-byte span id, never all zero.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SpanId([u8; 8]);

/// How many random bytes [`SpanIds::new`] takes: a trace id and a span id.
pub const RANDOM_BYTES: usize = 24;

impl TraceId {
    /// `None` for the invalid all-zero id.
    pub fn new(bytes: [u8; 16]) -> Option<TraceId> {
        (bytes != [0; 16]).then_some(TraceId(bytes))
    }

    pub fn to_hex(self) -> String {
        hex(&self.0)
    }
}

impl SpanId {
    /// `None` for the invalid all-zero id.
    pub fn new(bytes: [u8; 8]) -> Option<SpanId> {
        (bytes != [0; 8]).then_some(SpanId(bytes))
    }

    pub fn to_hex(self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Lowercase hex only: W3C Trace Context allows nothing else in `traceparent`.
fn from_lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let value = |digit: u8| match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0u8; N];
    for (index, pair) in digits.chunks_exact(2).enumerate() {
        bytes[index] = value(pair[0])? << 4 | value(pair[1])?;
    }
    Some(bytes)
}

/// A valid incoming `traceparent`: the caller's trace and the span to hang ours under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub parent_id: SpanId,
    /// The caller's trace flags (bit 0: sampled). Kept for the record; every chat request
    /// is exported whatever the caller sampled, as the ledger keeps every request.
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` header (W3C Trace Context, level 1):
    /// `version-traceid-parentid-flags`, e.g.
    /// `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`. Anything invalid is
    /// ignored (`None`), as the standard asks: version `ff`, uppercase or short fields,
    /// all-zero ids, or a version-00 header with anything after the flags. A later version
    /// is read by its first four fields, which every version keeps.
    pub fn parse(header: &str) -> Option<TraceParent> {
        let header = header.trim_matches([' ', '\t']);
        let mut fields = header.splitn(5, '-');
        let version = from_lower_hex::<1>(fields.next()?)?[0];
        let trace_id = TraceId::new(from_lower_hex::<16>(fields.next()?)?)?;
        let parent_id = SpanId::new(from_lower_hex::<8>(fields.next()?)?)?;
        let flags = from_lower_hex::<1>(fields.next()?)?[0];
        let rest = fields.next();
        match (version, rest) {
            (0xff, _) => None,
            (0x00, Some(_)) => None,
            _ => Some(TraceParent {
                trace_id,
                parent_id,
                flags,
            }),
        }
    }
}

/// The ids of one span: its trace (the caller's, or a new one), itself and its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanIds {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_id: Option<SpanId>,
}

impl SpanIds {
    /// Ids from [`RANDOM_BYTES`] random bytes (the first 16 for a new trace, the last 8 for
    /// the span), under `parent` when the request carried a valid `traceparent`. An all-zero
    /// draw, which a working CSPRNG never makes, becomes a fixed non-zero id rather than an
    /// invalid one.
    pub fn new(random: [u8; RANDOM_BYTES], parent: Option<TraceParent>) -> SpanIds {
        let mut trace = [0u8; 16];
        trace.copy_from_slice(&random[..16]);
        let mut span = [0u8; 8];
        span.copy_from_slice(&random[16..]);
        let own_trace = TraceId::new(trace).unwrap_or(TraceId([1; 16]));
        let span_id = SpanId::new(span).unwrap_or(SpanId([1; 8]));
        match parent {
            Some(parent) => SpanIds {
                trace_id: parent.trace_id,
                span_id,
                parent_id: Some(parent.parent_id),
            },
            None => SpanIds {
                trace_id: own_trace,
                span_id,
                parent_id: None,
            },
        }
    }

    /// Ids from the shell's random hex (`random::hex(RANDOM_BYTES)`); `None` if it is not
    /// that.
    pub fn from_random_hex(random: &str, parent: Option<TraceParent>) -> Option<SpanIds> {
        Some(SpanIds::new(
            from_lower_hex::<RANDOM_BYTES>(random)?,
            parent,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[track_caller]
    fn check_refused(header: &str) {
        assert_eq!(TraceParent::parse(header), None, "{header}");
    }

    #[test]
    fn a_valid_traceparent_names_the_trace_and_the_parent() {
        let parent = TraceParent::parse(HEADER).unwrap_or_else(|| panic!("valid"));
        assert_eq!(parent.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.parent_id.to_hex(), "00f067aa0ba902b7");
        assert_eq!(parent.flags, 1);
        assert_eq!(TraceParent::parse(&format!(" {HEADER}\t")), Some(parent));
        // A later version keeps the four fields and may add more after a dash.
        let later = format!("cc{}-what-comes-next", &HEADER[2..]);
        assert_eq!(
            TraceParent::parse(&later).map(|p| p.trace_id),
            Some(parent.trace_id)
        );
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        check_refused("");
        check_refused("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7");
        check_refused("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        check_refused("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
        check_refused("00-00000000000000000000000000000000-00f067aa0ba902b7-01");
        check_refused("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01");
        check_refused("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01");
        check_refused("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra");
        check_refused("0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        check_refused("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1x");
        check_refused("00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01");
    }

    #[test]
    fn ids_are_hex_of_the_right_length_and_follow_the_parent() {
        let mut random = [0u8; RANDOM_BYTES];
        for (index, byte) in random.iter_mut().enumerate() {
            *byte = index as u8 + 1;
        }
        let own = SpanIds::new(random, None);
        assert_eq!(own.trace_id.to_hex(), "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(own.span_id.to_hex(), "1112131415161718");
        assert_eq!(own.parent_id, None);
        let parent = TraceParent::parse(HEADER);
        let child = SpanIds::new(random, parent);
        assert_eq!(child.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(child.span_id, own.span_id);
        assert_eq!(
            child.parent_id.map(SpanId::to_hex).as_deref(),
            Some("00f067aa0ba902b7")
        );
        let zeros = SpanIds::new([0; RANDOM_BYTES], None);
        assert_ne!(zeros.trace_id.to_hex(), "0".repeat(32));
        assert_ne!(zeros.span_id.to_hex(), "0".repeat(16));
        let from_hex = SpanIds::from_random_hex(&hex(&random), None);
        assert_eq!(from_hex, Some(own));
        assert_eq!(SpanIds::from_random_hex("abc", None), None);
    }
}
