//! "Segmentation mask 1.1" (api-v1 §10.9): the segmentation part of the PASCAL VOC layout,
//! as CVAT 1.1 wrote it with Datumaro's `voc_segmentation` converter, and the mask
//! machinery that "PASCAL VOC 1.1" ([`crate::voc`]) shares.
//!
//! Export layout:
//! * `SegmentationClass/<item>.png`: every pixel coloured with its label's colour;
//! * `SegmentationObject/<item>.png`: every pixel coloured with its instance's colour, the
//!   VOC colormap entry of the instance number (1, 2, …);
//! * `ImageSets/Segmentation/default.txt`: the items that have masks, and the items that
//!   have no object at all (Datumaro lists both);
//! * `labelmap.txt`: `# label:color_rgb:parts:actions`, then `name:r,g,b::` lines,
//!   `background:0,0,0::` first, then the task's labels sorted by name (CVAT passed its
//!   colour map to Datumaro as a dict, which Datumaro sorts); a `:` in a label name is
//!   written as `_` and a line break as a space, since either would break the line;
//! * `JPEGImages/<item>.jpg` for dataset exports.
//!
//! Items are frame names without extension (folders kept); of frames whose names differ
//! only by extension, the first one is written. PNGs are 8-bit RGB, as Datumaro writes
//! them (it paints index masks with OpenCV).
//!
//! Masks are built as CVAT's transform chain built them (`polygons_to_masks`,
//! `boxes_to_masks`, `merge_instance_segments`, then the VOC converter): every rectangle
//! and polygon is rasterised as pycocotools does ([`crate::raster`]); shapes with the same
//! non-zero group form one instance (the union of their masks), which takes label and
//! `z_order` from its largest member; ungrouped shapes come first, then the groups in
//! group order; instances are then painted in ascending `z_order` (stable), later ones
//! over earlier ones, and numbered 1, 2, … in that order. Polylines, points, cuboids and
//! tags are not written.
//!
//! Colours (a decision: CVAT 1.1 took them from a table by label name and chose random
//! colours for the other names, so its exports were not reproducible): a label whose
//! name (ASCII case ignored) is a PASCAL VOC class gets that class's VOC colour (the first
//! such label only); any other label gets a colour derived from a hash (FNV-1a) of its
//! name through the VOC colormap generator at indices 256 and above, moved to the next
//! index while it is taken. The same label names thus always get the same colours, and
//! `(0, 0, 0)` stays the background's. Instance numbers above 255 get their colours from
//! the same generator (Datumaro would wrap them modulo 256 and cannot read them back).
//!
//! Import ([`read`]): a zip with `SegmentationObject/*.png` and/or
//! `SegmentationClass/*.png` (at any depth below a common folder) and `labelmap.txt`
//! (without one, the PASCAL VOC classes and colours are assumed, as Datumaro does). Each
//! instance of the object mask becomes one polygon per 4-connected region, the outline of
//! its pixels traced along pixel edges (integer corner coordinates), so that rasterising
//! it again gives back exactly the same pixels; its label is the class most of its pixels
//! have in the class mask. An instance of several regions gives polygons sharing a group
//! (numbered per item from 1); `z_order` is the instance's rank, so that exporting again
//! paints instances in the same order and gives identical PNGs. Holes are dropped (an
//! outline covers its holes; the round trip stays exact when the holes are filled by
//! instances painted later, as they are in masks made from simple polygons).
//! Without an object mask, every region of each class becomes one ungrouped polygon.
//! Background pixels (the label coloured `0,0,0`), and without `labelmap.txt` VOC's
//! `ignored` border colour, are no objects. A colour missing from the label map, masks of
//! different sizes, or an object mask without its class mask are errors. An import
//! holds at most [`crate::MAX_SHAPES`] polygons and [`crate::MAX_POINTS`] coordinates
//! (a checkerboard mask would make a polygon per pixel): beyond them it fails.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Seek, Write};

use ferrocat_wire::annotations::ShapeType;

use crate::archive::ZipOut;
use crate::raster::{self, Rle};
use crate::{Budget, Dataset, Export, ItemObjects, ItemRef, LabelMeta, OutShape};

/// Largest mask image (in pixels) the importer decodes.
const MAX_PIXELS: u64 = 50_000_000;

/// The PASCAL VOC classes with their indices in the VOC colormap.
const VOC_CLASSES: [&str; 21] = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// Entry `index` of the PASCAL VOC colormap (Datumaro's `generate_colormap`): bit `3k + c`
/// of the index becomes bit `7 - k` of channel `c` (for indices below 2²⁴, a bijection).
pub(crate) fn voc_color(index: u32) -> [u8; 3] {
    let mut c = [0u8; 3];
    let mut idx = index;
    for j in (0..8).rev() {
        for (ch, slot) in c.iter_mut().enumerate() {
            *slot |= (((idx >> ch) & 1) as u8) << j;
        }
        idx >>= 3;
    }
    c
}

/// The colormap index of a colour (inverse of [`voc_color`]).
pub(crate) fn voc_index(c: [u8; 3]) -> u32 {
    let mut idx = 0u32;
    for j in 0..8 {
        for (ch, v) in c.iter().enumerate() {
            idx |= u32::from((v >> j) & 1) << (3 * (7 - j) + ch);
        }
    }
    idx
}

/// A label map: names with their colours, the background first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LabelMap {
    pub entries: Vec<(String, [u8; 3])>,
}

impl LabelMap {
    /// "Segmentation mask" colours (see the module doc): `background` first, then the
    /// task's labels sorted by name.
    pub fn for_masks(labels: &[LabelMeta]) -> LabelMap {
        let mut names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.retain(|n| *n != "background");
        let mut used: HashSet<[u8; 3]> = HashSet::from([[0, 0, 0]]);
        let mut entries = vec![("background".to_string(), [0, 0, 0])];
        let mut assigned: Vec<Option<[u8; 3]>> = names
            .iter()
            .map(|n| {
                let lower = n.to_ascii_lowercase();
                let i = VOC_CLASSES[1..].iter().position(|c| *c == lower)?;
                let c = voc_color(i as u32 + 1);
                used.insert(c).then_some(c)
            })
            .collect();
        for (n, slot) in names.iter().zip(assigned.iter_mut()) {
            if slot.is_none() {
                let span = (1u64 << 24) - 256;
                let mut idx = fnv1a(n.as_bytes()) % span;
                let c = loop {
                    let c = voc_color(idx as u32 + 256);
                    if used.insert(c) {
                        break c;
                    }
                    idx = (idx + 1) % span;
                };
                *slot = Some(c);
            }
        }
        for (n, c) in names.iter().zip(assigned) {
            entries.push((n.to_string(), c.unwrap_or_default()));
        }
        LabelMap { entries }
    }

