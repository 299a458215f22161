//! The vendor's catalog as a domain: products, identifiers, money, measures and packaging,
//! their validation and their canonical form. No I/O: nothing here knows HTTP or the database.

pub mod gtin;
pub mod import;
pub mod lines;
pub mod measure;
pub mod money;
pub mod patch;
pub mod product;
pub mod search;
pub mod validate;

pub use gtin::Gtin;
pub use measure::{Dimensions, LengthUnit, MassUnit, Weight};
pub use money::{Currency, Price};
pub use patch::{changed_fields, merge_patch};
pub use product::{AttrValue, Media, PackagingLevel, PackagingLevelKind, Product, Sku, Status};
pub use validate::{parse_product, FieldError, ValidationErrors};
