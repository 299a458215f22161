//! A deterministic, realistic sample catalog (tools and hardware), its channels and resellers.
//!
//! Everything here is pure: the same inputs always give the same JSON, on every platform and
//! with every crate version, because randomness comes from a private SplitMix64 generator
//! seeded by the product's index. Product `i` does not depend on `count`, so `products(n)` is
//! a prefix of `products(m)` for `n <= m`. Money and measures are computed in integers (cents,
//! millimetres, grams) and formatted as decimal strings, never through floats.
//!
//! [`load`] stores them through the same use cases as the API and `import`.

pub mod load;

use serde_json::{json, Map, Value};

/// Seed of the whole demo catalog. Changing it changes every product.
const SEED: u64 = 0x7061_7274_6e65_7266; // "partnerf"

/// The first 12 digits of the first product's GTIN-13: fictitious GS1 company prefix `3700123`
/// followed by a 5-digit item reference. Products take consecutive values from here on.
const GTIN_BASE: u64 = 370_012_300_000;

/// The first SKU number; SKUs are `<PREFIX>-<SKU_BASE + index>`.
const SKU_BASE: u64 = 100_001;

/// The vendor's GLN (without check digit): fictitious company prefix `3700122` (kept apart
/// from the prefix the product GTINs use), location `00001`.
const VENDOR_GLN_BODY: &str = "370012200001";

/// The GS1 GPC brick the demo channels give their GDSN trade items (an 8-digit brick code;
/// a product may name its own in its `gpc_category_code` attribute).
const DEMO_GPC_BRICK: &str = "10005706";

/// When scheduled price changes take effect (windows are half-open: `[valid_from, valid_to)`).
const PRICE_CHANGE_AT: &str = "2027-01-01T00:00:00Z";

/// A sample catalog of `count` products, generated lazily one at a time.
///
/// Every product is valid per the catalog rules: unique SKU, GTIN-13 with a correct GS1 check
/// digit, titles and descriptions in `fr` and `en`, amounts as 2-decimal strings in EUR,
/// positive measures in `cm` and `kg` (gross > net), and a packaging hierarchy
/// `each` < `case` (own GTIN-14) < `pallet`.
pub fn products(count: usize) -> impl Iterator<Item = Value> {
    (0..count).map(product)
}

/// The demo channels as `(code, body)`, in the shape of `PUT /v1/channels/{code}`.
pub fn channels() -> Vec<(String, Value)> {
    let sender_gln = with_check_digit(VENDOR_GLN_BODY);
    vec![
        (
            "fr-resellers".to_owned(),
            json!({
                "name": "French reseller network",
                "locale": "fr",
                "currency": "EUR",
                "price_list": "reseller",
                "price_adjustment_percent": "-5",
                "units": "metric",
                "assortment": {
                    "statuses": ["active"],
                    "categories": ["tools/"],
                    "brands": [],
                    "include_skus": [],
                    "exclude_skus": []
                },
                "fields": [
                    "gtin", "title", "brand", "category", "price", "dimensions", "weight",
                    "packaging"
                ],
                "settings": {
                    "link_template": "https://shop.example.com/p/{sku}",
                    "sender_gln": sender_gln,
                    "receiver_gln": with_check_digit("376000000010"),
                    "target_market": "250",
                    "gpc_category_code": DEMO_GPC_BRICK
                }
            }),
        ),
        (
            "eu-marketplace".to_owned(),
            json!({
                "name": "European marketplace",
                "locale": "en",
                "currency": "EUR",
                "price_list": "retail",
                "price_adjustment_percent": "0",
                "units": "metric",
                "assortment": {
                    "statuses": ["active", "discontinued"],
                    "categories": [],
                    "brands": [],
                    "include_skus": [],
                    "exclude_skus": []
                },
                "fields": [
                    "gtin", "status", "brand", "category", "title", "description", "attributes",
                    "media", "price", "dimensions", "weight", "packaging"
                ],
                "settings": {
                    "link_template": "https://shop.example.com/p/{sku}",
                    "sender_gln": sender_gln,
                    "receiver_gln": with_check_digit("400000100020"),
                    "target_market": "276",
                    "gpc_category_code": DEMO_GPC_BRICK
                }
            }),
        ),
    ]
}

