//! A subscription's webhook URL, and the operator's allow list of private ranges.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use partnerfeed::webhooks::guard::{check_addr, check_url, AllowList};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let allow = AllowList::parse("127.0.0.0/8,::1/128").expect("fixture allow list");
    if let Ok((https, host, _port)) = check_url(text) {
        assert!(!host.is_empty());
        if let Ok(ip) = host.parse::<IpAddr>() {
            let _ = check_addr(ip, https, &allow);
        }
    }
    if let Ok(list) = AllowList::parse(text) {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "::1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            let _ = list.allows(ip.parse().expect("fixture ip"));
        }
    }
});
