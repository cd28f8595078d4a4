//! A YAML tree that remembers where every node came from.
//!
//! serde_yaml forgets positions once a value is deserialized, and stops at the first
//! error. The spec needs `file:line:col` on every problem and all problems at once, so
//! we build our own small tree from yaml-rust2's event stream and decode it by hand.

use crate::diag::{Code, Diagnostic, Pos};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One YAML node with its source position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts (1-based line and column).
    pub pos: Pos,
    /// What the node holds.
    pub kind: NodeKind,
}

/// The three shapes a YAML node can take.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar; `quoted` is true for single- or double-quoted and block scalars,
    /// which YAML never resolves to numbers, booleans or null.
    Scalar { text: String, quoted: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping in source order. Keys are scalars (complex keys are rejected).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar text, if this node is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// True for a plain `~`, `null`, `Null`, `NULL` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, quoted: false }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A short name of the node's shape, for error messages.
    pub fn shape(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "null",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

fn pos_of(m: &Marker) -> Pos {
    // yaml-rust2 gives 1-based lines and 0-based columns.
    Pos {
        line: m.line() as u32,
        col: m.col() as u32 + 1,
    }
}

enum Frame {
    Seq(Pos, Vec<Node>, usize),
    Map(Pos, Vec<(Node, Node)>, Option<Node>, usize),
}

/// Most nodes a spec may have, counting every node written, every copy an alias makes
/// and every copy an anchor keeps. Real specs have a few thousand; nested aliases or
/// anchors ("billion laughs") would otherwise expand a few hundred bytes into
/// gigabytes.
pub const MAX_NODES: usize = 250_000;

/// Deepest nesting accepted. Real specs nest six levels; without a bound, a compact
/// `- - - - ...` list two bytes a level would overflow the stack of every recursive
/// walk over the tree.
pub const MAX_DEPTH: usize = 64;

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    root: Option<Node>,
    /// Anchored nodes and their sizes in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes in the tree so far, alias copies included.
    nodes: usize,
    /// Set once the tree outgrew [`MAX_NODES`]; later aliases expand to nothing and
    /// anchors are not kept.
    too_large: bool,
    /// Collections opened below [`MAX_DEPTH`]: their content is dropped unbuilt.
    skipped_depth: usize,
    documents: usize,
    errors: Vec<Diagnostic>,
}

fn size(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Scalar { .. } => 0,
        NodeKind::Seq(items) => items.iter().map(size).sum(),
        NodeKind::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
    }
}

impl TreeBuilder {
    /// Count `n` more nodes; past [`MAX_NODES`], report once and return false.
    fn grow(&mut self, n: usize, pos: Pos) -> bool {
        if self.too_large {
            return false;
        }
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes <= MAX_NODES {
            return true;
        }
        self.too_large = true;
        self.errors.push(Diagnostic::error(
            Code::YamlSyntax,
            pos,
            format!("the spec expands past {MAX_NODES} YAML nodes (anchors and aliases included)"),
            "write the repeated parts out, or alias less: a spec this large is almost certainly an alias loop or an attack",
        ));
        false
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            // Keeping an anchor is a copy: it counts like the nodes it holds.
            let n = size(&node);
            if self.grow(n, node.pos) {
                self.anchors.insert(anchor, (node.clone(), n));
            }
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(_, items, _)) => items.push(node),
            Some(Frame::Map(_, entries, pending_key, _)) => match pending_key.take() {
                None => {
                    if !matches!(node.kind, NodeKind::Scalar { .. }) {
                        self.errors.push(Diagnostic::error(
                            Code::YamlSyntax,
                            node.pos,
                            "mapping keys must be plain scalars",
                            "write the key as a simple word, e.g. `name:`",
                        ));
                    }
                    *pending_key = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = pos_of(&mark);
        if self.skipped_depth > 0 {
            match ev {
                Event::SequenceStart(..) | Event::MappingStart(..) => self.skipped_depth += 1,
                Event::SequenceEnd | Event::MappingEnd => self.skipped_depth -= 1,
                _ => {}
            }
            if self.skipped_depth > 0 {
                return;
            }
            // The skipped collection closed: its parent gets an empty stand-in.
            return self.push_node(
                Node {
                    pos,
                    kind: NodeKind::Scalar {
                        text: String::new(),
                        quoted: false,
                    },
                },
                0,
            );
        }
        if matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..))
            && self.stack.len() >= MAX_DEPTH
        {
            self.skipped_depth = 1;
            self.errors.push(Diagnostic::error(
                Code::YamlSyntax,
                pos,
                format!("the spec nests deeper than {MAX_DEPTH} levels"),
                "a spec needs about six levels: check for a runaway list such as `- - - -`",
            ));
            return;
        }
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(text, style, anchor, _) => {
                self.grow(1, pos);
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_node(
                    Node {
                        pos,
                        kind: NodeKind::Scalar { text, quoted },
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                self.grow(1, pos);
                self.stack.push(Frame::Seq(pos, Vec::new(), anchor))
            }
            Event::MappingStart(anchor, _) => {
                self.grow(1, pos);
                self.stack.push(Frame::Map(pos, Vec::new(), None, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(p, items, a)) => (
                        Node {
                            pos: p,
                            kind: NodeKind::Seq(items),
                        },
                        a,
                    ),
                    Some(Frame::Map(p, entries, _, a)) => (
                        Node {
                            pos: p,
                            kind: NodeKind::Map(entries),
                        },
                        a,
                    ),
                    None => return,
                };
                self.push_node(node, anchor);
            }
            Event::Alias(id) => {
                let empty = Node {
                    pos,
                    kind: NodeKind::Scalar {
                        text: String::new(),
                        quoted: false,
                    },
                };
                let found = self.anchors.get(&id).map(|(node, n)| (node.clone(), *n));
                let node = match found {
                    Some((node, n)) if self.grow(n, pos) => node,
                    _ => empty,
                };
                // Re-anchor the copy at the alias so errors inside it point here too.
                self.push_node(Node { pos, ..node }, 0);
            }
            _ => {}
        }
    }
}

