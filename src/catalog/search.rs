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

/// What a product's search words are made of: its titles and its GTIN.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Searched {
    #[serde(default)]
    title: std::collections::BTreeMap<String, String>,
    gtin: Option<String>,
}

impl Searched {
    /// The titles and GTIN of a stored (canonical) body given as text: the rest is skipped
    /// without being built.
    pub fn of_stored(body: &str) -> Result<Searched, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// Whether a product of `title` and `gtin` has the same words as this one, without making
    /// them: the same titles and GTIN.
    pub fn same(
        &self,
        title: &std::collections::BTreeMap<String, String>,
        gtin: Option<&str>,
    ) -> bool {
        self.title == *title && self.gtin.as_deref() == gtin
    }

    pub fn words(&self) -> Vec<String> {
        product_words(
            self.title.values().map(String::as_str),
            self.gtin.as_deref(),
        )
    }
}

/// The search words of a stored (canonical) body given as text.
pub fn stored_words(body: &str) -> Result<Vec<String>, serde_json::Error> {
    Ok(Searched::of_stored(body)?.words())
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
