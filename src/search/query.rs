//! Query text handling shared by the engines: tokens, typo allowance, edit distance, and the
//! PostgreSQL `tsquery` built from them. Pure functions, unit-tested.

/// Splits lowercased, accent-folded text into words the way PostgreSQL's parser does for our
/// purposes (runs of letters and digits). Keeps at most 10 words.
pub fn tokens(folded: &str) -> Vec<String> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .take(10)
        .collect()
}

/// Typos allowed in a word, as MeiliSearch allows them: none under 5 characters, one up to 8,
/// two from 9. A transposition counts as one typo.
pub fn allowed_typos(word: &str) -> usize {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
/// of adjacent characters each cost one.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best =
                (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// One query word and what it may match: itself, lexicon words within its typo allowance,
/// and its synonyms (each a group of words that must all match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternatives {
    pub word: String,
    /// Match as a prefix too (the word being typed).
    pub prefix: bool,
    pub corrections: Vec<String>,
    pub synonyms: Vec<Vec<String>>,
}

/// A lexeme quoted for `to_tsquery`.
fn lexeme(word: &str) -> String {
    format!("'{}'", word.replace('\'', "''").replace('\\', "\\\\"))
}

/// `(word | correction | (synonym & words)) & …`, or `None` for no words.
pub fn tsquery(words: &[Alternatives]) -> Option<String> {
    let groups: Vec<String> = words
        .iter()
        .map(|alt| {
            let mut options = vec![if alt.prefix {
                format!("{}:*", lexeme(&alt.word))
            } else {
                lexeme(&alt.word)
            }];
            options.extend(alt.corrections.iter().map(|c| lexeme(c)));
            options.extend(alt.synonyms.iter().filter(|group| !group.is_empty()).map(|group| {
                format!("({})", group.iter().map(|w| lexeme(w)).collect::<Vec<_>>().join(" & "))
            }));
            format!("({})", options.join(" | "))
        })
        .collect();
    (!groups.is_empty()).then(|| groups.join(" & "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_on_anything_but_letters_and_digits() {
        assert_eq!(tokens("t-shirt, size 42!"), ["t", "shirt", "size", "42"]);
        assert_eq!(tokens("ao thun co tron"), ["ao", "thun", "co", "tron"]);
        assert!(tokens("  --  ").is_empty());
    }

    #[test]
    fn a_transposition_is_one_typo() {
        assert_eq!(edit_distance("tshrit", "tshirt"), 1);
        assert_eq!(edit_distance("shirt", "shirt"), 0);
        assert_eq!(edit_distance("shrt", "shirt"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert!(edit_distance("tshrit", "tshirt") <= allowed_typos("tshrit"));
        assert_eq!(allowed_typos("mug"), 0);
        assert_eq!(allowed_typos("espresso"), 1);
        assert_eq!(allowed_typos("yirgacheffe"), 2);
    }

    #[test]
    fn tsquery_combines_corrections_synonyms_and_prefixes() {
        let words = vec![
            Alternatives {
                word: "tee".into(),
                prefix: false,
                corrections: vec![],
                synonyms: vec![vec!["t".into(), "shirt".into()]],
            },
            Alternatives {
                word: "blu".into(),
                prefix: true,
                corrections: vec!["blue".into()],
                synonyms: vec![],
            },
        ];
        assert_eq!(tsquery(&words).unwrap(), "('tee' | ('t' & 'shirt')) & ('blu':* | 'blue')");
        let quote = vec![Alternatives {
            word: "o'neil".into(),
            prefix: false,
            corrections: vec![],
            synonyms: vec![],
        }];
        assert_eq!(tsquery(&quote).unwrap(), "('o''neil')");
        assert_eq!(tsquery(&[]), None);
    }
}