/// Parse YAML text into a positioned tree. Syntax errors, duplicate keys and multiple
/// documents are reported as diagnostics; `None` means there is no usable tree.
pub fn parse(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    // Events one at a time rather than `Parser::load`, which recurses once per level
    // (a deep spec would overflow the stack before the depth check sees it).
    let loaded = loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break Ok(()),
            Ok((ev, mark)) => builder.on_event(ev, mark),
            Err(e) => break Err(e),
        }
    };
    if let Err(e) = loaded {
        let m = e.marker();
        let info = e.info().to_string();
        builder.errors.push(Diagnostic::error(
            Code::YamlSyntax,
            pos_of(m),
            format!("YAML syntax error: {info}"),
            "check indentation and quoting near this position (tabs are not allowed for indentation)",
        ));
        return (None, builder.errors);
    }
    if builder.documents > 1 {
        builder.errors.push(Diagnostic::error(
            Code::YamlSyntax,
            Pos { line: 1, col: 1 },
            format!(
                "the spec holds {} YAML documents; expected exactly one",
                builder.documents
            ),
            "remove the extra `---` separators",
        ));
    }
    let mut errors = builder.errors;
    if let Some(root) = &builder.root {
        check_duplicate_keys(root, &mut errors);
    }
    (builder.root, errors)
}

fn check_duplicate_keys(node: &Node, errors: &mut Vec<Diagnostic>) {
    match &node.kind {
        NodeKind::Scalar { .. } => {}
        NodeKind::Seq(items) => items.iter().for_each(|n| check_duplicate_keys(n, errors)),
        NodeKind::Map(entries) => {
            let mut seen: HashMap<&str, Pos> = HashMap::new();
            for (key, value) in entries {
                if let Some(k) = key.as_scalar() {
                    if let Some(first) = seen.get(k) {
                        errors.push(Diagnostic::error(
                            Code::DuplicateKey,
                            key.pos,
                            format!("duplicate key `{k}` (first defined at line {})", first.line),
                            "a YAML mapping keeps only one value per key; merge or rename the entries",
                        ));
                    } else {
                        seen.insert(k, key.pos);
                    }
                }
                check_duplicate_keys(value, errors);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let (root, errs) = parse("a: 1\nb:\n  - x\n  - y\n");
        assert!(errs.is_empty(), "{errs:?}");
        let root = root.unwrap();
        let NodeKind::Map(entries) = &root.kind else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(entries[0].1.pos, Pos { line: 1, col: 4 });
        let NodeKind::Seq(items) = &entries[1].1.kind else {
            panic!("not a seq")
        };
        assert_eq!(items[1].pos, Pos { line: 4, col: 5 });
    }

    #[test]
    fn crlf_and_comments_do_not_change_the_tree_shape() {
        let (a, _) = parse("a: 1 # c\nb: [x, y]\n");
        let (b, _) = parse("a: 1\r\n\r\nb:\r\n  - x\r\n  - y\r\n");
        let strip = |n: Node| format!("{:?}", crate::canonical::canonical_text(&n));
        assert_eq!(strip(a.unwrap()), strip(b.unwrap()));
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_lines() {
        let (_, errs) = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].code, Code::DuplicateKey);
        assert_eq!(errs[0].pos.line, 3);
        assert!(errs[0].message.contains("line 1"));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let (root, errs) = parse("a: [1, 2\nb: 3\n");
        assert!(root.is_none());
        assert_eq!(errs[0].code, Code::YamlSyntax);
        assert!(errs[0].pos.line >= 1);
    }

    #[test]
    fn nested_aliases_cannot_blow_up_the_tree() {
        // 9 levels of 9 aliases each: 9^9 (387 million) nodes if expanded naively.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let (root, errs) = parse(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].code, Code::YamlSyntax);
        assert!(
            errs[0].message.contains("expands past"),
            "{}",
            errs[0].message
        );
        assert!(size(&root.expect("a tree")) <= MAX_NODES + 100);
    }

    #[test]
    fn nested_anchors_without_aliases_are_bounded_too() {
        // Every anchor keeps a copy of its node: 50 nested anchors around 10,000
        // scalars would copy half a million nodes.
        let inner = vec!["x"; 10_000].join(", ");
        let mut text = String::from("a: ");
        for _ in 0..50 {
            text.push_str("&n [");
        }
        text.push_str(&inner);
        text.push_str(&"]".repeat(50));
        text.push('\n');
        let (_, errs) = parse(&text);
        assert!(
            errs.iter().any(|e| e.message.contains("expands past")),
            "{errs:?}"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "a:\n".to_string() + &"- ".repeat(100_000) + "x\n";
        let (_, errs) = parse(&text);
        assert!(
            errs.iter()
                .any(|e| e.message.contains("nests deeper than 64")),
            "{errs:?}"
        );
    }

    #[test]
    fn aliases_expand_to_the_anchored_node() {
        let (root, errs) = parse("a: &v [x, y]\nb: *v\n");
        assert!(errs.is_empty());
        let NodeKind::Map(entries) = root.unwrap().kind else {
            panic!()
        };
        assert_eq!(entries[0].1.kind, entries[1].1.kind);
    }
}
