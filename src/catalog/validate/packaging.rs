//! Packaging levels (each, inner, case, pallet) and the rules between them.

use super::*;

impl Cx {
    pub(super) fn packaging_level(&mut self, v: &Value, p: Ptr<'_>) -> Option<PackagingLevel> {
        let m = self.object(
            v,
            p,
            &[
                "level",
                "quantity",
                "gtin",
                "dimensions",
                "gross_weight",
                "type",
            ],
        )?;
        let level = self
            .req_str(m, "level", p, "one of each, inner, case, pallet")
            .and_then(|l| {
                let k = PackagingLevelKind::parse(l);
                if k.is_none() {
                    self.err(
                        p.key("level"),
                        format!("must be one of each, inner, case, pallet, not {l:?}"),
                    );
                }
                k
            });
        let qp = p.key("quantity");
        let quantity = match present(m, "quantity") {
            None => {
                self.err(qp, "is required: the number of base units this level holds");
                None
            }
            Some(q) => self.count(q, qp),
        };
        if let (Some(PackagingLevelKind::Each), Some(q)) = (level, quantity) {
            if q != 1 {
                self.err(qp, format!("must be 1 for the level \"each\", not {q}"));
                return None;
            }
        }
        let gtin = match self.opt_str(m, "gtin", p) {
            None => Some(None),
            Some(g) => self.check(Gtin::parse(g), p.key("gtin")).map(Some),
        };
        let dimensions = match present(m, "dimensions") {
            None => Some(None),
            Some(d) => self.dimensions(d, p.key("dimensions")).map(Some),
        };
        let gross_weight_g = match present(m, "gross_weight") {
            None => Some(None),
            Some(w) => {
                let wp = p.key("gross_weight");
                self.object(w, wp, &["value", "unit"]).and_then(|wm| {
                    let unit = self.mass_unit(wm, wp);
                    let vp = wp.key("value");
                    let d = self.measure(wm.get("value"), vp);
                    self.convert_g(d, unit, vp).map(Some)
                })
            }
        };
        let kind = match self.opt_str(m, "type", p) {
            None => Some(None),
            Some(t) => self.non_empty(t, p.key("type")).map(Some),
        };
        Some(PackagingLevel {
            level: level?,
            quantity: quantity?,
            gtin: gtin?,
            dimensions: dimensions?,
            gross_weight_g: gross_weight_g?,
            kind: kind?,
        })
    }

    /// Order each < inner < case < pallet without duplicates, strictly growing quantities, and
    /// no level lighter than what it contains.
    pub(super) fn packaging_rules(
        &mut self,
        raw: Option<&Value>,
        levels: &[Option<PackagingLevel>],
        weight: Option<&Weight>,
    ) {
        if raw.is_none() {
            return;
        }
        let product_g = weight.and_then(|w| w.gross_g.or(w.net_g));
        let mut prev: Option<(usize, &PackagingLevel)> = None;
        // The last level before this one whose gross weight is known: (index, quantity, grams).
        let mut heavy: Option<(usize, u32, Decimal)> = None;
        for (i, l) in levels.iter().enumerate() {
            let Some(l) = l else { continue };
            if let Some((j, pl)) = prev {
                if l.level == pl.level {
                    self.err(
                        format!("/packaging/{i}/level"),
                        format!(
                            "duplicates the level {:?} of /packaging/{j}",
                            l.level.as_str()
                        ),
                    );
                } else if l.level < pl.level {
                    self.err(
                        format!("/packaging/{i}/level"),
                        format!(
                            "{:?} must come before {:?} (/packaging/{j}): levels go each, inner, case, pallet",
                            l.level.as_str(),
                            pl.level.as_str()
                        ),
                    );
                }
                if l.quantity <= pl.quantity {
                    self.err(
                        format!("/packaging/{i}/quantity"),
                        format!(
                            "must be greater than {} (the quantity of /packaging/{j}): quantities grow from each to pallet",
                            pl.quantity
                        ),
                    );
                }
            }
            if let Some(w) = l.gross_weight_g {
                let q = Decimal::from(l.quantity);
                let (needed, what) = match heavy {
                    Some((j, hq, hw)) => (
                        q.checked_mul(hw)
                            .and_then(|x| x.checked_div(Decimal::from(hq))),
                        format!(
                            "{} / {hq} times the gross weight of /packaging/{j} ({hw} g)",
                            l.quantity
                        ),
                    ),
                    None => (
                        product_g.and_then(|pw| q.checked_mul(pw)),
                        format!(
                            "{} times the product's {} weight ({} g)",
                            l.quantity,
                            if weight.and_then(|w| w.gross_g).is_some() {
                                "gross"
                            } else {
                                "net"
                            },
                            product_g.unwrap_or_default()
                        ),
                    ),
                };
                if let Some(needed) = needed {
                    if w < needed {
                        self.err(
                            format!("/packaging/{i}/gross_weight"),
                            format!(
                                "is {w} g, less than what it contains: at least {} g ({what})",
                                needed.round_dp(3).normalize()
                            ),
                        );
                    }
                }
                heavy = Some((i, l.quantity, w));
            }
            prev = Some((i, l));
        }
    }
}
