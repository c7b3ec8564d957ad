//! Annotation formats (api-v1 §10): the list the API shows, and the exporters and
//! importers over a neutral model that `ferrocat-core` fills from the store.
//!
//! An exporter gets the task's metadata ([`TaskMeta`]), its frames ([`FrameMeta`]) and,
//! frame by frame, the objects to write ([`FrameObjects`]: standalone shapes, the
//! per-frame shapes of tracks already interpolated, and tags), so it never sees the
//! database and writes its file while the objects are produced.

pub mod archive;
pub mod coco;
pub mod cvat_images;
pub mod cvat_import;
pub mod cvat_video;
pub mod datumaro;
pub mod labelme;
pub mod mask;
pub mod mot;
pub mod raster;
pub mod tfrecord;
pub mod voc;
mod xml;
pub mod yolo;

use serde::Serialize;

/// One entry of `GET /server/annotation/formats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FormatInfo {
    pub name: &'static str,
    pub ext: &'static str,
    pub version: &'static str,
    pub enabled: bool,
}

const fn f(
    name: &'static str,
    ext: &'static str,
    version: &'static str,
    enabled: bool,
) -> FormatInfo {
    FormatInfo {
        name,
        ext,
        version,
        enabled,
    }
}

/// Importers in CVAT's order; `enabled` says which ferrocat implements.
pub const IMPORTERS: [FormatInfo; 8] = [
    f("COCO 1.0", "JSON, ZIP", "1.0", true),
    f("CVAT 1.1", "XML, ZIP", "1.1", true),
    f("LabelMe 3.0", "ZIP", "3.0", true),
    f("Segmentation mask 1.1", "ZIP", "1.1", true),
    f("MOT 1.1", "ZIP", "1.1", true),
    f("PASCAL VOC 1.1", "ZIP", "1.1", true),
    f("TFRecord 1.0", "ZIP", "1.0", true),
    f("YOLO 1.1", "ZIP", "1.1", true),
];

/// Exporters in CVAT's order; `enabled` says which ferrocat implements.
pub const EXPORTERS: [FormatInfo; 10] = [
    f("COCO 1.0", "ZIP", "1.0", true),
    f("CVAT for video 1.1", "ZIP", "1.1", true),
    f("CVAT for images 1.1", "ZIP", "1.1", true),
    f("Datumaro 1.0", "ZIP", "1.0", true),
    f("LabelMe 3.0", "ZIP", "3.0", true),
    f("Segmentation mask 1.1", "ZIP", "1.1", true),
    f("MOT 1.1", "ZIP", "1.1", true),
    f("PASCAL VOC 1.1", "ZIP", "1.1", true),
    f("TFRecord 1.0", "ZIP", "1.0", true),
    f("YOLO 1.1", "ZIP", "1.1", true),
];

/// An exporter ferrocat implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exporter {
    Coco,
    CvatImages,
    CvatVideo,
    Datumaro,
    LabelMe,
    Mask,
    Mot,
    Voc,
    TfRecord,
    Yolo,
}

/// An importer ferrocat implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importer {
    Coco,
    Cvat,
    LabelMe,
    Mask,
    Mot,
    Voc,
    TfRecord,
    Yolo,
}

pub fn importer(name: &str) -> Lookup<Importer> {
    use Importer::*;
    lookup(
        &IMPORTERS,
        name,
        &[
            ("COCO 1.0", Coco),
            ("CVAT 1.1", Cvat),
            ("LabelMe 3.0", LabelMe),
            ("Segmentation mask 1.1", Mask),
            ("MOT 1.1", Mot),
            ("PASCAL VOC 1.1", Voc),
            ("TFRecord 1.0", TfRecord),
            ("YOLO 1.1", Yolo),
        ],
    )
}

/// What `name` means in `list`: unknown, listed but disabled, or the implementation
/// `known` pairs with it.
fn lookup<T: Copy>(list: &[FormatInfo], name: &str, known: &[(&str, T)]) -> Lookup<T> {
    match list.iter().find(|f| f.name == name) {
        None => Lookup::Unknown,
        Some(f) if !f.enabled => Lookup::Disabled,
        Some(f) => known
            .iter()
            .find(|(n, _)| *n == f.name)
            .map_or(Lookup::Disabled, |(_, t)| Lookup::Ready(*t)),
    }
}