    /// "PASCAL VOC" colours (Datumaro's `voc` converter with `label_map='source'`):
    /// `background` first (the task's own label of that name if it has one), then the
    /// task's labels in label order, coloured by their index in the VOC colormap.
    pub fn for_voc(labels: &[LabelMeta]) -> LabelMap {
        let mut names = vec!["background"];
        for l in labels {
            if !names.contains(&l.name.as_str()) {
                names.push(&l.name);
            }
        }
        LabelMap {
            entries: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.to_string(), voc_color(i as u32)))
                .collect(),
        }
    }

    /// `labelmap.txt` as Datumaro writes it, names as [`labelmap_name`] writes them.
    pub fn to_text(&self) -> String {
        let mut s = String::from("# label:color_rgb:parts:actions\n");
        for (n, c) in &self.entries {
            let n = labelmap_name(n);
            s.push_str(&format!("{n}:{},{},{}::\n", c[0], c[1], c[2]));
        }
        s
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|(n, _)| n == name)
    }
}

/// A label name as `labelmap.txt` can hold it: `:` (the field separator) as `_`, line
/// breaks as spaces.
pub(crate) fn labelmap_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains([':', '\n', '\r']) {
        std::borrow::Cow::Owned(
            name.chars()
                .map(|c| match c {
                    ':' => '_',
                    '\n' | '\r' => ' ',
                    c => c,
                })
                .collect(),
        )
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A label map read from `labelmap.txt`: names, each with its colour if given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedLabelMap {
    pub entries: Vec<(String, Option<[u8; 3]>)>,
    /// Colours that are no objects: the background's, and VOC's `ignored` border colour
    /// when no label map was given.
    pub void: HashSet<[u8; 3]>,
}

impl ParsedLabelMap {
    /// The PASCAL VOC classes (Datumaro's default when there is no `labelmap.txt`).
    pub fn voc_default() -> ParsedLabelMap {
        let mut entries: Vec<(String, Option<[u8; 3]>)> = VOC_CLASSES
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), Some(voc_color(i as u32))))
            .collect();
        entries.push(("ignored".into(), Some(voc_color(255))));
        ParsedLabelMap {
            entries,
            void: HashSet::from([[0, 0, 0], voc_color(255)]),
        }
    }

    /// Parses `labelmap.txt` (`name:r,g,b:parts:actions` lines, `#` comments). A name may
    /// hold `:` (the last three fields are split off). Without any colour, labels are
    /// coloured by their index (as Datumaro does); a label named `background` is moved
    /// first when no label has the colour `0,0,0`.
    pub fn parse(text: &str, path: &str) -> Result<ParsedLabelMap, String> {
        let mut entries: Vec<(String, Option<[u8; 3]>)> = Vec::new();
        let mut names: HashSet<&str> = HashSet::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.rsplitn(4, ':');
            let (_actions, _parts, color, name) = match (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) {
                (Some(a), Some(p), Some(c), Some(n)) => (a, p, c, n),
                _ => {
                    return Err(format!(
                        "{path}, line {}: expected \"name:r,g,b:parts:actions\", got \"{line}\"",
                        n + 1
                    ));
                }
            };
            let color = if color.trim().is_empty() {
                None
            } else {
                let v: Vec<Option<u8>> = color.split(',').map(|c| c.trim().parse().ok()).collect();
                match v.as_slice() {
                    [Some(r), Some(g), Some(b)] => Some([*r, *g, *b]),
                    _ => {
                        return Err(format!(
                            "{path}, line {}: the colour \"{color}\" is not \"r,g,b\" with values 0-255",
                            n + 1
                        ));
                    }
                }
            };
            if !names.insert(name) {
                return Err(format!(
                    "{path}, line {}: the label \"{name}\" is defined twice",
                    n + 1
                ));
            }
            entries.push((name.to_string(), color));
        }
        if !entries.iter().any(|(_, c)| *c == Some([0, 0, 0])) {
            let bg = entries.iter().position(|(n, _)| n == "background");
            let bg = match bg {
                Some(i) => entries.remove(i),
                None => ("background".to_string(), None),
            };
            entries.insert(0, bg);
            if entries.iter().any(|(_, c)| c.is_some()) && entries[0].1.is_none() {
                entries[0].1 = Some([0, 0, 0]);
            }
        }
        if entries.iter().all(|(_, c)| c.is_none()) {
            for (i, e) in entries.iter_mut().enumerate() {
                e.1 = Some(voc_color(i as u32));
            }
        }
        Ok(ParsedLabelMap {
            entries,
            void: HashSet::from([[0, 0, 0]]),
        })
    }
}

/// The masks of one frame: instance number per pixel (row-major, 0 = none), and the
/// label-map index of each instance (`labels[0]` = 0 for "none").
pub(crate) struct Compiled {
    pub w: u32,
    pub h: u32,
    pub instances: Vec<u32>,
    pub labels: Vec<usize>,
}

