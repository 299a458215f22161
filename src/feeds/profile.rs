//! Feed profiles: the data files under `feeds/profiles/` (one per partner-network format) and
//! the problems a record can have in one of them. The files are compiled into the binary, so
//! a profile never fails to load at run time; a unit test parses every one.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::OnceLock;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::delta::ChannelDef;

/// The profile files, in the order `format=` lists them. Adding a network whose output one of
/// the renderers already makes (a CSV/TSV variant, say) is a new file and a line here.
const FILES: [(&str, &str); 4] = [
    (
        "google-xml.toml",
        include_str!("../../feeds/profiles/google-xml.toml"),
    ),
    (
        "google-tsv.toml",
        include_str!("../../feeds/profiles/google-tsv.toml"),
    ),
    (
        "bmecat.toml",
        include_str!("../../feeds/profiles/bmecat.toml"),
    ),
    (
        "gdsn-cin.toml",
        include_str!("../../feeds/profiles/gdsn-cin.toml"),
    ),
];

/// Which renderer turns records into the profile's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Renderer {
    /// RSS 2.0 with the Google `g:` namespace, one `<item>` per product.
    GoogleRss,
    /// Delimited text with a header row (CSV or TSV), columns from the profile.
    Tabular,
    /// BMEcat 2005: `T_NEW_CATALOG` for the feed, `T_UPDATE_PRODUCTS` for changes.
    Bmecat,
    /// GS1 GDSN 3.1 Catalogue Item Notification: one transaction per product, `ADD`,
    /// `CHANGE_BY_REFRESH` or `DELETE`.
    GdsnCin,
}

/// Limits a record must respect to be rendered; a record over one is left out and reported.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub title_max_chars: Option<usize>,
    pub description_max_chars: Option<usize>,
    /// Largest dimension, in the profile's length unit (decimal string).
    pub dimension_max: Option<String>,
    /// Largest weight, in the profile's mass unit (decimal string).
    pub weight_max: Option<String>,
    /// Longest SKU the format's identifier accepts.
    pub sku_max_chars: Option<usize>,
}

impl Limits {
    pub fn dimension_max(&self) -> Option<Decimal> {
        self.dimension_max
            .as_deref()
            .and_then(|s| Decimal::from_str(s).ok())
    }
    pub fn weight_max(&self) -> Option<Decimal> {
        self.weight_max
            .as_deref()
            .and_then(|s| Decimal::from_str(s).ok())
    }
}

/// Units a text-unit profile (Google) writes measures in, per the channel's unit system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitRules {
    pub metric_length: String,
    pub metric_mass: String,
    pub imperial_length: String,
    pub imperial_mass: String,
}

impl Default for UnitRules {
    fn default() -> Self {
        UnitRules {
            metric_length: "mm".into(),
            metric_mass: "g".into(),
            imperial_length: "in".into(),
            imperial_mass: "lb".into(),
        }
    }
}

/// One column (tabular) or element (RSS) of a profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub header: String,
    /// The name of a value the mapping computes (see docs/feeds.md).
    pub value: String,
    /// Without it the product is left out and reported.
    #[serde(default)]
    pub required: bool,
    /// Without it the product is rendered, and the report warns.
    #[serde(default)]
    pub recommended: bool,
}

/// A parsed profile file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub renderer: Renderer,
    pub content_type: String,
    pub extension: String,
    #[serde(default)]
    pub delimiter: Option<char>,
    /// Whether `changes` exists in this profile (snapshot-only networks say `false`).
    #[serde(default = "yes")]
    pub changes: bool,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub units: UnitRules,
    /// Fixed values, by value name (`condition = "new"`).
    #[serde(default)]
    pub constants: BTreeMap<String, String>,
    #[serde(default)]
    pub columns: Vec<Column>,
    /// BMEcat `price_type` of the published price list.
    #[serde(default)]
    pub price_type: Option<String>,
    /// Codes per packaging level: BMEcat's Rec 20 / Rec 21 packing units (`case = "CT"`),
    /// GDSN's trade item unit descriptors (`case = "CASE"`).
    #[serde(default)]
    pub packing_unit_codes: BTreeMap<String, String>,
    /// Channel settings the profile needs; a channel without one cannot render any product.
    #[serde(default)]
    pub required_settings: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Every profile, parsed once.
pub fn all() -> &'static [Profile] {
    static PROFILES: OnceLock<Vec<Profile>> = OnceLock::new();
    PROFILES.get_or_init(|| {
        FILES
            .iter()
            .map(|(file, text)| {
                toml::from_str(text)
                    .unwrap_or_else(|e| panic!("feeds/profiles/{file} does not parse: {e}"))
            })
            .collect()
    })
}

/// A profile's position in [`all`]; what [`super::Format::Profile`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileId(pub(crate) u8);

impl ProfileId {
    pub fn get(self) -> &'static Profile {
        &all()[usize::from(self.0)]
    }

    pub fn find(name: &str) -> Option<ProfileId> {
        all()
            .iter()
            .position(|p| p.name == name)
            .and_then(|i| u8::try_from(i).ok())
            .map(ProfileId)
    }
}

/// How bad a problem is: an error leaves the product out of the profile's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Why a record cannot be rendered (validly) in a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    /// The profile's value or element concerned (`gtin`, `title`, `packaging`, ...).
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn error(field: &str, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Error,
            field: field.to_owned(),
            message: message.into(),
        }
    }
    pub fn warning(field: &str, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Warning,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Whether `problems` leave the product out.
pub fn excludes(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.severity == Severity::Error)
}

/// What a profile renderer knows of the channel besides the records.
#[derive(Debug, Clone, Default)]
pub struct Publication {
    /// The channel's display name.
    pub name: String,
    /// BCP 47 locale of the texts (`fr`, `en-GB`).
    pub locale: String,
    /// The channel's profile settings (`link_template`, `sender_gln`, ...).
    pub settings: BTreeMap<String, String>,
    /// The channel sequence the document starts from: the feed's own position, or the seq a
    /// change page follows (BMEcat `prev_version`).
    pub seq: i64,
    /// The seq the document brings the partner to.
    pub next_seq: i64,
    /// When the document is made (RFC 3339, UTC), for headers that need a date.
    pub created: String,
}

impl Publication {
    pub fn of(def: &ChannelDef, seq: i64, next_seq: i64, created: &str) -> Self {
        Publication {
            name: def.name.clone(),
            locale: def.locale.clone(),
            settings: def.settings.clone(),
            seq,
            next_seq,
            created: created.to_owned(),
        }
    }

    /// No channel known (the plain `begin` of the writers): no settings, English.
    pub fn bare() -> Publication {
        Publication {
            locale: "en".into(),
            created: "1970-01-01T00:00:00Z".into(),
            ..Publication::default()
        }
    }

    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// Problems every profile checks: the channel settings it needs.
pub(crate) fn missing_settings(profile: &Profile, publication: &Publication) -> Vec<Problem> {
    profile
        .required_settings
        .iter()
        .filter(|key| publication.setting(key).is_none())
        .map(|key| Problem::error(key, format!("the channel has no `{key}` setting")))
        .collect()
}
