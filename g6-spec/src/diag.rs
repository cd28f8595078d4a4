//! Diagnostics: every problem in a spec, with where it is and what to do about it.

use std::fmt;

/// A 1-based position in the spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Line, starting at 1.
    pub line: u32,
    /// Column, starting at 1.
    pub col: u32,
}

/// Whether a diagnostic fails the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Fails the build and `g6 lint`.
    Error,
    /// Printed, but the build goes on.
    Warning,
}

macro_rules! codes {
    ($($variant:ident = $code:literal, $slug:literal, $what:literal;)*) => {
        /// Every diagnostic code the validator can emit. The README lists them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $(#[doc = $what] $variant,)* }

        impl Code {
            /// All codes, in numeric order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable code, e.g. `E001`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// A short kebab-case name, e.g. `yaml-syntax`.
            pub fn slug(self) -> &'static str {
                match self { $(Code::$variant => $slug,)* }
            }

            /// One line saying what the code means.
            pub fn description(self) -> &'static str {
                match self { $(Code::$variant => $what,)* }
            }
        }
    };
}

codes! {
    YamlSyntax = "E001", "yaml-syntax", "The file is not valid YAML (or not one YAML document).";
    UnknownField = "E002", "unknown-field", "A field the spec format does not define.";
    MissingField = "E003", "missing-field", "A required field is absent or empty.";
    WrongType = "E004", "wrong-type", "A field holds the wrong kind of value.";
    DuplicateKey = "E005", "duplicate-key", "The same key appears twice in one YAML mapping.";
    DuplicateMetric = "E006", "duplicate-metric", "Two metrics share a name.";
    InvalidMetricName = "E007", "invalid-metric-name", "A metric name is not snake_case [a-z_][a-z0-9_]* or lacks the namespace prefix.";
    InvalidLabelName = "E008", "invalid-label-name", "A label name is not snake_case or starts with `__`.";
    NamingConvention = "E009", "naming-convention", "Prometheus naming rules: counters end in _total and nothing else does, base units, no _count/_sum/_bucket suffix, no type names.";
    ReservedLabel = "E010", "reserved-label", "A label named `le` or `quantile`, which Prometheus reserves.";
    MissingBuckets = "E011", "missing-buckets", "A histogram without buckets.";
    BadBuckets = "E012", "bad-buckets", "Buckets that are not finite and strictly increasing; a `buckets_version` below 1, or above 1 on a histogram with a label of its own called `buckets_version`.";
    BucketsOnNonHistogram = "E013", "buckets-on-non-histogram", "Buckets on a counter or gauge.";
    BudgetTooSmall = "E014", "budget-too-small", "A cardinality budget below 1, or missing where open labels need one.";
    BudgetExceeded = "E015", "budget-exceeded", "The closed-label combinations alone exceed the cardinality budget.";
    UnknownLabelSet = "E016", "unknown-label-set", "A metric label that looks like a misspelt label set.";
    InvalidPromql = "E017", "invalid-promql", "A panel or alert expression that does not parse as PromQL.";
    UnknownMetricInPromql = "E018", "unknown-metric-in-promql", "PromQL that references a namespaced series the spec does not define.";
    RateOverGauge = "E019", "rate-over-gauge", "rate()/irate()/increase() applied to a gauge.";
    UnknownGroupingLabel = "E020", "unknown-grouping-label", "A `by (label)` that none of the aggregated metrics has.";
    BadDuration = "E021", "bad-duration", "An alert `for:` that is not a Prometheus duration.";
    BadSeverity = "E022", "bad-severity", "An alert severity outside info, warning, critical.";
    AlertNameNotCamelCase = "E023", "alert-name-not-camel-case", "An alert name that is not CamelCase.";
    UnknownFamily = "E024", "unknown-family", "A dashboard plan names a family the spec does not define.";
    EmptyFamily = "E025", "empty-family", "A family with no metrics.";
    InvalidLabelValue = "E026", "invalid-label-value", "A closed label value that is empty, duplicated, reserved or not [A-Za-z0-9_.-].";
    DuplicateName = "E027", "duplicate-name", "Two label sets, families, dashboards, alerts or panels share a name.";
    InvalidName = "E028", "invalid-name", "A namespace, family, label-set or dashboard slug that is not a valid identifier.";
    UnsupportedVersion = "E029", "unsupported-version", "A spec `version` this generator does not understand.";
    BadValue = "E030", "bad-value", "A value outside the allowed set (metric type, stability, panel kind or unit).";
    InputFile = "E031", "input-file", "The spec file is missing, empty, binary, or too large.";
    NameCollision = "E032", "name-collision", "Two metrics would generate the same Rust accessor.";
    BuiltinConflict = "E033", "builtin-conflict", "A metric or label that clashes with the runtime's built-in spec fragment.";
    TooManySeries = "E034", "too-many-series", "A metric whose closed label combinations or budget exceed the per-metric series cap.";
    BadSql = "E035", "bad-sql", "A SQL dashboard query that is empty, uses an undeclared variable or a macro the generator does not support.";
    BadSlo = "E036", "bad-slo", "An SLO whose objective is not between 0 and 100, whose period is not a duration from 1d to 365d, or whose name is not snake_case.";
    BadSli = "E037", "bad-sli", "An SLO's SLI that does not give exactly one of good or bad with total, an expression without its `$window` range, or a selector that can match nothing (a label the series lacks, a value outside a closed set, an `le` that is not a bucket bound).";
    BadHealth = "E038", "bad-health", "A health section whose thresholds are not 0 < critical < warning <= 1, whose weights are not positive or do not sum to 1, whose dashboard is not a plan of the spec, whose component names are not snake_case, or whose alert names clash with a spec alert.";
    BadHealthComponent = "E039", "bad-health-component", "A health component whose expression uses a `$` macro, reads a recording rule or no spec metric or has a selector that can match nothing, or whose test series are missing, not exact selectors of the metrics it reads, shared with another component, or not promtool values covering minutes 0 to 10.";
    BadRecording = "E040", "bad-recording", "A spec recording rule whose name is not `level:metric:operations` or is taken, or whose expression is not valid PromQL over the spec's metrics reading the metric it is declared on.";
    BadAnnotation = "E041", "bad-annotation", "A dashboard annotation with invalid PromQL, a duplicate title or an unknown colour.";
    BadPanelRename = "E042", "bad-panel-rename", "A panel `renamed_from` equal to its title, or one that gives two panels of a dashboard the same identity.";
    BadAlerting = "E043", "bad-alerting", "An alert whose `runbook.checks` are empty, more than three or too long, or whose `inhibits` names a metric the spec does not define; or an `alerting:` URL that is not http(s) (the runbook URL may also be a relative path).";
    ArtifactCheck = "E044", "artifact-check", "A generated artifact (dashboard, rule file) fails the checks the build runs on it; reported at the spec panel, alert, rule, SLO or dashboard plan that produced it, with the artifact in the note.";
    BadWarm = "E045", "bad-warm", "A `warm:` on a gauge, naming a label the metric does not have or a value outside a closed label's values, `warm: true` on a metric with open labels, or a `warm:` map that leaves an open label unnamed.";
    BadEnabledBy = "E046", "bad-enabled-by", "A family's `enabled_by:` that is not an environment variable name of the form `[A-Z_][A-Z0-9_]*`, or that gates a built-in family (the runtime's own metrics are always on).";
    CounterWithoutRate = "W001", "counter-without-rate", "A counter used in PromQL outside rate()/increase().";
    UnitSuffix = "W002", "unit-suffix", "A metric whose name ends in a base unit that `unit:` does not declare.";
    FamilyNotOnDashboard = "W003", "family-not-on-dashboard", "A family that no dashboard plan shows.";
}

