//! How `channel_records` holds a record and its hash, in as few bytes as it can.
//!
//! - A hash is kept as its 32 bytes; the rest of partnerfeed sees it as 64 hex digits.
//! - A record is kept as bytes that are either its canonical JSON itself (it starts with `{`), or
//!   a zstd frame compressed against a dictionary trained on the deployment's own records.
//!
//! A frame names its dictionary by id, and dictionaries are stored (`record_dictionaries`) and
//! never changed, so every instance sharing the database reads every record, and a newer
//! dictionary can be added without rewriting the records stored with an older one.
//!
//! The first dictionary is trained by the first write that can give [`TRAIN_MIN`] records to
//! train on: the generator projects up to [`TRAIN_SAMPLES`] products taken evenly over the whole
//! catalog, not the records it is writing (a page of a re-evaluation holds neighbouring SKUs,
//! often of one kind, and a dictionary trained on them compresses the rest of the catalog
//! worse). Records written before it stay JSON until they change. With a dictionary trained on
//! them, the demo catalog's records (~850 bytes) take ~130.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use chrono::Utc;
use diesel::prelude::*;
use zstd::dict::{DecoderDictionary, EncoderDictionary};
use zstd::zstd_safe;

use super::schema::record_dictionaries;
use super::{DbConnection, StoreError, StoreResult};

/// Records the first dictionary is trained from, at least.
pub const TRAIN_MIN: usize = 1_000;
/// Records a dictionary is trained from, at most.
pub const TRAIN_SAMPLES: usize = 4_000;

/// A dictionary's size: 16 KiB took records of the demo catalog to ~130 bytes, 4 KiB to ~150.
const DICTIONARY_BYTES: usize = 16 * 1024;
/// zstd's default level.
const LEVEL: i32 = 3;
/// A frame that claims to hold more than this is corrupt: no record comes near it.
const MAX_RECORD: u64 = 64 << 20;

/// A stored dictionary, prepared for both directions.
struct Dictionary {
    encoder: EncoderDictionary<'static>,
    decoder: DecoderDictionary<'static>,
}

/// Dictionaries by id, as read from the database. They never change once stored, so the process
/// keeps them; which one is current is asked of the database each time.
fn loaded() -> &'static RwLock<HashMap<u32, Arc<Dictionary>>> {
    static LOADED: OnceLock<RwLock<HashMap<u32, Arc<Dictionary>>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

fn remember(id: u32, bytes: &[u8]) -> Arc<Dictionary> {
    let dictionary = Arc::new(Dictionary {
        encoder: EncoderDictionary::copy(bytes, LEVEL),
        decoder: DecoderDictionary::copy(bytes),
    });
    loaded()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, dictionary.clone());
    dictionary
}

fn dictionary(conn: &mut DbConnection, id: u32) -> StoreResult<Arc<Dictionary>> {
    if let Some(d) = loaded().read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return Ok(d.clone());
    }
    let bytes: Option<Vec<u8>> = record_dictionaries::table
        .find(i64::from(id))
        .select(record_dictionaries::dictionary)
        .first(conn)
        .optional()?;
    match bytes {
        Some(bytes) => Ok(remember(id, &bytes)),
        None => Err(StoreError::Corrupt(format!(
            "a stored record names compression dictionary {id}, which is not stored"
        ))),
    }
}

