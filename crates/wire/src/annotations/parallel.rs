//! Parsing a big request document on two threads.
//!
//! serde_json parses on one thread, and a `PUT` of 100,000 shapes spends a fifth of its
//! time there. The `shapes` array is split at an object boundary near the middle of the
//! body; the two halves are parsed as arrays on two threads and the rest of the document
//! (with `"shapes":[]`) after the second half, which tells where the array ends.
//!
//! The result is always the one of `serde_json::from_slice::<LabeledData>`: the split is
//! only a guess, but each piece is parsed from a position the whole parse also passes as
//! a token boundary, so a wrong guess can only fail to parse, and any failure (or a body
//! this does not understand, such as an escaped key) returns `None` for the caller to
//! parse the whole body on one thread.

use serde::Deserialize;

use super::{LabeledData, Shape};

/// How far into the body the `"shapes"` key is looked for.
const KEY_WITHIN: usize = 64 << 10;
/// How far past the middle a boundary between two shapes is looked for.
const BOUNDARY_WITHIN: usize = 256 << 10;
/// Candidate boundaries tried, and how much of the body each try may read: a body made
/// of nothing but `},{` must not cost more than a plain parse.
const BOUNDARY_TRIES: usize = 64;
const SHAPE_WITHIN: usize = 64 << 10;

/// `body` parsed as `serde_json::from_slice::<LabeledData>` would, or `None`.
pub(super) fn parse(body: &[u8]) -> Option<LabeledData> {
    let open = top_level_array(body, b"shapes")?;
    let split = shape_boundary(body, open + (body.len() - open) / 2)?;
    let mut first = Vec::with_capacity(split - open + 1);
    first.extend_from_slice(&body[open..split]);
    first.push(b']');
    let mut second = Vec::with_capacity(body.len() - split);
    second.push(b'[');
    second.extend_from_slice(&body[split + 1..]);
    let (first, rest) = std::thread::scope(|s| {
        let h = s.spawn(|| serde_json::from_slice::<Vec<Shape>>(&first).ok());
        let rest = second_half_and_rest(body, open, split, &second);
        (h.join().ok().flatten(), rest)
    });
    let (mut shapes, (mut tail, mut doc)) = (first?, rest?);
    if !doc.shapes.is_empty() {
        return None;
    }
    shapes.append(&mut tail);
    doc.shapes = shapes;
    Some(doc)
}

