//! Any text: parse as an image reference and as a path inside an image
//! without panicking; a parsed reference prints as text that parses back to
//! the same reference, and a parsed path prints as text that parses back to
//! the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_podvm::{ImagePath, ImageRef};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = ImageRef::parse(&text) {
        let shown = r.to_string();
        let again = ImageRef::parse(&shown).expect("a printed reference parses");
        assert_eq!(again, r, "{text:?} printed as {shown:?}");
    }
    if let Ok(p) = ImagePath::parse(&text) {
        let shown = p.display();
        let again = ImagePath::parse(&shown).expect("a printed path parses");
        assert_eq!(again, p, "{text:?} printed as {shown:?}");
    }
});