/// The hash as partnerfeed uses it: 64 lowercase hex digits.
pub fn hash_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends `bytes` to `out` as lowercase hex digits (a feed writes one hash a record: a table,
/// not an iterator of chars).
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

/// Turns records into their stored bytes, with the database's current dictionary. Cheap to
/// clone and to share between threads: the generator compresses on its projection threads.
#[derive(Clone)]
pub struct Codec {
    current: Option<Arc<Dictionary>>,
}

impl Codec {
    /// The codec of the database's current dictionary. With none stored yet, trains one from
    /// the records `samples` gives, if they are at least [`TRAIN_MIN`], and stores it, in the
    /// caller's transaction: if that rolls back, the dictionary and every record compressed with
    /// it go together. `source` names what the samples are drawn from besides the catalog (the
    /// channels' definition hashes): after too few samples, a process asks the same source again only
    /// once the catalog has grown by a quarter (the samples read the whole catalog's SKUs).
    pub fn current(
        conn: &mut DbConnection,
        source: &[&str],
        samples: impl FnOnce(&mut DbConnection) -> StoreResult<Vec<Vec<u8>>>,
    ) -> StoreResult<Codec> {
        // Per database and source, the catalog's size when its samples were too few.
        static TOO_FEW: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
        let newest: Option<i64> = record_dictionaries::table
            .order((
                record_dictionaries::created_at.desc(),
                record_dictionaries::id.desc(),
            ))
            .select(record_dictionaries::id)
            .first(conn)
            .optional()?;
        let current = match newest {
            Some(id) => Some(dictionary(conn, id as u32)?),
            None => {
                let too_few = TOO_FEW.get_or_init(Default::default);
                let key = format!("{}\n{}", database_key(conn)?, source.join(" "));
                let size = super::snapshots::catalog_size(conn)?;
                let tried = too_few
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&key)
                    .copied();
                if tried.is_some_and(|at| size <= at + at / 4) {
                    None
                } else {
                    let records = samples(conn)?;
                    let trained = train(conn, records)?;
                    let mut too_few = too_few.lock().unwrap_or_else(|e| e.into_inner());
                    match trained {
                        Some(_) => too_few.remove(&key),
                        None => too_few.insert(key, size),
                    };
                    trained
                }
            }
        };
        Ok(Codec { current })
    }

    /// The stored bytes of `record` (UTF-8 JSON): a zstd frame, or the JSON itself when there is
    /// no dictionary yet (or, should zstd fail, which it does not for want of room).
    pub fn encode(&self, record: Vec<u8>) -> Vec<u8> {
        thread_local! {
            static CCTX: std::cell::RefCell<zstd_safe::CCtx<'static>> =
                std::cell::RefCell::new(zstd_safe::CCtx::create());
        }
        let Some(dictionary) = &self.current else {
            return record;
        };
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(record.len()));
        let done = CCTX.with_borrow_mut(|cctx| {
            cctx.compress_using_cdict(&mut out, &record, dictionary.encoder.as_cdict())
        });
        match done {
            Ok(_) => out,
            Err(_) => record,
        }
    }
}

/// Which database `conn` is on: the key of what this process remembers about it.
fn database_key(conn: &mut DbConnection) -> StoreResult<String> {
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = diesel::sql_types::Text)]
        key: String,
    }
    let key: Key = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT 'sqlite:' || file AS key FROM pragma_database_list WHERE name = 'main'",
        )
        .get_result(c)?,
        DbConnection::Postgres(c) => {
            diesel::sql_query("SELECT 'postgres:' || current_database() AS key").get_result(c)?
        }
    };
    Ok(key.key)
}

