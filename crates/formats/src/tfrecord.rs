//! "TFRecord 1.0" (api-v1 §10.9) as CVAT 1.1 wrote it through Datumaro's
//! `tf_detection_api` converter: a zip with `default.tfrecord` and `label_map.pbtxt`.
//!
//! `default.tfrecord` holds one `tf.train.Example` per task frame (frame order), in
//! TFRecord framing (`u64` length LE, masked CRC-32C of the length, the bytes, masked
//! CRC-32C of the bytes), with the keys Datumaro writes, in its order:
//! `image/source_id` (empty: CVAT gave Datumaro no source id), `image/filename`,
//! `image/height`, `image/width`, `image/encoded`, `image/format`, `image/key/sha256`
//! (the last three empty unless the export includes images: then the JPEG bytes,
//! `jpeg` and the hex SHA-256 of the bytes), and, only when the frame has boxes,
//! `image/object/bbox/xmin`, `xmax`, `ymin`, `ymax` (normalised to the image size,
//! `float`), `image/object/class/text` and `image/object/class/label` (1-based label
//! index, 0 for an unknown label).
//!
//! As Datumaro did: only rectangles are written (standalone and track shapes); the
//! rectangles of one non-zero group become one box, the union of the members, with the
//! label of the largest member; class texts keep only printable ASCII characters (the
//! label map keeps the full names). `image/filename` is the item name (frame name
//! without extension) plus `.jpg` when images are included, else the frame name (its
//! own extension, `.jpg` added when it has none); images are embedded in
//! `image/encoded`, never written as files. `label_map.pbtxt` lists every task label:
//! `item {\n\tid: N\n\tname: 'x'\n}\n\n`, names unescaped as Datumaro writes them.
//!
//! Import accepts such a zip (every `*.tfrecord` in it; the `label_map.pbtxt` beside
//! it, else any in the zip) or a bare TFRecord file. Every record's checksums are
//! checked. An example's item is `image/filename` without extension, else
//! `image/source_id`. Each box becomes a rectangle, denormalised with `image/width` and
//! `image/height` and clamped to the image as Datumaro does; its label is the class text
//! when the label map knows it, else the label map's name for the class id, else the
//! class text as is. Instance masks (`image/object/mask`) are ignored: the box is kept.
//! An import holds at most [`crate::MAX_SHAPES`] boxes.
//! The protobuf encoding is written here by hand (Example, Features, Feature,
//! BytesList, FloatList, Int64List; packed and unpacked repeated fields read).

use std::collections::{HashMap, HashSet};
use std::io::{self, Seek, Write};

use ferrocat_wire::annotations::ShapeType;
use sha2::{Digest, Sha256};

use crate::archive::{ZipOut, is_zip, read_entries};
use crate::yolo::item_name;
use crate::{Budget, Dataset, Export, FrameObjects, ItemObjects, ItemRef, OutShape};

/// The record file of the export (Datumaro names it after the subset).
pub const RECORD_FILE: &str = "default.tfrecord";
/// The label map file.
pub const LABEL_MAP: &str = "label_map.pbtxt";

// ---------------------------------------------------------------- export

/// Writes `label_map.pbtxt` and `default.tfrecord` (images inside the records when
/// `e.images` is given).
pub fn write<W: Write + Seek>(zip: &mut ZipOut<W>, mut e: Export<'_>) -> io::Result<()> {
    let labels: Vec<&str> = e.meta.labels.iter().map(|l| l.name.as_str()).collect();
    {
        let w = zip.file(LABEL_MAP)?;
        for (i, l) in labels.iter().enumerate() {
            write!(w, "item {{\n\tid: {}\n\tname: '{l}'\n}}\n\n", i + 1)?;
        }
    }
    let mut w = io::BufWriter::with_capacity(1 << 16, zip.file(RECORD_FILE)?);
    for (k, f) in e.frames.iter().enumerate() {
        let image = match e.images.as_mut() {
            Some(images) => Some(images(k)?),
            None => None,
        };
        let filename = if image.is_some() {
            format!("{}.jpg", item_name(&f.name))
        } else if item_name(&f.name).len() < f.name.len() {
            f.name.clone()
        } else {
            format!("{}.jpg", f.name)
        };
        let mut features: Vec<(&str, Feature)> = vec![
            ("image/source_id", Feature::Bytes(vec![Vec::new()])),
            (
                "image/filename",
                Feature::Bytes(vec![filename.into_bytes()]),
            ),
            ("image/height", Feature::Int64(vec![f.height])),
            ("image/width", Feature::Int64(vec![f.width])),
        ];
        let (sha, format) = match &image {
            Some(b) => (hex(&Sha256::digest(b)), "jpeg"),
            None => (String::new(), ""),
        };
        features.push((
            "image/encoded",
            Feature::Bytes(vec![image.unwrap_or_default()]),
        ));
        features.push(("image/format", Feature::Bytes(vec![format.into()])));
        features.push(("image/key/sha256", Feature::Bytes(vec![sha.into_bytes()])));
        let boxes = instances((e.objects)(k));
        if !boxes.is_empty() {
            let (wd, ht) = (f.width.max(1) as f64, f.height.max(1) as f64);
            let col = |g: fn(&Instance) -> f64, d: f64| {
                Feature::Float(boxes.iter().map(|b| (g(b) / d) as f32).collect())
            };
            features.push(("image/object/bbox/xmin", col(|b| b.x1, wd)));
            features.push(("image/object/bbox/xmax", col(|b| b.x2, wd)));
            features.push(("image/object/bbox/ymin", col(|b| b.y1, ht)));
            features.push(("image/object/bbox/ymax", col(|b| b.y2, ht)));
            let texts = boxes
                .iter()
                .map(|b| printable(&b.label).into_bytes())
                .collect();
            features.push(("image/object/class/text", Feature::Bytes(texts)));
            let ids = boxes
                .iter()
                .map(|b| {
                    labels
                        .iter()
                        .position(|l| *l == b.label)
                        .map_or(0, |i| i as i64 + 1)
                })
                .collect();
            features.push(("image/object/class/label", Feature::Int64(ids)));
        }
        write_record(&mut w, &encode_example(&features))?;
    }
    w.flush()
}