/// Builds the masks of one frame from its `shapes` of the kinds `take` accepts (see the
/// module doc); `None` when no shape makes a mask. Labels missing from `map` are skipped.
pub(crate) fn compile(
    shapes: &[OutShape],
    take: impl Fn(ShapeType) -> bool,
    map: &LabelMap,
    w: i64,
    h: i64,
) -> Option<Compiled> {
    if w <= 0 || h <= 0 || w.saturating_mul(h) > i64::from(u32::MAX) {
        return None;
    }
    let (w, h) = (w as u32, h as u32);
    // (group, z_order, label index, mask), in frame order
    let mut segs: Vec<(i64, i64, usize, Rle)> = Vec::new();
    for s in shapes {
        if !take(s.kind) || s.points.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let Some(label) = map.index(&s.label) else {
            continue;
        };
        let rle = match s.kind {
            ShapeType::Rectangle if s.points.len() == 4 => {
                let p = &s.points;
                let (x1, y1) = (p[0].min(p[2]), p[1].min(p[3]));
                let (x2, y2) = (p[0].max(p[2]), p[1].max(p[3]));
                // Datumaro's Bbox(x, y, w, h).as_polygon(), with its float arithmetic
                let (bw, bh) = (x2 - x1, y2 - y1);
                raster::from_polygon(&[x1, y1, x1 + bw, y1, x1 + bw, y1 + bh, x1, y1 + bh], h, w)
            }
            ShapeType::Polygon if s.points.len() >= 6 => raster::from_polygon(&s.points, h, w),
            _ => continue,
        };
        segs.push((s.group, s.z_order, label, rle));
    }
    if segs.is_empty() {
        return None;
    }
    // instances: ungrouped shapes one by one, then the groups in group order
    segs.sort_by_key(|s| s.0);
    let mut instances: Vec<(i64, usize, Rle)> = Vec::new();
    let mut i = 0;
    while i < segs.len() {
        let g = segs[i].0;
        let mut j = i + 1;
        if g != 0 {
            while j < segs.len() && segs[j].0 == g {
                j += 1;
            }
        }
        let members = &segs[i..j];
        let mut leader = 0;
        let mut best = raster::area(&members[0].3);
        for (k, m) in members.iter().enumerate().skip(1) {
            let a = raster::area(&m.3);
            if a > best {
                best = a;
                leader = k;
            }
        }
        let rle = if members.len() == 1 {
            members[0].3.clone()
        } else {
            let rles: Vec<Rle> = members.iter().map(|m| m.3.clone()).collect();
            raster::merge_union(&rles)
        };
        instances.push((members[leader].1, members[leader].2, rle));
        i = j;
    }
    instances.sort_by_key(|m| m.0);
    let mut out = Compiled {
        w,
        h,
        instances: vec![0; w as usize * h as usize],
        labels: vec![0],
    };
    out.labels.extend(instances.iter().map(|m| m.1));
    // Later instances cover earlier ones: painting from the top one down, each pixel is
    // written once, by the top instance that covers it, so the cost is the pixels and
    // runs rather than the sum of the instances' areas.
    let mut painter = Painter::new(w, h);
    for (k, (_, _, rle)) in instances.iter().enumerate().rev() {
        painter.paint(rle, &mut out.instances, k as u32 + 1);
    }
    Some(out)
}

/// Paints masks into a row-major buffer, each pixel only once: `next[p]` leads to the
/// first unpainted column-major position at or after `p` (a union-find, path halving).
struct Painter {
    w: usize,
    h: usize,
    next: Vec<u32>,
}

impl Painter {
    /// For an image of at most `u32::MAX` pixels.
    fn new(w: u32, h: u32) -> Painter {
        let n = w as usize * h as usize;
        Painter {
            w: w as usize,
            h: h as usize,
            next: (0..=n as u64).map(|p| p as u32).collect(),
        }
    }

    fn find(&mut self, mut p: usize) -> usize {
        while self.next[p] as usize != p {
            let up = self.next[self.next[p] as usize];
            self.next[p] = up;
            p = up as usize;
        }
        p
    }

    /// Sets `buf[y * w + x] = value` for the pixels of `rle` not painted before.
    fn paint(&mut self, rle: &Rle, buf: &mut [u32], value: u32) {
        let n = self.w * self.h;
        let mut pos = 0usize;
        for (i, &c) in rle.counts.iter().enumerate() {
            let end = (pos + c as usize).min(n);
            if i % 2 == 1 {
                let mut p = self.find(pos.min(n));
                while p < end {
                    buf[(p % self.h) * self.w + p / self.h] = value;
                    self.next[p] = p as u32 + 1;
                    p = self.find(p + 1);
                }
            }
            pos = end;
        }
    }
}

/// An 8-bit RGB PNG of `w` × `h` pixels, each pixel's colour given by `color`.
pub(crate) fn png_rgb(w: u32, h: u32, color: impl Fn(usize) -> [u8; 3]) -> io::Result<Vec<u8>> {
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for p in 0..w as usize * h as usize {
        rgb.extend_from_slice(&color(p));
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(io::Error::other)?;
    writer.write_image_data(&rgb).map_err(io::Error::other)?;
    writer.finish().map_err(io::Error::other)?;
    Ok(out)
}

/// Writes `SegmentationClass/<item>.png` and `SegmentationObject/<item>.png`.
pub(crate) fn write_pngs<W: Write + Seek>(
    zip: &mut ZipOut<W>,
    item: &str,
    m: &Compiled,
    map: &LabelMap,
) -> io::Result<()> {
    let class = png_rgb(m.w, m.h, |p| {
        map.entries[m.labels[m.instances[p] as usize]].1
    })?;
    zip.file(&format!("SegmentationClass/{item}.png"))?
        .write_all(&class)?;
    let object = png_rgb(m.w, m.h, |p| voc_color(m.instances[p]))?;
    zip.file(&format!("SegmentationObject/{item}.png"))?
        .write_all(&object)
}

/// Writes a "Segmentation mask 1.1" export (see the module doc).
pub fn write<W: Write + Seek>(zip: &mut ZipOut<W>, e: Export<'_>) -> io::Result<()> {
    let map = LabelMap::for_masks(&e.meta.labels);
    let mut images = e.images;
    let mut listed = String::new();
    let mut seen = HashSet::new();
    for (k, f) in e.frames.iter().enumerate() {
        let objects = (e.objects)(k);
        let item = crate::yolo::item_name(&f.name);
        if !seen.insert(item.to_string()) {
            continue;
        }
        let m = compile(
            &objects.shapes,
            |t| matches!(t, ShapeType::Rectangle | ShapeType::Polygon),
            &map,
            f.width,
            f.height,
        );
        if let Some(m) = &m {
            write_pngs(zip, item, m, &map)?;
        }
        if m.is_some() || (objects.shapes.is_empty() && objects.tags.is_empty()) {
            listed.push_str(item);
            listed.push('\n');
        }
        if let Some(img) = images.as_mut() {
            let bytes = img(k)?;
            zip.stored(&format!("JPEGImages/{item}.jpg"), &bytes)?;
        }
    }
    zip.file("ImageSets/Segmentation/default.txt")?
        .write_all(listed.as_bytes())?;
    zip.file("labelmap.txt")?
        .write_all(map.to_text().as_bytes())?;
    Ok(())
}

/// A decoded mask image: per pixel either a colour or (grey images) an index.
struct Decoded {
    w: u32,
    h: u32,
    /// `0xRRGGBB` for colour images, the grey value for grey ones.
    px: Vec<u32>,
    grey: bool,
}

fn decode_png(bytes: &[u8], path: &str) -> Result<Decoded, String> {
    let bad = |e: png::DecodingError| format!("{path}: not a readable PNG image: {e}");
    let mut dec = png::Decoder::new_with_limits(
        io::Cursor::new(bytes),
        png::Limits {
            bytes: 3 * MAX_PIXELS as usize,
        },
    );
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let header = dec.read_header_info().map_err(bad)?;
    let (w, h) = (header.width, header.height);
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!("{path}: the image is too large ({w} x {h} pixels)"));
    }
    let mut reader = dec.read_info().map_err(bad)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| format!("{path}: the image is too large"))?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(bad)?;
    let buf = &buf[..info.buffer_size()];
    let n = w as usize * h as usize;
    let (px, grey) = match info.color_type {
        png::ColorType::Grayscale => (buf.iter().map(|&v| u32::from(v)).collect(), true),
        png::ColorType::GrayscaleAlpha => {
            (buf.chunks_exact(2).map(|c| u32::from(c[0])).collect(), true)
        }
        png::ColorType::Rgb => (
            buf.chunks_exact(3)
                .map(|c| u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]))
                .collect(),
            false,
        ),
        png::ColorType::Rgba => (
            buf.chunks_exact(4)
                .map(|c| u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]))
                .collect(),
            false,
        ),
        png::ColorType::Indexed => {
            return Err(format!("{path}: unsupported PNG colour type"));
        }
    };
    let px: Vec<u32> = px;
    if px.len() != n {
        return Err(format!("{path}: truncated PNG image"));
    }
    Ok(Decoded { w, h, px, grey })
}

