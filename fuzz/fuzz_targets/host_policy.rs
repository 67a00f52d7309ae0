//! The host policy's URL check (return, callback and webhook URLs): no panic; a URL it
//! takes is http(s) (https when required), carries no credentials, and is taken again
//! when given back as text, under the wildcard and under any pattern.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge::hosts::{HostPattern, HostPolicy};

fuzz_target!(|input: (&str, &str, bool)| {
    let (pattern, url, https_only) = input;
    let wide = HostPolicy::new(vec![HostPattern::parse("*").unwrap()], https_only);
    let Ok(pattern) = HostPattern::parse(pattern) else { return };
    let narrow = HostPolicy::new(vec![pattern], https_only);
    for policy in [&wide, &narrow] {
        if let Ok(taken) = policy.check("url", url) {
            assert!(taken.scheme() == "https" || (!https_only && taken.scheme() == "http"), "{taken}");
            assert!(taken.username().is_empty() && taken.password().is_none(), "{taken}");
            assert_eq!(policy.check("url", taken.as_str()).as_ref(), Ok(&taken), "{url:?} → {taken}");
        }
    }
});
