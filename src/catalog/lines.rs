//! The one reader of product lines, shared by `partnerfeed import` and
//! `POST /v1/products/batch`: NDJSON (one JSON value a line) and CSV with a header row (see
//! [`super::import`]), each item numbered by its line and turned into the JSON that
//! [`parse_product`](super::parse_product) then validates. A bad line is one failed item, with
//! the same wording whichever way it came in; reading goes on. It reads from any `BufRead` or
//! `Read` it is given and stores nothing.

use std::io::{self, BufRead, Read};

use serde_json::Value;

use super::FieldError;

/// One item: its 1-based line number and its JSON, or why the line is not an item.
pub type Item = (usize, Result<Value, Vec<FieldError>>);

/// The non-blank lines of an NDJSON stream, each parsed as JSON; blank lines are skipped but
/// still counted. Lines end at `\n` (a `\r` before it is dropped, as JSON whitespace). A line
/// that is not UTF-8 is not valid JSON: one failed item. A read error ends the iteration after
/// it is handed over.
pub fn ndjson(mut reader: impl BufRead) -> impl Iterator<Item = io::Result<Item>> {
    // One buffer for every line.
    let mut buf = Vec::with_capacity(4096);
    let mut number = 0;
    let mut done = false;
    std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => {
                done = true;
                return Some(Err(e));
            }
        }
        number += 1;
        if is_blank(&buf) {
            continue;
        }
        return Some(Ok((number, json_line(&buf))));
    })
}

/// The number of items [`ndjson`] reads from `bytes` (its non-blank lines), counted without
/// parsing them.
pub fn ndjson_count(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !is_blank(l))
        .count()
}

/// A line that is no item: nothing but ASCII whitespace (its `\r` and `\n` included).
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// One NDJSON line to its JSON value, or the one problem that says it is not JSON.
fn json_line(line: &[u8]) -> Result<Value, Vec<FieldError>> {
    serde_json::from_slice(line).map_err(|e| {
        vec![FieldError {
            pointer: String::new(),
            message: format!("not valid JSON: {e}"),
        }]
    })
}

/// The rows of a CSV file with a header row, each turned into product JSON; a malformed row is
/// one failed item, not the end of the file. Fails only when the header row cannot be read.
pub fn csv(reader: impl Read) -> Result<impl Iterator<Item = Item>, csv::Error> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = csv.headers()?.clone();
    Ok(csv.into_records().map(move |record| match record {
        Err(e) => {
            let number = e.position().map_or(0, |p| p.line() as usize);
            let message = format!("not a valid CSV row: {e}");
            (
                number,
                Err(vec![FieldError {
                    pointer: String::new(),
                    message,
                }]),
            )
        }
        Ok(record) => {
            let number = record.position().map_or(0, |p| p.line() as usize);
            let value = super::import::csv_record_to_json(&headers, &record).map_err(|e| e.errors);
            (number, value)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_numbers_lines_skips_blank_ones_and_names_bad_json() {
        let input = b"{\"a\":1}\r\n\n   \n[oops\n{\"b\":2}\n\"\xff\"\n";
        let items: Vec<Item> = ndjson(&input[..]).map(Result::unwrap).collect();
        let numbers: Vec<usize> = items.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 4, 5, 6]);
        assert!(
            items[3].1.is_err(),
            "a line that is not UTF-8 is one failed item"
        );
        assert_eq!(items[0].1.as_ref().unwrap(), &serde_json::json!({"a": 1}));
        let errors = items[1].1.as_ref().unwrap_err();
        assert!(
            errors[0].message.starts_with("not valid JSON: "),
            "{errors:?}"
        );
        assert_eq!(items[2].1.as_ref().unwrap(), &serde_json::json!({"b": 2}));
    }

    #[test]
    fn ndjson_count_counts_what_ndjson_reads() {
        for input in [
            &b"{\"a\":1}\r\n\n   \n[oops\n{\"b\":2}\n\"\xff\"\n"[..],
            b"",
            b"\n\n",
            b" \t\r\n{}",
            b"{}\n{}",
            b"{}\n \x0c\n1\n",
        ] {
            assert_eq!(
                ndjson_count(input),
                ndjson(input).count(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_malformed_csv_row_is_one_failed_item() {
        let input = "sku\nA-1\nA-2,extra\n";
        let items: Vec<Item> = csv(input.as_bytes()).unwrap().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].0, 2);
        assert!(items[0].1.is_ok());
        let errors = items[1].1.as_ref().unwrap_err();
        assert!(
            errors[0].message.starts_with("not a valid CSV row"),
            "{errors:?}"
        );
    }
}