fn rgb(v: u32) -> [u8; 3] {
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// The outlines of the 4-connected regions of every non-zero value of `ids` (`w` × `h`,
/// row-major), traced along pixel edges: for each value, in the order of the regions'
/// first pixels, a polygon `x0, y0, x1, y1, …` of corner coordinates. Holes are dropped.
/// Every polygon is taken from `budget`; tracing stops with its error when it runs out.
pub(crate) fn trace(
    ids: &[u32],
    w: u32,
    h: u32,
    budget: &mut Budget,
) -> Result<BTreeMap<u32, Vec<Vec<f64>>>, String> {
    let (w, h) = (w as i64, h as i64);
    let at = |x: i64, y: i64| -> u32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            0
        } else {
            ids[(y * w + x) as usize]
        }
    };
    // directions: right, down, left, up (y grows downwards); the region is on the right
    const STEP: [(i64, i64); 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];
    let mut visited = vec![false; ids.len()];
    let mut out: BTreeMap<u32, Vec<Vec<f64>>> = BTreeMap::new();
    for y in 0..h {
        for x in 0..w {
            let p = (y * w + x) as usize;
            let v = ids[p];
            if v == 0 || visited[p] || at(x, y - 1) == v {
                continue;
            }
            // the top edge of (x, y) starts a loop: follow it with the region on the right
            let inside = |x: i64, y: i64| at(x, y) == v;
            let (sx, sy) = (x, y);
            let (mut vx, mut vy, mut d) = (x, y, 0usize);
            let mut corners: Vec<(i64, i64)> = vec![(vx, vy)];
            let mut area2: i64 = 0;
            loop {
                if d == 0 {
                    visited[(vy * w + vx) as usize] = true;
                }
                let (nx, ny) = (vx + STEP[d].0, vy + STEP[d].1);
                area2 += vx * ny - nx * vy;
                vx = nx;
                vy = ny;
                // the pixels ahead-right and ahead-left of vertex (vx, vy)
                let (ar, al) = match d {
                    0 => ((vx, vy), (vx, vy - 1)),
                    1 => ((vx - 1, vy), (vx, vy)),
                    2 => ((vx - 1, vy - 1), (vx - 1, vy)),
                    _ => ((vx, vy - 1), (vx - 1, vy - 1)),
                };
                let nd = if !inside(ar.0, ar.1) {
                    (d + 1) % 4
                } else if !inside(al.0, al.1) {
                    d
                } else {
                    (d + 3) % 4
                };
                if (vx, vy) == (sx, sy) && nd == 0 {
                    if d == 0 {
                        // the start vertex lies inside a straight run
                        corners.remove(0);
                    }
                    break;
                }
                if nd != d {
                    corners.push((vx, vy));
                }
                d = nd;
            }
            if area2 > 0 {
                budget.take(2 * corners.len())?;
                let poly = corners
                    .iter()
                    .flat_map(|&(x, y)| [x as f64, y as f64])
                    .collect();
                out.entry(v).or_default().push(poly);
            }
        }
    }
    Ok(out)
}

/// The label-map index of every pixel of a class mask.
fn class_indices(m: &Decoded, map: &ParsedLabelMap, path: &str) -> Result<Vec<u32>, String> {
    let mut lookup: HashMap<u32, u32> = HashMap::new();
    for (i, (_, c)) in map.entries.iter().enumerate() {
        if let Some(c) = c {
            let key = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
            lookup.entry(key).or_insert(i as u32);
        }
    }
    m.px.iter()
        .enumerate()
        .map(|(p, &v)| {
            if m.grey {
                if (v as usize) < map.entries.len() {
                    Ok(v)
                } else {
                    Err(format!(
                        "{path}: class index {v} at ({}, {}) is not in the label map",
                        p % m.w as usize,
                        p / m.w as usize
                    ))
                }
            } else {
                lookup.get(&v).copied().ok_or_else(|| {
                    let c = rgb(v);
                    format!(
                        "{path}: the colour {},{},{} at ({}, {}) is not in the label map",
                        c[0],
                        c[1],
                        c[2],
                        p % m.w as usize,
                        p / m.w as usize
                    )
                })
            }
        })
        .collect()
}