/// One box of the file: an ungrouped rectangle, or the union of a group's rectangles.
#[derive(Debug, Clone, PartialEq)]
struct Instance {
    label: String,
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
}

/// The boxes of a frame in Datumaro's order: objects sorted by group (stable), each
/// ungrouped rectangle alone, each group one box labelled by its largest member.
fn instances(objects: FrameObjects) -> Vec<Instance> {
    let mut rects: Vec<(i64, Instance)> = objects
        .shapes
        .into_iter()
        .filter(|s| s.kind == ShapeType::Rectangle && s.points.len() == 4)
        .map(|s| {
            let p = &s.points;
            let b = Instance {
                label: s.label.clone(),
                x1: p[0].min(p[2]),
                y1: p[1].min(p[3]),
                x2: p[0].max(p[2]),
                y2: p[1].max(p[3]),
            };
            (s.group, b)
        })
        .collect();
    rects.sort_by_key(|(g, _)| *g);
    let mut out: Vec<Instance> = Vec::new();
    let mut i = 0;
    while i < rects.len() {
        let g = rects[i].0;
        let end = if g == 0 {
            i + 1
        } else {
            rects[i..]
                .iter()
                .position(|(h, _)| *h != g)
                .map_or(rects.len(), |n| i + n)
        };
        let members = &rects[i..end];
        let area = |b: &Instance| (b.x2 - b.x1) * (b.y2 - b.y1);
        // the first of the largest, as Python's max()
        let mut leader = &members[0].1;
        for (_, b) in &members[1..] {
            if area(b) > area(leader) {
                leader = b;
            }
        }
        out.push(Instance {
            label: leader.label.clone(),
            x1: members
                .iter()
                .map(|(_, b)| b.x1)
                .fold(f64::INFINITY, f64::min),
            y1: members
                .iter()
                .map(|(_, b)| b.y1)
                .fold(f64::INFINITY, f64::min),
            x2: members
                .iter()
                .map(|(_, b)| b.x2)
                .fold(f64::NEG_INFINITY, f64::max),
            y2: members
                .iter()
                .map(|(_, b)| b.y2)
                .fold(f64::NEG_INFINITY, f64::max),
        });
        i = end;
    }
    out
}

/// The characters of Python's `string.printable`.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------- import

/// Reads a TFRecord zip (or a bare TFRecord file) into boxes per item.
pub fn read(bytes: &[u8]) -> Result<Dataset, String> {
    read_with(bytes, &mut Budget::default())
}

/// A label map indexed for lookups by id (the first entry of an id) and by name.
#[derive(Default)]
struct LabelIndex<'a> {
    by_id: HashMap<i64, &'a str>,
    names: HashSet<&'a str>,
}

