//! How households are found by what a person types: the text a household is indexed by,
//! and the SQL `LIKE` pattern a query becomes. The device and the server index alike.

use crate::layout::HouseholdView;

/// The text a household is found by: names, ID numbers and the household number, lowercase,
/// one per line.
pub fn index_text(view: &HouseholdView) -> String {
    view.search_terms().join("\n").to_lowercase()
}

/// The `LIKE … ESCAPE '\'` pattern matching any indexed text that contains `query`, or
/// `None` for an empty query.
pub fn like_pattern(query: &str) -> Option<String> {
    let query = query.trim();
    if query.is_empty() {
        return None;
    }
    let escaped = query
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Some(format!("%{escaped}%"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_wildcards_typed_by_a_person_match_only_themselves() {
        assert_eq!(
            like_pattern(" 50%_x\\ ").as_deref(),
            Some("%50\\%\\_x\\\\%")
        );
        assert_eq!(like_pattern("   "), None);
    }

    #[test]
    fn test_an_id_number_with_an_uppercase_x_matches_the_lowercase_index() {
        assert_eq!(like_pattern("002X").as_deref(), Some("%002x%"));
    }
}