/// Parses `second` (`[` and the body after the split) as an array of shapes, then the
/// document around the whole array.
fn second_half_and_rest(
    body: &[u8],
    open: usize,
    split: usize,
    second: &[u8],
) -> Option<(Vec<Shape>, LabeledData)> {
    let mut it = serde_json::Deserializer::from_slice(second).into_iter::<Vec<Shape>>();
    let tail = it.next()?.ok()?;
    // second[i] is body[split + i] for i ≥ 1; the array's `]` is just before the offset
    let close = split + it.byte_offset() - 1;
    let mut around = Vec::with_capacity(open + 1 + body.len() - close);
    around.extend_from_slice(&body[..=open]);
    around.extend_from_slice(&body[close..]);
    let doc = serde_json::from_slice::<LabeledData>(&around).ok()?;
    Some((tail, doc))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// `i` is at a `"`; the index after the closing one.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// `i` is at the start of a value; the index after it.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// The index of the `[` that opens the array under `key` in the top-level object, when
/// the key comes within the first [`KEY_WITHIN`] bytes unescaped.
fn top_level_array(body: &[u8], key: &[u8]) -> Option<usize> {
    let b = &body[..body.len().min(KEY_WITHIN)];
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let start = i + 1;
        let end = start + b[start..].iter().position(|&c| c == b'"' || c == b'\\')?;
        if b[end] != b'"' {
            return None;
        }
        let name = &b[start..end];
        i = skip_ws(b, end + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if name == key {
            return (b.get(i) == Some(&b'[')).then_some(i);
        }
        i = skip_ws(b, skip_value(b, i)?);
        if b.get(i) != Some(&b',') {
            return None;
        }
        i += 1;
    }
}

/// The index of a `,` from `from` on that looks like it separates two shapes: `}` before
/// it, and after it an object that parses as a shape on its own (attribute values, the
/// other objects written as `{…},{…}` inside a shape, do not).
fn shape_boundary(body: &[u8], from: usize) -> Option<usize> {
    let end = body.len().min(from + BOUNDARY_WITHIN);
    let mut i = from;
    let mut tries = 0;
    while i < end && tries < BOUNDARY_TRIES {
        i += body[i..end].iter().position(|&c| c == b'}')? + 1;
        let comma = skip_ws(body, i);
        if body.get(comma) != Some(&b',') {
            continue;
        }
        let next = skip_ws(body, comma + 1);
        if body.get(next) != Some(&b'{') {
            continue;
        }
        let key = skip_ws(body, next + 1);
        if body[key..].starts_with(b"\"spec_id\"") || body[key..].starts_with(b"\"value\"") {
            continue;
        }
        tries += 1;
        // a shape bigger than SHAPE_WITHIN is simply not split at
        let within = &body[next..body.len().min(next + SHAPE_WITHIN)];
        let mut de = serde_json::Deserializer::from_slice(within);
        if Shape::deserialize(&mut de).is_ok() {
            return Some(comma);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::{AttributeValue, ShapeType, Tag, Track, TrackedShape};

    fn shape(n: usize) -> Shape {
        Shape {
            kind: if n.is_multiple_of(2) {
                ShapeType::Rectangle
            } else {
                ShapeType::Polygon
            },
            occluded: n.is_multiple_of(3),
            z_order: (n % 5) as i64,
            points: (0..if n.is_multiple_of(2) { 4 } else { 8 })
                .map(|k| (n * 7 + k) as f64 * 1.25 + 0.1)
                .collect(),
            id: (!n.is_multiple_of(4)).then_some(n as i64 + 1),
            frame: (n % 50) as i64,
            label_id: 3,
            group: n.is_multiple_of(7).then_some(2),
            attributes: vec![
                AttributeValue {
                    spec_id: 1,
                    // strings that look like JSON structure must not fool the split
                    value: match n % 4 {
                        0 => "},{\"type\":\"rectangle\"".into(),
                        1 => "a \\\" quote }, {".into(),
                        2 => String::new(),
                        _ => "ünïcode ✓".into(),
                    },
                },
                AttributeValue {
                    spec_id: 2,
                    value: n.to_string(),
                },
            ],
        }
    }

    fn document(shapes: usize, tracks: usize) -> LabeledData {
        LabeledData {
            version: 3,
            tags: vec![Tag {
                id: None,
                frame: 1,
                label_id: 3,
                group: None,
                attributes: vec![],
            }],
            shapes: (0..shapes).map(shape).collect(),
            tracks: (0..tracks)
                .map(|n| Track {
                    id: None,
                    frame: 0,
                    label_id: 3,
                    group: Some(0),
                    attributes: vec![],
                    shapes: vec![TrackedShape {
                        kind: ShapeType::Rectangle,
                        occluded: false,
                        z_order: 0,
                        points: vec![1.0, 2.0, 3.0, n as f64],
                        id: None,
                        frame: 0,
                        outside: false,
                        attributes: vec![],
                    }],
                })
                .collect(),
        }
    }

    fn serial(body: &[u8]) -> LabeledData {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn splits_compact_and_pretty_documents_as_serde_parses_them() {
        let doc = document(2000, 3);
        for body in [
            serde_json::to_vec(&doc).unwrap(),
            serde_json::to_vec_pretty(&doc).unwrap(),
        ] {
            let parsed = parse(&body).expect("a plain document splits");
            assert_eq!(parsed, serial(&body));
            assert_eq!(parsed.shapes.len(), 2000);
        }
    }

    #[test]
    fn key_order_does_not_matter() {
        let doc = document(1000, 2);
        let v = serde_json::to_value(&doc).unwrap();
        // shapes first, then the rest
        let body = format!(
            "{{\"shapes\":{},\"tags\":{},\"tracks\":{},\"version\":3}}",
            v["shapes"], v["tags"], v["tracks"]
        );
        assert_eq!(parse(body.as_bytes()).unwrap(), serial(body.as_bytes()));
    }

    #[test]
    fn a_middle_beyond_the_shapes_gives_up() {
        // the tracks after the shapes are most of the body: no shape at the middle
        let doc = document(10, 4000);
        let v = serde_json::to_value(&doc).unwrap();
        let body = format!(
            "{{\"version\":3,\"tags\":[],\"shapes\":{},\"tracks\":{}}}",
            v["shapes"], v["tracks"]
        );
        assert_eq!(parse(body.as_bytes()), None);
    }

    #[test]
    fn what_serde_refuses_is_refused() {
        let doc = document(500, 0);
        let body = serde_json::to_vec(&doc).unwrap();
        // a second shapes key
        let mut twice = body[..body.len() - 1].to_vec();
        twice.extend_from_slice(b",\"shapes\":[]}");
        assert!(serde_json::from_slice::<LabeledData>(&twice).is_err());
        assert_eq!(parse(&twice), None);
        // truncated, trailing garbage, a broken shape in either half
        assert_eq!(parse(&body[..body.len() - 2]), None);
        let mut garbage = body.clone();
        garbage.extend_from_slice(b" x");
        assert_eq!(parse(&garbage), None);
        for at in [body.len() / 4, body.len() * 3 / 4] {
            let mut broken = body.clone();
            let p = at + broken[at..].iter().position(|&c| c == b't').unwrap();
            broken[p] = b'q';
            assert_eq!(
                parse(&broken).is_some(),
                serde_json::from_slice::<LabeledData>(&broken).is_ok()
            );
        }
        // an escaped key is left to the whole parse
        let escaped =
            String::from_utf8(body.clone())
                .unwrap()
                .replacen("\"shapes\"", "\"sh\\u0061pes\"", 1);
        assert_eq!(parse(escaped.as_bytes()), None);
        assert_eq!(serial(escaped.as_bytes()), serial(&body));
    }

    #[test]
    fn a_body_of_false_boundaries_costs_little() {
        // every `},{` is a candidate and none is a shape; each try reads a bounded slice
        let mut body = b"{\"version\":1,\"tags\":[],\"tracks\":[],\"shapes\":[".to_vec();
        for _ in 0..200_000 {
            body.extend_from_slice(b"{},{\"k\":[");
        }
        let t = std::time::Instant::now();
        assert_eq!(parse(&body), None);
        // generous for a debug build on a busy machine; unbounded tries took minutes
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn small_arrays_split_or_give_up_but_never_differ() {
        for n in 0..6 {
            let body = serde_json::to_vec(&document(n, 1)).unwrap();
            if let Some(doc) = parse(&body) {
                assert_eq!(doc, serial(&body));
            }
        }
    }
}
