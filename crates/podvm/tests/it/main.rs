//! Integration tests of rvkit-podvm: a real registry (Debian's
//! `docker-registry`), images built and signed by the tests, signatures made
//! by OpenSSL, layouts written by skopeo.

#[cfg(feature = "publish")]
mod publish;
mod registry;
