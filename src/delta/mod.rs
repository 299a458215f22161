//! Channels, the projection of a product for a channel and its hash, cursors and channel
//! digests. Domain only: no I/O, no database, no HTTP, no async runtime.

pub mod channel;
pub mod cursor;
pub mod digest;
pub mod projection;

pub use channel::{parse_channel, Assortment, ChannelDef, Field, Units, PROJECTION_VERSION};
pub use cursor::{Cursor, CursorError};
pub use digest::ChannelDigest;
pub use projection::{
    next_price_change, next_projection_change, project, project_view, record_hash, write_canonical,
    ProductView,
};
