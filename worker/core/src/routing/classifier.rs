//! The built-in text classifier behind step 3 of routing: multinomial Naive Bayes over hashed
//! character n-grams, trained at isolate start-up from the routes' example utterances.
//!
//! Why this shape (each choice measured with `make bench`; see bench/routing-eval):
//! - **Character n-grams** need no word segmentation, so Chinese (no spaces) and English work
//!   the same way. CJK runs give 1-, 2- and 3-grams. Latin words give the whole word, word
//!   bigrams, and the 4-grams of the word padded with boundary marks (`<repo`, `orts>`), so
//!   `report` and `reports` still share evidence. ASCII symbols (`;`, `{`, `=`, `?`) are
//!   features too: code is dense in them. Digits fold to `0`, so dates look alike.
//! - **The opening** of the message gets features of its own: its first two words (after
//!   "please", "can you", "help me") or first two and three characters (after 请, 帮我, 麻烦).
//!   Office requests put their verb or question word there ("Draft…", "How do I…", "把这段…").
//! - **Weights per feature family**: padded 4-grams count 0.3, everything else 1. Sub-word
//!   grams of an English word never seen in training otherwise carry strong, random evidence
//!   ("phone" read as code through `<pho`); lighter grams keep their help with word forms
//!   without that noise. Adding 2- and 3-grams of Latin words measured slightly worse.
//! - **Feature hashing**: every n-gram becomes a 32-bit FNV-1a hash (its family in the low 3
//!   bits), so a decision allocates one small vector of hashes, never a string per n-gram.
//!   Training builds an open-addressing table holding only the n-grams seen in training
//!   (11,600 for the default routes: about 0.5 MB with the scores). Keys are full hashes, not
//!   buckets of a fixed space, so an unseen n-gram never borrows a seen one's statistics by
//!   collision: text in an unknown script has no known features and gets no confident answer.
//! - **Naive Bayes** trains in one pass (a couple of milliseconds for 560 examples), does well
//!   with a few dozen examples per class, and scores as a sum of table lookups. Features are
//!   binary per message, which suits short texts. Complement NB and a softmax regression on the
//!   same features were measured and did no better.
//! - **Confidence** is a softmax over the weighted *mean* log-likelihood times
//!   [`CONFIDENCE_SCALE`]. Raw NB sums grow with message length and make every answer look
//!   certain; the mean keeps one threshold (`routing.min_confidence`) meaningful for short and
//!   long messages alike.
//!
//! Long messages (a pasted document) are read as their head and tail: the instruction is almost
//! always at one end, and reading all of a document would break the latency budget.

use std::collections::HashMap;

/// Additive smoothing, chosen by cross-validation. Higher than the textbook 0.1 because with a
/// few examples per class, a feature seen once must not count as strong evidence.
const SMOOTHING: f32 = 0.5;

/// Scales the mean log-likelihood into a probability. Chosen so that the default
/// `min_confidence` (0.5) sends only genuinely split decisions to the default route.
const CONFIDENCE_SCALE: f32 = 16.0;

/// Characters read from the start and the end of a long message.
const HEAD_CHARS: usize = 400;
const TAIL_CHARS: usize = 200;

/// Feature families, stored in the low 3 bits of each feature hash.
const FAMILY_OPENING: u32 = 0;
const FAMILY_CJK: u32 = 1;
const FAMILY_WORD: u32 = 2;
const FAMILY_WORD_PAIR: u32 = 3;
const FAMILY_WORD_GRAM: u32 = 4;
const FAMILY_SYMBOL: u32 = 5;

/// Weight of each family's evidence, indexed by family.
const FAMILY_WEIGHTS: [f32; 8] = [1.0, 1.0, 1.0, 1.0, 0.3, 1.0, 1.0, 1.0];

/// Length of the sub-word grams of Latin words, boundary marks included.
const WORD_GRAM_LEN: usize = 4;

/// Openers that say nothing about the request; skipped before taking the opening features.
const FILLER_WORDS: [&str; 22] = [
    "please", "pls", "can", "could", "would", "will", "you", "help", "me", "i", "need", "want",
    "to", "hi", "hello", "hey", "kindly", "just", "a", "an", "the", "quick",
];
const FILLER_CJK: [&str; 12] = [
    "请你",
    "请",
    "帮我",
    "帮忙",
    "麻烦你",
    "麻烦",
    "你好",
    "您好",
    "能不能",
    "可以",
    "能否",
    "我想",
];

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