/// Writes an item-based export (every exporter but the two CVAT XML ones, which the
/// caller writes with [`cvat_images::write_xml`] and [`cvat_video::write_xml`]).
pub fn write<W: std::io::Write + std::io::Seek>(
    exporter: Exporter,
    zip: &mut archive::ZipOut<W>,
    e: Export<'_>,
) -> std::io::Result<()> {
    match exporter {
        Exporter::Coco => coco::write(zip, e),
        Exporter::Datumaro => datumaro::write(zip, e),
        Exporter::LabelMe => labelme::write(zip, e),
        Exporter::Mask => mask::write(zip, e),
        Exporter::Mot => mot::write(zip, e),
        Exporter::Voc => voc::write(zip, e),
        Exporter::TfRecord => tfrecord::write(zip, e),
        Exporter::Yolo => yolo::write(zip, e),
        Exporter::CvatImages | Exporter::CvatVideo => Err(std::io::Error::other(
            "the CVAT XML exporters are written by the caller",
        )),
    }
}

/// Reads an import into the common model (every importer but YOLO, whose boxes are
/// normalised to image sizes the file does not hold).
pub fn read(importer: Importer, bytes: &[u8]) -> Result<Dataset, String> {
    match importer {
        Importer::Coco => coco::read(bytes),
        Importer::LabelMe => labelme::read(bytes),
        Importer::Mask => mask::read(bytes),
        Importer::Mot => mot::read(bytes),
        Importer::Voc => voc::read(bytes),
        Importer::TfRecord => tfrecord::read(bytes),
        Importer::Cvat => cvat_import::read(bytes).map(cvat_import::Imported::into_dataset),
        Importer::Yolo => Err("YOLO files are read with yolo::read".to_string()),
    }
}

/// What a format name means for an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<T> {
    Unknown,
    Disabled,
    Ready(T),
}

pub fn exporter(name: &str) -> Lookup<Exporter> {
    use Exporter::*;
    lookup(
        &EXPORTERS,
        name,
        &[
            ("COCO 1.0", Coco),
            ("CVAT for images 1.1", CvatImages),
            ("CVAT for video 1.1", CvatVideo),
            ("Datumaro 1.0", Datumaro),
            ("LabelMe 3.0", LabelMe),
            ("Segmentation mask 1.1", Mask),
            ("MOT 1.1", Mot),
            ("PASCAL VOC 1.1", Voc),
            ("TFRecord 1.0", TfRecord),
            ("YOLO 1.1", Yolo),
        ],
    )
}

/// An attribute spec of a label.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrMeta {
    pub id: i64,
    pub name: String,
    pub mutable: bool,
    pub input_type: String,
    pub default_value: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LabelMeta {
    pub id: i64,
    pub name: String,
    pub attributes: Vec<AttrMeta>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentMeta {
    pub id: i64,
    pub start: i64,
    pub stop: i64,
    pub url: String,
}

/// `(username, email)`.
pub type Person = (String, String);

/// What the file says about the task. Dates are already rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMeta {
    pub id: i64,
    pub name: String,
    pub size: i64,
    pub mode: String,
    pub overlap: i64,
    pub bug_tracker: String,
    pub created: String,
    pub updated: String,
    pub start_frame: i64,
    pub stop_frame: i64,
    pub frame_filter: String,
    pub z_order: bool,
    pub labels: Vec<LabelMeta>,
    pub segments: Vec<SegmentMeta>,
    pub owner: Option<Person>,
    pub assignee: Option<Person>,
    pub dumped: String,
    /// The video's base name for video tasks (`<source>` of CVAT's XML, §10.5).
    pub source: Option<String>,
}

/// One task frame: its absolute (source) number, name and size.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameMeta {
    pub abs: i64,
    pub name: String,
    pub width: i64,
    pub height: i64,
}

