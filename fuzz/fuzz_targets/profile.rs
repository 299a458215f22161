//! A feed profile file (`feeds/profiles/*.toml`), as an operator writes one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partnerfeed::feeds::profile::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(profile) = toml::from_str::<Profile>(text) {
        let _ = profile.limits.dimension_max();
        let _ = profile.limits.weight_max();
    }
});
