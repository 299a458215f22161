//! GS1 GDSN 3.1 Catalogue Item Notification (`urn:gs1:gdsn:catalogue_item_notification:xsd:3`):
//! one `transaction` per product, whose `catalogueItem` tree runs from the highest packaging
//! level down to the base unit. The full feed is all `ADD`; a change page is `ADD` (from the
//! start of the channel) or `CHANGE_BY_REFRESH`, and `DELETE` for products that left. Every
//! document validates against `CatalogueItemNotification.xsd` (the tests validate each with libxml2);
//! the GS1 business rules the XSD does not check (check digits, hierarchy arithmetic) are
//! checked here, and a product that breaks one is left out and reported.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;

use rust_decimal::Decimal;

use super::profile::{Problem, Profile, Publication};
use super::units;
use super::view::View;
use super::xml::escape;
use super::{Doc, FeedError};
use crate::catalog::Gtin;

pub const CIN_NAMESPACE: &str = "urn:gs1:gdsn:catalogue_item_notification:xsd:3";
pub const SBDH_NAMESPACE: &str =
    "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader";
/// The extension modules the trade items carry, as `(prefix, namespace)`.
pub const MODULES: [(&str, &str); 3] = [
    (
        "trade_item_description",
        "urn:gs1:gdsn:trade_item_description:xsd:3",
    ),
    ("sales_information", "urn:gs1:gdsn:sales_information:xsd:3"),
    (
        "trade_item_measurements",
        "urn:gs1:gdsn:trade_item_measurements:xsd:3",
    ),
];

/// `tradeItemDescription` (Description200Type) and `brandName` hold at most this many
/// characters.
const BRAND_MAX_CHARS: usize = 70;
/// `entityIdentification` holds at most 80 characters.
const ENTITY_ID_MAX_CHARS: usize = 80;

/// Trailing characters of `s`, at most `max` of them.
fn tail(s: &str, max: usize) -> &str {
    let chars = s.chars().count();
    match s.char_indices().nth(chars.saturating_sub(max)) {
        Some((i, _)) => &s[i..],
        None => s,
    }
}

/// Whether `s` is a GLN: 13 digits whose last is the GS1 mod-10 check digit.
pub(crate) fn is_gln(s: &str) -> bool {
    s.len() == 13 && Gtin::parse(s).is_ok()
}

/// The level's rank in a GS1 hierarchy, lowest first.
fn rank(level: &str) -> Option<u8> {
    match level {
        "each" => Some(0),
        "inner" => Some(1),
        "case" => Some(2),
        "pallet" => Some(3),
        _ => None,
    }
}

/// One trade item of the product's hierarchy.
struct Level<'r> {
    name: Cow<'r, str>,
    /// Base units it holds.
    quantity: u64,
    gtin: Option<Cow<'r, str>>,
    dimensions: Option<View<'r>>,
    gross: Option<Decimal>,
    /// Only the base unit has a net weight (the product's).
    net: Option<Decimal>,
    mass_unit: Option<Cow<'r, str>>,
}

/// A packaging level's name (`None` for a level that is not an object or has none).
fn level_name<'r>(l: Option<&View<'r>>) -> Option<Cow<'r, str>> {
    l.and_then(|l| l.str("level"))
}

/// The member `key` of `v` when it is a non-empty string.
fn str_of<'r>(v: Option<&View<'r>>, key: &str) -> Option<Cow<'r, str>> {
    v.and_then(|v| v.text_of(key))
}

/// The elements of the record's `packaging` array, each as an object (`None` for an element
/// that is not one).
fn packaging<'r>(record: &View<'r>) -> Vec<Option<View<'r>>> {
    record
        .array("packaging")
        .map(|levels| levels.iter().map(|l| l.object()).collect())
        .unwrap_or_default()
}