/// A shape on one frame, labels and attributes resolved to names.
#[derive(Debug, Clone, PartialEq)]
pub struct OutShape {
    pub kind: ferrocat_wire::annotations::ShapeType,
    pub label: String,
    pub occluded: bool,
    pub z_order: i64,
    pub points: Vec<f64>,
    pub group: i64,
    pub attributes: Vec<(String, String)>,
    /// For a shape of a track: the track's number (0, 1, … in the task's track order).
    pub track_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutTag {
    pub label: String,
    pub group: i64,
    pub attributes: Vec<(String, String)>,
}

/// The objects of one frame, in the order they are written: standalone shapes, then
/// track-derived shapes, then tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameObjects {
    pub shapes: Vec<OutShape>,
    pub tags: Vec<OutTag>,
}

/// One element of a track in "CVAT for video": a keyframe or an interpolated shape.
#[derive(Debug, Clone, PartialEq)]
pub struct OutTrackShape {
    /// Absolute frame number.
    pub frame: i64,
    pub kind: ferrocat_wire::annotations::ShapeType,
    pub outside: bool,
    pub occluded: bool,
    pub keyframe: bool,
    pub z_order: i64,
    pub points: Vec<f64>,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutTrack {
    pub label: String,
    pub group: i64,
    pub shapes: Vec<OutTrackShape>,
}

/// Text escaped for XML element content: markup characters as entities, characters
/// XML cannot hold dropped (tabs and line breaks stay as they are).
pub fn xml_escape(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, false)
}

/// Text escaped for an XML attribute value: as [`xml_escape`], and tabs and line breaks
/// as character references, so that a reader gets them back.
pub fn xml_attr(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, attr: bool) -> std::borrow::Cow<'_, str> {
    let special = |c: char| {
        matches!(c, '&' | '<' | '>' | '"' | '\'')
            || (c as u32) < 0x20
            || c == '\u{FFFE}'
            || c == '\u{FFFF}'
    };
    if !s.chars().any(special) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' if attr => out.push_str("&#13;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' | '\r' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            xml_escape("a<b>&\"c'\n\td\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&apos;\n\td"
        );
        assert_eq!(xml_attr("x\ny\tz\r"), "x&#10;y&#9;z&#13;");
        assert!(matches!(xml_escape("plain"), std::borrow::Cow::Borrowed(_)));
        assert!(cvat_import::is_metadata("__MACOSX/._a.xml"));
        assert!(cvat_import::is_metadata("dir/.hidden.xml"));
        assert!(!cvat_import::is_metadata("dir/annotations.xml"));
    }

    #[test]
    fn budget_runs_out() {
        let mut b = Budget::new(2, 10);
        b.take(4).unwrap();
        assert_eq!(b.left(), (1, 6));
        assert_eq!(
            b.take(7).unwrap_err(),
            "The file holds more than 10 coordinates"
        );
        b.take(6).unwrap();
        assert_eq!(b.take(0).unwrap_err(), "The file holds more than 2 objects");
        assert_eq!(Budget::default().left(), (MAX_SHAPES, MAX_POINTS));
    }
}

/// What an item-based exporter writes from: the task, its frames, the objects of
/// frame `k` (0-based task frame), and, for `dataset` exports, the JPEG image of
/// frame `k`.
///
/// Exporters call `objects` once per frame in frame order and `image` at most once
/// per frame, so the caller may produce both lazily.
pub struct Export<'a> {
    pub meta: &'a TaskMeta,
    pub frames: &'a [FrameMeta],
    pub objects: &'a mut dyn FnMut(usize) -> FrameObjects,
    pub images: Option<&'a mut dyn FnMut(usize) -> std::io::Result<Vec<u8>>>,
}

/// A reference from an imported file to a task frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemRef {
    /// An item (image) name, matched as api-v1 §10.4 says: base name without
    /// extension against the frames' names, else an integer item id as frame number.
    Name(String),
    /// A 0-based task frame, as formats that number frames themselves give it (MOT).
    Frame(i64),
    /// An absolute (source) frame number, `start_frame + k * step` (§10.4), as CVAT
    /// XML gives it.
    Abs(i64),
}

/// The objects an importer found for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemObjects {
    pub item: ItemRef,
    pub objects: FrameObjects,
}

