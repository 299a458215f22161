//! A `since` cursor as a partner sends it back: anything that decodes was made by the service.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partnerfeed::delta::Cursor;

const KEY: &[u8] = b"fuzzing key: any length is accepted";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cursor) = Cursor::decode(text, KEY) {
        // Only the 43-character encoding of a cursor authenticates.
        assert_eq!(cursor.encode(KEY), text);
    }
    // A cursor built from any position decodes to that position, and only with its key.
    if data.len() >= 24 {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&data[i * 8..(i + 1) * 8]);
            i64::from_be_bytes(w)
        };
        let cursor = Cursor {
            channel_id: word(0),
            epoch: word(1),
            seq: word(2),
        };
        let encoded = cursor.encode(KEY);
        assert_eq!(Cursor::decode(&encoded, KEY), Ok(cursor));
        assert!(Cursor::decode(&encoded, b"another key").is_err());
    }
});