/// Trains a dictionary from `records` (JSON), and stores it. None when they are fewer than
/// [`TRAIN_MIN`], or zstd cannot train one from them (too few distinct bytes): records are then
/// stored as JSON and a later write tries again.
fn train(conn: &mut DbConnection, records: Vec<Vec<u8>>) -> StoreResult<Option<Arc<Dictionary>>> {
    let mut samples: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    if samples.len() < TRAIN_MIN {
        return Ok(None);
    }
    let step = samples.len().div_ceil(TRAIN_SAMPLES);
    samples = samples.into_iter().step_by(step).collect();
    let mut bytes = match zstd::dict::from_samples(&samples, DICTIONARY_BYTES) {
        Ok(bytes) if bytes.len() >= 8 => bytes,
        Ok(_) => return Ok(None),
        Err(e) => {
            tracing::warn!(samples = samples.len(), error = %e, "could not train a record dictionary");
            return Ok(None);
        }
    };
    // The dictionary's id is in its header, after the magic number: a random one, so that
    // dictionaries trained by several instances at once never share an id.
    let id = crate::random::dictionary_id();
    bytes[4..8].copy_from_slice(&id.to_le_bytes());
    diesel::insert_into(record_dictionaries::table)
        .values((
            record_dictionaries::id.eq(i64::from(id)),
            record_dictionaries::dictionary.eq(&bytes),
            record_dictionaries::trained_on.eq(samples.len() as i64),
            record_dictionaries::created_at.eq(Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    tracing::info!(
        id,
        samples = samples.len(),
        bytes = bytes.len(),
        "trained a record dictionary"
    );
    Ok(Some(remember(id, &bytes)))
}

/// Whether `bytes` are a record stored as its JSON itself rather than as a frame.
fn stored_as_json(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'{')
}

/// The size a frame states for its record, if it states one no record exceeds.
fn frame_size(bytes: &[u8]) -> Option<usize> {
    match zstd_safe::get_frame_content_size(bytes) {
        Ok(Some(size)) if size <= MAX_RECORD => Some(size as usize),
        _ => None,
    }
}

/// The length of the record stored as `bytes`, as its frame states it (0 when it states none):
/// what a buffer for it reserves.
pub fn decoded_len(bytes: &[u8]) -> usize {
    if stored_as_json(bytes) {
        return bytes.len();
    }
    frame_size(bytes).unwrap_or(0)
}

/// Turns stored bytes back into records.
pub struct Decoder {
    dctx: zstd_safe::DCtx<'static>,
    /// The dictionary of the last frame: a page's records almost all share one, so it is looked
    /// up in the process's dictionaries once a page rather than once a record.
    last: Option<(u32, Arc<Dictionary>)>,
    /// Where [`Decoder::decode_into`] decompresses, kept from one record to the next.
    scratch: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            dctx: zstd_safe::DCtx::create(),
            last: None,
            scratch: Vec::new(),
        }
    }
}

fn corrupt(why: &str) -> StoreError {
    StoreError::Corrupt(format!("a stored record {why}"))
}

impl Decoder {
    /// The record stored as `bytes`.
    pub fn decode(&mut self, conn: &mut DbConnection, bytes: Vec<u8>) -> StoreResult<String> {
        let text = if stored_as_json(&bytes) {
            bytes
        } else {
            let mut out = Vec::new();
            self.inflate(conn, &bytes, &mut out)?;
            out
        };
        String::from_utf8(text).map_err(|_| corrupt("is not UTF-8"))
    }

    /// Appends the record stored as `bytes` to `out`: a page of records decoded into one buffer
    /// costs no allocation a record.
    pub fn decode_into(
        &mut self,
        conn: &mut DbConnection,
        bytes: &[u8],
        out: &mut String,
    ) -> StoreResult<()> {
        let text = if stored_as_json(bytes) {
            bytes
        } else {
            let mut scratch = std::mem::take(&mut self.scratch);
            let inflated = self.inflate(conn, bytes, &mut scratch);
            self.scratch = scratch;
            inflated?;
            &self.scratch
        };
        out.push_str(std::str::from_utf8(text).map_err(|_| corrupt("is not UTF-8"))?);
        Ok(())
    }

    /// Decompresses the zstd frame `bytes` into `out` (emptied first).
    fn inflate(
        &mut self,
        conn: &mut DbConnection,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> StoreResult<()> {
        let size = frame_size(bytes)
            .ok_or_else(|| corrupt("is neither JSON nor a zstd frame of known size"))?;
        out.clear();
        out.reserve(size);
        let done = match zstd_safe::get_dict_id_from_frame(bytes) {
            Some(id) => {
                let d = match &self.last {
                    Some((last, d)) if *last == id.get() => d,
                    _ => &self.last.insert((id.get(), dictionary(conn, id.get())?)).1,
                };
                self.dctx
                    .decompress_using_ddict(out, bytes, d.decoder.as_ddict())
            }
            None => self.dctx.decompress(out, bytes),
        };
        if done.is_err() || out.len() != size {
            return Err(corrupt("does not decompress"));
        }
        Ok(())
    }
}