/// The objects of one item's masks (see the module doc). `class` and `object` are
/// `(path, PNG bytes)`.
pub(crate) fn item_objects(
    class: Option<(&str, &[u8])>,
    object: Option<(&str, &[u8])>,
    map: &ParsedLabelMap,
    budget: &mut Budget,
) -> Result<Vec<OutShape>, String> {
    let Some((cpath, cbytes)) = class else {
        return match object {
            Some((opath, _)) => Err(format!(
                "{opath} has no class mask (SegmentationClass) to take labels from"
            )),
            None => Ok(vec![]),
        };
    };
    let cm = decode_png(cbytes, cpath)?;
    let classes = class_indices(&cm, map, cpath)?;
    let void: Vec<bool> = map
        .entries
        .iter()
        .map(|(_, c)| c.is_some_and(|c| map.void.contains(&c)))
        .collect();
    let polygon = |label: usize, points: Vec<f64>, group: i64, z: i64| OutShape {
        kind: ShapeType::Polygon,
        label: map.entries[label].0.clone(),
        occluded: false,
        z_order: z,
        points,
        group,
        attributes: vec![],
        track_id: None,
    };
    let mut out = Vec::new();
    let Some((opath, obytes)) = object else {
        let ids: Vec<u32> = classes
            .iter()
            .map(|&c| if void[c as usize] { 0 } else { c + 1 })
            .collect();
        for (id, polys) in trace(&ids, cm.w, cm.h, budget)? {
            for p in polys {
                out.push(polygon(id as usize - 1, p, 0, 0));
            }
        }
        return Ok(out);
    };
    let om = decode_png(obytes, opath)?;
    if (om.w, om.h) != (cm.w, cm.h) {
        return Err(format!(
            "{opath} is {} x {} pixels but {cpath} is {} x {}",
            om.w, om.h, cm.w, cm.h
        ));
    }
    // VOC's border colour is void (only) when there is no label map
    let border = voc_color(255);
    let border_void = !om.grey && map.void.contains(&border);
    let mut ids: Vec<u32> = om
        .px
        .into_iter()
        .map(|v| match om.grey {
            true => v,
            false if border_void && rgb(v) == border => 0,
            false => voc_index(rgb(v)),
        })
        .collect();
    // the label of each instance: the class most of its pixels have
    let mut counts: HashMap<u32, HashMap<u32, u64>> = HashMap::new();
    for (&id, &c) in ids.iter().zip(&classes) {
        if id != 0 {
            *counts.entry(id).or_default().entry(c).or_default() += 1;
        }
    }
    let labels: HashMap<u32, usize> = counts
        .iter()
        .filter_map(|(&id, c)| {
            let (&best, _) = c.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))?;
            (!void[best as usize]).then_some((id, best as usize))
        })
        .collect();
    for v in ids.iter_mut() {
        if *v != 0 && !labels.contains_key(v) {
            *v = 0;
        }
    }
    let mut group = 0;
    for (rank, (id, polys)) in trace(&ids, cm.w, cm.h, budget)?.into_iter().enumerate() {
        let Some(&label) = labels.get(&id) else {
            continue;
        };
        let g = if polys.len() > 1 {
            group += 1;
            group
        } else {
            0
        };
        for p in polys {
            out.push(polygon(label, p, g, rank as i64));
        }
    }
    Ok(out)
}

/// A file of the zip: path and content.
pub(crate) type Entry = (String, Vec<u8>);

/// The mask files of a zip, by item: `(class, object)` as `(path, bytes)`, and the label
/// map (parsed `labelmap.txt`, else the VOC classes).
pub(crate) struct MaskFiles {
    pub items: BTreeMap<String, (Option<Entry>, Option<Entry>)>,
    pub map: ParsedLabelMap,
}

/// The part of `path` after its folder `dir` (`dir/…` or `…/dir/…`), if any.
pub(crate) fn under<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    if let Some(rest) = path.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
        return Some(rest);
    }
    let i = path.find(&format!("/{dir}/"))?;
    Some(&path[i + dir.len() + 2..])
}

/// Collects the masks and label map from zip entries.
pub(crate) fn mask_files(entries: Vec<(String, Vec<u8>)>) -> Result<MaskFiles, String> {
    let mut items: BTreeMap<String, (Option<Entry>, Option<Entry>)> = BTreeMap::new();
    let mut map = None;
    for (path, bytes) in entries {
        if path == "labelmap.txt" || path.ends_with("/labelmap.txt") {
            if map.is_none() {
                let text = String::from_utf8_lossy(&bytes);
                map = Some(ParsedLabelMap::parse(&text, &path)?);
            }
            continue;
        }
        let lower = path.to_ascii_lowercase();
        if !lower.ends_with(".png") {
            continue;
        }
        let stem = |rest: &str| rest[..rest.len() - 4].to_string();
        if let Some(rest) = under(&path, "SegmentationClass") {
            let slot = items.entry(stem(rest)).or_default();
            slot.0 = Some((path, bytes));
        } else if let Some(rest) = under(&path, "SegmentationObject") {
            let slot = items.entry(stem(rest)).or_default();
            slot.1 = Some((path, bytes));
        }
    }
    Ok(MaskFiles {
        items,
        map: map.unwrap_or_else(ParsedLabelMap::voc_default),
    })
}

/// Whether a zip entry is one the mask reader wants.
pub(crate) fn wanted(path: &str) -> bool {
    path == "labelmap.txt"
        || path.ends_with("/labelmap.txt")
        || (path.to_ascii_lowercase().ends_with(".png")
            && (under(path, "SegmentationClass").is_some()
                || under(path, "SegmentationObject").is_some()))
}

/// The polygons of every item with masks, items in name order, taken from `budget`.
pub(crate) fn read_items(
    files: &MaskFiles,
    budget: &mut Budget,
) -> Result<Vec<ItemObjects>, String> {
    let mut out = Vec::new();
    for (item, (class, object)) in &files.items {
        let shapes = item_objects(
            class.as_ref().map(|(p, b)| (p.as_str(), b.as_slice())),
            object.as_ref().map(|(p, b)| (p.as_str(), b.as_slice())),
            &files.map,
            budget,
        )?;
        out.push(ItemObjects {
            item: ItemRef::Name(item.clone()),
            objects: crate::FrameObjects {
                shapes,
                tags: vec![],
            },
        });
    }
    Ok(out)
}

