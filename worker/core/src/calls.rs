//! How a Durable Object's protocol is written: an enum of calls, one variant per call, each
//! with the type of its argument and of its answer. [`calls!`] turns such a table into the
//! enum (the request body's JSON) and an [`Ask`] impl per call, so the object and its client
//! are held by the compiler to the same table: a call cannot be sent, or answered, with
//! another's type. The protocols: `user_call` (`UserDo`), `deployment_call`
//! (`DeploymentBudgetDo`), `key_health_call` (`KeyHealthDo`), `alerts_call` (`AlertsDo`) and
//! `metrics_call` (`MetricsDo`).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A call to an object, typed by the protocol it belongs to and by its answer.
pub trait Ask: Sized {
    /// The protocol's enum: what this call is sent as.
    type Call: Serialize + DeserializeOwned + From<Self>;
    type Answer: Serialize + DeserializeOwned;
}

/// `calls! { Protocol { Variant(Call) -> Answer; ... } }`, with doc comments on either.
macro_rules! calls {
    ($(#[$enum_doc:meta])* $protocol:ident {
        $($(#[$doc:meta])* $variant:ident($call:ty) -> $answer:ty;)*
    }) => {
        $(#[$enum_doc])*
        #[derive(Debug, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $protocol {
            $($(#[$doc])* $variant($call),)*
        }

        $(
            impl From<$call> for $protocol {
                fn from(call: $call) -> $protocol {
                    $protocol::$variant(call)
                }
            }

            impl $crate::calls::Ask for $call {
                type Call = $protocol;
                type Answer = $answer;
            }
        )*
    };
}

pub(crate) use calls;
