//! Any bytes: read as expected PCR values (JSON or `tpm2_pcrread` output)
//! without panicking; whatever parses is written back as nested JSON and
//! must read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_pcr::HashAlg;
use rvkit_pcr::eventlog::PcrValues;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for bank in HashAlg::ALL {
        let Ok(values) = PcrValues::parse(text, bank) else { continue };
        let mut json = String::from("{");
        for alg in HashAlg::ALL {
            let entries: Vec<String> = values
                .iter()
                .filter(|(_, d)| d.alg() == alg)
                .map(|(pcr, d)| format!("\"{}\":\"{}\"", pcr.get(), d.to_hex()))
                .collect();
            if !entries.is_empty() {
                if json.len() > 1 {
                    json.push(',');
                }
                json.push_str(&format!("\"{}\":{{{}}}", alg.name(), entries.join(",")));
            }
        }
        json.push('}');
        assert_eq!(PcrValues::parse_json(&json, bank).as_ref(), Ok(&values), "{json}");
    }
});