// Distinct seeds per feature family, so the word "ok" and the bigram "ok" differ.
const SEED_OPENING_WORDS: u32 = 0x4845_4144;
const SEED_OPENING_CJK: u32 = 0x4845_4143;
const SEED_CJK: u32 = 0x434a_4b00;
const SEED_WORD: u32 = 0x5745_5244;
const SEED_WORD_PAIR: u32 = 0x5041_4952;
const SEED_WORD_GRAM: u32 = 0x4752_414d;
const SEED_SYMBOL: u32 = 0x5359_4d42;

/// A trained classifier. Immutable after training, so one instance serves every request of an
/// isolate.
#[derive(Clone, Debug)]
pub struct Classifier {
    labels: Vec<String>,
    table: FeatureTable,
    /// `log P(feature | label)`, one row of `labels.len()` values per known feature, so the
    /// scores for one feature are adjacent in memory.
    log_likelihood: Vec<f32>,
}

/// The classifier's answer for one text.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Index into [`Classifier::labels`].
    pub best: usize,
    pub confidence: f32,
    /// Probability per label, in label order.
    pub probabilities: Vec<f32>,
    /// Features of the text that the classifier knew; 0 means it had nothing to go on.
    pub known_features: usize,
}

impl Classifier {
    /// Train from `(label, example)` pairs. Labels are kept in first-seen order. Returns `None`
    /// when there are fewer than two labels: nothing to choose between.
    pub fn train<'a>(examples: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Classifier> {
        let mut labels: Vec<String> = Vec::new();
        let mut labelled = Vec::new();
        for (label, text) in examples {
            let index = match labels.iter().position(|known| known == label) {
                Some(index) => index,
                None => {
                    labels.push(label.to_string());
                    labels.len() - 1
                }
            };
            labelled.push((index, text));
        }
        let label_count = labels.len();
        if label_count < 2 {
            return None;
        }
        // Counts per (feature, label); a feature gets its row when first seen.
        let mut rows: HashMap<u32, usize> = HashMap::new();
        let mut counts: Vec<f32> = Vec::new();
        let mut totals = vec![0.0f32; label_count];
        let mut features = Vec::new();
        for (label, text) in labelled {
            extract_features(text, &mut features);
            for &feature in &features {
                let next_row = rows.len();
                let row = *rows.entry(feature).or_insert(next_row);
                if row == next_row {
                    counts.resize(counts.len() + label_count, 0.0);
                }
                if let Some(count) = counts.get_mut(row * label_count + label) {
                    *count += 1.0;
                }
                totals[label] += 1.0;
            }
        }
        let vocabulary = rows.len() as f32;
        let denominators: Vec<f32> = totals
            .iter()
            .map(|total| (total + SMOOTHING * vocabulary).ln())
            .collect();
        // Counts become log-likelihoods in place.
        for (slot, count) in counts.iter_mut().enumerate() {
            *count = (*count + SMOOTHING).ln() - denominators[slot % label_count];
        }
        Some(Classifier {
            labels,
            table: FeatureTable::build(&rows),
            log_likelihood: counts,
        })
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Classify one text.
    pub fn predict(&self, text: &str) -> Prediction {
        let mut features = Vec::new();
        extract_features(text, &mut features);
        let label_count = self.labels.len();
        let mut sums = vec![0.0f32; label_count];
        let mut known_features = 0;
        let mut total_weight = 0.0f32;
        for &feature in &features {
            let Some(row) = self.table.row(feature) else {
                continue;
            };
            let weight = FAMILY_WEIGHTS[(feature & 7) as usize];
            known_features += 1;
            total_weight += weight;
            let start = row * label_count;
            if let Some(values) = self.log_likelihood.get(start..start + label_count) {
                for (sum, value) in sums.iter_mut().zip(values) {
                    *sum += value * weight;
                }
            }
        }
        let mut probabilities: Vec<f32> = if known_features == 0 {
            // Nothing known: say so rather than invent a preference.
            vec![1.0 / label_count as f32; label_count]
        } else {
            let mut scaled: Vec<f32> = sums
                .iter()
                .map(|sum| sum / total_weight * CONFIDENCE_SCALE)
                .collect();
            softmax(&mut scaled);
            scaled
        };
        if probabilities.iter().any(|p| !p.is_finite()) {
            probabilities = vec![1.0 / label_count as f32; label_count];
        }
        let (best, confidence) =
            probabilities
                .iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f32::MIN),
                    |best, (index, p)| if p > best.1 { (index, p) } else { best },
                );
        Prediction {
            best,
            confidence,
            probabilities,
            known_features,
        }
    }
}

