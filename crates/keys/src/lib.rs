//! Reading key material the way every rvkit command reads it: the first
//! PEM block of a file ([`pem`], RFC 7468 text encoding), and the entries of
//! a Kubernetes Secret as `oc get secret -o yaml` (or `-o json`) prints it
//! ([`secret`]). Pure: bytes in, bytes out. Used by rvkit-trustee (signing
//! keys, the KBS certificate, TLS Secrets, `bundle check`) and rvkit-policy
//! (the attestation-token key), so that a file one command accepts the
//! other reads the same way.
//!
//! ```
//! use rvkit_keys::{pem, secret::Secret};
//!
//! let text = b"-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n";
//! let block = pem::first_block(text, &["PUBLIC KEY"]).unwrap();
//! assert_eq!(block.contents, [0, 1, 2]);
//!
//! let yaml = b"apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\ndata:\n  tls.crt: AAEC\n";
//! let s = Secret::parse(yaml).unwrap();
//! assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
//! assert_eq!(s.entry("tls.crt").unwrap(), [0, 1, 2]);
//! ```
#![warn(missing_docs)]

pub mod pem;
pub mod secret;
