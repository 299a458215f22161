//! CSV import: one CSV row to the product JSON that [`parse_product`](super::parse_product)
//! then validates. Pure: reading the file and storing products happen elsewhere.
//!
//! The columns are documented in `docs/import.md`. Empty cells mean "absent"; an unknown
//! column is an error whose pointer is `/<column name>`.

use serde_json::{Map, Number, Value};

use super::validate::pointer_join;
use super::ValidationErrors;

/// Packaging levels above `each` that CSV columns can describe, in hierarchy order.
const PACKAGING_LEVELS: [&str; 3] = ["inner", "case", "pallet"];

/// Turns one CSV row into product JSON (spec key order). Checks the shape of the row (known
/// columns, whole-number quantities); the product rules are left to `parse_product`.
pub fn csv_record_to_json(
    headers: &csv::StringRecord,
    record: &csv::StringRecord,
) -> Result<Value, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if record.len() > headers.len() {
        errors.push(
            "",
            format!(
                "the row has {} cells but the header names only {} columns",
                record.len(),
                headers.len()
            ),
        );
    }
    let mut row = Row::default();
    let mut seen = std::collections::HashSet::new();
    for (i, header) in headers.iter().enumerate() {
        let header = header.trim();
        let pointer = pointer_join("", header);
        if !seen.insert(header) {
            errors.push(pointer, "this column appears more than once");
            continue;
        }
        let cell = record.get(i).unwrap_or_default().trim();
        if let Err(message) = row.column(header, cell) {
            errors.push(pointer, message);
        }
    }
    if errors.is_empty() {
        Ok(row.into_json())
    } else {
        Err(errors)
    }
}

/// The parts of a product gathered from the columns of one row.
#[derive(Default)]
struct Row {
    scalars: Map<String, Value>,
    title: Map<String, Value>,
    description: Map<String, Value>,
    attributes: Map<String, Value>,
    media: Vec<Value>,
    prices: Vec<Value>,
    dimensions: Map<String, Value>,
    weight: Map<String, Value>,
    /// One object per entry of `PACKAGING_LEVELS`.
    packaging: [Map<String, Value>; 3],
}

impl Row {
    /// Records one cell. Checks the column name even when the cell is empty.
    fn column(&mut self, header: &str, cell: &str) -> Result<(), String> {
        let text = || Value::String(cell.to_string());
        let set = |map: &mut Map<String, Value>, key: &str| {
            if !cell.is_empty() {
                map.insert(key.to_string(), text());
            }
        };
        match header {
            "sku" | "gtin" | "status" | "brand" | "category" => set(&mut self.scalars, header),
            "length" | "width" | "height" => set(&mut self.dimensions, header),
            "dimension_unit" => set(&mut self.dimensions, "unit"),
            "net_weight" => set(&mut self.weight, "net"),
            "gross_weight" => set(&mut self.weight, "gross"),
            "weight_unit" => set(&mut self.weight, "unit"),
            _ => return self.prefixed_column(header, cell),
        }
        Ok(())
    }

    fn prefixed_column(&mut self, header: &str, cell: &str) -> Result<(), String> {
        let named = |prefix: &str| header.strip_prefix(prefix).filter(|s| !s.is_empty());
        if let Some(locale) = named("title_") {
            insert_text(&mut self.title, locale, cell);
        } else if let Some(locale) = named("description_") {
            insert_text(&mut self.description, locale, cell);
        } else if let Some(name) = named("attr_") {
            if !cell.is_empty() {
                self.attributes.insert(name.to_string(), typed(cell));
            }
        } else if let Some(role) = named("media_") {
            if !cell.is_empty() {
                let mut m = Map::new();
                m.insert("url".into(), cell.into());
                m.insert("role".into(), role.into());
                self.media.push(Value::Object(m));
            }
        } else if let Some(spec) = named("price_") {
            let (list, currency, min_qty) = price_column(spec).ok_or_else(|| {
                "is not a known column: a price column is price_<list>_<CUR> or \
                 price_<list>_<CUR>_<min_qty>, e.g. price_retail_EUR or price_reseller_EUR_10"
                    .to_string()
            })?;
            if !cell.is_empty() {
                let mut p = Map::new();
                p.insert("list".into(), list.into());
                p.insert("currency".into(), currency.into());
                p.insert("amount".into(), cell.into());
                p.insert("min_qty".into(), min_qty.into());
                self.prices.push(Value::Object(p));
            }
        } else if let Some((level, field)) = header
            .split_once('_')
            .filter(|(l, f)| PACKAGING_LEVELS.contains(l) && matches!(*f, "qty" | "gtin"))
        {
            if !cell.is_empty() {
                let idx = PACKAGING_LEVELS
                    .iter()
                    .position(|l| *l == level)
                    .unwrap_or_default();
                let value = if field == "qty" {
                    let q: u64 = cell
                        .parse()
                        .map_err(|_| format!("must be a whole number, not {cell:?}"))?;
                    Value::Number(q.into())
                } else {
                    Value::String(cell.to_string())
                };
                let key = if field == "qty" { "quantity" } else { "gtin" };
                self.packaging[idx].insert(key.into(), value);
            }
        } else {
            return Err("is not a known column (see docs/import.md)".to_string());
        }
        Ok(())
    }