fn softmax(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::MIN, f32::max);
    let mut total = 0.0;
    for value in values.iter_mut() {
        *value = (*value - max).exp();
        total += *value;
    }
    if total > 0.0 {
        values.iter_mut().for_each(|value| *value /= total);
    }
}

/// Open addressing with linear probing over the full hashes of the known features. At most
/// half full, so a probe ends after one or two slots on average.
#[derive(Clone, Debug)]
struct FeatureTable {
    /// [`EMPTY_SLOT`] marks an empty slot; a feature equal to it is stored as its neighbour.
    keys: Vec<u32>,
    rows: Vec<u32>,
    mask: usize,
}

const EMPTY_SLOT: u32 = u32::MAX;

impl FeatureTable {
    fn build(rows: &HashMap<u32, usize>) -> FeatureTable {
        let capacity = (rows.len() * 2).next_power_of_two().max(16);
        let mut table = FeatureTable {
            keys: vec![EMPTY_SLOT; capacity],
            rows: vec![0; capacity],
            mask: capacity - 1,
        };
        for (&feature, &row) in rows {
            let key = FeatureTable::key(feature);
            let mut slot = key as usize & table.mask;
            while table.keys[slot] != EMPTY_SLOT {
                slot = (slot + 1) & table.mask;
            }
            table.keys[slot] = key;
            table.rows[slot] = row as u32;
        }
        table
    }

    fn key(feature: u32) -> u32 {
        if feature == EMPTY_SLOT {
            EMPTY_SLOT - 1
        } else {
            feature
        }
    }

    fn row(&self, feature: u32) -> Option<usize> {
        let key = FeatureTable::key(feature);
        let mut slot = key as usize & self.mask;
        // Never full, so an empty slot always ends the probe.
        loop {
            match self.keys.get(slot) {
                Some(&found) if found == key => {
                    return self.rows.get(slot).map(|&row| row as usize)
                }
                Some(&EMPTY_SLOT) | None => return None,
                Some(_) => slot = (slot + 1) & self.mask,
            }
        }
    }
}

/// What a normalised character is, for splitting into runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CharKind {
    Cjk,
    Word,
    Symbol,
    Space,
}

/// Lower-cases, folds full-width forms and digits, and classifies one character.
fn normalise(c: char) -> (char, CharKind) {
    let c = match c as u32 {
        // Full-width ASCII (ＳＱＬ, ：, （）) to ASCII.
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    match c {
        '0'..='9' => ('0', CharKind::Word),
        'A'..='Z' => (c.to_ascii_lowercase(), CharKind::Word),
        'a'..='z' | '_' => (c, CharKind::Word),
        '。' => ('.', CharKind::Symbol),
        '、' => (',', CharKind::Symbol),
        '“' | '”' | '「' | '」' | '《' | '》' => ('"', CharKind::Symbol),
        _ if is_cjk(c) => (c, CharKind::Cjk),
        _ if c.is_ascii_punctuation() => (c, CharKind::Symbol),
        _ if c.is_alphabetic() => (c.to_lowercase().next().unwrap_or(c), CharKind::Word),
        _ => (' ', CharKind::Space),
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // kana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified
        | 0xAC00..=0xD7AF    // hangul
        | 0xF900..=0xFAFF) // compatibility ideographs
}

#[inline]
fn fnv_step(hash: u32, value: u32) -> u32 {
    (hash ^ value).wrapping_mul(FNV_PRIME)
}

/// Final avalanche (so the table slot depends on every input bit), then the family in the low
/// 3 bits.
#[inline]
fn feature(hash: u32, family: u32) -> u32 {
    let mut h = hash;
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    (h & !7) | family
}

/// The text the classifier reads: all of a short message, head and tail of a long one.
fn visible_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    let total = text.chars().count();
    let skip_from = HEAD_CHARS;
    let skip_to = total.saturating_sub(TAIL_CHARS).max(HEAD_CHARS);
    text.chars().enumerate().filter_map(move |(index, c)| {
        // The gap reads as a separator so n-grams never bridge it.
        if index >= skip_from && index < skip_to {
            (index == skip_from).then_some(' ')
        } else {
            Some(c)
        }
    })
}

