//! Prices: list, currency and amount in the currency's decimals, tiers by minimum quantity,
//! validity windows, and duplicate tiers.

use super::*;

impl Cx {
    pub(super) fn price(&mut self, v: &Value, p: Ptr<'_>) -> Option<Price> {
        let m = self.object(
            v,
            p,
            &[
                "list",
                "currency",
                "amount",
                "min_qty",
                "valid_from",
                "valid_to",
            ],
        )?;
        let list = self
            .req_str(m, "list", p, "the price list name, e.g. \"retail\"")
            .and_then(|l| {
                if !l.is_empty() && l.chars().all(is_key_char) {
                    Some(l.to_string())
                } else {
                    self.err(
                        p.key("list"),
                        "must be a non-empty name of letters, digits, '.', '_' or '-'",
                    );
                    None
                }
            });
        let currency = self
            .req_str(m, "currency", p, "an ISO 4217 code such as \"EUR\"")
            .and_then(|c| {
                let cur = Currency::from_code(c);
                if cur.is_none() {
                    self.err(
                        p.key("currency"),
                        format!(
                            "{c:?} is not an ISO 4217 currency code (upper case, e.g. \"EUR\")"
                        ),
                    );
                }
                cur
            });
        let amount = self.amount(m.get("amount"), p.key("amount"), currency);
        let min_qty = match present(m, "min_qty") {
            None => Some(1),
            Some(q) => self.count(q, p.key("min_qty")),
        };
        let valid_from = self.timestamp(m, "valid_from", p);
        let valid_to = self.timestamp(m, "valid_to", p);
        if let (Some(Some(f)), Some(Some(t))) = (valid_from, valid_to) {
            if f >= t {
                self.err(p.key("valid_to"), "must be later than valid_from");
                return None;
            }
        }
        Some(Price {
            list: list?,
            currency: currency?,
            amount: amount?,
            min_qty: min_qty?,
            valid_from: valid_from?,
            valid_to: valid_to?,
        })
    }

    pub(super) fn amount(
        &mut self,
        v: Option<&Value>,
        p: Ptr<'_>,
        currency: Option<Currency>,
    ) -> Option<Decimal> {
        let s = match v {
            None | Some(Value::Null) => {
                self.err(p, "is required: a decimal string like \"129.90\"");
                return None;
            }
            Some(Value::Number(_)) => {
                self.err(
                    p,
                    "must be a decimal string like \"129.90\", not a JSON number",
                );
                return None;
            }
            Some(Value::String(s)) => s,
            Some(other) => {
                self.err(
                    p,
                    format!(
                        "must be a decimal string like \"129.90\", not {}",
                        kind(other)
                    ),
                );
                return None;
            }
        };
        let Some(d) = parse_plain_decimal(s) else {
            self.err(
                p,
                format!(
                    "must be a decimal string like \"129.90\": {:?} {}",
                    s,
                    decimal_syntax_reason(s)
                ),
            );
            return None;
        };
        if let Some(c) = currency {
            if d.scale() > c.exponent() {
                self.err(
                    p,
                    format!(
                        "has {} decimal(s) but {} allows at most {}",
                        d.scale(),
                        c.code(),
                        c.exponent()
                    ),
                );
                return None;
            }
        }
        Some(d)
    }

    pub(super) fn duplicate_prices(&mut self, raw: Option<&Value>, prices: &[Option<Price>]) {
        if raw.is_none() {
            return;
        }
        let mut seen: HashMap<PriceKey, usize> = HashMap::new();
        for (i, p) in prices.iter().enumerate() {
            let Some(p) = p else { continue };
            let key = (
                p.list.clone(),
                p.currency.code().to_string(),
                p.min_qty,
                p.valid_from,
            );
            if let Some(first) = seen.get(&key) {
                self.err(
                    format!("/prices/{i}"),
                    format!(
                        "duplicates /prices/{first}: same list, currency, min_qty and valid_from"
                    ),
                );
            } else {
                seen.insert(key, i);
            }
        }
    }
}
