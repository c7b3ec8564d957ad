//! A small XML tree reader shared by the importers of XML-based formats (LabelMe, PASCAL
//! VOC).
//!
//! Safety: entities other than the five predefined ones and character references are
//! refused (so no DTD entity expansion), nesting is limited to [`MAX_DEPTH`] elements,
//! and a document may have at most the given number of elements.

use quick_xml::Reader;
use quick_xml::events::Event;

/// An XML element with its text (concatenated) and children.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The children named `name`, in document order.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the child `name`, if there is one.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// The trimmed text of the child `name`, empty when absent.
    pub fn text_or_empty(&self, name: &str) -> &str {
        self.text_of(name).unwrap_or("")
    }
}

/// Deepest nesting of elements.
const MAX_DEPTH: usize = 64;

/// Most XML elements one annotation file may have.
pub(crate) const MAX_ELEMENTS: usize = 2_000_000;

/// Parses a whole document into a tree and returns its root element. Entities other
/// than the predefined ones and character references are refused, nesting is limited,
/// at most `max_elements` elements are read, and there must be exactly one root.
pub(crate) fn parse_tree(bytes: &[u8], max_elements: usize) -> Result<Node, String> {
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut elements = 0usize;
    let open = |name: &str| Node {
        name: name.to_string(),
        ..Node::default()
    };
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.buffer_position()))?;
        if matches!(ev, Event::Start(_) | Event::Empty(_)) {
            elements += 1;
            if elements > max_elements {
                return Err(format!("the XML has more than {max_elements} elements"));
            }
        }
        let done = match ev {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err("the XML is nested too deeply".into());
                }
                stack.push(open(e.name().as_ref()));
                None
            }
            Event::Empty(e) => Some(open(e.name().as_ref())),
            Event::End(_) => match stack.pop() {
                Some(node) => Some(node),
                None => return Err("malformed XML: unexpected closing tag".into()),
            },
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
                None
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t);
                }
                None
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    _ => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(format!("the entity &{other}; is not allowed")),
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(c);
                }
                None
            }
            Event::Eof => break,
            _ => None,
        };
        if let Some(node) = done {
            match stack.last_mut() {
                Some(parent) => parent.children.push(node),
                None if root.is_none() => root = Some(node),
                None => return Err("the XML has more than one root element".into()),
            }
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err("malformed XML: unclosed elements".into());
    }
    root.ok_or_else(|| "the file has no XML element".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_tree() {
        let xml =
            br#"<?xml version="1.0"?><a><b> x &amp; &#65;<![CDATA[<y>]]> </b><c/><b>2</b></a>"#;
        let root = parse_tree(xml, 10).unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.text_of("b"), Some("x & A<y>"));
        assert_eq!(root.text_of("c"), Some(""));
        assert_eq!(root.text_of("d"), None);
        assert_eq!(root.text_or_empty("d"), "");
        let bs: Vec<&str> = root.children("b").map(|b| b.text.trim()).collect();
        assert_eq!(bs, ["x & A<y>", "2"]);
        assert!(root.child("c").is_some_and(|c| c.children.is_empty()));
    }

    #[test]
    fn element_count_is_limited() {
        let xml = b"<annotation><a/><b><c/></b></annotation>";
        assert!(parse_tree(xml, 4).is_ok());
        let e = parse_tree(xml, 3).unwrap_err();
        assert!(e.contains("more than 3 elements"), "{e}");
    }

    #[test]
    fn bad_documents() {
        let bad = |xml: &str| parse_tree(xml.as_bytes(), MAX_ELEMENTS).unwrap_err();
        assert!(bad("<a><b>&x;</b></a>").contains("entity &x;"));
        assert!(bad(&"<a>".repeat(MAX_DEPTH + 1)).contains("nested"));
        assert!(bad("<a><b>").starts_with("malformed XML"));
        assert!(bad("<a/><b/>").contains("more than one root"));
        assert!(bad("").contains("no XML element"));
        // as deep as allowed
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse_tree(ok.as_bytes(), MAX_ELEMENTS).is_ok());
    }
}