/// Hashed features of `text` into `out` (cleared first): sorted, deduplicated.
pub(crate) fn extract_features(text: &str, out: &mut Vec<u32>) {
    out.clear();
    // Normalised characters with their kind; the only per-call buffer besides `out`.
    let mut chars: Vec<(char, CharKind)> =
        Vec::with_capacity(text.len().min(HEAD_CHARS + TAIL_CHARS + 1));
    chars.extend(visible_chars(text).map(normalise));
    opening_features(&chars, out);

    let mut previous_word: Option<u32> = None;
    let mut start = 0;
    while start < chars.len() {
        let kind = chars[start].1;
        let mut end = start + 1;
        while end < chars.len() && chars[end].1 == kind {
            end += 1;
        }
        let run = &chars[start..end];
        match kind {
            CharKind::Cjk => {
                for index in 0..run.len() {
                    let mut hash = FNV_OFFSET ^ SEED_CJK;
                    for &(c, _) in run.iter().skip(index).take(3) {
                        hash = fnv_step(hash, c as u32);
                        out.push(feature(hash, FAMILY_CJK));
                    }
                }
                previous_word = None;
            }
            CharKind::Word => {
                let mut word_hash = FNV_OFFSET ^ SEED_WORD;
                for &(c, _) in run {
                    word_hash = fnv_step(word_hash, c as u32);
                }
                out.push(feature(word_hash, FAMILY_WORD));
                if let Some(previous) = previous_word {
                    let pair = fnv_step(fnv_step(FNV_OFFSET ^ SEED_WORD_PAIR, previous), word_hash);
                    out.push(feature(pair, FAMILY_WORD_PAIR));
                }
                previous_word = Some(word_hash);
                word_grams(run, out);
            }
            CharKind::Symbol => {
                for &(c, _) in run {
                    out.push(feature(
                        fnv_step(FNV_OFFSET ^ SEED_SYMBOL, c as u32),
                        FAMILY_SYMBOL,
                    ));
                }
                // Sentence punctuation ends a phrase; joining symbols (`-`, `'`, `/`) do not.
                if run
                    .iter()
                    .any(|&(c, _)| matches!(c, '.' | ',' | ';' | ':' | '!' | '?'))
                {
                    previous_word = None;
                }
            }
            CharKind::Space => {}
        }
        start = end;
    }
    out.sort_unstable();
    out.dedup();
}

/// The [`WORD_GRAM_LEN`]-grams of `<word>`; long tokens (hashes, URLs) are cut at 24 characters.
fn word_grams(word: &[(char, CharKind)], out: &mut Vec<u32>) {
    let padded_len = word.len().min(24) + 2;
    if padded_len < WORD_GRAM_LEN {
        return;
    }
    let padded = |index: usize| -> u32 {
        if index == 0 {
            '<' as u32
        } else if index == padded_len - 1 {
            '>' as u32
        } else {
            word.get(index - 1).map_or(0, |&(c, _)| c as u32)
        }
    };
    for first in 0..=padded_len.saturating_sub(WORD_GRAM_LEN) {
        let mut hash = FNV_OFFSET ^ SEED_WORD_GRAM;
        for index in first..first + WORD_GRAM_LEN {
            hash = fnv_step(hash, padded(index));
        }
        out.push(feature(hash, FAMILY_WORD_GRAM));
    }
}

