/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A policy that the Rego engine refuses.
    #[error("policy does not parse: {message}")]
    PolicyParse {
        /// The engine's message, with line and column.
        message: String,
    },
    /// A policy ConfigMap without a Rego data key.
    #[error("policy ConfigMap: {message}")]
    PolicyConfigMap {
        /// What is wrong.
        message: String,
    },
    /// Claims in no form this crate reads.
    #[error("claims: {message}")]
    Claims {
        /// What is wrong.
        message: String,
    },
    /// A TEE name Trustee's attestation service does not know (kbs-types
    /// `Tee`), in claims or given by the caller.
    #[error("claims of an unknown TEE {name:?} (known: {known})", known = crate::KNOWN_TEES.join(", "))]
    UnknownTee {
        /// The name as found.
        name: String,
    },
    /// The Rego engine failed while evaluating.
    #[error("policy evaluation failed: {message}")]
    Evaluation {
        /// The engine's message.
        message: String,
    },
    /// The policy's `trust_claims` names a claim outside the AR4SI trust
    /// vector, or gives one a value that is not a number. Trustee's token
    /// broker refuses such a result too.
    #[error("policy result: {message}")]
    TrustClaims {
        /// What is wrong.
        message: String,
    },
    /// A key to verify EAR tokens with that cannot be used.
    #[error("token key {message}")]
    TokenKey {
        /// What is wrong.
        message: String,
    },
    /// An EAR token that does not verify: a failed security check.
    #[error("EAR token {message}")]
    TokenSignature {
        /// What is wrong.
        message: String,
    },
}
