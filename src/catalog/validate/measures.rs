//! Measures: dimensions and weights with their units, converted to millimetres and grams.

use super::*;

impl Cx {
    /// A strictly positive measure: a decimal string or a JSON number (read in its textual form).
    pub(super) fn measure(&mut self, v: Option<&Value>, p: Ptr<'_>) -> Option<Decimal> {
        let text = match v {
            None | Some(Value::Null) => {
                self.err(p, "is required: a decimal string like \"32.5\" or a number");
                return None;
            }
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                self.err(
                    p,
                    format!(
                        "must be a decimal string like \"32.5\" or a number, not {}",
                        kind(other)
                    ),
                );
                return None;
            }
        };
        let Some(d) = parse_plain_decimal(&text) else {
            let reason = if text.starts_with('-') {
                "must be strictly positive"
            } else {
                decimal_syntax_reason(&text)
            };
            self.err(
                p,
                format!("must be a decimal like \"32.5\": {text:?} {reason}"),
            );
            return None;
        };
        if d.is_zero() {
            self.err(p, "must be strictly positive, not zero");
            return None;
        }
        Some(d)
    }

    pub(super) fn length_unit(&mut self, m: &Map<String, Value>, p: Ptr<'_>) -> Option<LengthUnit> {
        let u = self.req_str(m, "unit", p, "one of mm, cm, m, in")?;
        let unit = LengthUnit::parse(u);
        if unit.is_none() {
            self.err(
                p.key("unit"),
                format!("must be one of mm, cm, m, in, not {u:?}"),
            );
        }
        unit
    }

    pub(super) fn mass_unit(&mut self, m: &Map<String, Value>, p: Ptr<'_>) -> Option<MassUnit> {
        let u = self.req_str(m, "unit", p, "one of g, kg, lb")?;
        let unit = MassUnit::parse(u);
        if unit.is_none() {
            self.err(
                p.key("unit"),
                format!("must be one of g, kg, lb, not {u:?}"),
            );
        }
        unit
    }

    pub(super) fn convert_mm(
        &mut self,
        d: Option<Decimal>,
        unit: Option<LengthUnit>,
        p: Ptr<'_>,
    ) -> Option<Decimal> {
        let (d, unit) = (d?, unit?);
        let mm = unit.to_mm(d);
        if mm.is_none() {
            self.err(p, "is too large");
        }
        mm
    }

    pub(super) fn convert_g(
        &mut self,
        d: Option<Decimal>,
        unit: Option<MassUnit>,
        p: Ptr<'_>,
    ) -> Option<Decimal> {
        let (d, unit) = (d?, unit?);
        let g = unit.to_g(d);
        if g.is_none() {
            self.err(p, "is too large");
        }
        g
    }

    pub(super) fn dimensions(&mut self, v: &Value, p: Ptr<'_>) -> Option<Dimensions> {
        let m = self.object(v, p, &["length", "width", "height", "unit"])?;
        let unit = self.length_unit(m, p);
        let side = |cx: &mut Cx, key: &str| {
            let sp = p.key(key);
            let d = cx.measure(m.get(key), sp);
            cx.convert_mm(d, unit, sp)
        };
        let length_mm = side(self, "length");
        let width_mm = side(self, "width");
        let height_mm = side(self, "height");
        Some(Dimensions {
            length_mm: length_mm?,
            width_mm: width_mm?,
            height_mm: height_mm?,
        })
    }

    pub(super) fn weight(&mut self, v: &Value) -> Option<Weight> {
        let p = Ptr::Str("/weight");
        let m = self.object(v, p, &["net", "gross", "unit"])?;
        let unit = self.mass_unit(m, p);
        let (net_raw, gross_raw) = (present(m, "net"), present(m, "gross"));
        if net_raw.is_none() && gross_raw.is_none() {
            self.err(p, "needs a net weight, a gross weight or both");
            return None;
        }
        let part = |cx: &mut Cx, key: &str, raw: Option<&Value>| -> Option<Option<Decimal>> {
            let Some(raw) = raw else { return Some(None) };
            let wp = p.key(key);
            let d = cx.measure(Some(raw), wp);
            cx.convert_g(d, unit, wp).map(Some)
        };
        let net_g = part(self, "net", net_raw);
        let gross_g = part(self, "gross", gross_raw);
        let (net_g, gross_g) = (net_g?, gross_g?);
        if let (Some(n), Some(g)) = (net_g, gross_g) {
            if g < n {
                self.err("/weight/gross", "must not be less than the net weight");
                return None;
            }
        }
        Some(Weight { net_g, gross_g })
    }
}