/// Features of how the message opens (see the module doc).
fn opening_features(chars: &[(char, CharKind)], out: &mut Vec<u32>) {
    let first = chars
        .iter()
        .position(|&(_, kind)| matches!(kind, CharKind::Word | CharKind::Cjk));
    let Some(first) = first else {
        return;
    };
    let rest = &chars[first..];
    if rest[0].1 == CharKind::Cjk {
        let end = rest
            .iter()
            .position(|&(_, kind)| kind != CharKind::Cjk)
            .unwrap_or(rest.len());
        let mut run = &rest[..end];
        // Strip fillers repeatedly: 请帮我… → …
        while let Some(filler) = FILLER_CJK.iter().find(|filler| {
            let len = filler.chars().count();
            run.len() > len && run.iter().take(len).map(|&(c, _)| c).eq(filler.chars())
        }) {
            run = &run[filler.chars().count()..];
        }
        let mut hash = FNV_OFFSET ^ SEED_OPENING_CJK;
        for (index, &(c, _)) in run.iter().take(3).enumerate() {
            hash = fnv_step(hash, c as u32);
            if index >= 1 {
                out.push(feature(hash, FAMILY_OPENING));
            }
        }
        return;
    }
    // The first two words that are not fillers, hashed as a growing prefix.
    let mut hash = FNV_OFFSET ^ SEED_OPENING_WORDS;
    let mut taken = 0;
    let mut word = String::new();
    let mut index = 0;
    while index <= rest.len() && taken < 2 {
        match rest.get(index) {
            Some(&(c, CharKind::Word)) => word.push(c),
            Some(&('\'', _)) if !word.is_empty() => word.push('\''),
            other => {
                if !word.is_empty() && !FILLER_WORDS.contains(&word.as_str()) {
                    for c in word.chars() {
                        hash = fnv_step(hash, c as u32);
                    }
                    hash = fnv_step(hash, ' ' as u32);
                    out.push(feature(hash, FAMILY_OPENING));
                    taken += 1;
                }
                word.clear();
                // The opening ends at the first CJK character, or at sentence punctuation once a
                // word is taken ("Hi, what…" still opens with "what").
                let punctuation =
                    matches!(other, Some(&(c, _)) if matches!(c, '.' | ',' | ':' | '?' | '!'));
                if matches!(other, None | Some(&(_, CharKind::Cjk))) || (punctuation && taken > 0) {
                    break;
                }
            }
        }
        index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Option<Classifier> {
        Classifier::train([
            ("translate", "把这段话翻译成英文"),
            ("translate", "translate this into Chinese"),
            ("translate", "帮我翻译这封邮件"),
            ("code", "写一个Python脚本"),
            ("code", "fix this SQL query"),
            ("code", "这段代码报错了"),
        ])
    }

    #[test]
    fn learns_both_languages() {
        let Some(classifier) = tiny() else {
            panic!("two labels train a classifier");
        };
        let label = |text: &str| classifier.labels()[classifier.predict(text).best].clone();
        assert_eq!(label("请翻译成英文"), "translate");
        assert_eq!(label("please translate into English"), "translate");
        assert_eq!(label("Python代码报错"), "code");
        assert_eq!(label("a query for SQL"), "code");
    }

    #[test]
    fn one_label_is_not_a_classifier() {
        assert!(Classifier::train([("a", "x"), ("a", "y")]).is_none());
    }

    #[test]
    fn unknown_text_is_uniform_not_confident() {
        let Some(classifier) = tiny() else {
            panic!("two labels train a classifier");
        };
        let prediction = classifier.predict("ЖЖЖ ЩЩЩ");
        assert_eq!(prediction.known_features, 0);
        assert!((prediction.confidence - 0.5).abs() < 1e-6);
        assert_eq!(classifier.predict("").known_features, 0);
    }

    #[test]
    fn features_are_case_width_and_digit_insensitive() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        extract_features("SELECT 2024", &mut a);
        extract_features("ｓｅｌｅｃｔ 1999", &mut b);
        assert_eq!(a, b);
        extract_features("", &mut a);
        assert!(a.is_empty());
    }

    #[track_caller]
    fn check_opening(a: &str, b: &str, same: bool) {
        let opening = |text: &str| {
            let chars: Vec<_> = text.chars().map(normalise).collect();
            let mut out = Vec::new();
            opening_features(&chars, &mut out);
            out
        };
        assert_eq!(opening(a) == opening(b), same, "{a:?} vs {b:?}");
        assert!(!opening(a).is_empty(), "{a:?} has an opening");
    }

    #[test]
    fn opening_skips_fillers() {
        check_opening("Please draft an email", "Draft an email", true);
        check_opening("Can you help me draft an email", "draft an email", true);
        check_opening("请帮我把这段话翻译成英文", "把这段话翻译成英文", true);
        check_opening("Draft an email", "Draft a memo", false);
        check_opening("How do I", "How can I", false);
        check_opening("Hi, what is EBITDA", "what is EBITDA", true);
    }

    #[test]
    fn long_text_reads_head_and_tail_only() {
        let middle = "无关内容".repeat(5000);
        let text = format!("请把下面的内容翻译成英文：{middle}谢谢");
        let mut features = Vec::new();
        extract_features(&text, &mut features);
        // Bounded by the visible window, not the text length.
        assert!(features.len() < (HEAD_CHARS + TAIL_CHARS) * 4);
    }

    #[test]
    fn word_grams_cover_the_padded_word() {
        let word: Vec<_> = "up".chars().map(normalise).collect();
        let mut out = Vec::new();
        word_grams(&word, &mut out);
        assert_eq!(out.len(), 1, "<up> is one 4-gram");
        out.clear();
        word_grams(&word[..1], &mut out);
        assert!(out.is_empty(), "<u> is shorter than a 4-gram");
    }
}
