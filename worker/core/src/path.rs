//! URL path segments as the ids they name: split at `/` first, then percent-decoded, so a user
//! id like `u:张三` (sent as `u:%E5%BC%A0%E4%B8%89`) or one with a space or an encoded `/` is
//! found as itself rather than stored under its encoding.

use crate::error::ProxyError;

/// The segments of `raw` (a path as the URL carries it, without the query), each decoded.
pub fn segments(raw: &str) -> Result<Vec<String>, ProxyError> {
    raw.split('/').map(decode_segment).collect()
}

/// One segment, percent-decoded as UTF-8; a malformed escape or invalid UTF-8 is a 400.
pub fn decode_segment(segment: &str) -> Result<String, ProxyError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes
                .get(index + 1..index + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(malformed)?;
            out.push(hex);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).map_err(|_| malformed())
}

fn malformed() -> ProxyError {
    ProxyError::InvalidRequest {
        message: "The URL path has a malformed percent-encoding.".into(),
        param: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(raw: &str, expected: &[&str]) {
        assert_eq!(segments(raw).unwrap(), expected, "{raw}");
    }

    #[test]
    fn chinese_ids_spaces_and_encoded_slashes_are_decoded_per_segment() {
        check(
            "users/u:%E5%BC%A0%E4%B8%89/tier",
            &["users", "u:张三", "tier"],
        );
        check("users/u:Ann%20Lee/usage", &["users", "u:Ann Lee", "usage"]);
        check("users/u:a%2Fb/tier", &["users", "u:a/b", "tier"]);
        check("keys", &["keys"]);
    }

    #[test]
    fn malformed_escapes_are_a_400() {
        for raw in ["u:%E5%BC", "u:%zz", "u:%4"] {
            assert!(segments(raw).is_err(), "{raw}");
        }
    }
}