/// A track read from a file: its shapes in any order (the caller sorts), each with
/// its item and whether the object is outside there. All are keyframes.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportTrack {
    pub label: String,
    pub group: i64,
    pub shapes: Vec<(ItemRef, OutShape, bool)>,
}

/// Most objects (shapes, boxes, annotations) one import may hold: a small hostile file
/// (a checkerboard mask, a long list of tiny boxes) must not expand into gigabytes.
pub const MAX_SHAPES: usize = 1_000_000;
/// Most coordinates (numbers of all shapes' points) one import may hold.
pub const MAX_POINTS: usize = 50_000_000;

/// What is left of an import's allowance of [`MAX_SHAPES`] objects and [`MAX_POINTS`]
/// coordinates; readers take from it as they go and fail when it runs out.
#[derive(Debug, Clone)]
pub struct Budget {
    max_shapes: usize,
    max_points: usize,
    shapes: usize,
    points: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(MAX_SHAPES, MAX_POINTS)
    }
}

impl Budget {
    /// An allowance of `shapes` objects and `points` coordinates.
    pub fn new(shapes: usize, points: usize) -> Budget {
        Budget {
            max_shapes: shapes,
            max_points: points,
            shapes,
            points,
        }
    }

    /// Takes one object of `points` coordinates.
    pub fn take(&mut self, points: usize) -> Result<(), String> {
        self.take_many(1, points)
    }

    /// Takes `shapes` objects of `points` coordinates in all.
    pub fn take_many(&mut self, shapes: usize, points: usize) -> Result<(), String> {
        if shapes > self.shapes {
            return Err(self.shapes_error());
        }
        if points > self.points {
            return Err(self.points_error());
        }
        self.shapes -= shapes;
        self.points -= points;
        Ok(())
    }

    /// The objects and coordinates still allowed.
    pub fn left(&self) -> (usize, usize) {
        (self.shapes, self.points)
    }

    /// The error of running out of objects.
    pub fn shapes_error(&self) -> String {
        format!("The file holds more than {} objects", self.max_shapes)
    }

    /// The error of running out of coordinates.
    pub fn points_error(&self) -> String {
        format!("The file holds more than {} coordinates", self.max_points)
    }
}

/// What an item-based importer read: labels and attributes by name, frames by
/// [`ItemRef`]. `OutShape::track_id` is ignored on import.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    pub items: Vec<ItemObjects>,
    pub tracks: Vec<ImportTrack>,
}

/// Builders for the formats' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A plain shape: not occluded, z 0, no attributes, not of a track.
    pub fn shape(
        kind: ferrocat_wire::annotations::ShapeType,
        label: &str,
        points: &[f64],
        group: i64,
    ) -> OutShape {
        OutShape {
            kind,
            label: label.into(),
            occluded: false,
            z_order: 0,
            points: points.to_vec(),
            group,
            attributes: vec![],
            track_id: None,
        }
    }

    /// A task with these labels (ids 1, 2, …, no attributes) and one segment.
    pub fn meta(labels: &[&str]) -> TaskMeta {
        TaskMeta {
            id: 1,
            name: "task".into(),
            size: 2,
            mode: "annotation".into(),
            overlap: 0,
            bug_tracker: String::new(),
            created: String::new(),
            updated: String::new(),
            start_frame: 0,
            stop_frame: 1,
            frame_filter: String::new(),
            z_order: false,
            labels: labels
                .iter()
                .enumerate()
                .map(|(i, n)| LabelMeta {
                    id: i as i64 + 1,
                    name: n.to_string(),
                    attributes: vec![],
                })
                .collect(),
            segments: vec![],
            owner: None,
            assignee: None,
            dumped: String::new(),
            source: None,
        }
    }

    /// Frames of these names and sizes, numbered 0, 1, …
    pub fn frames(frames: &[(&str, i64, i64)]) -> Vec<FrameMeta> {
        frames
            .iter()
            .enumerate()
            .map(|(i, &(name, width, height))| FrameMeta {
                abs: i as i64,
                name: name.to_string(),
                width,
                height,
            })
            .collect()
    }
}
