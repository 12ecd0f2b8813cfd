//! Measuring the router honestly: accuracy on utterances it was not trained on.
//!
//! [`evaluate`] trains on the configured routes' examples and scores a held-out labelled set
//! (`bench/routing-eval.tsv`: `label<TAB>text`, `#` comments), then runs k-fold
//! cross-validation over training and held-out utterances together. It reports the full router
//! (rules, classifier, confidence threshold) and the classifier alone, a confusion matrix,
//! accuracy per language, and microseconds per decision.
//!
//! A benchmark, not part of the worker: it reads the clock and embeds the held-out set, so it
//! lives here rather than in oachat-core. `make bench` prints the report
//! (`cargo run --release -p oachat-routing-eval`); `cargo test` holds the router to
//! [`HELD_OUT_ACCURACY_FLOOR`].

use std::fmt;
use std::time::Instant;

use oachat_core::config::Config;
use oachat_core::routing::classifier::Classifier;
use oachat_core::routing::{RouteRequest, Router};

/// The held-out set the report scores (`label<TAB>text`), never used for training.
pub const HELD_OUT_SET: &str = include_str!("../../routing-eval.tsv");

/// The full router's lowest acceptable accuracy on [`HELD_OUT_SET`] with the default routes.
/// Measured 91.9 % (395/430) when the floor was set; the margin (about 30 utterances) leaves
/// room for small changes to the examples, not for a classifier that stopped generalising.
pub const HELD_OUT_ACCURACY_FLOOR: f64 = 0.85;

/// Folds for cross-validation.
pub const FOLDS: usize = 5;

/// Counts of (actual, predicted) pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confusion {
    pub labels: Vec<String>,
    /// `counts[actual][predicted]`.
    pub counts: Vec<Vec<u32>>,
}

impl Confusion {
    fn new(labels: &[String]) -> Confusion {
        Confusion {
            labels: labels.to_vec(),
            counts: vec![vec![0; labels.len()]; labels.len()],
        }
    }

    fn add(&mut self, actual: &str, predicted: &str) {
        let actual = self.labels.iter().position(|label| label == actual);
        let predicted = self.labels.iter().position(|label| label == predicted);
        if let (Some(actual), Some(predicted)) = (actual, predicted) {
            if let Some(cell) = self
                .counts
                .get_mut(actual)
                .and_then(|row| row.get_mut(predicted))
            {
                *cell += 1;
            }
        }
    }

    pub fn correct(&self) -> u32 {
        (0..self.labels.len())
            .map(|index| self.counts[index][index])
            .sum()
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        f64::from(self.correct()) / f64::from(self.total().max(1))
    }
}

impl fmt::Display for Confusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>12} |", "actual \\ got")?;
        for label in &self.labels {
            write!(f, " {label:>9}")?;
        }
        writeln!(f, " | recall")?;
        for (label, row) in self.labels.iter().zip(&self.counts) {
            write!(f, "{label:>12} |")?;
            for count in row {
                write!(f, " {count:>9}")?;
            }
            let total: u32 = row.iter().sum();
            let index = self
                .labels
                .iter()
                .position(|other| other == label)
                .unwrap_or(0);
            let recall = f64::from(row.get(index).copied().unwrap_or(0)) / f64::from(total.max(1));
            writeln!(f, " | {:>5.1}%", recall * 100.0)?;
        }
        Ok(())
    }
}

/// Accuracy for one language of the held-out set.
#[derive(Clone, Debug, PartialEq)]
pub struct LanguageScore {
    pub language: &'static str,
    pub correct: u32,
    pub total: u32,
}