/// The product's trade items, base unit first: the `each` level (the product itself: its GTIN,
/// dimensions and weights, or the level's own when the product has none), then the other
/// packaging levels in the order the record gives them.
fn hierarchy<'r>(record: &View<'r>, packaging: &[Option<View<'r>>]) -> Vec<Level<'r>> {
    let is_each = |l: &Option<View<'r>>| level_name(l.as_ref()).as_deref() == Some("each");
    let each = packaging
        .iter()
        .find(|l| is_each(l))
        .and_then(Option::as_ref);
    let weight = record.object("weight");
    fn own_gross<'r>(l: Option<&View<'r>>) -> (Option<Decimal>, Option<Cow<'r, str>>) {
        let g = l.and_then(|l| l.object("gross_weight"));
        (
            units::decimal(g.as_ref().and_then(|g| g.get("value"))),
            str_of(g.as_ref(), "unit"),
        )
    }
    let (each_gross, each_unit) = own_gross(each);
    let product_gross = units::decimal(weight.as_ref().and_then(|w| w.get("gross")));
    let base = Level {
        name: Cow::Borrowed("each"),
        quantity: each.and_then(|l| l.u64("quantity")).unwrap_or(1),
        gtin: record.text_of("gtin").or_else(|| str_of(each, "gtin")),
        dimensions: record
            .get("dimensions")
            .or_else(|| each.and_then(|l| l.get("dimensions")))
            .and_then(|d| d.object()),
        gross: product_gross.or(each_gross),
        net: units::decimal(weight.as_ref().and_then(|w| w.get("net"))),
        mass_unit: if product_gross.is_some() || each_gross.is_none() {
            str_of(weight.as_ref(), "unit")
        } else {
            each_unit
        },
    };
    let mut levels = vec![base];
    for l in packaging.iter().filter(|l| !is_each(l)) {
        let l = l.as_ref();
        let (gross, mass_unit) = own_gross(l);
        levels.push(Level {
            name: level_name(l).unwrap_or(Cow::Borrowed("?")),
            quantity: l.and_then(|l| l.u64("quantity")).unwrap_or(0),
            gtin: str_of(l, "gtin"),
            dimensions: l.and_then(|l| l.object("dimensions")),
            gross,
            net: None,
            mass_unit,
        });
    }
    levels
}

/// How far a value the projection rounded may be from the exact one: imperial measures are
/// rounded (pounds to 3 decimals, inches to 2), metric ones are exact.
fn rounding(unit: &str) -> Decimal {
    match unit {
        "lb" => Decimal::new(5, 4),
        "in" => Decimal::new(5, 3),
        _ => Decimal::ZERO,
    }
}