impl<'a> LabelIndex<'a> {
    fn new(map: &'a [(i64, String)]) -> LabelIndex<'a> {
        let mut by_id = HashMap::with_capacity(map.len());
        for (id, name) in map {
            by_id.entry(*id).or_insert(name.as_str());
        }
        LabelIndex {
            by_id,
            names: map.iter().map(|(_, n)| n.as_str()).collect(),
        }
    }
}

/// [`read`] within `budget`.
fn read_with(bytes: &[u8], budget: &mut Budget) -> Result<Dataset, String> {
    let files: Vec<(String, Vec<u8>)> = if is_zip(bytes) {
        read_entries(bytes, |p| {
            p.to_ascii_lowercase().ends_with(".tfrecord") || base_name(p) == LABEL_MAP
        })?
    } else {
        if !starts_like_record(bytes) {
            return Err("The file is neither a zip archive nor a TFRecord file".into());
        }
        vec![(RECORD_FILE.to_string(), bytes.to_vec())]
    };
    let mut maps: Vec<(String, Vec<(i64, String)>)> = Vec::new();
    for (path, body) in files.iter().filter(|(p, _)| base_name(p) == LABEL_MAP) {
        let text = std::str::from_utf8(body).map_err(|_| format!("{path}: not UTF-8 text"))?;
        maps.push((dir_name(path).to_string(), parse_label_map(text)));
    }
    let indices: Vec<(&str, LabelIndex)> = maps
        .iter()
        .map(|(d, m)| (d.as_str(), LabelIndex::new(m)))
        .collect();
    let no_map = LabelIndex::default();
    let mut out = Dataset::default();
    let mut found = false;
    for (path, body) in files.iter().filter(|(p, _)| base_name(p) != LABEL_MAP) {
        found = true;
        let map = indices
            .iter()
            .find(|(d, _)| *d == dir_name(path))
            .or(indices.first())
            .map_or(&no_map, |(_, m)| m);
        for (n, record) in Records::new(body).enumerate() {
            let record = record.map_err(|e| format!("{path}: record {}: {e}", n + 1))?;
            let item = read_example(record, map, budget)
                .map_err(|e| format!("{path}: record {}: {e}", n + 1))?;
            out.items.push(item);
        }
    }
    if !found {
        return Err("The archive has no .tfrecord file".into());
    }
    Ok(out)
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn dir_name(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

fn read_example(
    record: &[u8],
    label_map: &LabelIndex,
    budget: &mut Budget,
) -> Result<ItemObjects, String> {
    let f = decode_example(record)?;
    let first_bytes = |key: &str| -> String {
        match f.get(key) {
            Some(Feature::Bytes(v)) => v
                .first()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        }
    };
    let filename = first_bytes("image/filename");
    let item = if !filename.is_empty() {
        item_name(&filename).to_string()
    } else {
        let id = first_bytes("image/source_id");
        if id.is_empty() {
            return Err("the example has neither image/filename nor image/source_id".into());
        }
        id
    };
    let floats = |key: &str| -> Result<&[f32], String> {
        match f.get(key) {
            None => Ok(&[]),
            Some(Feature::Float(v)) => Ok(v),
            Some(_) => Err(format!("{key} is not a float list")),
        }
    };
    let xmin = floats("image/object/bbox/xmin")?;
    let xmax = floats("image/object/bbox/xmax")?;
    let ymin = floats("image/object/bbox/ymin")?;
    let ymax = floats("image/object/bbox/ymax")?;
    let n = xmin.len();
    if xmax.len() != n || ymin.len() != n || ymax.len() != n {
        return Err("the image/object/bbox/* lists differ in length".into());
    }
    let mut objects = FrameObjects::default();
    if n == 0 {
        return Ok(ItemObjects {
            item: ItemRef::Name(item),
            objects,
        });
    }
    let int = |key: &str| match f.get(key) {
        Some(Feature::Int64(v)) => v.first().copied(),
        _ => None,
    };
    let (width, height) = match (int("image/width"), int("image/height")) {
        (Some(w), Some(h))
            if (1..1_000_000_000).contains(&w) && (1..1_000_000_000).contains(&h) =>
        {
            (w as f64, h as f64)
        }
        _ => return Err("boxes need a valid image/width and image/height".into()),
    };
    let texts: Vec<String> = match f.get("image/object/class/text") {
        None => Vec::new(),
        Some(Feature::Bytes(v)) => v
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect(),
        Some(_) => return Err("image/object/class/text is not a bytes list".into()),
    };
    let ids: &[i64] = match f.get("image/object/class/label") {
        None => &[],
        Some(Feature::Int64(v)) => v,
        Some(_) => return Err("image/object/class/label is not an int64 list".into()),
    };
    if (!texts.is_empty() && texts.len() != n) || (!ids.is_empty() && ids.len() != n) {
        return Err("the class lists and the box lists differ in length".into());
    }
    for i in 0..n {
        let text = texts.get(i).map(String::as_str).unwrap_or("");
        let by_id = ids.get(i).and_then(|id| label_map.by_id.get(id).copied());
        let label = if !text.is_empty() && label_map.names.contains(text) {
            text
        } else if let Some(name) = by_id {
            name
        } else if !text.is_empty() {
            text
        } else {
            return Err(format!("box {} has no class", i + 1));
        };
        let coord = |v: f32, size: f64| -> Result<f64, String> {
            if !v.is_finite() || v.abs() >= 1e9 {
                return Err(format!("box {} has an invalid coordinate {v}", i + 1));
            }
            Ok((f32_to_f64(v) * size).clamp(0.0, size))
        };
        budget.take(4)?;
        objects.shapes.push(OutShape {
            kind: ShapeType::Rectangle,
            label: label.to_string(),
            occluded: false,
            z_order: 0,
            points: vec![
                coord(xmin[i], width)?,
                coord(ymin[i], height)?,
                coord(xmax[i], width)?,
                coord(ymax[i], height)?,
            ],
            group: 0,
            attributes: vec![],
            track_id: None,
        });
    }
    Ok(ItemObjects {
        item: ItemRef::Name(item),
        objects,
    })
}

/// The shortest decimal that reads back as `v`, as `f64`: `0.05f32` gives `0.05`, not
/// `0.0500000007…`, so boxes written from round pixel values come back round.
fn f32_to_f64(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(v as f64)
}

/// The `(id, name)` entries of a `label_map.pbtxt` (text protobuf:
/// `item { id: 1 name: 'car' }`; other fields ignored).
pub fn parse_label_map(text: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut tokens = pbtxt_tokens(text).into_iter().peekable();
    let mut depth = 0;
    let (mut id, mut name) = (None, None);
    let mut key: Option<String> = None;
    while let Some(t) = tokens.next() {
        match t {
            Token::Open => {
                depth += 1;
                if depth == 1 {
                    (id, name) = (None, None);
                }
                key = None;
            }
            Token::Close => {
                if depth == 1
                    && let (Some(i), Some(n)) = (id.take(), name.take())
                {
                    out.push((i, n));
                }
                depth = (depth - 1).max(0);
                key = None;
            }
            Token::Colon => {}
            Token::Word(w) if depth == 1 && key.is_none() => {
                if tokens.peek() == Some(&Token::Colon) {
                    key = Some(w);
                }
            }
            Token::Word(w) => {
                if depth == 1 && key.as_deref() == Some("id") {
                    id = w.parse().ok();
                }
                key = None;
            }
            Token::Str(s) => {
                if depth == 1 && key.as_deref() == Some("name") {
                    name = Some(s);
                }
                key = None;
            }
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Colon,
    Word(String),
    Str(String),
}

fn pbtxt_tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' => out.push(Token::Open),
            '}' => out.push(Token::Close),
            ':' => out.push(Token::Colon),
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            quote @ ('\'' | '"') => {
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(e) => s.push(e),
                            None => {}
                        },
                        c if c == quote => break,
                        c => s.push(c),
                    }
                }
                out.push(Token::Str(s));
            }
            c if c.is_whitespace() || c == ',' || c == ';' => {}
            c => {
                let mut w = c.to_string();
                while let Some(&d) = chars.peek() {
                    if d.is_whitespace() || "{}:'\",;#".contains(d) {
                        break;
                    }
                    w.push(d);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    out
}

// ---------------------------------------------------------------- TFRecord framing

fn masked_crc(data: &[u8]) -> u32 {
    const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let c = CRC32C.checksum(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// Writes one record: length, its masked CRC-32C, the data, its masked CRC-32C.
pub fn write_record(w: &mut impl Write, data: &[u8]) -> io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    w.write_all(&len)?;
    w.write_all(&masked_crc(&len).to_le_bytes())?;
    w.write_all(data)?;
    w.write_all(&masked_crc(data).to_le_bytes())
}

fn starts_like_record(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && masked_crc(&bytes[..8]).to_le_bytes() == bytes[8..12]
}

/// The records of a TFRecord file, checksums checked.
pub struct Records<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Records<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Records {
            rest: bytes,
            failed: false,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<&'a [u8], String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let r = self.rest;
        let mut fail = |msg: &str| {
            self.failed = true;
            Some(Err(msg.to_string()))
        };
        if r.len() < 12 {
            return fail("the file is truncated (incomplete record header)");
        }
        if masked_crc(&r[..8]).to_le_bytes() != r[8..12] {
            return fail("damaged record (length checksum mismatch)");
        }
        let len = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
        if len > (r.len() - 12) as u64 || (r.len() - 12) as u64 - len < 4 {
            return fail("the file is truncated (record shorter than its length)");
        }
        let len = len as usize;
        let data = &r[12..12 + len];
        if masked_crc(data).to_le_bytes() != r[12 + len..16 + len] {
            return fail("damaged record (data checksum mismatch)");
        }
        self.rest = &r[16 + len..];
        Some(Ok(data))
    }
}

// ---------------------------------------------------------------- tf.train.Example

/// A `tf.train.Feature`: one of its three lists.
#[derive(Debug, Clone, PartialEq)]
pub enum Feature {
    Bytes(Vec<Vec<u8>>),
    Float(Vec<f32>),
    Int64(Vec<i64>),
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_len(out: &mut Vec<u8>, field: u32, body: &[u8]) {
    put_varint(out, u64::from((field << 3) | 2));
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn encode_feature(f: &Feature) -> Vec<u8> {
    let mut list = Vec::new();
    let field = match f {
        Feature::Bytes(v) => {
            for b in v {
                put_len(&mut list, 1, b);
            }
            1
        }
        Feature::Float(v) => {
            if !v.is_empty() {
                let packed: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                put_len(&mut list, 1, &packed);
            }
            2
        }
        Feature::Int64(v) => {
            if !v.is_empty() {
                let mut packed = Vec::new();
                for x in v {
                    put_varint(&mut packed, *x as u64);
                }
                put_len(&mut list, 1, &packed);
            }
            3
        }
    };
    let mut out = Vec::with_capacity(list.len() + 6);
    put_len(&mut out, field, &list);
    out
}

/// Serialises a `tf.train.Example` with these features, in this order.
pub fn encode_example(features: &[(&str, Feature)]) -> Vec<u8> {
    let mut map = Vec::new();
    for (key, f) in features {
        let mut entry = Vec::new();
        put_len(&mut entry, 1, key.as_bytes());
        put_len(&mut entry, 2, &encode_feature(f));
        put_len(&mut map, 1, &entry);
    }
    let mut out = Vec::with_capacity(map.len() + 6);
    put_len(&mut out, 1, &map);
    out
}

/// A protobuf field: its number and value.
enum Field<'a> {
    Varint(u64),
    Fixed64,
    Len(&'a [u8]),
    Fixed32([u8; 4]),
}

struct Fields<'a> {
    rest: &'a [u8],
}

fn varint(rest: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, tail) = rest.split_first().ok_or("truncated protobuf varint")?;
        *rest = tail;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err("invalid protobuf varint".into())
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Field<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = (|| {
            let key = varint(&mut self.rest)?;
            let take = |rest: &mut &'a [u8], n: usize| -> Result<&'a [u8], String> {
                if rest.len() < n {
                    return Err("truncated protobuf message".to_string());
                }
                let (a, b) = rest.split_at(n);
                *rest = b;
                Ok(a)
            };
            let value = match key & 7 {
                0 => Field::Varint(varint(&mut self.rest)?),
                1 => {
                    take(&mut self.rest, 8)?;
                    Field::Fixed64
                }
                2 => {
                    let n = varint(&mut self.rest)?;
                    let n = usize::try_from(n).map_err(|_| "protobuf length too large")?;
                    Field::Len(take(&mut self.rest, n)?)
                }
                5 => Field::Fixed32(take(&mut self.rest, 4)?.try_into().expect("4 bytes")),
                w => return Err(format!("unsupported protobuf wire type {w}")),
            };
            Ok((key >> 3, value))
        })();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

fn fields(bytes: &[u8]) -> Fields<'_> {
    Fields { rest: bytes }
}

fn decode_feature(bytes: &[u8]) -> Result<Feature, String> {
    let mut out = Feature::Bytes(Vec::new());
    for field in fields(bytes) {
        let (n, v) = field?;
        let Field::Len(list) = v else { continue };
        out = match n {
            1 => {
                let mut values = Vec::new();
                for f in fields(list) {
                    if let (1, Field::Len(b)) = f? {
                        values.push(b.to_vec());
                    }
                }
                Feature::Bytes(values)
            }
            2 => {
                let mut values = Vec::new();
                for f in fields(list) {
                    match f? {
                        (1, Field::Fixed32(b)) => values.push(f32::from_le_bytes(b)),
                        (1, Field::Len(packed)) => {
                            if packed.len() % 4 != 0 {
                                return Err("damaged float list".into());
                            }
                            values.extend(
                                packed
                                    .chunks_exact(4)
                                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))),
                            );
                        }
                        _ => {}
                    }
                }
                Feature::Float(values)
            }
            3 => {
                let mut values = Vec::new();
                for f in fields(list) {
                    match f? {
                        (1, Field::Varint(x)) => values.push(x as i64),
                        (1, Field::Len(mut packed)) => {
                            while !packed.is_empty() {
                                values.push(varint(&mut packed)? as i64);
                            }
                        }
                        _ => {}
                    }
                }
                Feature::Int64(values)
            }
            _ => continue,
        };
    }
    Ok(out)
}