/// What [`evaluate`] measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub train_examples: usize,
    pub held_out: usize,
    /// Full router on the held-out set.
    pub router: Confusion,
    /// Classifier alone (no rules, no threshold) on the held-out set.
    pub classifier_only: Confusion,
    pub by_language: Vec<LanguageScore>,
    /// Full router, k-fold over training and held-out utterances together.
    pub cross_validation: Confusion,
    /// Held-out utterances that the router got wrong: (actual, predicted, text).
    pub mistakes: Vec<(String, String, String)>,
    /// Mean wall-clock time per decision, and to train the router.
    pub micros_per_decision: f64,
    pub train_millis: f64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "routing evaluation: {} training examples, {} held-out utterances",
            self.train_examples, self.held_out
        )?;
        writeln!(
            f,
            "held-out accuracy, router:          {:.1}% ({}/{})",
            self.router.accuracy() * 100.0,
            self.router.correct(),
            self.router.total()
        )?;
        writeln!(
            f,
            "held-out accuracy, classifier only: {:.1}% ({}/{})",
            self.classifier_only.accuracy() * 100.0,
            self.classifier_only.correct(),
            self.classifier_only.total()
        )?;
        for language in &self.by_language {
            writeln!(
                f,
                "  {}: {:.1}% ({}/{})",
                language.language,
                f64::from(language.correct) * 100.0 / f64::from(language.total.max(1)),
                language.correct,
                language.total
            )?;
        }
        writeln!(
            f,
            "{FOLDS}-fold cross-validation, router: {:.1}% ({}/{})",
            self.cross_validation.accuracy() * 100.0,
            self.cross_validation.correct(),
            self.cross_validation.total()
        )?;
        writeln!(f, "time per decision: {:.2} µs", self.micros_per_decision)?;
        writeln!(f, "time to train: {:.2} ms", self.train_millis)?;
        writeln!(f, "\nheld-out confusion (router):\n{}", self.router)?;
        writeln!(
            f,
            "cross-validation confusion (router):\n{}",
            self.cross_validation
        )?;
        if !self.mistakes.is_empty() {
            writeln!(f, "held-out mistakes:")?;
            for (actual, predicted, text) in &self.mistakes {
                writeln!(f, "  {actual:>9} -> {predicted:<9} {text}")?;
            }
        }
        Ok(())
    }
}

/// Parse `label<TAB>text` lines; blank lines and `#` comments are skipped.
pub fn parse_tsv(tsv: &str) -> Result<Vec<(String, String)>, String> {
    let mut rows = Vec::new();
    for (index, line) in tsv.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((label, text)) = line.split_once('\t') else {
            return Err(format!("line {}: expected label<TAB>text", index + 1));
        };
        rows.push((label.trim().to_string(), text.trim().to_string()));
    }
    Ok(rows)
}

/// Chinese when CJK characters outweigh Latin letters, counting a CJK character as three
/// letters (roughly one word each). Only for the report.
fn language_of(text: &str) -> &'static str {
    let cjk = text
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count();
    let latin = text.chars().filter(char::is_ascii_alphabetic).count();
    if cjk * 3 >= latin {
        "zh"
    } else {
        "en"
    }
}

/// Train on `config`'s routes, score the held-out `tsv`, and cross-validate.
pub fn evaluate(config: &Config, tsv: &str) -> Result<Report, String> {
    let held_out = parse_tsv(tsv)?;
    let labels: Vec<String> = config
        .routes
        .iter()
        .filter(|(_, route)| route.enabled && !route.examples.is_empty())
        .map(|(name, _)| name.clone())
        .collect();
    for (label, text) in &held_out {
        if !labels.contains(label) {
            return Err(format!("unknown label `{label}` for {text:?}"));
        }
        let in_training = config
            .routes
            .values()
            .any(|route| route.examples.contains(text));
        if in_training {
            return Err(format!(
                "held-out utterance is also a training example: {text:?}"
            ));
        }
    }

    let clock = Instant::now();
    let router = Router::new(config);
    let train_millis = clock.elapsed().as_secs_f64() * 1e3;
    let classifier = Classifier::train(config.routes.iter().flat_map(|(name, route)| {
        route
            .examples
            .iter()
            .map(move |example| (name.as_str(), example.as_str()))
    }));

    let mut router_confusion = Confusion::new(&labels);
    let mut classifier_confusion = Confusion::new(&labels);
    let mut mistakes = Vec::new();
    let mut by_language = vec![
        LanguageScore {
            language: "zh",
            correct: 0,
            total: 0,
        },
        LanguageScore {
            language: "en",
            correct: 0,
            total: 0,
        },
    ];
    for (label, text) in &held_out {
        let decision = router.decide(&RouteRequest {
            text,
            ..RouteRequest::default()
        });
        router_confusion.add(label, &decision.route);
        let language = language_of(text);
        if let Some(score) = by_language
            .iter_mut()
            .find(|score| score.language == language)
        {
            score.total += 1;
            score.correct += u32::from(decision.route == *label);
        }
        if decision.route != *label {
            mistakes.push((label.clone(), decision.route.clone(), text.clone()));
        }
        if let Some(classifier) = &classifier {
            let prediction = classifier.predict(text);
            if let Some(predicted) = classifier.labels().get(prediction.best) {
                classifier_confusion.add(label, predicted);
            }
        }
    }

    // Time the full decision over the held-out texts, several rounds to smooth noise.
    let clock = Instant::now();
    let rounds = 20;
    let mut routed = 0usize;
    for _ in 0..rounds {
        for (_, text) in &held_out {
            let decision = router.decide(&RouteRequest {
                text,
                ..RouteRequest::default()
            });
            routed += decision.route.len();
        }
    }
    let micros_per_decision =
        clock.elapsed().as_secs_f64() * 1e6 / (rounds * held_out.len().max(1)) as f64;
    // Keeps the loop from being optimised away.
    std::hint::black_box(routed);

    let cross_validation = cross_validate(config, &labels, &held_out);
    Ok(Report {
        train_examples: config
            .routes
            .values()
            .map(|route| route.examples.len())
            .sum(),
        held_out: held_out.len(),
        router: router_confusion,
        classifier_only: classifier_confusion,
        by_language,
        cross_validation,
        mistakes,
        micros_per_decision,
        train_millis,
    })
}

