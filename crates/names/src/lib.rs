//! The naming rules rvkit checks before it writes a name anywhere: the
//! Kubernetes rules for object names and data keys ([`k8s`], after
//! k8s.io/apimachinery's `validation` package) and the container image
//! reference grammar ([`image`], after the distribution project's
//! `reference` package and the OCI distribution specification), and which
//! server a URL names and whether a certificate covers it ([`tls`], after
//! RFC 6125 and RFC 5280). Pure functions with no dependencies, shared by
//! the crates that parse image references (rvkit-podvm), image-signature
//! policy scopes (rvkit-trustee), check KBS URLs and certificates
//! (rvkit-initdata, rvkit-trustee) and render Kubernetes objects
//! (rvkit-rvps, rvkit-trustee).
//!
//! ```
//! use rvkit_names::{image, k8s};
//!
//! assert!(k8s::is_dns_label("trustee-operator-system"));
//! assert!(!k8s::is_dns_label("Trustee"));
//! assert!(k8s::is_configmap_key("reference-values.json"));
//! assert!(image::is_path_component("osc-dm-verity-image"));
//! assert!(!image::is_path_component("a--"));
//! assert!(image::is_tag("1.11.1") && !image::is_tag(".hidden"));
//! ```
#![warn(missing_docs)]

pub mod image;
pub mod k8s;
pub mod spelled;
pub mod tls;
