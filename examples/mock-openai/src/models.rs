//! `GET /v1/models`: the fixed catalogue the mock claims to serve.
//!
//! The chat endpoint accepts any model name; this list exists for clients
//! that list models before choosing one. `created` values are fixed so the
//! response is byte-for-byte stable.

use serde::Serialize;

#[derive(Serialize)]
pub struct ModelList {
    object: &'static str,
    data: [Model; 4],
}

#[derive(Serialize)]
struct Model {
    id: &'static str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

const fn model(id: &'static str, created: u64) -> Model {
    Model {
        id,
        object: "model",
        created,
        owned_by: "mock",
    }
}

pub fn model_list() -> ModelList {
    ModelList {
        object: "list",
        data: [
            model("gpt-4o-mini", 1_721_172_741),
            model("gpt-4o", 1_715_367_049),
            model("gpt-4.1-mini", 1_744_318_173),
            model("text-embedding-3-small", 1_705_948_997),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_four_models() {
        let value = serde_json::to_value(model_list()).unwrap_or_default();
        assert_eq!(value["object"], "list");
        let ids: Vec<&str> = value["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "gpt-4o-mini",
                "gpt-4o",
                "gpt-4.1-mini",
                "text-embedding-3-small"
            ]
        );
        assert_eq!(value["data"][0]["owned_by"], "mock");
        assert_eq!(value["data"][0]["object"], "model");
    }
}