/// The demo resellers as `(code, body)`, in the shape of `PUT /v1/resellers/{code}`.
pub fn resellers() -> Vec<(String, Value)> {
    vec![
        (
            "shop-42".to_owned(),
            json!({"name": "Shop 42", "email": "it@shop42.example",
                   "channels": ["fr-resellers"]}),
        ),
        (
            "brico-nord".to_owned(),
            json!({"name": "Brico Nord", "email": "catalogue@brico-nord.example",
                   "channels": ["fr-resellers", "eu-marketplace"]}),
        ),
        (
            "market-one".to_owned(),
            json!({"name": "Market One", "email": "feeds@market-one.example",
                   "channels": ["eu-marketplace"]}),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fixed forever, unlike `rand`'s
/// generators whose streams may change between crate versions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn for_index(index: usize) -> Self {
        let mut seeder = SplitMix64(SEED ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        SplitMix64(seeder.next_u64())
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough value in `0..n` (`n > 0`; the modulo bias is irrelevant for a demo).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Value in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Two distinct indices in `0..n` (`n >= 2`).
    fn two_distinct(&mut self, n: usize) -> (usize, usize) {
        let n = n.max(2) as u64;
        let first = self.below(n);
        let second = (first + 1 + self.below(n - 1)) % n;
        (first as usize, second as usize)
    }
}

// ---------------------------------------------------------------------------------------------
// Reference data

struct Brand {
    name: &'static str,
    model_code: &'static str,
    color: &'static str,
    warranty_years: u64,
}

const BRANDS: &[Brand] = &[
    Brand {
        name: "Acme",
        model_code: "AX",
        color: "yellow",
        warranty_years: 2,
    },
    Brand {
        name: "Boreal",
        model_code: "BR",
        color: "blue",
        warranty_years: 3,
    },
    Brand {
        name: "Castor",
        model_code: "CS",
        color: "red",
        warranty_years: 2,
    },
    Brand {
        name: "Delta Pro",
        model_code: "DP",
        color: "black",
        warranty_years: 5,
    },
    Brand {
        name: "Ergon",
        model_code: "EG",
        color: "green",
        warranty_years: 3,
    },
];

#[derive(Clone, Copy)]
enum Kind {
    Drill,
    Saw,
    Sander,
    Grinder,
    Screw,
    Anchor,
    Pump,
    Hose,
    Light,
}

/// `(fr, en)` pair of texts.
type Text = (&'static str, &'static str);

struct Category {
    path: &'static str,
    prefix: &'static str,
    kind: Kind,
    /// Relative frequency in the catalog.
    share: u64,
    /// Nouns naming the product.
    nouns: &'static [Text],
    features: &'static [Text],
    /// Retail price range in whole euros.
    retail_eur: (u64, u64),
    /// Item (sales unit) length, width, height ranges in millimetres.
    dims_mm: [(u64, u64); 3],
    /// Net weight range in grams.
    net_g: (u64, u64),
    case_quantities: &'static [u32],
}

const CATEGORIES: &[Category] = &[
    Category {
        path: "tools/drills",
        prefix: "DRL",
        kind: Kind::Drill,
        share: 16,
        nouns: &[
            ("Perceuse-visseuse", "drill driver"),
            ("Perceuse à percussion", "hammer drill"),
            ("Visseuse à chocs", "impact driver"),
        ],
        features: &[
            ("mandrin autoserrant", "keyless chuck"),
            ("moteur sans charbons", "brushless motor"),
            ("2 vitesses mécaniques", "2-speed gearbox"),
            ("éclairage LED intégré", "built-in LED light"),
            ("poignée ergonomique bi-matière", "ergonomic soft grip"),
            ("livrée en coffret", "supplied in a carry case"),
        ],
        retail_eur: (59, 249),
        dims_mm: [(260, 380), (85, 120), (220, 300)],
        net_g: (1100, 2300),
        case_quantities: &[6, 10, 12],
    },
    Category {
        path: "tools/saws",
        prefix: "SAW",
        kind: Kind::Saw,
        share: 10,
        nouns: &[
            ("Scie circulaire", "circular saw"),
            ("Scie sauteuse", "jigsaw"),
            ("Scie sabre", "reciprocating saw"),
        ],
        features: &[
            ("changement de lame sans outil", "tool-free blade change"),
            ("souffleur de sciure", "dust blower"),
            ("guide parallèle fourni", "parallel guide included"),
            ("frein moteur électronique", "electronic brake"),
            ("semelle inclinable jusqu'à 45°", "base tilts up to 45°"),
        ],
        retail_eur: (69, 329),
        dims_mm: [(280, 420), (180, 260), (220, 300)],
        net_g: (2200, 4600),
        case_quantities: &[6, 10],
    },
    Category {
        path: "tools/sanders",
        prefix: "SND",
        kind: Kind::Sander,
        share: 8,
        nouns: &[
            ("Ponceuse excentrique", "random orbital sander"),
            ("Ponceuse vibrante", "finishing sander"),
        ],
        features: &[
            ("aspiration intégrée", "integrated dust extraction"),
            ("variateur de vitesse", "variable speed"),
            ("fixation auto-agrippante", "hook-and-loop pad"),
            ("faibles vibrations", "low vibration"),
            ("sac à poussière fourni", "dust bag included"),
        ],
        retail_eur: (45, 189),
        dims_mm: [(200, 300), (120, 160), (150, 220)],
        net_g: (1200, 2600),
        case_quantities: &[6, 10, 12],
    },
    Category {
        path: "tools/grinders",
        prefix: "GRD",
        kind: Kind::Grinder,
        share: 7,
        nouns: &[("Meuleuse d'angle", "angle grinder")],
        features: &[
            ("protection anti-redémarrage", "restart protection"),
            ("capot orientable sans outil", "tool-free adjustable guard"),
            (
                "poignée latérale anti-vibrations",
                "anti-vibration side handle",
            ),
            ("blocage de broche", "spindle lock"),
        ],
        retail_eur: (45, 199),
        dims_mm: [(300, 420), (110, 150), (110, 160)],
        net_g: (1700, 2900),
        case_quantities: &[6, 10, 12],
    },
    Category {
        path: "hardware/screws",
        prefix: "SCR",
        kind: Kind::Screw,
        share: 16,
        nouns: &[
            ("Vis à bois tête fraisée", "countersunk wood screws"),
            ("Vis pour plaque de plâtre", "drywall screws"),
            ("Vis de terrasse", "decking screws"),
        ],
        features: &[
            ("pointe autoforeuse", "self-drilling tip"),
            ("empreinte Torx", "Torx drive"),
            ("filetage partiel", "partial thread"),
            ("boîte refermable", "resealable box"),
        ],
        retail_eur: (4, 29),
        dims_mm: [(90, 160), (60, 110), (40, 90)],
        net_g: (250, 1400),
        case_quantities: &[12, 24],
    },
    Category {
        path: "hardware/anchors",
        prefix: "ANC",
        kind: Kind::Anchor,
        share: 10,
        nouns: &[
            ("Chevilles nylon", "nylon wall plugs"),
            ("Chevilles à expansion", "expansion anchors"),
            ("Chevilles plaque de plâtre", "plasterboard anchors"),
        ],
        features: &[
            (
                "pour matériaux pleins et creux",
                "for solid and hollow walls",
            ),
            ("anti-rotation", "anti-rotation wings"),
            ("collerette de butée", "stop collar"),
            ("boîte refermable", "resealable box"),
        ],
        retail_eur: (3, 19),
        dims_mm: [(80, 140), (50, 100), (30, 70)],
        net_g: (90, 450),
        case_quantities: &[12, 24],
    },
    Category {
        path: "garden/pumps",
        prefix: "PMP",
        kind: Kind::Pump,
        share: 7,
        nouns: &[
            ("Pompe d'arrosage", "garden pump"),
            (
                "Pompe immergée eaux claires",
                "submersible clear-water pump",
            ),
        ],
        features: &[
            ("interrupteur à flotteur", "float switch"),
            ("protection thermique", "thermal protection"),
            ("préfiltre amovible", "removable pre-filter"),
            ("raccords rapides fournis", "quick connectors included"),
        ],
        retail_eur: (79, 349),
        dims_mm: [(300, 480), (200, 280), (250, 350)],
        net_g: (4200, 9500),
        case_quantities: &[6],
    },
    Category {
        path: "garden/hoses",
        prefix: "HOS",
        kind: Kind::Hose,
        share: 8,
        nouns: &[
            ("Tuyau d'arrosage", "garden hose"),
            ("Tuyau d'arrosage renforcé", "reinforced garden hose"),
        ],
        features: &[
            ("anti-torsion", "kink-resistant"),
            ("traité anti-UV", "UV-resistant"),
            ("sans phtalates", "phthalate-free"),
            ("tricot renforcé 4 couches", "4-layer knitted reinforcement"),
        ],
        retail_eur: (15, 89),
        dims_mm: [(280, 420), (280, 420), (90, 180)],
        net_g: (1400, 6200),
        case_quantities: &[6, 10],
    },
    Category {
        path: "lighting/work-lights",
        prefix: "LGT",
        kind: Kind::Light,
        share: 8,
        nouns: &[
            ("Projecteur de chantier LED", "LED work light"),
            ("Baladeuse LED", "LED inspection lamp"),
        ],
        features: &[
            ("tête orientable à 360°", "360° swivel head"),
            ("boîtier antichoc", "impact-resistant housing"),
            ("3 niveaux d'intensité", "3 brightness settings"),
            ("base aimantée", "magnetic base"),
        ],
        retail_eur: (25, 149),
        dims_mm: [(150, 300), (90, 200), (150, 320)],
        net_g: (600, 2600),
        case_quantities: &[6, 10, 12, 24],
    },
];

// ---------------------------------------------------------------------------------------------
// Product generation

fn pick_category(rng: &mut SplitMix64) -> &'static Category {
    let total: u64 = CATEGORIES.iter().map(|c| c.share).sum();
    let mut roll = rng.below(total);
    for category in CATEGORIES {
        if roll < category.share {
            return category;
        }
        roll -= category.share;
    }
    &CATEGORIES[0]
}

/// What varies with the kind of product: attributes and the specification in the title.
struct Spec {
    attributes: Map<String, Value>,
    fr: String,
    en: String,
    /// Pack size of consumables, appended to the title: `(", boîte de 200", ", box of 200")`.
    pack: Option<(String, String)>,
}

fn spec(kind: Kind, brand: &Brand, rng: &mut SplitMix64) -> Spec {
    let mut attributes = Map::new();
    let mut pack = None;
    let (fr, en) = match kind {
        Kind::Drill | Kind::Saw | Kind::Sander | Kind::Grinder | Kind::Light => {
            let cordless = rng.chance(match kind {
                Kind::Drill => 85,
                Kind::Light => 70,
                _ => 55,
            });
            let voltage = if cordless {
                rng.pick(&[12u64, 18, 18, 18, 36])
            } else {
                230
            };
            attributes.insert("voltage".into(), json!(voltage));
            attributes.insert("cordless".into(), json!(cordless));
            let (size_name, sizes): (&str, &[u64]) = match kind {
                Kind::Drill => ("chuck_mm", &[10, 13]),
                Kind::Saw => ("blade_mm", &[165, 184, 190]),
                Kind::Sander => ("pad_mm", &[125, 150]),
                Kind::Grinder => ("disc_mm", &[115, 125]),
                Kind::Light => ("lumens", &[1000, 2000, 3000, 5000]),
                _ => ("size_mm", &[10]),
            };
            let size = rng.pick(sizes);
            attributes.insert(size_name.into(), json!(size));
            if matches!(kind, Kind::Light) {
                attributes.insert("ip_rating".into(), json!(rng.pick(&["IP54", "IP65"])));
            } else if !cordless {
                attributes.insert("power_w".into(), json!(rng.range(5, 14) * 100));
            }
            attributes.insert("color".into(), json!(brand.color));
            match (cordless, kind) {
                (_, Kind::Light) if cordless => (
                    format!("sans fil {voltage} V {size} lm"),
                    format!("{voltage} V cordless {size} lm"),
                ),
                (_, Kind::Light) => (format!("{size} lm"), format!("{size} lm")),
                (true, _) => (
                    format!("sans fil {voltage} V"),
                    format!("{voltage} V cordless"),
                ),
                (false, _) => ("filaire 230 V".to_owned(), "230 V corded".to_owned()),
            }
        }
        Kind::Screw => {
            let (diameter_tenths, lengths): (u64, &[u64]) = rng.pick(&[
                (35, &[25, 30, 35][..]),
                (40, &[30, 40, 50]),
                (50, &[50, 60, 70]),
                (60, &[60, 80, 100]),
            ]);
            let length = rng.pick(lengths);
            let pieces = rng.pick(&[100u64, 200, 500]);
            let material = rng.pick(&["zinc-plated steel", "stainless steel A2"]);
            let diameter = decimal(diameter_tenths, 1);
            attributes.insert("diameter_mm".into(), tenths_number(diameter_tenths));
            attributes.insert("length_mm".into(), json!(length));
            attributes.insert("pieces".into(), json!(pieces));
            attributes.insert("material".into(), json!(material));
            let diameter_fr = diameter.replace('.', ",");
            pack = Some((format!(", boîte de {pieces}"), format!(", box of {pieces}")));
            (
                format!("{diameter_fr} x {length} mm"),
                format!("{diameter} x {length} mm"),
            )
        }
        Kind::Anchor => {
            let diameter = rng.pick(&[6u64, 8, 10, 12]);
            let length = diameter * 5;
            let pieces = rng.pick(&[25u64, 50, 100]);
            attributes.insert("diameter_mm".into(), json!(diameter));
            attributes.insert("length_mm".into(), json!(length));
            attributes.insert("pieces".into(), json!(pieces));
            attributes.insert("material".into(), json!("nylon"));
            attributes.insert("color".into(), json!("grey"));
            pack = Some((format!(", boîte de {pieces}"), format!(", box of {pieces}")));
            let size = format!("{diameter} x {length} mm");
            (size.clone(), size)
        }
        Kind::Pump => {
            let power = rng.range(6, 13) * 100;
            let flow = rng.range(30, 60) * 100;
            attributes.insert("voltage".into(), json!(230));
            attributes.insert("cordless".into(), json!(false));
            attributes.insert("power_w".into(), json!(power));
            attributes.insert("flow_l_h".into(), json!(flow));
            attributes.insert("color".into(), json!(brand.color));
            (
                format!("{power} W {flow} l/h"),
                format!("{power} W {flow} l/h"),
            )
        }
        Kind::Hose => {
            let length = rng.pick(&[15u64, 20, 25, 50]);
            let (diameter_mm, inches) = rng.pick(&[(13u64, "1/2"), (15, "5/8"), (19, "3/4")]);
            attributes.insert("length_m".into(), json!(length));
            attributes.insert("inner_diameter_mm".into(), json!(diameter_mm));
            attributes.insert(
                "color".into(),
                json!(rng.pick(&["green", "orange", "black"])),
            );
            (
                format!("{length} m Ø {diameter_mm} mm"),
                format!("{length} m {inches}\""),
            )
        }
    };
    Spec {
        attributes,
        fr,
        en,
        pack,
    }
}

fn product(index: usize) -> Value {
    let mut rng = SplitMix64::for_index(index);
    let category = pick_category(&mut rng);
    let brand = &BRANDS[rng.below(BRANDS.len() as u64) as usize];

    let sku = format!("{}-{}", category.prefix, SKU_BASE + index as u64);
    let gtin_body = format!("{:012}", (GTIN_BASE + index as u64) % 1_000_000_000_000);
    let gtin = with_check_digit(&gtin_body);
    let status = match rng.below(100) {
        0..=84 => "active",
        85..=92 => "draft",
        _ => "discontinued",
    };

    // Texts.
    let (noun_fr, noun_en) = rng.pick(category.nouns);
    let Spec {
        attributes,
        fr: spec_fr,
        en: spec_en,
        pack,
    } = spec(category.kind, brand, &mut rng);
    let (pack_fr, pack_en) = pack.unwrap_or_default();
    let model = format!("{}-{}", brand.model_code, rng.range(100, 999));
    let (f1, f2) = rng.two_distinct(category.features.len());
    let (f1, f2) = (category.features[f1], category.features[f2]);
    let years = brand.warranty_years;
    let (end_fr, end_en) = if status == "discontinued" {
        ("Fin de série.".to_owned(), "End of line.".to_owned())
    } else {
        (
            format!("Garantie {years} ans."),
            format!("{years}-year warranty."),
        )
    };
    let title_fr = format!("{noun_fr} {spec_fr} {} {model}{pack_fr}", brand.name);
    let title_en = format!("{} {spec_en} {noun_en} {model}{pack_en}", brand.name);
    let description_fr = format!("{noun_fr} {}, {} et {}. {end_fr}", brand.name, f1.0, f2.0);
    let description_en = format!(
        "{} {noun_en} with {} and {}. {end_en}",
        brand.name, f1.1, f2.1
    );

    // Prices, in cents.
    let retail = rng.range(category.retail_eur.0, category.retail_eur.1) * 100
        + rng.pick(&[90u64, 90, 99, 0, 50]);
    let reseller = round_to(retail * 65 / 100, 10).max(1);
    let mut prices = vec![price("retail", retail, 1, None, None)];
    let price_change = rng.chance(8);
    if price_change {
        // A scheduled increase: the current price closes when the new one opens.
        let next = round_to(reseller * 104 / 100, 10);
        prices.push(price("reseller", reseller, 1, None, Some(PRICE_CHANGE_AT)));
        prices.push(price("reseller", next, 1, Some(PRICE_CHANGE_AT), None));
    } else {
        prices.push(price("reseller", reseller, 1, None, None));
    }
    match rng.below(100) {
        0..=34 => prices.push(price("reseller", tier(reseller), 10, None, None)),
        35..=39 => prices.push(price(
            "reseller",
            tier(reseller),
            10,
            Some(PRICE_CHANGE_AT),
            None,
        )),
        _ => {}
    }

    // Measures, in millimetres and grams.
    let [l, w, h] = category.dims_mm.map(|(lo, hi)| rng.range(lo, hi));
    let net = rng.range(category.net_g.0, category.net_g.1);
    let gross = net + net * rng.range(6, 18) / 100 + rng.range(20, 120);

    // Packaging: the case holds a grid of items plus carton walls.
    let case_qty = rng.pick(category.case_quantities);
    let [nl, nw, nh] = case_layout(case_qty, [l, w, h]);
    let case_gross = u64::from(case_qty) * gross + rng.range(150, 450);
    let pallet_qty = case_qty * rng.range(20, 40) as u32;
    // Every level is a trade item with its own GTIN-14: indicator digit 1 for the case, 5 for
    // the pallet, then the base unit's body.
    let case_gtin = with_check_digit(&format!("1{gtin_body}"));
    let pallet_gtin = with_check_digit(&format!("5{gtin_body}"));

    json!({
        "sku": sku,
        "gtin": gtin,
        "status": status,
        "brand": brand.name,
        "category": category.path,
        "title": {"fr": title_fr, "en": title_en},
        "description": {"fr": description_fr, "en": description_en},
        "attributes": attributes,
        "media": [{"url": format!("https://cdn.example.com/{}.jpg", sku.to_ascii_lowercase()),
                   "role": "main"}],
        "prices": prices,
        "dimensions": cm(l, w, h),
        "weight": {"net": decimal(net, 3), "gross": decimal(gross, 3), "unit": "kg"},
        "packaging": [
            {"level": "each", "quantity": 1, "type": "box"},
            {"level": "case", "quantity": case_qty, "gtin": case_gtin,
             "dimensions": cm(l * nl + 12, w * nw + 12, h * nh + 15),
             "gross_weight": {"value": decimal(case_gross, 3), "unit": "kg"}},
            {"level": "pallet", "quantity": pallet_qty, "gtin": pallet_gtin}
        ]
    })
}

/// How many items a case stacks along length, width and height: the largest count goes along
/// the item's smallest side, so that cases stay compact.
fn case_layout(quantity: u32, item: [u64; 3]) -> [u64; 3] {
    let counts: [u64; 3] = match quantity {
        6 => [3, 2, 1],
        10 => [5, 2, 1],
        12 => [4, 3, 1],
        24 => [4, 3, 2],
        n => [u64::from(n), 1, 1],
    };
    let mut axes = [0usize, 1, 2];
    axes.sort_by_key(|&axis| item[axis]);
    let mut layout = [1; 3];
    for (count, axis) in counts.into_iter().zip(axes) {
        layout[axis] = count;
    }
    layout
}

/// A JSON number from tenths, an integer when whole (`40` -> `4`, `35` -> `3.5`).
fn tenths_number(tenths: u64) -> Value {
    if tenths.is_multiple_of(10) {
        json!(tenths / 10)
    } else {
        json!(tenths as f64 / 10.0)
    }
}

/// The quantity-10 tier: about 5 % under the base reseller price.
fn tier(reseller_cents: u64) -> u64 {
    round_to(reseller_cents * 95 / 100, 10).clamp(1, reseller_cents.saturating_sub(1).max(1))
}

fn price(
    list: &str,
    cents: u64,
    min_qty: u32,
    valid_from: Option<&str>,
    valid_to: Option<&str>,
) -> Value {
    let mut p = Map::new();
    p.insert("list".into(), json!(list));
    p.insert("currency".into(), json!("EUR"));
    p.insert("amount".into(), json!(money(cents)));
    p.insert("min_qty".into(), json!(min_qty));
    if let Some(from) = valid_from {
        p.insert("valid_from".into(), json!(from));
    }
    if let Some(to) = valid_to {
        p.insert("valid_to".into(), json!(to));
    }
    Value::Object(p)
}

/// Dimensions given in millimetres, written in centimetres.
fn cm(length_mm: u64, width_mm: u64, height_mm: u64) -> Value {
    json!({
        "length": decimal(length_mm, 1),
        "width": decimal(width_mm, 1),
        "height": decimal(height_mm, 1),
        "unit": "cm"
    })
}

/// Rounds to the nearest multiple of `step`, halves up.
fn round_to(value: u64, step: u64) -> u64 {
    (value + step / 2) / step * step
}

/// Cents as a 2-decimal amount: `12990` -> `"129.90"`.
fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `value / 10^scale` as a minimal decimal string: `(1450, 3)` -> `"1.45"`, `(240, 1)` -> `"24"`.
fn decimal(value: u64, scale: u32) -> String {
    let unit = 10u64.pow(scale);
    let (int, frac) = (value / unit, value % unit);
    if frac == 0 {
        return int.to_string();
    }
    let digits = format!("{frac:0width$}", width = scale as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// Appends the GS1 mod-10 check digit to a string of digits (GTIN, GLN, SSCC bodies).
fn with_check_digit(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    let check = (10 - sum % 10) % 10;
    format!("{body}{check}")
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;

    /// An independent GS1 check: weights 1,3,1,3... from the left for an even-length code
    /// padded to 18 digits, the total must be a multiple of 10.
    fn gs1_valid(code: &str) -> bool {
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) || code.len() > 18 {
            return false;
        }
        let padded = format!("{code:0>18}");
        let total: u32 = padded
            .chars()
            .enumerate()
            .map(|(i, c)| c.to_digit(10).unwrap_or(99) * if i % 2 == 0 { 3 } else { 1 })
            .sum();
        total.is_multiple_of(10)
    }

    fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{pointer} missing or not a string in {v}"))
    }

    /// A positive decimal string as an integer in thousandths.
    fn milli(s: &str) -> u64 {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        assert!(frac.len() <= 3, "too many decimals: {s}");
        let frac = format!("{frac:0<3}");
        let int: u64 = int.parse().unwrap_or_else(|_| panic!("bad decimal {s}"));
        let frac: u64 = frac.parse().unwrap_or_else(|_| panic!("bad decimal {s}"));
        int * 1000 + frac
    }

    fn qty(v: &Value) -> u64 {
        v["quantity"].as_u64().unwrap_or(0)
    }

    #[test]
    fn check_digit_matches_known_codes() {
        assert_eq!(with_check_digit("370012345678"), "3700123456780");
        assert_eq!(with_check_digit("1370012345678"), "13700123456787");
        assert_eq!(with_check_digit("400638133393"), "4006381333931");
        assert!(gs1_valid("4006381333931"));
        assert!(!gs1_valid("4006381333932"));
    }

    #[test]
    fn demo_is_deterministic_and_prefix_stable() {
        let a: Vec<Value> = products(300).collect();
        let b: Vec<Value> = products(300).collect();
        assert_eq!(a, b);
        let c: Vec<Value> = products(50).collect();
        assert_eq!(&a[..50], &c[..]);
        assert_eq!(channels(), channels());
        assert_eq!(resellers(), resellers());
        // Pin one product so an accidental change of the generator is noticed.
        assert!(text(&a[0], "/sku").ends_with("-100001"));
        assert_eq!(text(&a[0], "/gtin"), "3700123000006");
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for p in &a {
            hasher.update(p.to_string().as_bytes());
            hasher.update(b"\n");
        }
        assert_eq!(
            hex::encode(hasher.finalize()),
            "0c5e8131204556fd15daadb2b1e0b151768f07338f238677ac0d5ffdf438e0b3"
        );
    }

    #[test]
    fn demo_skus_and_gtins_are_unique_and_well_formed() {
        let mut skus = HashSet::new();
        let mut gtins = HashSet::new();
        for p in products(5_000) {
            let sku = text(&p, "/sku").to_owned();
            assert!(
                sku.len() <= 64
                    && sku
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                "bad sku {sku}"
            );
            assert!(skus.insert(sku.clone()), "duplicate sku {sku}");
            assert!(
                gtins.insert(text(&p, "/gtin").to_owned()),
                "duplicate gtin for {sku}"
            );
        }
        assert_eq!(skus.len(), 5_000);
    }

    #[test]
    fn demo_gtins_have_correct_check_digits() {
        for p in products(2_000) {
            let gtin = text(&p, "/gtin");
            assert_eq!(gtin.len(), 13);
            assert!(gtin.starts_with("370012"), "{gtin}");
            assert!(gs1_valid(gtin), "bad GTIN-13 {gtin}");
            let case = p["packaging"]
                .as_array()
                .and_then(|levels| levels.iter().find(|l| l["level"] == "case"))
                .unwrap_or_else(|| panic!("no case in {p}"));
            let case_gtin = text(case, "/gtin");
            assert_eq!(case_gtin.len(), 14);
            assert!(gs1_valid(case_gtin), "bad GTIN-14 {case_gtin}");
            assert_eq!(&case_gtin[..1], "1");
            assert_eq!(&case_gtin[1..13], &gtin[..12]);
            let pallet = &p["packaging"][2];
            assert_eq!(pallet["level"], "pallet");
            let pallet_gtin = text(pallet, "/gtin");
            assert!(gs1_valid(pallet_gtin), "bad GTIN-14 {pallet_gtin}");
            assert_eq!(&pallet_gtin[..1], "5");
            assert_eq!(&pallet_gtin[1..13], &gtin[..12]);
        }
        for (code, channel) in channels() {
            for key in ["sender_gln", "receiver_gln"] {
                let gln = text(&channel, &format!("/settings/{key}"));
                assert_eq!(gln.len(), 13, "{code} {key}");
                assert!(gs1_valid(gln), "{code} {key} {gln}");
            }
        }
    }

    #[test]
    fn demo_packaging_grows_and_cases_hold_their_contents() {
        for p in products(2_000) {
            let levels = p["packaging"].as_array().cloned().unwrap_or_default();
            assert_eq!(levels.len(), 3, "{p}");
            assert_eq!(levels[0]["level"], "each");
            assert_eq!(qty(&levels[0]), 1);
            assert!(levels.windows(2).all(|w| qty(&w[0]) < qty(&w[1])), "{p}");
            let case = &levels[1];
            assert!([6, 10, 12, 24].contains(&qty(case)));
            let pallet_cases = qty(&levels[2]) / qty(case);
            assert_eq!(qty(&levels[2]) % qty(case), 0);
            assert!((20..=40).contains(&pallet_cases));

            let item_gross = milli(text(&p, "/weight/gross"));
            let item_net = milli(text(&p, "/weight/net"));
            assert!(item_net > 0 && item_gross > item_net, "{p}");
            assert_eq!(text(&p, "/weight/unit"), "kg");
            let case_gross = milli(text(case, "/gross_weight/value"));
            assert!(case_gross >= qty(case) * item_gross, "{p}");
            assert_eq!(text(case, "/gross_weight/unit"), "kg");
            for axis in ["length", "width", "height"] {
                let item = milli(text(&p, &format!("/dimensions/{axis}")));
                let outer = milli(text(case, &format!("/dimensions/{axis}")));
                assert!(item > 0 && outer > item, "{axis} of {p}");
            }
        }
    }

    #[test]
    fn demo_amounts_have_two_decimals_and_make_sense() {
        let two_decimals = |s: &str| {
            s.split_once('.').is_some_and(|(i, f)| {
                !i.is_empty()
                    && i.bytes().all(|b| b.is_ascii_digit())
                    && f.len() == 2
                    && f.bytes().all(|b| b.is_ascii_digit())
            })
        };
        let (mut dated, mut closing, mut tiers) = (0, 0, 0);
        for p in products(2_000) {
            let prices = p["prices"].as_array().cloned().unwrap_or_default();
            let amount_of = |list: &str, min_qty: u64| {
                prices
                    .iter()
                    .find(|x| {
                        x["list"] == list
                            && x["min_qty"] == min_qty
                            && x.get("valid_from").is_none()
                    })
                    .map(|x| milli(text(x, "/amount")))
            };
            for x in &prices {
                let amount = text(x, "/amount");
                assert!(two_decimals(amount), "{amount} in {p}");
                assert!(milli(amount) > 0);
                assert_eq!(x["currency"], "EUR");
                dated += usize::from(x.get("valid_from").is_some());
                closing += usize::from(x.get("valid_to").is_some());
                tiers += usize::from(x["min_qty"] == 10);
            }
            let retail = amount_of("retail", 1).unwrap_or_else(|| panic!("no retail in {p}"));
            let reseller = amount_of("reseller", 1).unwrap_or_else(|| panic!("no reseller {p}"));
            assert!(reseller < retail && reseller * 100 >= retail * 60, "{p}");
            if let Some(tier) = amount_of("reseller", 10) {
                assert!(tier < reseller, "{p}");
            }
        }
        assert!(
            dated > 0 && closing > 0 && tiers > 0,
            "{dated} {closing} {tiers}"
        );
    }

    #[test]
    fn demo_catalog_is_varied_and_complete() {
        let mut brands = BTreeSet::new();
        let mut categories = BTreeSet::new();
        let mut statuses = BTreeSet::new();
        let mut bytes = 0;
        for p in products(2_000) {
            brands.insert(text(&p, "/brand").to_owned());
            categories.insert(text(&p, "/category").to_owned());
            statuses.insert(text(&p, "/status").to_owned());
            for locale in ["fr", "en"] {
                assert!(!text(&p, &format!("/title/{locale}")).is_empty());
                assert!(!text(&p, &format!("/description/{locale}")).is_empty());
            }
            let attrs = p["attributes"].as_object().cloned().unwrap_or_default();
            assert!(!attrs.is_empty());
            assert!(attrs
                .values()
                .all(|v| v.is_string() || v.is_number() || v.is_boolean()));
            let sku = text(&p, "/sku").to_ascii_lowercase();
            assert_eq!(
                text(&p, "/media/0/url"),
                format!("https://cdn.example.com/{sku}.jpg")
            );
            bytes += p.to_string().len();
        }
        assert!(brands.len() >= 4, "{brands:?}");
        assert!(categories.len() >= 6, "{categories:?}");
        assert_eq!(statuses.len(), 3, "{statuses:?}");
        let average = bytes / 2_000;
        assert!(
            (400..=1_500).contains(&average),
            "average product size {average}"
        );
    }

    #[test]
    fn demo_resellers_use_demo_channels() {
        let codes: HashSet<String> = channels().into_iter().map(|(code, _)| code).collect();
        assert_eq!(codes.len(), 2);
        let list = resellers();
        assert_eq!(list.len(), 3);
        for (code, reseller) in list {
            assert!(text(&reseller, "/email").contains('@'), "{code}");
            assert!(!text(&reseller, "/name").is_empty());
            let used = reseller["channels"].as_array().cloned().unwrap_or_default();
            assert!(!used.is_empty());
            assert!(
                used.iter()
                    .all(|c| c.as_str().is_some_and(|c| codes.contains(c))),
                "{code}"
            );
        }
    }
}