/// Reads a "Segmentation mask 1.1" zip (see the module doc).
pub fn read(bytes: &[u8]) -> Result<Dataset, String> {
    read_with(bytes, &mut Budget::default())
}

/// [`read`] within `budget`.
fn read_with(bytes: &[u8], budget: &mut Budget) -> Result<Dataset, String> {
    if !crate::archive::is_zip(bytes) {
        return Err("Segmentation mask files must be zip archives".into());
    }
    let files = mask_files(crate::archive::read_entries(bytes, wanted)?)?;
    if files.items.is_empty() {
        return Err(
            "The archive has no SegmentationClass/*.png or SegmentationObject/*.png mask".into(),
        );
    }
    Ok(Dataset {
        items: read_items(&files, budget)?,
        tracks: vec![],
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::{self, meta, shape};
    use crate::{FrameMeta, FrameObjects, TaskMeta};

    pub(crate) type WriteFn = fn(&mut ZipOut<io::Cursor<Vec<u8>>>, Export<'_>) -> io::Result<()>;

    /// Exports `objects` (one entry per frame) with `write_fn`, returns the zip bytes.
    pub(crate) fn export(
        write_fn: WriteFn,
        meta: &TaskMeta,
        frames: &[FrameMeta],
        objects: &[FrameObjects],
    ) -> Vec<u8> {
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        let mut calls = 0;
        let mut obj = |k: usize| {
            calls += 1;
            objects[k].clone()
        };
        write_fn(
            &mut zip,
            Export {
                meta,
                frames,
                objects: &mut obj,
                images: None,
            },
        )
        .unwrap();
        assert_eq!(calls, frames.len());
        zip.finish().unwrap().into_inner()
    }

    fn frames() -> Vec<FrameMeta> {
        testing::frames(&[("dir/a.png", 40, 30), ("b.jpg", 8, 8), ("c.jpg", 8, 8)])
    }

    fn objects() -> Vec<FrameObjects> {
        let mut hole = shape(
            ShapeType::Polygon,
            "person",
            &[2.0, 2.0, 30.0, 3.0, 28.0, 25.0, 4.0, 20.0],
            0,
        );
        hole.z_order = -1;
        vec![
            FrameObjects {
                shapes: vec![
                    // drawn first (z -1), with a later box inside it
                    hole,
                    shape(ShapeType::Rectangle, "car", &[10.5, 8.2, 16.0, 14.7], 0),
                    // two parts of one instance, the larger one a "Zebra"
                    shape(
                        ShapeType::Polygon,
                        "Zebra",
                        &[31.0, 1.0, 39.0, 1.0, 39.0, 12.0],
                        3,
                    ),
                    shape(
                        ShapeType::Polygon,
                        "car",
                        &[32.0, 20.0, 36.0, 20.0, 34.0, 27.5],
                        3,
                    ),
                    shape(ShapeType::Polyline, "car", &[1.0, 1.0, 5.0, 5.0], 0),
                ],
                tags: vec![],
            },
            FrameObjects {
                shapes: vec![],
                tags: vec![crate::OutTag {
                    label: "car".into(),
                    group: 0,
                    attributes: vec![],
                }],
            },
            FrameObjects::default(),
        ]
    }

    fn entries(zip: &[u8]) -> BTreeMap<String, Vec<u8>> {
        crate::archive::read_entries(zip, |_| true)
            .unwrap()
            .into_iter()
            .collect()
    }

    fn decode(bytes: &[u8]) -> Decoded {
        decode_png(bytes, "x.png").unwrap()
    }

    #[test]
    fn colormap() {
        assert_eq!(voc_color(0), [0, 0, 0]);
        assert_eq!(voc_color(1), [128, 0, 0]);
        assert_eq!(voc_color(15), [192, 128, 128]);
        assert_eq!(voc_color(255), [224, 224, 192]);
        for i in [0, 1, 7, 255, 256, 1000, 65_535, (1 << 24) - 1] {
            assert_eq!(voc_index(voc_color(i)), i);
        }
        let map =
            LabelMap::for_masks(&meta(&["person", "Car", "car", "zebra", "background"]).labels);
        let names: Vec<&str> = map.entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["background", "Car", "car", "person", "zebra"]);
        assert_eq!(map.entries[0].1, [0, 0, 0]);
        assert_eq!(map.entries[1].1, voc_color(7)); // first claimant of VOC "car"
        assert_eq!(map.entries[3].1, voc_color(15));
        let colors: HashSet<[u8; 3]> = map.entries.iter().map(|e| e.1).collect();
        assert_eq!(colors.len(), 5);
        // the same names give the same colours whatever the other labels are
        let other = LabelMap::for_masks(&meta(&["zebra"]).labels);
        assert_eq!(other.entries[1], map.entries[4]);
        assert_eq!(
            LabelMap::for_voc(&meta(&["car", "background", "dog"]).labels).to_text(),
            "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:128,0,0::\ndog:0,128,0::\n"
        );
    }

    /// A small deterministic generator for the tracing test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn traced_outlines_rasterise_to_their_regions() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..300 {
            let (w, h) = (1 + rng.next(24) as u32, 1 + rng.next(20) as u32);
            let mut ids = vec![0u32; (w * h) as usize];
            for _ in 0..rng.next(6) {
                let id = 1 + rng.next(4) as u32;
                let (x0, y0) = (rng.next(w as u64) as u32, rng.next(h as u64) as u32);
                let (x1, y1) = (
                    (x0 + 1 + rng.next(10) as u32).min(w),
                    (y0 + 1 + rng.next(10) as u32).min(h),
                );
                for y in y0..y1 {
                    for x in x0..x1 {
                        ids[(y * w + x) as usize] = id;
                    }
                }
            }
            // noise: single pixels make diagonal contacts and holes
            for p in ids.iter_mut() {
                if rng.next(4) == 0 {
                    *p = rng.next(5) as u32;
                }
            }
            let traced = trace(&ids, w, h, &mut Budget::default()).unwrap();
            for id in 1..5u32 {
                let region: Vec<bool> = ids.iter().map(|&v| v == id).collect();
                // pixels outside the region reachable from the border through
                // 8-connected non-region pixels: the rest are holes
                let mut outside = vec![false; region.len()];
                let mut stack: Vec<(i64, i64)> = Vec::new();
                for y in 0..h as i64 {
                    for x in 0..w as i64 {
                        if (x == 0 || y == 0 || x == w as i64 - 1 || y == h as i64 - 1)
                            && !region[(y * w as i64 + x) as usize]
                        {
                            stack.push((x, y));
                        }
                    }
                }
                while let Some((x, y)) = stack.pop() {
                    if x < 0 || y < 0 || x >= w as i64 || y >= h as i64 {
                        continue;
                    }
                    let p = (y * w as i64 + x) as usize;
                    if region[p] || outside[p] {
                        continue;
                    }
                    outside[p] = true;
                    for dy in -1..=1 {
                        for dx in -1..=1 {
                            stack.push((x + dx, y + dy));
                        }
                    }
                }
                let polys = traced.get(&id).cloned().unwrap_or_default();
                let rles: Vec<Rle> = polys
                    .iter()
                    .map(|p| raster::from_polygon(p, h, w))
                    .collect();
                let got = if rles.is_empty() {
                    vec![false; region.len()]
                } else {
                    raster::to_mask(&raster::merge_union(&rles))
                };
                for p in 0..region.len() {
                    assert_eq!(
                        got[p],
                        !outside[p],
                        "round {round}, id {id}, pixel ({}, {}) in {w}x{h}: {ids:?} {polys:?}",
                        p as u32 % w,
                        p as u32 / w
                    );
                }
                // every polygon is a 4-connected region: as many as regions
                for p in &polys {
                    assert!(p.len() >= 8 && p.len() % 2 == 0);
                }
            }
        }
    }

    #[test]
    fn export_layout_and_stable_round_trip() {
        let meta = meta(&["car", "person", "Zebra"]);
        let frames = frames();
        let zip = export(write, &meta, &frames, &objects());
        let files = entries(&zip);
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "ImageSets/Segmentation/default.txt",
                "SegmentationClass/dir/a.png",
                "SegmentationObject/dir/a.png",
                "labelmap.txt"
            ]
        );
        // the tagged frame has no mask and is not listed (as Datumaro)
        assert_eq!(files["ImageSets/Segmentation/default.txt"], b"dir/a\nc\n");
        let map = LabelMap::for_masks(&meta.labels);
        assert_eq!(
            String::from_utf8_lossy(&files["labelmap.txt"]),
            map.to_text()
        );
        let class = decode(&files["SegmentationClass/dir/a.png"]);
        let object = decode(&files["SegmentationObject/dir/a.png"]);
        assert_eq!((class.w, class.h, class.grey), (40, 30, false));
        let at = |m: &Decoded, x: usize, y: usize| rgb(m.px[y * 40 + x]);
        let color = |n: &str| map.entries[map.index(n).unwrap()].1;
        // the box (instance 2) painted over the z=-1 polygon (instance 1)
        assert_eq!(at(&class, 12, 10), color("car"));
        assert_eq!(at(&object, 12, 10), voc_color(2));
        assert_eq!(at(&class, 6, 6), color("person"));
        assert_eq!(at(&object, 6, 6), voc_color(1));
        // the group takes the label of its larger part
        assert_eq!(at(&class, 34, 22), color("Zebra"));
        assert_eq!(at(&object, 34, 22), voc_color(3));
        assert_eq!(at(&class, 0, 29), [0, 0, 0]);

        let got = read(&zip).unwrap();
        assert_eq!(got.items.len(), 1);
        assert_eq!(got.items[0].item, ItemRef::Name("dir/a".into()));
        let shapes = &got.items[0].objects.shapes;
        let summary: Vec<(&str, i64, i64)> = shapes
            .iter()
            .map(|s| (s.label.as_str(), s.group, s.z_order))
            .collect();
        assert_eq!(
            summary,
            [
                ("person", 0, 0),
                ("car", 0, 1),
                ("Zebra", 1, 2),
                ("Zebra", 1, 2)
            ]
        );
        assert_eq!(
            shapes[1].points,
            [11.0, 8.0, 16.0, 8.0, 16.0, 15.0, 11.0, 15.0]
        );
        // exporting what was read gives identical masks
        let again = vec![
            FrameObjects {
                shapes: shapes.clone(),
                tags: vec![],
            },
            FrameObjects::default(),
            FrameObjects::default(),
        ];
        let zip2 = export(write, &meta, &frames, &again);
        let files2 = entries(&zip2);
        for f in [
            "SegmentationClass/dir/a.png",
            "SegmentationObject/dir/a.png",
        ] {
            assert_eq!(files[f], files2[f], "{f}");
        }
    }

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = ZipOut::new(io::Cursor::new(Vec::new()));
        for (p, b) in files {
            z.file(p).unwrap().write_all(b).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_class_only_grey_and_voc_default_masks() {
        // a grey class mask (indices), no object mask, no label map: VOC classes
        let mut grey = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut grey, 4, 3);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[7, 7, 0, 15, 7, 0, 0, 15, 21, 21, 0, 15])
                .unwrap();
        }
        let got = read(&zip_of(&[("root/SegmentationClass/x.png", &grey)])).unwrap();
        let shapes = &got.items[0].objects.shapes;
        let labels: Vec<&str> = shapes.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["car", "person"]);
        assert_eq!(
            shapes[0].points,
            [0.0, 0.0, 2.0, 0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 0.0, 2.0]
        );
        // an object mask with VOC's border colour: the border is no object
        let border = png_rgb(2, 1, |p| if p == 0 { voc_color(1) } else { voc_color(255) }).unwrap();
        let class = png_rgb(2, 1, |p| {
            if p == 0 {
                voc_color(12)
            } else {
                voc_color(255)
            }
        })
        .unwrap();
        let got = read(&zip_of(&[
            ("SegmentationObject/y.png", &border),
            ("SegmentationClass/y.png", &class),
        ]))
        .unwrap();
        let shapes = &got.items[0].objects.shapes;
        assert_eq!(shapes.len(), 1);
        assert_eq!(shapes[0].label, "dog");
    }

    #[test]
    fn bad_input() {
        assert!(read(b"not a zip").unwrap_err().contains("zip"));
        assert!(
            read(&zip_of(&[("labelmap.txt", b"a:0,0,0::\n")]))
                .unwrap_err()
                .contains("no")
        );
        let red = png_rgb(2, 2, |_| [255, 0, 0]).unwrap();
        let err = read(&zip_of(&[
            ("labelmap.txt", b"background:0,0,0::\ncar:128,0,0::\n"),
            ("SegmentationClass/a.png", &red),
        ]))
        .unwrap_err();
        assert!(
            err.contains("SegmentationClass/a.png") && err.contains("255,0,0"),
            "{err}"
        );
        let err = read(&zip_of(&[("SegmentationObject/a.png", &red)])).unwrap_err();
        assert!(err.contains("class mask"), "{err}");
        let small = png_rgb(1, 1, |_| [0, 0, 0]).unwrap();
        let err = read(&zip_of(&[
            ("SegmentationObject/a.png", &red),
            ("SegmentationClass/a.png", &small),
        ]))
        .unwrap_err();
        assert!(err.contains("pixels"), "{err}");
        let err = read(&zip_of(&[("SegmentationClass/a.png", b"\x89PNG junk")])).unwrap_err();
        assert!(err.contains("SegmentationClass/a.png"), "{err}");
        let err = read(&zip_of(&[
            ("labelmap.txt", b"car:1,2::\n"),
            ("SegmentationClass/a.png", &red),
        ]))
        .unwrap_err();
        assert!(err.contains("labelmap.txt, line 1"), "{err}");
        let err = read(&zip_of(&[
            ("labelmap.txt", b"just a name\n"),
            ("SegmentationClass/a.png", &red),
        ]))
        .unwrap_err();
        assert!(err.contains("labelmap.txt, line 1"), "{err}");
    }

    #[test]
    fn checkerboard_stops_at_the_budget() {
        // every pixel its own region: one polygon per pixel
        let (a, b) = (voc_color(1), voc_color(2));
        let board = png_rgb(8, 8, |p| if (p % 8 + p / 8) % 2 == 0 { a } else { b }).unwrap();
        let zip = zip_of(&[("SegmentationClass/x.png", &board)]);
        assert_eq!(read(&zip).unwrap().items[0].objects.shapes.len(), 64);
        let err = read_with(&zip, &mut Budget::new(63, 1000)).unwrap_err();
        assert!(err.contains("more than 63 objects"), "{err}");
        let err = read_with(&zip, &mut Budget::new(100, 64 * 8 - 1)).unwrap_err();
        assert!(err.contains("more than 511 coordinates"), "{err}");
        assert!(read_with(&zip, &mut Budget::new(64, 64 * 8)).is_ok());
        // tracing itself stops at the budget
        let ids: Vec<u32> = (0..64).map(|p| 1 + (p % 8 + p / 8) % 2).collect();
        let mut budget = Budget::new(10, 1000);
        assert!(trace(&ids, 8, 8, &mut budget).is_err());
        assert_eq!(budget.left().0, 0);
    }

    #[test]
    fn label_map_names_stay_on_their_line() {
        let map = LabelMap::for_masks(&meta(&["a:b", "c\nd", "e\r\nf"]).labels);
        let text = map.to_text();
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.contains("\na_b:") && text.contains("\nc d:") && text.contains("\ne  f:"));
        let parsed = ParsedLabelMap::parse(&text, "labelmap.txt").unwrap();
        let names: Vec<&str> = parsed.entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["background", "a_b", "c d", "e  f"]);
    }

    #[test]
    fn label_map_duplicates_in_linear_time() {
        let err = ParsedLabelMap::parse("a:1,2,3::\nb:4,5,6::\na:7,8,9::\n", "m.txt").unwrap_err();
        assert!(err.contains("line 3") && err.contains("twice"), "{err}");
        // 100 000 labels: comparing each with the earlier ones took minutes
        let text: String = (0..100_000u32)
            .map(|i| {
                let c = voc_color(i + 1);
                format!("label{i}:{},{},{}::\n", c[0], c[1], c[2])
            })
            .collect();
        let start = std::time::Instant::now();
        let parsed = ParsedLabelMap::parse(&text, "m.txt").unwrap();
        assert_eq!(parsed.entries.len(), 100_001);
        assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
    }

    /// The masks of `shapes` painted the plain way: every instance in turn, over the
    /// earlier ones.
    fn naive_paint(shapes: &[OutShape], map: &LabelMap, w: u32, h: u32) -> Vec<u32> {
        let mut c = compile(shapes, |_| true, map, w as i64, h as i64).unwrap();
        c.instances.iter_mut().for_each(|v| *v = 0);
        // rebuild the instances' masks in their order
        let mut rles = Vec::new();
        let mut sorted: Vec<&OutShape> = shapes.iter().collect();
        sorted.sort_by_key(|s| s.z_order);
        for s in sorted {
            rles.push(raster::from_polygon(&s.points, h, w));
        }
        for (k, r) in rles.iter().enumerate() {
            raster::paint(r, &mut c.instances, k as u32 + 1);
        }
        c.instances
    }

    #[test]
    fn painting_top_down_gives_the_same_masks_and_costs_the_pixels() {
        let map = LabelMap::for_masks(&meta(&["car"]).labels);
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..200 {
            let (w, h) = (1 + rng.next(30) as u32, 1 + rng.next(30) as u32);
            let shapes: Vec<OutShape> = (0..1 + rng.next(8))
                .map(|i| {
                    let mut p = || rng.next(40) as f64 - 5.0 + rng.next(4) as f64 / 4.0;
                    let pts = [p(), p(), p(), p(), p(), p(), p(), p()];
                    let mut s = shape(ShapeType::Polygon, "car", &pts, 0);
                    s.z_order = i as i64 % 3;
                    s
                })
                .collect();
            let got = compile(&shapes, |_| true, &map, w as i64, h as i64).unwrap();
            assert_eq!(got.instances, naive_paint(&shapes, &map, w, h));
        }
        // 2000 instances covering a 4 x 1 000 000 frame: painting each over the others
        // wrote 8·10⁹ pixels
        let full: Vec<OutShape> = (0..2000)
            .map(|i| {
                let d = (i % 7) as f64;
                shape(ShapeType::Rectangle, "car", &[-d, -d, 4.0 + d, 1e6 + d], 0)
            })
            .collect();
        let start = std::time::Instant::now();
        let got = compile(&full, |_| true, &map, 4, 1_000_000).unwrap();
        assert!(got.instances.iter().all(|&v| v == 2000));
        assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
    }
}