    fn into_json(self) -> Value {
        let mut out = Map::new();
        let mut scalars = self.scalars;
        let put = |out: &mut Map<String, Value>, key: &str, v: Option<Value>| {
            if let Some(v) = v {
                out.insert(key.to_string(), v);
            }
        };
        let object = |m: Map<String, Value>| (!m.is_empty()).then_some(Value::Object(m));
        let array = |a: Vec<Value>| (!a.is_empty()).then_some(Value::Array(a));
        for key in ["sku", "gtin", "status", "brand", "category"] {
            put(&mut out, key, scalars.remove(key));
        }
        put(&mut out, "title", object(self.title));
        put(&mut out, "description", object(self.description));
        put(&mut out, "attributes", object(self.attributes));
        put(&mut out, "media", array(self.media));
        put(&mut out, "prices", array(self.prices));
        put(&mut out, "dimensions", object(self.dimensions));
        put(&mut out, "weight", object(self.weight));
        let mut levels = Vec::new();
        if self.packaging.iter().any(|m| !m.is_empty()) {
            levels.push(serde_json::json!({"level": "each", "quantity": 1}));
        }
        for (name, mut fields) in PACKAGING_LEVELS.iter().zip(self.packaging) {
            if !fields.is_empty() {
                let mut level = Map::new();
                level.insert("level".into(), (*name).into());
                for key in ["quantity", "gtin"] {
                    if let Some(v) = fields.remove(key) {
                        level.insert(key.into(), v);
                    }
                }
                levels.push(Value::Object(level));
            }
        }
        put(&mut out, "packaging", array(levels));
        Value::Object(out)
    }
}

fn insert_text(map: &mut Map<String, Value>, key: &str, cell: &str) {
    if !cell.is_empty() {
        map.insert(key.to_string(), cell.into());
    }
}

/// `<list>_<CUR>` or `<list>_<CUR>_<min_qty>`: the list may itself contain '_', the currency
/// is three letters, the tier a whole number.
fn price_column(spec: &str) -> Option<(String, String, u64)> {
    let parts: Vec<&str> = spec.split('_').collect();
    let is_currency = |s: &str| s.len() == 3 && s.bytes().all(|b| b.is_ascii_alphabetic());
    let (rest, min_qty) = match parts.split_last()? {
        (last, rest) if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) => {
            (rest, last.parse().ok()?)
        }
        _ => (&parts[..], 1),
    };
    let (currency, list) = rest.split_last()?;
    if !is_currency(currency) || list.is_empty() || list.iter().any(|s| s.is_empty()) {
        return None;
    }
    Some((list.join("_"), currency.to_string(), min_qty))
}

