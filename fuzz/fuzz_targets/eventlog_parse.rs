//! Any bytes: parse as a TCG event log, summarise every event and replay it
//! into PCR banks and TDX RTMRs, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_pcr::eventlog::{EventLog, MrNumbering, PcrValues};

fuzz_target!(|data: &[u8]| {
    if let Ok(log) = EventLog::parse(data) {
        for event in log.events() {
            let _ = event.summary();
        }
        if let Ok(replay) = log.replay() {
            let _ = replay.compare(&log, &PcrValues::new());
        }
        let _ = log.replay_rtmrs(MrNumbering::Ccel);
        let _ = log.replay_rtmrs(MrNumbering::Pcr);
    }
});