/// The GS1 rules the XSD does not check, on the product's hierarchy: every level has a GTIN with
/// a valid check digit, no two levels share one, the each level holds 1, levels go each, inner,
/// case, pallet, each level holds a whole number (at least 2) of the level below, and no level
/// is lighter than what it contains.
fn hierarchy_problems(
    record: &View<'_>,
    levels: &[Level<'_>],
    packaging: &[Option<View<'_>>],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let each_gtin = packaging
        .iter()
        .flatten()
        .find(|l| level_name(Some(l)).as_deref() == Some("each"))
        .and_then(|l| l.str("gtin"));
    if let (Some(product), Some(each)) = (record.text_of("gtin"), each_gtin) {
        let same = Gtin::parse(&each).is_ok_and(|e| e.as_str() == product);
        if !same {
            problems.push(Problem::error(
                "packaging",
                format!("the each level's GTIN {each} is not the product's GTIN {product}"),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for level in levels {
        let name: &str = &level.name;
        match level.gtin.as_deref() {
            None if name == "each" => problems.push(Problem::error(
                "gtin",
                "no GTIN: the base unit of a GDSN hierarchy needs one (carry `gtin` in the channel)",
            )),
            None => problems.push(Problem::error(
                "packaging",
                format!(
                    "the {name} level has no GTIN: every level of a GDSN hierarchy is a trade \
                     item with its own GTIN"
                ),
            )),
            Some(gtin) => match Gtin::parse(gtin) {
                Err(e) => problems.push(Problem::error(
                    if name == "each" { "gtin" } else { "packaging" },
                    format!("the {name} level's GTIN {gtin} {e}"),
                )),
                Ok(gtin) => {
                    if !seen.insert(gtin.as_str().to_owned()) {
                        problems.push(Problem::error(
                            "packaging",
                            format!(
                                "the {name} level's GTIN {} is also the GTIN of a lower level",
                                gtin.as_str()
                            ),
                        ));
                    }
                }
            },
        }
    }
    if levels[0].quantity != 1 {
        problems.push(Problem::error(
            "packaging",
            format!(
                "the each level holds {} base units: the base unit holds exactly 1",
                levels[0].quantity
            ),
        ));
    }
    // The nearest lower level whose gross weight is known: (quantity, weight, unit).
    let mut known: Option<(u64, Decimal, &str, &str)> = levels[0]
        .gross
        .zip(levels[0].mass_unit.as_deref())
        .map(|(g, u)| (1, g, u, "each"));
    for pair in levels.windows(2) {
        let (child, parent) = (&pair[0], &pair[1]);
        match (rank(&child.name), rank(&parent.name)) {
            (_, None) => problems.push(Problem::error(
                "packaging",
                format!("`{}` is not a packaging level", parent.name),
            )),
            (Some(c), Some(p)) if p <= c => problems.push(Problem::error(
                "packaging",
                format!(
                    "the {} level comes after the {} level: levels go each, inner, case, pallet",
                    parent.name, child.name
                ),
            )),
            _ => {}
        }
        let whole = child.quantity > 0 && parent.quantity.is_multiple_of(child.quantity);
        if parent.quantity <= child.quantity || !whole {
            problems.push(Problem::error(
                "packaging",
                format!(
                    "the {} holds {} base units, which is not a whole number (2 or more) of {}s \
                     of {}: GS1 hierarchy arithmetic needs one",
                    parent.name, parent.quantity, child.name, child.quantity
                ),
            ));
        }
        if let (Some(weight), Some(unit)) = (parent.gross, parent.mass_unit.as_deref()) {
            if let Some((quantity, below, below_unit, below_name)) = known {
                let count = Decimal::from(parent.quantity) / Decimal::from(quantity);
                let contents = count * below;
                let slack = (count + Decimal::ONE) * rounding(unit);
                if below_unit == unit && weight + slack < contents {
                    problems.push(Problem::error(
                        "packaging",
                        format!(
                            "the {}'s gross weight {} {unit} is below what it holds: {} × the \
                             {below_name}'s {} {unit} = {} {unit}",
                            parent.name,
                            units::text(weight),
                            units::text(count),
                            units::text(below),
                            units::text(contents)
                        ),
                    ));
                }
            }
            known = Some((parent.quantity, weight, unit, &*parent.name));
        }
    }
    problems
}

/// The GPC brick of the product: its `gpc_category_code` attribute, else the channel's setting.
fn gpc<'a>(record: &View<'a>, publication: &'a Publication) -> Option<Cow<'a, str>> {
    record
        .object("attributes")
        .and_then(|a| a.str("gpc_category_code"))
        .or_else(|| publication.setting("gpc_category_code").map(Cow::Borrowed))
}

fn is_gpc(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_country(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The channel settings every document needs, checked (their absence is reported by the
/// profile's `required_settings`).
fn setting_problems(publication: &Publication) -> Vec<Problem> {
    let mut problems = Vec::new();
    for key in ["sender_gln", "receiver_gln"] {
        if let Some(gln) = publication.setting(key).filter(|g| !is_gln(g)) {
            let reason = match Gtin::parse(gln) {
                Err(e) if gln.len() == 13 => e,
                _ => "must be 13 digits".to_owned(),
            };
            problems.push(Problem::error(
                key,
                format!("the channel setting `{key}` ({gln}) is not a GLN: it {reason}"),
            ));
        }
    }
    if let Some(market) = publication
        .setting("target_market")
        .filter(|m| !is_country(m))
    {
        problems.push(Problem::error(
            "target_market",
            format!(
                "the channel setting `target_market` ({market}) must be an ISO 3166-1 numeric \
                 country code (3 digits, `250` for France)"
            ),
        ));
    }
    problems
}

/// What keeps a record out of GDSN documents (errors) or loses part of it (warnings).
pub(crate) fn check(
    record: &View<'_>,
    profile: &Profile,
    publication: &Publication,
) -> Vec<Problem> {
    let packaging = packaging(record);
    let levels = hierarchy(record, &packaging);
    check_levels(record, profile, publication, &levels, &packaging)
}

/// [`check`] of a record whose hierarchy is already read.
fn check_levels(
    record: &View<'_>,
    profile: &Profile,
    publication: &Publication,
    levels: &[Level<'_>],
    packaging: &[Option<View<'_>>],
) -> Vec<Problem> {
    let mut problems = setting_problems(publication);
    match gpc(record, publication) {
        None => problems.push(Problem::error(
            "gpc_category_code",
            "no GPC brick: set the channel's `gpc_category_code` setting or the product's \
             `gpc_category_code` attribute (8 digits)",
        )),
        Some(code) if !is_gpc(&code) => problems.push(Problem::error(
            "gpc_category_code",
            format!("the GPC brick code {code} must be 8 digits"),
        )),
        Some(_) => {}
    }
    match record.text_of("title") {
        None => problems.push(Problem::warning(
            "title",
            "no title: the trade items have no tradeItemDescription (carry `title` in the channel)",
        )),
        Some(title) => {
            let chars = title.chars().count();
            if let Some(max) = profile.limits.title_max_chars.filter(|max| chars > *max) {
                problems.push(Problem::error(
                    "title",
                    format!("the title has {chars} characters; tradeItemDescription allows {max}"),
                ));
            }
        }
    }
    if record
        .text_of("brand")
        .is_some_and(|b| b.chars().count() > BRAND_MAX_CHARS)
    {
        problems.push(Problem::warning(
            "brand",
            format!("the brand is over {BRAND_MAX_CHARS} characters: brandName is left out"),
        ));
    }
    problems.extend(hierarchy_problems(record, levels, packaging));
    problems
}

/// `ADD`, `CHANGE_BY_REFRESH` or `DELETE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Add,
    ChangeByRefresh,
    Delete,
}

impl Command {
    fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::ChangeByRefresh => "CHANGE_BY_REFRESH",
            Command::Delete => "DELETE",
        }
    }
}

/// What every trade item of one product repeats, read from the record once per transaction.
struct Facts<'r> {
    /// The GPC brick (empty when there is none: such a product is never rendered).
    gpc: Cow<'r, str>,
    title: Option<Cow<'r, str>>,
    /// Left out when over [`BRAND_MAX_CHARS`].
    brand: Option<Cow<'r, str>>,
    /// Amount and currency, when both are strings.
    price: Option<(Cow<'r, str>, Cow<'r, str>)>,
}

impl<'r> Facts<'r> {
    fn of(record: &View<'r>, publication: &'r Publication) -> Self {
        let price = record.object("price");
        let amount = price.as_ref().and_then(|p| p.str("amount"));
        let currency = price.as_ref().and_then(|p| p.str("currency"));
        Facts {
            gpc: gpc(record, publication).unwrap_or_default(),
            title: record.text_of("title"),
            brand: record
                .text_of("brand")
                .filter(|b| b.chars().count() <= BRAND_MAX_CHARS),
            price: amount.zip(currency),
        }
    }
}

pub(super) struct GdsnEncoder<W: Write> {
    w: W,
    profile: &'static Profile,
    doc: Doc,
    /// The document's head, held back until the first product: a CIN message needs at least
    /// one transaction, so a document with no product is no document at all.
    prologue: Option<String>,
    /// What an upsert becomes: `ADD` in the feed and in a page that starts at the beginning,
    /// `CHANGE_BY_REFRESH` after that.
    upsert: Command,
    /// `None` when the channel's GLNs or target market are missing or invalid: then no
    /// product can be rendered (each one is reported).
    parties: Option<Parties>,
    /// Identifies the document: the prefix of every transaction's identifier.
    instance: String,
    /// Transactions written so far.
    written: u64,
    lang: String,
    created: String,
}

/// The channel settings every trade item names.
struct Parties {
    sender: String,
    receiver: String,
    market: String,
}

impl<W: Write> GdsnEncoder<W> {
    pub(super) fn begin(
        w: W,
        profile: &'static Profile,
        doc: Doc,
        channel: &str,
        publication: &Publication,
    ) -> Result<Self, FeedError> {
        let parties = match (
            publication.setting("sender_gln"),
            publication.setting("receiver_gln"),
            publication.setting("target_market"),
        ) {
            (Some(sender), Some(receiver), Some(market))
                if setting_problems(publication).is_empty() =>
            {
                Some(Parties {
                    sender: sender.to_owned(),
                    receiver: receiver.to_owned(),
                    market: market.to_owned(),
                })
            }
            _ => None,
        };
        let instance = match doc {
            Doc::Feed => format!("{channel}.feed.{}", publication.seq),
            Doc::Changes => format!(
                "{channel}.changes.{}-{}",
                publication.seq, publication.next_seq
            ),
        };
        let created = if publication.created.is_empty() {
            Publication::bare().created
        } else {
            publication.created.clone()
        };
        let lang = publication
            .locale
            .split('-')
            .next()
            .unwrap_or("en")
            .to_ascii_lowercase();
        let mut p = String::with_capacity(2048);
        if let Some(parties) = &parties {
            p.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            let _ = write!(
                p,
                "<catalogue_item_notification:catalogueItemNotificationMessage \
                 xmlns:catalogue_item_notification=\"{CIN_NAMESPACE}\" xmlns:sh=\"{SBDH_NAMESPACE}\""
            );
            for (prefix, ns) in MODULES {
                let _ = write!(p, " xmlns:{prefix}=\"{ns}\"");
            }
            let _ = write!(
                p,
                ">\n  <sh:StandardBusinessDocumentHeader>\n    <sh:HeaderVersion>1.0</sh:HeaderVersion>\n    \
                 <sh:Sender>\n      <sh:Identifier Authority=\"GS1\">{}</sh:Identifier>\n    </sh:Sender>\n    \
                 <sh:Receiver>\n      <sh:Identifier Authority=\"GS1\">{}</sh:Identifier>\n    </sh:Receiver>\n    \
                 <sh:DocumentIdentification>\n      <sh:Standard>GS1</sh:Standard>\n      \
                 <sh:TypeVersion>3.1</sh:TypeVersion>\n      <sh:InstanceIdentifier>{}</sh:InstanceIdentifier>\n      \
                 <sh:Type>catalogueItemNotification</sh:Type>\n      \
                 <sh:CreationDateAndTime>{}</sh:CreationDateAndTime>\n    </sh:DocumentIdentification>\n  \
                 </sh:StandardBusinessDocumentHeader>\n",
                parties.sender,
                parties.receiver,
                escape(&instance, false),
                escape(&created, false),
            );
        }
        Ok(GdsnEncoder {
            w,
            profile,
            doc,
            prologue: Some(p),
            upsert: if doc == Doc::Changes && publication.seq > 0 {
                Command::ChangeByRefresh
            } else {
                Command::Add
            },
            parties,
            instance,
            written: 0,
            lang,
            created,
        })
    }

    /// An upsert: its transaction when nothing keeps the product out (`unrenderable`: the
    /// channel lacks a setting the profile needs), else what [`GdsnEncoder::excluded`] writes.
    /// The hierarchy is read once for the check and the transaction.
    pub(super) fn upsert(
        &mut self,
        record: &View<'_>,
        publication: &Publication,
        unrenderable: bool,
    ) -> Result<(), FeedError> {
        let packaging = packaging(record);
        let levels = hierarchy(record, &packaging);
        let problems = check_levels(record, self.profile, publication, &levels, &packaging);
        if unrenderable || super::profile::excludes(&problems) {
            return self.excluded(record, publication);
        }
        self.transaction(self.upsert, record, &levels, publication)
    }

    /// A product that left the channel, with the last record the channel published for it
    /// (`None` when it is not known: nothing can name the trade item then). The `DELETE` carries
    /// the whole hierarchy, or only the base unit when the hierarchy is not valid (then it was
    /// never sent as it is).
    pub(super) fn delete(
        &mut self,
        last: Option<&View<'_>>,
        publication: &Publication,
    ) -> Result<(), FeedError> {
        let Some(record) = last else {
            return Ok(());
        };
        let gpc_ok = gpc(record, publication).is_some_and(|g| is_gpc(&g));
        let packaging = packaging(record);
        let mut levels = hierarchy(record, &packaging);
        if !hierarchy_problems(record, &levels, &packaging).is_empty() {
            levels.truncate(1);
        }
        let base_ok = levels[0]
            .gtin
            .as_deref()
            .is_some_and(|g| Gtin::parse(g).is_ok());
        if !gpc_ok || !base_ok {
            return Ok(());
        }
        self.transaction(Command::Delete, record, &levels, publication)
    }

    /// An upsert that cannot be rendered: out of the full feed, a `DELETE` in a change page (of
    /// what can still be named of it).
    pub(super) fn excluded(
        &mut self,
        record: &View<'_>,
        publication: &Publication,
    ) -> Result<(), FeedError> {
        match self.doc {
            Doc::Feed => Ok(()),
            Doc::Changes => self.delete(Some(record), publication),
        }
    }

    fn transaction(
        &mut self,
        command: Command,
        record: &View<'_>,
        levels: &[Level<'_>],
        publication: &Publication,
    ) -> Result<(), FeedError> {
        let Some(parties) = &self.parties else {
            return Ok(());
        };
        let facts = Facts::of(record, publication);
        if let Some(p) = self.prologue.take() {
            self.w.write_all(p.as_bytes())?;
        }
        self.written += 1;
        let local = format!(".{}", self.written);
        let id = format!(
            "{}{local}",
            tail(&self.instance, ENTITY_ID_MAX_CHARS - local.len())
        );
        let id = escape(&id, false);
        let sender = &parties.sender;
        let mut t = String::with_capacity(4096);
        let _ = write!(
            t,
            "  <transaction>\n    <transactionIdentification>\n      <entityIdentification>{id}</entityIdentification>\n      \
             <contentOwner>\n        <gln>{sender}</gln>\n      </contentOwner>\n    </transactionIdentification>\n    \
             <documentCommand>\n      <documentCommandHeader type=\"{}\">\n        <documentCommandIdentification>\n          \
             <entityIdentification>{id}</entityIdentification>\n          <contentOwner>\n            <gln>{sender}</gln>\n          \
             </contentOwner>\n        </documentCommandIdentification>\n      </documentCommandHeader>\n      \
             <catalogue_item_notification:catalogueItemNotification>\n        <creationDateTime>{}</creationDateTime>\n        \
             <documentStatusCode>ORIGINAL</documentStatusCode>\n        <catalogueItemNotificationIdentification>\n          \
             <entityIdentification>{id}</entityIdentification>\n          <contentOwner>\n            <gln>{sender}</gln>\n          \
             </contentOwner>\n        </catalogueItemNotificationIdentification>\n        <isReload>false</isReload>\n",
            command.as_str(),
            escape(&self.created, false),
        );
        // The tree, highest level first: each catalogueItem links to the next lower one.
        let base = 8;
        for (depth, i) in (0..levels.len()).rev().enumerate() {
            let pad = " ".repeat(base + depth * 4);
            let _ = write!(
                t,
                "{pad}<catalogueItem>\n{pad}  <dataRecipient>{}</dataRecipient>\n{pad}  <catalogueItemState>\n{pad}    \
                 <catalogueItemStateCode>REGISTERED</catalogueItemStateCode>\n{pad}  </catalogueItemState>\n",
                parties.receiver
            );
            self.trade_item(&mut t, &pad, &facts, levels, i, parties);
            if i > 0 {
                let count = levels[i].quantity / levels[i - 1].quantity.max(1);
                let _ = write!(
                    t,
                    "{pad}  <catalogueItemChildItemLink>\n{pad}    <quantity>{count}</quantity>\n"
                );
            }
        }
        for depth in (0..levels.len()).rev() {
            let pad = " ".repeat(base + depth * 4);
            let _ = writeln!(t, "{pad}</catalogueItem>");
            if depth > 0 {
                let _ = writeln!(
                    t,
                    "{}  </catalogueItemChildItemLink>",
                    " ".repeat(base + (depth - 1) * 4)
                );
            }
        }
        t.push_str(
            "      </catalogue_item_notification:catalogueItemNotification>\n    </documentCommand>\n  </transaction>\n",
        );
        self.w.write_all(t.as_bytes())?;
        Ok(())
    }

    /// The `tradeItem` of `levels[i]`, its child being `levels[i - 1]`.
    fn trade_item(
        &self,
        t: &mut String,
        pad: &str,
        facts: &Facts<'_>,
        levels: &[Level<'_>],
        i: usize,
        parties: &Parties,
    ) {
        let level = &levels[i];
        let gtin = level
            .gtin
            .as_deref()
            .and_then(|g| Gtin::parse(g).ok())
            .map(|g| g.as_str().to_owned())
            .unwrap_or_default();
        let top = i + 1 == levels.len();
        let descriptor = self
            .profile
            .packing_unit_codes
            .get(&*level.name)
            .map_or("BASE_UNIT_OR_EACH", String::as_str);
        let _ = write!(
            t,
            "{pad}  <tradeItem>\n{pad}    <gtin>{gtin}</gtin>\n{pad}    <isTradeItemABaseUnit>{}</isTradeItemABaseUnit>\n{pad}    \
             <isTradeItemAConsumerUnit>{}</isTradeItemAConsumerUnit>\n{pad}    <isTradeItemADespatchUnit>{top}</isTradeItemADespatchUnit>\n{pad}    \
             <isTradeItemAnInvoiceUnit>true</isTradeItemAnInvoiceUnit>\n{pad}    <isTradeItemAnOrderableUnit>true</isTradeItemAnOrderableUnit>\n{pad}    \
             <tradeItemUnitDescriptorCode>{}</tradeItemUnitDescriptorCode>\n{pad}    <informationProviderOfTradeItem>\n{pad}      \
             <gln>{}</gln>\n{pad}    </informationProviderOfTradeItem>\n{pad}    <gdsnTradeItemClassification>\n{pad}      \
             <gpcCategoryCode>{}</gpcCategoryCode>\n{pad}    </gdsnTradeItemClassification>\n",
            i == 0,
            i == 0,
            escape(descriptor, false),
            parties.sender,
            escape(&facts.gpc, false),
        );
        if i > 0 {
            let child = &levels[i - 1];
            let count = level.quantity / child.quantity.max(1);
            let child_gtin = child
                .gtin
                .as_deref()
                .and_then(|g| Gtin::parse(g).ok())
                .map(|g| g.as_str().to_owned())
                .unwrap_or_default();
            let _ = write!(
                t,
                "{pad}    <nextLowerLevelTradeItemInformation>\n{pad}      <quantityOfChildren>1</quantityOfChildren>\n{pad}      \
                 <totalQuantityOfNextLowerLevelTradeItem>{count}</totalQuantityOfNextLowerLevelTradeItem>\n{pad}      \
                 <childTradeItem>\n{pad}        <gtin>{child_gtin}</gtin>\n{pad}        \
                 <quantityOfNextLowerLevelTradeItem>{count}</quantityOfNextLowerLevelTradeItem>\n{pad}      </childTradeItem>\n{pad}    \
                 </nextLowerLevelTradeItemInformation>\n"
            );
        }
        let _ = write!(
            t,
            "{pad}    <targetMarket>\n{pad}      <targetMarketCountryCode>{}</targetMarketCountryCode>\n{pad}    </targetMarket>\n",
            parties.market
        );
        let modules = self.modules(facts, level, i == 0, &format!("{pad}        "));
        if !modules.is_empty() {
            let _ = write!(
                t,
                "{pad}    <tradeItemInformation>\n{pad}      <extension>\n{modules}{pad}      </extension>\n{pad}    </tradeItemInformation>\n"
            );
        }
        let _ = write!(
            t,
            "{pad}    <tradeItemSynchronisationDates>\n{pad}      <lastChangeDateTime>{}</lastChangeDateTime>\n{pad}    \
             </tradeItemSynchronisationDates>\n{pad}  </tradeItem>\n",
            escape(&self.created, false)
        );
    }

    /// The extension modules of one trade item: its description (every level), its price (the
    /// base unit) and its measurements (with UN/ECE Rec 20 unit codes, in the record's units).
    fn modules(&self, facts: &Facts<'_>, level: &Level<'_>, base: bool, pad: &str) -> String {
        let mut m = String::new();
        let lang = escape(&self.lang, true);
        let (title, brand) = (&facts.title, &facts.brand);
        if title.is_some() || brand.is_some() {
            let _ = writeln!(m, "{pad}<trade_item_description:tradeItemDescriptionModule>\n{pad}  <tradeItemDescriptionInformation>");
            if let Some(title) = title {
                let _ = writeln!(
                    m,
                    "{pad}    <tradeItemDescription languageCode=\"{lang}\">{}</tradeItemDescription>",
                    escape(title, false)
                );
            }
            if let Some(brand) = brand {
                let _ = writeln!(
                    m,
                    "{pad}    <brandNameInformation>\n{pad}      <brandName>{}</brandName>\n{pad}    </brandNameInformation>",
                    escape(brand, false)
                );
            }
            let _ = writeln!(m, "{pad}  </tradeItemDescriptionInformation>\n{pad}</trade_item_description:tradeItemDescriptionModule>");
        }
        if let (true, Some((amount, currency))) = (base, &facts.price) {
            let _ = writeln!(
                m,
                "{pad}<sales_information:salesInformationModule>\n{pad}  <tradeItemPriceInformation>\n{pad}    <cataloguePrice>\n{pad}      \
                 <tradeItemPrice currencyCode=\"{}\">{}</tradeItemPrice>\n{pad}    </cataloguePrice>\n{pad}  </tradeItemPriceInformation>\n{pad}\
                 </sales_information:salesInformationModule>",
                escape(currency, true),
                escape(amount, false)
            );
        }
        let mut measures = String::new();
        if let Some(d) = &level.dimensions {
            let code = d.str("unit").and_then(|u| units::rec20(&u));
            // GDSN's depth is our length (front to back); its order is depth, height, width.
            for (element, axis) in [
                ("depth", "length"),
                ("height", "height"),
                ("width", "width"),
            ] {
                if let (Some(v), Some(code)) = (units::decimal(d.get(axis)), code) {
                    let _ = writeln!(
                        measures,
                        "{pad}    <{element} measurementUnitCode=\"{code}\">{}</{element}>",
                        units::text(v)
                    );
                }
            }
        }
        let mass_code = level.mass_unit.as_deref().and_then(units::rec20);
        if let (Some(code), true) = (mass_code, level.gross.is_some() || level.net.is_some()) {
            let _ = writeln!(measures, "{pad}    <tradeItemWeight>");
            for (element, value) in [("grossWeight", level.gross), ("netWeight", level.net)] {
                if let Some(v) = value {
                    let _ = writeln!(
                        measures,
                        "{pad}      <{element} measurementUnitCode=\"{code}\">{}</{element}>",
                        units::text(v)
                    );
                }
            }
            let _ = writeln!(measures, "{pad}    </tradeItemWeight>");
        }
        if !measures.is_empty() {
            let _ = write!(
                m,
                "{pad}<trade_item_measurements:tradeItemMeasurementsModule>\n{pad}  <tradeItemMeasurements>\n{measures}{pad}  \
                 </tradeItemMeasurements>\n{pad}</trade_item_measurements:tradeItemMeasurementsModule>\n"
            );
        }
        m
    }

    pub(super) fn finish(mut self) -> Result<W, FeedError> {
        if self.prologue.is_none() {
            self.w
                .write_all(b"</catalogue_item_notification:catalogueItemNotificationMessage>\n")?;
        }
        self.w.flush()?;
        Ok(self.w)
    }
}
