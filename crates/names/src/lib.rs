//! The naming rules rvkit checks before it writes a name anywhere: the
//! Kubernetes rules for object names and data keys ([`k8s`]) and the
//! container image reference grammar ([`image`]). Pure functions with no
//! dependencies, shared by the crates that parse image references
//! (rvkit-podvm), image-signature policy scopes (rvkit-trustee) and render
//! Kubernetes objects (rvkit-rvps, rvkit-trustee).

pub mod image;
pub mod k8s;