/// An attribute cell typed: `true`/`false` -> bool, an integer or decimal literal -> number
/// (a leading zero such as "007" keeps it text), anything else -> string.
fn typed(cell: &str) -> Value {
    match cell {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let unsigned = cell.strip_prefix('-').unwrap_or(cell);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let literal = digits(int) && (int == "0" || !int.starts_with('0')) && frac.is_none_or(digits);
    if literal {
        let number = if frac.is_none() {
            cell.parse::<i64>().ok().map(Number::from)
        } else {
            cell.parse::<f64>().ok().and_then(Number::from_f64)
        };
        if let Some(n) = number {
            return Value::Number(n);
        }
    }
    Value::String(cell.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::catalog::parse_product;
    use serde_json::json;

    fn row(headers: &[&str], cells: &[&str]) -> Result<Value, ValidationErrors> {
        csv_record_to_json(
            &csv::StringRecord::from(headers.to_vec()),
            &csv::StringRecord::from(cells.to_vec()),
        )
    }

    #[test]
    fn a_full_row_becomes_a_valid_product() {
        let headers = [
            "sku",
            "gtin",
            "status",
            "brand",
            "category",
            "title_fr",
            "title_en",
            "description_en",
            "attr_voltage",
            "attr_cordless",
            "attr_colour",
            "media_main",
            "price_retail_EUR",
            "price_reseller_EUR",
            "price_reseller_EUR_10",
            "length",
            "width",
            "height",
            "dimension_unit",
            "net_weight",
            "gross_weight",
            "weight_unit",
            "case_qty",
            "case_gtin",
            "pallet_qty",
        ];
        let cells = [
            "DRL-1001",
            "3700123456780",
            "active",
            "Acme",
            "tools/drills",
            "Perceuse 18 V",
            "18 V drill",
            "",
            "18",
            "true",
            "red",
            "https://cdn.example.com/drl-1001.jpg",
            "129.90",
            "84.00",
            "79.00",
            "32.5",
            "9",
            "24",
            "cm",
            "1.45",
            "1.9",
            "kg",
            "6",
            "13700123456787",
            "240",
        ];
        let v = row(&headers, &cells).unwrap();
        assert_eq!(
            v,
            json!({"sku": "DRL-1001", "gtin": "3700123456780", "status": "active",
                "brand": "Acme", "category": "tools/drills",
                "title": {"fr": "Perceuse 18 V", "en": "18 V drill"},
                "attributes": {"voltage": 18, "cordless": true, "colour": "red"},
                "media": [{"url": "https://cdn.example.com/drl-1001.jpg", "role": "main"}],
                "prices": [
                    {"list": "retail", "currency": "EUR", "amount": "129.90", "min_qty": 1},
                    {"list": "reseller", "currency": "EUR", "amount": "84.00", "min_qty": 1},
                    {"list": "reseller", "currency": "EUR", "amount": "79.00", "min_qty": 10}],
                "dimensions": {"length": "32.5", "width": "9", "height": "24", "unit": "cm"},
                "weight": {"net": "1.45", "gross": "1.9", "unit": "kg"},
                "packaging": [{"level": "each", "quantity": 1},
                    {"level": "case", "quantity": 6, "gtin": "13700123456787"},
                    {"level": "pallet", "quantity": 240}]})
        );
        let p = parse_product(&v, None).unwrap();
        assert_eq!(p.to_json()["dimensions"]["length"], "325");
    }

    #[test]
    fn empty_cells_are_absent() {
        let v = row(
            &[
                "sku",
                "brand",
                "title_en",
                "attr_x",
                "price_retail_EUR",
                "case_qty",
                "length",
            ],
            &["A-1", "", "Thing", " ", "", "", ""],
        )
        .unwrap();
        assert_eq!(v, json!({"sku": "A-1", "title": {"en": "Thing"}}));
    }

    #[test]
    fn unknown_and_malformed_columns_point_at_the_column() {
        let e = row(
            &[
                "sku",
                "colour",
                "price_retail",
                "title_",
                "case_qty",
                "sku",
                "a/b",
            ],
            &["A-1", "red", "1", "x", "six", "A-2", ""],
        )
        .unwrap_err();
        let pointers: Vec<&str> = e.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/colour",
                "/price_retail",
                "/title_",
                "/case_qty",
                "/sku",
                "/a~1b"
            ]
        );
        let too_many = row(&["sku"], &["A-1", "extra"]).unwrap_err();
        assert_eq!(too_many.errors[0].pointer, "");
    }

    #[test]
    fn price_columns_with_lists_containing_underscores_and_tiers() {
        assert_eq!(
            price_column("big_box_EUR_12"),
            Some(("big_box".into(), "EUR".into(), 12))
        );
        assert_eq!(
            price_column("retail_JPY"),
            Some(("retail".into(), "JPY".into(), 1))
        );
        assert_eq!(price_column("EUR"), None);
        assert_eq!(price_column("retail_EURO"), None);
    }

    #[test]
    fn attribute_cells_are_typed() {
        assert_eq!(typed("true"), json!(true));
        assert_eq!(typed("false"), json!(false));
        assert_eq!(typed("18"), json!(18));
        assert_eq!(typed("-3"), json!(-3));
        assert_eq!(typed("12.5"), json!(12.5));
        assert_eq!(typed("007"), json!("007"));
        assert_eq!(typed("1e3"), json!("1e3"));
        assert_eq!(typed("True"), json!("True"));
        assert_eq!(typed("red"), json!("red"));
    }

    #[test]
    fn inner_level_and_each_are_added_in_order() {
        let v = row(&["sku", "pallet_qty", "inner_qty"], &["A-1", "120", "4"]).unwrap();
        assert_eq!(
            v["packaging"],
            json!([{"level": "each", "quantity": 1}, {"level": "inner", "quantity": 4},
                {"level": "pallet", "quantity": 120}])
        );
    }

    /// The example file of docs/import.md, read with the csv crate as the importer will.
    #[test]
    fn the_documented_example_file_imports() {
        let file = "sku,gtin,status,brand,category,title_fr,title_en,attr_voltage,attr_cordless,media_main,price_retail_EUR,price_reseller_EUR,price_reseller_EUR_10,length,width,height,dimension_unit,net_weight,gross_weight,weight_unit,case_qty,case_gtin,pallet_qty
DRL-1001,3700123456780,active,Acme,tools/drills,Perceuse 18 V,18 V drill,18,true,https://cdn.example.com/drl-1001.jpg,129.90,84.00,79.00,32.5,9,24,cm,1.45,1.9,kg,6,13700123456787,240
DRL-1002,,draft,Acme,tools/drills,Perceuse 14 V,14 V drill,14,true,,99.00,,,,,,,,,,,,
";
        let mut reader = csv::Reader::from_reader(file.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let products: Vec<_> = reader
            .records()
            .map(|r| {
                let v = csv_record_to_json(&headers, &r.unwrap()).unwrap();
                parse_product(&v, None).unwrap()
            })
            .collect();
        assert_eq!(products.len(), 2);
        assert_eq!(products[0].packaging.len(), 3);
        assert_eq!(products[1].prices[0].amount.to_string(), "99.00");
        assert!(products[1].gtin.is_none());
    }
}
