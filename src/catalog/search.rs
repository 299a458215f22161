//! The words a product is found by in the console's search: its titles' words (every locale)
//! and its GTIN. Stored in `product_search` with every product write.

/// Longest word kept; longer ones are cut (a search for them cuts them the same way).
const MAX_WORD: usize = 64;

/// The words of a text: lower-cased runs of letters and digits, at most [`MAX_WORD`] characters.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().chars().take(MAX_WORD).collect())
        .collect()
}

/// The search words of a product given its titles and GTIN, sorted and distinct.
pub fn product_words<'a>(titles: impl Iterator<Item = &'a str>, gtin: Option<&str>) -> Vec<String> {
    let mut all: Vec<String> = titles.flat_map(words).collect();
    all.extend(gtin.map(str::to_string));
    all.sort_unstable();
    all.dedup();
    all
}

/// The search words of a stored (canonical) body given as text: only its titles and GTIN are
/// read, the rest is skipped without being built.
pub fn stored_words(body: &str) -> Result<Vec<String>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Searched {
        #[serde(default)]
        title: std::collections::BTreeMap<String, String>,
        gtin: Option<String>,
    }
    let s: Searched = serde_json::from_str(body)?;
    Ok(product_words(
        s.title.values().map(String::as_str),
        s.gtin.as_deref(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_in_every_locale_and_the_gtin_are_words() {
        let body = serde_json::json!({
            "sku": "A-1", "gtin": "04006381333931",
            "title": {"en": "Blue Mug, 350 ml", "de": "Blaue Tasse <b>"}
        });
        assert_eq!(
            stored_words(&body.to_string()).unwrap(),
            [
                "04006381333931",
                "350",
                "b",
                "blaue",
                "blue",
                "ml",
                "mug",
                "tasse"
            ]
        );
        assert_eq!(words("  Ölkanne--XL "), ["ölkanne", "xl"]);
    }
}