/// Parses a serialised `tf.train.Example` into its features by key.
pub fn decode_example(bytes: &[u8]) -> Result<HashMap<String, Feature>, String> {
    let mut out = HashMap::new();
    for field in fields(bytes) {
        let (n, v) = field?;
        let (1, Field::Len(features)) = (n, v) else {
            continue;
        };
        for entry in fields(features) {
            let (1, Field::Len(entry)) = entry? else {
                continue;
            };
            let (mut key, mut value) = (String::new(), Feature::Bytes(Vec::new()));
            for f in fields(entry) {
                match f? {
                    (1, Field::Len(k)) => {
                        key = std::str::from_utf8(k)
                            .map_err(|_| "a feature key is not UTF-8")?
                            .to_string();
                    }
                    (2, Field::Len(b)) => value = decode_feature(b)?,
                    _ => {}
                }
            }
            out.insert(key, value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, meta};
    use crate::{FrameMeta, OutTag};

    fn frames() -> Vec<FrameMeta> {
        testing::frames(&[("dir/a.png", 200, 100), ("b", 640, 480), ("c.jpg", 50, 50)])
    }

    fn rect(label: &str, p: [f64; 4], group: i64) -> OutShape {
        OutShape {
            kind: ShapeType::Rectangle,
            label: label.into(),
            occluded: false,
            z_order: 0,
            points: p.to_vec(),
            group,
            attributes: vec![],
            track_id: None,
        }
    }

    fn objects(k: usize) -> FrameObjects {
        match k {
            0 => FrameObjects {
                shapes: vec![
                    rect("person", [20.0, 10.0, 120.0, 60.0], 0),
                    OutShape {
                        kind: ShapeType::Polygon,
                        points: vec![1.0, 1.0, 5.0, 5.0, 1.0, 5.0],
                        ..rect("car", [0.0; 4], 0)
                    },
                    // a group: one box, the union, labelled by the larger member
                    rect("car", [0.0, 0.0, 10.0, 10.0], 4),
                    rect("person", [5.0, 5.0, 30.0, 40.0], 4),
                    OutShape {
                        track_id: Some(2),
                        ..rect("Straße", [150.0, 20.0, 130.0, 90.0], 0)
                    },
                ],
                tags: vec![OutTag {
                    label: "car".into(),
                    group: 0,
                    attributes: vec![],
                }],
            },
            1 => FrameObjects {
                shapes: vec![rect("car", [0.0, 0.0, 640.0, 480.0], 0)],
                tags: vec![],
            },
            _ => FrameObjects::default(),
        }
    }

    fn export(with_images: bool) -> Vec<u8> {
        let meta = meta(&["car", "person", "Straße"]);
        let frames = frames();
        let mut objs = objects;
        let mut img = |k: usize| Ok(vec![0xff, 0xd8, k as u8]);
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        write(
            &mut zip,
            Export {
                meta: &meta,
                frames: &frames,
                objects: &mut objs,
                images: if with_images { Some(&mut img) } else { None },
            },
        )
        .unwrap();
        zip.finish().unwrap().into_inner()
    }

    fn entry(zip: &[u8], name: &str) -> Vec<u8> {
        read_entries(zip, |p| p == name).unwrap().remove(0).1
    }

    #[test]
    fn round_trip() {
        let got = read(&export(false)).unwrap();
        assert!(got.tracks.is_empty());
        let items: Vec<&ItemRef> = got.items.iter().map(|i| &i.item).collect();
        assert_eq!(
            items,
            [
                &ItemRef::Name("dir/a".into()),
                &ItemRef::Name("b".into()),
                &ItemRef::Name("c".into())
            ]
        );
        let boxes = |k: usize| -> Vec<(String, Vec<f64>)> {
            got.items[k]
                .objects
                .shapes
                .iter()
                .map(|s| {
                    assert_eq!(s.kind, ShapeType::Rectangle);
                    (s.label.clone(), s.points.clone())
                })
                .collect()
        };
        assert_eq!(
            boxes(0),
            [
                ("person".to_string(), vec![20.0, 10.0, 120.0, 60.0]),
                // the non-ASCII name comes back through the label map
                ("Straße".to_string(), vec![130.0, 20.0, 150.0, 90.0]),
                ("person".to_string(), vec![0.0, 0.0, 30.0, 40.0]),
            ]
        );
        assert_eq!(
            boxes(1),
            [("car".to_string(), vec![0.0, 0.0, 640.0, 480.0])]
        );
        assert!(boxes(2).is_empty());
        assert!(got.items.iter().all(|i| i.objects.tags.is_empty()));
    }

    #[test]
    fn layout_and_keys() {
        let zip = export(false);
        let names: Vec<String> = read_entries(&zip, |_| true)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, [LABEL_MAP, RECORD_FILE]);
        assert_eq!(
            String::from_utf8(entry(&zip, LABEL_MAP)).unwrap(),
            "item {\n\tid: 1\n\tname: 'car'\n}\n\nitem {\n\tid: 2\n\tname: 'person'\n}\n\n\
             item {\n\tid: 3\n\tname: 'Straße'\n}\n\n"
        );
        let records = entry(&zip, RECORD_FILE);
        let examples: Vec<HashMap<String, Feature>> = Records::new(&records)
            .map(|r| decode_example(r.unwrap()).unwrap())
            .collect();
        assert_eq!(examples.len(), 3);
        let e = &examples[0];
        let bytes = |e: &HashMap<String, Feature>, k: &str| match &e[k] {
            Feature::Bytes(v) => v.clone(),
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(bytes(e, "image/filename"), [b"dir/a.png".to_vec()]);
        assert_eq!(bytes(e, "image/source_id"), [Vec::<u8>::new()]);
        assert_eq!(bytes(e, "image/encoded"), [Vec::<u8>::new()]);
        assert_eq!(bytes(e, "image/format"), [Vec::<u8>::new()]);
        assert_eq!(e["image/height"], Feature::Int64(vec![100]));
        assert_eq!(e["image/width"], Feature::Int64(vec![200]));
        assert_eq!(
            bytes(e, "image/object/class/text"),
            [b"person".to_vec(), b"Strae".to_vec(), b"person".to_vec()]
        );
        assert_eq!(e["image/object/class/label"], Feature::Int64(vec![2, 3, 2]));
        assert_eq!(
            e["image/object/bbox/xmin"],
            Feature::Float(vec![0.1, 0.65, 0.0])
        );
        assert_eq!(
            e["image/object/bbox/ymax"],
            Feature::Float(vec![0.6, 0.9, 0.4])
        );
        assert_eq!(bytes(&examples[1], "image/filename"), [b"b.jpg".to_vec()]);
        // no boxes: no object keys
        assert_eq!(examples[2].len(), 7);
        assert!(!examples[2].contains_key("image/object/bbox/xmin"));
    }

    #[test]
    fn images_are_embedded() {
        let zip = export(true);
        assert_eq!(read_entries(&zip, |_| true).unwrap().len(), 2);
        let records = entry(&zip, RECORD_FILE);
        let e = decode_example(Records::new(&records).nth(1).unwrap().unwrap()).unwrap();
        assert_eq!(
            e["image/encoded"],
            Feature::Bytes(vec![vec![0xff, 0xd8, 1]])
        );
        assert_eq!(e["image/format"], Feature::Bytes(vec![b"jpeg".to_vec()]));
        assert_eq!(e["image/filename"], Feature::Bytes(vec![b"b.jpg".to_vec()]));
        let Feature::Bytes(sha) = &e["image/key/sha256"] else {
            panic!()
        };
        assert_eq!(sha[0].len(), 64);
        assert_eq!(read(&zip).unwrap(), read(&export(false)).unwrap());
    }

    #[test]
    fn bare_record_file_and_unpacked_fields() {
        // hand-made example with unpacked floats and ints, as other writers may do
        let feature = |field: u32, list: Vec<u8>| {
            let mut f = Vec::new();
            put_len(&mut f, field, &list);
            f
        };
        let floats = |v: &[f32]| {
            let mut l = Vec::new();
            for x in v {
                l.push(0x0d);
                l.extend(x.to_le_bytes());
            }
            l
        };
        let mut ints = Vec::new();
        for x in [7u64, 1] {
            ints.push(0x08);
            put_varint(&mut ints, x);
        }
        let mut text = Vec::new();
        put_len(&mut text, 1, b"dog");
        let entries = [
            (
                "image/source_id",
                feature(1, {
                    let mut l = Vec::new();
                    put_len(&mut l, 1, b"42");
                    l
                }),
            ),
            ("image/width", feature(3, ints.clone())),
            ("image/height", feature(3, ints[..2].to_vec())),
            ("image/object/bbox/xmin", feature(2, floats(&[0.5]))),
            ("image/object/bbox/xmax", feature(2, floats(&[1.5]))),
            ("image/object/bbox/ymin", feature(2, floats(&[0.0]))),
            ("image/object/bbox/ymax", feature(2, floats(&[0.25]))),
            ("image/object/class/text", feature(1, text)),
        ];
        let mut map = Vec::new();
        for (k, f) in entries {
            let mut e = Vec::new();
            put_len(&mut e, 1, k.as_bytes());
            put_len(&mut e, 2, &f);
            put_len(&mut map, 1, &e);
        }
        let mut example = Vec::new();
        put_len(&mut example, 1, &map);
        let mut file = Vec::new();
        write_record(&mut file, &example).unwrap();
        let got = read(&file).unwrap();
        assert_eq!(got.items.len(), 1);
        assert_eq!(got.items[0].item, ItemRef::Name("42".into()));
        let s = &got.items[0].objects.shapes[0];
        assert_eq!(s.label, "dog");
        // width 7 (first value), clamped at the right edge; height 7
        assert_eq!(s.points, vec![3.5, 0.0, 7.0, 1.75]);
    }

    #[test]
    fn label_map_parsing() {
        let text = "# comment\nitem {\n  name: \"a b\"\n  id: 2\n  display_name: 'A'\n}\n\
                    item { id: 1 name: 'x' }\nitem { id: 3 }\n";
        assert_eq!(
            parse_label_map(text),
            [(2, "a b".to_string()), (1, "x".to_string())]
        );
        // labels by id when the text is missing or unknown
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        zip.file("sub/label_map.pbtxt")
            .unwrap()
            .write_all(b"item {\n\tid: 1\n\tname: 'car'\n}\n")
            .unwrap();
        let example = encode_example(&[
            ("image/filename", Feature::Bytes(vec![b"f.png".to_vec()])),
            ("image/width", Feature::Int64(vec![10])),
            ("image/height", Feature::Int64(vec![10])),
            ("image/object/bbox/xmin", Feature::Float(vec![0.0])),
            ("image/object/bbox/xmax", Feature::Float(vec![1.0])),
            ("image/object/bbox/ymin", Feature::Float(vec![0.0])),
            ("image/object/bbox/ymax", Feature::Float(vec![1.0])),
            ("image/object/class/label", Feature::Int64(vec![1])),
        ]);
        write_record(zip.file("sub/train.tfrecord").unwrap(), &example).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let got = read(&bytes).unwrap();
        assert_eq!(got.items[0].item, ItemRef::Name("f".into()));
        assert_eq!(got.items[0].objects.shapes[0].label, "car");
    }

    #[test]
    fn bad_input() {
        let records = entry(&export(false), RECORD_FILE);
        let with = |records: Vec<u8>| {
            let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
            zip.file(RECORD_FILE).unwrap().write_all(&records).unwrap();
            read(&zip.finish().unwrap().into_inner()).unwrap_err()
        };
        // truncated
        let e = with(records[..records.len() - 3].to_vec());
        assert!(
            e.contains("default.tfrecord: record 3") && e.contains("truncated"),
            "{e}"
        );
        // data checksum
        let mut bad = records.clone();
        bad[20] ^= 1;
        let e = with(bad);
        assert!(e.contains("record 1: damaged record (data checksum"), "{e}");
        // length checksum
        let mut bad = records.clone();
        bad[9] ^= 1;
        assert!(with(bad).contains("length checksum"));
        // valid framing, broken protobuf
        let mut bad = Vec::new();
        write_record(&mut bad, &[0x0a, 0x05, 0x01]).unwrap();
        assert!(with(bad).contains("truncated protobuf"));
        // boxes without a size
        let mut bad = Vec::new();
        let ex = encode_example(&[
            ("image/filename", Feature::Bytes(vec![b"f".to_vec()])),
            ("image/object/bbox/xmin", Feature::Float(vec![0.0])),
            ("image/object/bbox/xmax", Feature::Float(vec![1.0])),
            ("image/object/bbox/ymin", Feature::Float(vec![0.0])),
            ("image/object/bbox/ymax", Feature::Float(vec![1.0])),
            (
                "image/object/class/text",
                Feature::Bytes(vec![b"car".to_vec()]),
            ),
        ]);
        write_record(&mut bad, &ex).unwrap();
        assert!(with(bad).contains("image/width"));
        // non-finite coordinate, list length mismatch
        let ex = |xmin: Vec<f32>, xmax: Vec<f32>| {
            let mut b = Vec::new();
            let ex = encode_example(&[
                ("image/filename", Feature::Bytes(vec![b"f".to_vec()])),
                ("image/width", Feature::Int64(vec![10])),
                ("image/height", Feature::Int64(vec![10])),
                ("image/object/bbox/xmin", Feature::Float(xmin)),
                ("image/object/bbox/xmax", Feature::Float(xmax)),
                ("image/object/bbox/ymin", Feature::Float(vec![0.0])),
                ("image/object/bbox/ymax", Feature::Float(vec![1.0])),
                (
                    "image/object/class/text",
                    Feature::Bytes(vec![b"car".to_vec()]),
                ),
            ]);
            write_record(&mut b, &ex).unwrap();
            b
        };
        assert!(with(ex(vec![f32::NAN], vec![1.0])).contains("invalid coordinate"));
        assert!(with(ex(vec![0.0, 0.1], vec![1.0])).contains("differ in length"));
        assert_eq!(
            read(b"garbage").unwrap_err(),
            "The file is neither a zip archive nor a TFRecord file"
        );
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        zip.file("x.txt").unwrap().write_all(b"x").unwrap();
        assert_eq!(
            read(&zip.finish().unwrap().into_inner()).unwrap_err(),
            "The archive has no .tfrecord file"
        );
    }

    /// A zip of `label_map.pbtxt` and one example with `n` boxes of classes `ids` and
    /// texts `texts`.
    fn labelled_zip(map: &str, ids: Vec<i64>, texts: Vec<Vec<u8>>) -> Vec<u8> {
        let n = ids.len().max(texts.len());
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        zip.file(LABEL_MAP)
            .unwrap()
            .write_all(map.as_bytes())
            .unwrap();
        let mut features = vec![
            ("image/filename", Feature::Bytes(vec![b"f.png".to_vec()])),
            ("image/width", Feature::Int64(vec![10])),
            ("image/height", Feature::Int64(vec![10])),
            ("image/object/bbox/xmin", Feature::Float(vec![0.0; n])),
            ("image/object/bbox/xmax", Feature::Float(vec![1.0; n])),
            ("image/object/bbox/ymin", Feature::Float(vec![0.0; n])),
            ("image/object/bbox/ymax", Feature::Float(vec![1.0; n])),
        ];
        if !ids.is_empty() {
            features.push(("image/object/class/label", Feature::Int64(ids)));
        }
        if !texts.is_empty() {
            features.push(("image/object/class/text", Feature::Bytes(texts)));
        }
        let example = encode_example(&features);
        write_record(zip.file(RECORD_FILE).unwrap(), &example).unwrap();
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn labels_are_looked_up_and_boxes_budgeted() {
        // the first entry of an id wins; a known text wins over the id
        let map = "item { id: 1 name: 'a' }\nitem { id: 1 name: 'b' }\nitem { id: 2 name: 'c' }\n";
        let zip = labelled_zip(
            map,
            vec![1, 1, 2],
            vec![b"".to_vec(), b"c".to_vec(), b"zz".to_vec()],
        );
        let got = read(&zip).unwrap();
        let labels: Vec<&str> = got.items[0]
            .objects
            .shapes
            .iter()
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(labels, ["a", "c", "c"]);
        let e = read_with(&zip, &mut Budget::new(2, 100)).unwrap_err();
        assert!(
            e.contains("record 1: The file holds more than 2 objects"),
            "{e}"
        );

        // 100 000 boxes against 100 000 labels: looked up, not scanned
        let n = 100_000;
        let map: String = (0..n)
            .map(|i| format!("item {{ id: {i} name: 'l{i}' }}\n"))
            .collect();
        let ids: Vec<i64> = (0..n).rev().collect();
        let texts: Vec<Vec<u8>> = (0..n).map(|i| format!("t{i}").into_bytes()).collect();
        let zip = labelled_zip(&map, ids, texts);
        let start = std::time::Instant::now();
        let got = read(&zip).unwrap();
        assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
        let shapes = &got.items[0].objects.shapes;
        assert_eq!(shapes.len(), n as usize);
        assert_eq!(shapes[0].label, format!("l{}", n - 1));
    }
}