/// One problem in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The stable code.
    pub code: Code,
    /// Where in the spec.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// Where else it shows, e.g. the generated artifact a check found it in.
    pub note: Option<String>,
}

impl Diagnostic {
    /// An error that fails the build.
    pub fn error(
        code: Code,
        pos: Pos,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            pos,
            message: message.into(),
            hint: hint.into(),
            note: None,
        }
    }

    /// The same diagnostic with a note (rendered after the hint).
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// A warning that is printed but does not fail the build.
    pub fn warning(
        code: Code,
        pos: Pos,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, pos, message, hint)
        }
    }

    /// Render as `PATH:LINE:COL: error[CODE]: message` with the hint on the next line.
    /// A note, when there is one, follows on its own line.
    pub fn render(&self, path: &str) -> String {
        let mut out = format!("{}\n  = hint: {}", self.headline(path), self.hint);
        if let Some(note) = &self.note {
            out.push_str("\n  = note: ");
            out.push_str(note);
        }
        out
    }

    /// The first line of [`Diagnostic::render`].
    pub fn headline(&self, path: &str) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.pos.line == 0 {
            // Line 0: a node merged from the built-in fragment, which has no place in
            // the user's file.
            return format!(
                "{path} (built-in fragment): {level}[{}]: {}",
                self.code.as_str(),
                self.message
            );
        }
        format!(
            "{path}:{}:{}: {level}[{}]: {}",
            self.pos.line,
            self.pos.col,
            self.code.as_str(),
            self.message
        )
    }
}

/// All diagnostics of one spec, sorted by position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// The path used when rendering.
    pub path: String,
    /// Every problem found, errors and warnings.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// True when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{}", d.render(&self.path))?;
        }
        let errors = self.errors().count();
        if errors > 0 {
            writeln!(
                f,
                "{}: {errors} error(s), {} warning(s); fix them and run again",
                self.path,
                self.warnings().count()
            )?;
        }
        Ok(())
    }
}

/// The closest of `candidates` to `word` (edit distance at most 2), for "did you mean".
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2 && *d < c.len().max(word.len()))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_path_line_col_code() {
        let d = Diagnostic::error(Code::BadSeverity, Pos { line: 7, col: 13 }, "bad", "fix");
        assert_eq!(
            d.render("metrics.yml"),
            "metrics.yml:7:13: error[E022]: bad\n  = hint: fix"
        );
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("helpp", ["help", "labels"]), Some("help"));
        assert_eq!(suggest("zzz", ["help", "labels"]), None);
    }
}
