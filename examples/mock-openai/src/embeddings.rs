//! `POST /v1/embeddings`: deterministic vectors with OpenAI's response shape.
//!
//! Each input is lower-cased, padded with a space at both ends, and cut into
//! character trigrams; each trigram's FNV-1a hash picks one of
//! [`DIMENSIONS`] buckets and a sign. The vector is L2-normalised, so texts
//! sharing trigrams have a positive cosine similarity, which is enough for
//! retrieval demos and cache-key tests. Usage counts the inputs' tokens by
//! [`crate::tokens`]; `dimensions` is ignored. A `forbidden-*` model is
//! refused as in chat ([`crate::request_faults`]); the TPM limit is not
//! applied here, because OpenAI limits embeddings separately and far higher.
//!
//! `encoding_format: "base64"` (the default of the official SDKs) returns
//! little-endian `f32`s in standard base64, as OpenAI does.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::ApiError;
use crate::request_faults::check_model_access;
use crate::tokens::count_tokens;

/// Length of every vector; small so responses stay small.
pub const DIMENSIONS: usize = 64;

/// OpenAI's limit on inputs per request.
pub const MAX_INPUTS: usize = 2048;

#[derive(Deserialize)]
struct EmbeddingRequest {
    model: Option<String>,
    input: Option<Value>,
    encoding_format: Option<String>,
}

#[derive(Serialize)]
pub struct EmbeddingResponse {
    object: &'static str,
    data: Vec<EmbeddingItem>,
    model: String,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct EmbeddingItem {
    object: &'static str,
    index: usize,
    embedding: Encoded,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Encoded {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

impl EmbeddingResponse {
    pub fn prompt_tokens(&self) -> u64 {
        self.usage.prompt_tokens
    }
}

pub fn embed_request(body: &[u8]) -> Result<EmbeddingResponse, ApiError> {
    let request: EmbeddingRequest =
        serde_json::from_slice(body).map_err(|error| ApiError::BadJson(error.to_string()))?;
    let model = request
        .model
        .ok_or_else(|| ApiError::invalid("model", "you must provide a model parameter"))?;
    check_model_access(&model)?;
    let inputs = text_inputs(request.input)?;
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "encoding_format",
                format!("encoding_format must be 'float' or 'base64', got '{other}'."),
            ))
        }
    };
    let prompt_tokens = inputs.iter().map(|input| count_tokens(input)).sum();
    let data = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = embed(input);
            EmbeddingItem {
                object: "embedding",
                index,
                embedding: if base64 {
                    Encoded::Base64(base64_encode(&floats_to_le_bytes(&vector)))
                } else {
                    Encoded::Floats(vector.to_vec())
                },
            }
        })
        .collect();
    Ok(EmbeddingResponse {
        object: "list",
        data,
        model,
        usage: EmbeddingUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    })
}

/// `input` as a list of strings: a string, or a non-empty array of strings.
fn text_inputs(input: Option<Value>) -> Result<Vec<String>, ApiError> {
    let unsupported = || {
        ApiError::invalid(
            "input",
            "input must be a string or a non-empty array of strings (mock-openai does not embed token arrays).",
        )
    };
    match input {
        None => Err(ApiError::invalid(
            "input",
            "Missing required parameter: 'input'.",
        )),
        Some(Value::String(text)) => Ok(vec![text]),
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_INPUTS => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                _ => Err(unsupported()),
            })
            .collect(),
        Some(_) => Err(unsupported()),
    }
}

/// The deterministic, L2-normalised embedding of `text`.
pub fn embed(text: &str) -> [f32; DIMENSIONS] {
    let padded: Vec<char> = std::iter::once(' ')
        .chain(text.chars().flat_map(char::to_lowercase))
        .chain(std::iter::once(' '))
        .collect();
    let mut vector = [0f32; DIMENSIONS];
    for trigram in padded.windows(3) {
        let hash = fnv1a(trigram);
        let bucket = (hash % DIMENSIONS as u64) as usize;
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        vector[bucket] += sign;
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

fn fnv1a(chars: &[char]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET_BASIS;
    let mut buffer = [0u8; 4];
    for c in chars {
        for byte in c.encode_utf8(&mut buffer).bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
    }
    hash
}

fn floats_to_le_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Standard base64 with padding; too small a need to take a dependency for.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (position, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if position <= group.len() {
                encoded.push(char::from(ALPHABET[((n >> shift) & 0x3f) as usize]));
            } else {
                encoded.push('=');
            }
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn embeddings_are_deterministic_and_normalised() {
        let first = embed("Hello world");
        assert_eq!(first, embed("hello WORLD"));
        assert!((cosine(&first, &first) - 1.0).abs() < 1e-5);
        assert!(cosine(&first, &embed("hello there")) > cosine(&first, &embed("你好世界")));
        assert_eq!(embed(""), embed(""));
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(&1.0f32.to_le_bytes()), "AACAPw==");
    }

    #[track_caller]
    fn response(request: Value) -> Value {
        match embed_request(request.to_string().as_bytes()) {
            Ok(response) => serde_json::to_value(response).unwrap_or_default(),
            Err(error) => panic!("unexpected {error:?}"),
        }
    }

    #[test]
    fn response_has_the_openai_shape() {
        let value = response(json!({"model": "text-embedding-3-small", "input": ["a b", "你好"]}));
        assert_eq!(value["object"], "list");
        assert_eq!(value["model"], "text-embedding-3-small");
        assert_eq!(value["data"][1]["index"], 1);
        assert_eq!(value["data"][1]["object"], "embedding");
        assert_eq!(
            value["data"][0]["embedding"].as_array().map(Vec::len),
            Some(DIMENSIONS)
        );
        assert_eq!(value["usage"]["prompt_tokens"], 2 + 2);
        assert_eq!(value["usage"]["total_tokens"], 4);
        let encoded = response(json!({"model": "m", "input": "x", "encoding_format": "base64"}));
        // 64 floats are 256 bytes, which base64 spells in 344 characters.
        assert_eq!(
            encoded["data"][0]["embedding"].as_str().map(str::len),
            Some(344)
        );
    }

    #[test]
    fn unsupported_inputs_are_rejected() {
        for body in [
            r#"{"model":"m"}"#,
            r#"{"model":"m","input":[]}"#,
            r#"{"model":"m","input":[1,2,3]}"#,
            r#"{"model":"m","input":"x","encoding_format":"hex"}"#,
            r#"{"input":"x"}"#,
        ] {
            assert!(
                matches!(
                    embed_request(body.as_bytes()),
                    Err(ApiError::InvalidParameter { .. })
                ),
                "{body}"
            );
        }
        assert!(matches!(embed_request(b"nope"), Err(ApiError::BadJson(_))));
    }

    #[test]
    fn forbidden_models_are_refused() {
        assert!(matches!(
            embed_request(br#"{"model":"forbidden-embed","input":"x"}"#),
            Err(ApiError::ModelNotAllowed { .. })
        ));
    }
}