/// k-fold over training examples and held-out utterances together: each fold trains a router
/// on the other folds' utterances (through a config copy) and scores its own.
fn cross_validate(config: &Config, labels: &[String], held_out: &[(String, String)]) -> Confusion {
    let mut all: Vec<(String, String)> = config
        .routes
        .iter()
        .filter(|(name, _)| labels.contains(name))
        .flat_map(|(name, route)| {
            route
                .examples
                .iter()
                .map(move |example| (name.clone(), example.clone()))
        })
        .collect();
    all.extend(held_out.iter().cloned());
    // Deterministic shuffle (xorshift) so folds mix both sources and every run is the same.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for index in (1..all.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let other = (state % (index as u64 + 1)) as usize;
        all.swap(index, other);
    }
    let mut confusion = Confusion::new(labels);
    for fold in 0..FOLDS {
        let mut fold_config = config.clone();
        for route in fold_config.routes.values_mut() {
            route.examples.clear();
        }
        for (index, (label, text)) in all.iter().enumerate() {
            if index % FOLDS != fold {
                if let Some(route) = fold_config.routes.get_mut(label) {
                    route.examples.push(text.clone());
                }
            }
        }
        let router = Router::new(&fold_config);
        for (label, text) in all.iter().skip(fold).step_by(FOLDS) {
            let decision = router.decide(&RouteRequest {
                text,
                ..RouteRequest::default()
            });
            confusion.add(label, &decision.route);
        }
    }
    confusion
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_set_is_well_formed_balanced_and_disjoint() {
        let rows = match parse_tsv(HELD_OUT_SET) {
            Ok(rows) => rows,
            Err(error) => panic!("{error}"),
        };
        assert!(rows.len() >= 320, "{} rows", rows.len());
        let config = Config::default();
        for route in config.routes.keys() {
            let of_route: Vec<_> = rows.iter().filter(|(label, _)| label == route).collect();
            let chinese = of_route
                .iter()
                .filter(|(_, text)| language_of(text) == "zh")
                .count();
            assert!(of_route.len() >= 64, "{route}: {}", of_route.len());
            assert!(
                chinese * 2 >= of_route.len() - 6 && chinese * 2 <= of_route.len() + 6,
                "{route}: {chinese} zh"
            );
        }
        let training: Vec<&String> = config
            .routes
            .values()
            .flat_map(|route| &route.examples)
            .collect();
        for (_, text) in &rows {
            assert!(!training.contains(&text), "in training: {text}");
        }
    }

    #[test]
    fn parse_tsv_reports_bad_lines() {
        assert_eq!(
            parse_tsv("# c\n\ncode\tx\r\n"),
            Ok(vec![("code".to_string(), "x".to_string())])
        );
        assert_eq!(
            parse_tsv("code x"),
            Err("line 1: expected label<TAB>text".to_string())
        );
    }

    /// Runs in well under a second in a debug build, so it is part of every `cargo test`.
    #[test]
    fn held_out_accuracy_of_the_router_is_above_the_floor() {
        let report = match evaluate(&Config::default(), HELD_OUT_SET) {
            Ok(report) => report,
            Err(error) => panic!("{error}"),
        };
        assert!(
            report.router.accuracy() >= HELD_OUT_ACCURACY_FLOOR,
            "held-out accuracy {:.1}% is below the floor of {:.1}%\n{report}",
            report.router.accuracy() * 100.0,
            HELD_OUT_ACCURACY_FLOOR * 100.0
        );
    }
}
