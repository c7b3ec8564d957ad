//! Annotation documents (api-v1 §9.1): tags, shapes, tracks and their keyframes.
//!
//! These structs are also ferrocat's in-memory annotation model: the CVAT model is the
//! domain here, and a job of 100,000 shapes must not be copied between look-alike types
//! on every request.
//!
//! Reading a request body has two paths that give the same result:
//! * the fast path deserializes straight into the structs (integers, floats, strings and
//!   booleans of the right JSON type; `spec_id` as a number or a numeric string) and then
//!   checks value ranges;
//! * when the fast path refuses, the body is read again as a JSON value by a DRF-style
//!   reader that accepts everything DRF accepts (numeric strings for numbers, `"true"` for
//!   booleans, numbers for strings) and reports every problem at once in DRF's nested
//!   error shape (`{"shapes": [{}, {"points": ["…"]}]}`).
//!
//! Serialization follows CVAT's key order (§9.1); the document itself is rendered as
//! `version, tracks, shapes, tags`, as the seed shows.

mod parallel;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::fields::{NOT_BOOL, NOT_INT, NULL, REQUIRED, parse_bool, parse_int};

/// Longest attribute value (CVAT's `max_length`).
pub const MAX_VALUE_LEN: usize = 4096;
const NOT_NUMBER: &str = "A valid number is required.";
const NOT_STRING: &str = "Not a valid string.";
const MIN_ZERO: &str = "Ensure this value is greater than or equal to 0.";
const EMPTY_LIST: &str = "This list may not be empty.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShapeType {
    Rectangle,
    Polygon,
    Polyline,
    Points,
    Cuboid,
}

impl ShapeType {
    pub const ALL: [ShapeType; 5] = [
        ShapeType::Rectangle,
        ShapeType::Polygon,
        ShapeType::Polyline,
        ShapeType::Points,
        ShapeType::Cuboid,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ShapeType::Rectangle => "rectangle",
            ShapeType::Polygon => "polygon",
            ShapeType::Polyline => "polyline",
            ShapeType::Points => "points",
            ShapeType::Cuboid => "cuboid",
        }
    }

    pub fn parse(s: &str) -> Option<ShapeType> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The small integer the store keeps.
    pub fn code(self) -> i16 {
        self as i16
    }

    pub fn from_code(c: i16) -> Option<ShapeType> {
        Self::ALL.get(usize::try_from(c).ok()?).copied()
    }

    /// Why `points` do not fit this type (the recommended checks of §9.2), if they don't.
    pub fn points_problem(self, n: usize) -> Option<String> {
        if n == 0 {
            return Some(EMPTY_LIST.into());
        }
        match self {
            ShapeType::Rectangle if n != 4 => {
                Some(format!("A rectangle needs exactly 4 numbers, got {n}."))
            }
            ShapeType::Cuboid if n != 16 => {
                Some(format!("A cuboid needs exactly 16 numbers, got {n}."))
            }
            _ if !n.is_multiple_of(2) => Some(format!(
                "Points must be x, y pairs: an even count of numbers, got {n}."
            )),
            _ => None,
        }
    }
}

/// `{"spec_id": 11, "value": "BMW"}`; `spec_id` may arrive as a numeric string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttributeValue {
    #[serde(deserialize_with = "int_or_numeric_string")]
    pub spec_id: i64,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tag {
    #[serde(default)]
    pub id: Option<i64>,
    pub frame: i64,
    pub label_id: i64,
    #[serde(deserialize_with = "required_option")]
    #[schema(required = true)]
    pub group: Option<i64>,
    pub attributes: Vec<AttributeValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: ShapeType,
    pub occluded: bool,
    #[serde(default)]
    pub z_order: i64,
    pub points: Vec<f64>,
    #[serde(default)]
    pub id: Option<i64>,
    pub frame: i64,
    pub label_id: i64,
    #[serde(deserialize_with = "required_option")]
    #[schema(required = true)]
    pub group: Option<i64>,
    pub attributes: Vec<AttributeValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrackedShape {
    #[serde(rename = "type")]
    pub kind: ShapeType,
    pub occluded: bool,
    #[serde(default)]
    pub z_order: i64,
    pub points: Vec<f64>,
    #[serde(default)]
    pub id: Option<i64>,
    pub frame: i64,
    pub outside: bool,
    pub attributes: Vec<AttributeValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Track {
    #[serde(default)]
    pub id: Option<i64>,
    pub frame: i64,
    pub label_id: i64,
    #[serde(deserialize_with = "required_option")]
    #[schema(required = true)]
    pub group: Option<i64>,
    pub shapes: Vec<TrackedShape>,
    pub attributes: Vec<AttributeValue>,
}

/// A LabeledData document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LabeledData {
    pub version: i64,
    pub tracks: Vec<Track>,
    pub shapes: Vec<Shape>,
    pub tags: Vec<Tag>,
}

/// A document serialized from borrowed lists with a given version (write responses
/// without copying the objects).
#[derive(Serialize)]
pub struct DocumentRef<'a> {
    pub version: i64,
    pub tracks: &'a [Track],
    pub shapes: &'a [Shape],
    pub tags: &'a [Tag],
}

impl LabeledData {
    /// This document as JSON with `version` in place of its own.
    pub fn to_json_with_version(&self, version: i64) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json_with_version(version, &mut out);
        out
    }

    /// Appends this document as JSON with `version` in place of its own to `out`.
    pub fn write_json_with_version(&self, version: i64, out: &mut Vec<u8>) {
        let doc = DocumentRef {
            version,
            tracks: &self.tracks,
            shapes: &self.shapes,
            tags: &self.tags,
        };
        // Writing into a Vec fails only on a non-string map key, which these types lack.
        let _ = serde_json::to_writer(out, &doc);
    }

    /// Number of objects (tags, shapes and tracks).
    pub fn len(&self) -> usize {
        self.tags.len() + self.shapes.len() + self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn int_or_numeric_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrStr<'a> {
        Int(i64),
        Str(&'a str),
    }
    match IntOrStr::deserialize(d)? {
        IntOrStr::Int(i) => Ok(i),
        IntOrStr::Str(s) => s
            .parse()
            .map_err(|_| serde::de::Error::custom("spec_id is not an integer")),
    }
}

/// An `Option` whose key must be present (DRF `required=True, allow_null=True`).
fn required_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<i64>::deserialize(d)
}

/// Bodies from which the shapes are parsed on two threads ([`parallel`]).
const PARALLEL_PARSE_FROM: usize = 1 << 20;

/// Reads a request document (§9.1). `Err` holds DRF's error body.
pub fn parse_document(body: &[u8]) -> Result<LabeledData, Value> {
    if body.len() >= PARALLEL_PARSE_FROM
        && let Some(doc) = parallel::parse(body)
        && fast_path_ok(&doc)
    {
        return Ok(doc);
    }
    if let Ok(doc) = serde_json::from_slice::<LabeledData>(body)
        && fast_path_ok(&doc)
    {
        return Ok(doc);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| json!({ "detail": format!("JSON parse error - {e}") }))?;
    read_document(&v)
}

/// The checks serde cannot express; anything refused here is read again by the slow path
/// for its error message.
fn fast_path_ok(d: &LabeledData) -> bool {
    let attrs_ok = |a: &[AttributeValue]| a.iter().all(|a| a.value.len() <= MAX_VALUE_LEN);
    let base = |frame: i64, label: i64, group: Option<i64>| {
        frame >= 0 && label >= 0 && group.is_none_or(|g| g >= 0)
    };
    d.tags
        .iter()
        .all(|t| base(t.frame, t.label_id, t.group) && attrs_ok(&t.attributes))
        && d.shapes.iter().all(|s| {
            base(s.frame, s.label_id, s.group)
                && attrs_ok(&s.attributes)
                && s.kind.points_problem(s.points.len()).is_none()
        })
        && d.tracks.iter().all(|t| {
            base(t.frame, t.label_id, t.group)
                && attrs_ok(&t.attributes)
                && !t.shapes.is_empty()
                && t.shapes.iter().all(|s| {
                    s.frame >= 0
                        && attrs_ok(&s.attributes)
                        && s.kind.points_problem(s.points.len()).is_none()
                })
        })
}

/// Errors of one object: `{"field": [...]}` or nested lists for `attributes`/`shapes`.
#[derive(Default)]
struct ObjErrors(Map<String, Value>);

impl ObjErrors {
    fn add(&mut self, field: &str, msg: &str) {
        let e = self
            .0
            .entry(field.to_string())
            .or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(a) = e {
            a.push(Value::String(msg.to_string()));
        }
    }
    fn nested(&mut self, field: &str, v: Value) {
        self.0.insert(field.to_string(), v);
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct Reader<'a> {
    map: &'a Map<String, Value>,
    errs: ObjErrors,
}

impl<'a> Reader<'a> {
    fn new(map: &'a Map<String, Value>) -> Self {
        Reader {
            map,
            errs: ObjErrors::default(),
        }
    }

    fn int(&mut self, name: &str, required: bool, nullable: bool, min0: bool) -> Option<i64> {
        match self.map.get(name) {
            None => {
                if required {
                    self.errs.add(name, REQUIRED);
                }
                None
            }
            Some(Value::Null) => {
                if !nullable {
                    self.errs.add(name, NULL);
                }
                None
            }
            Some(v) => match parse_int(v) {
                Some(i) if min0 && i < 0 => {
                    self.errs.add(name, MIN_ZERO);
                    None
                }
                Some(i) => Some(i),
                None => {
                    self.errs.add(name, NOT_INT);
                    None
                }
            },
        }
    }

    fn bool(&mut self, name: &str) -> Option<bool> {
        match self.map.get(name) {
            None => {
                self.errs.add(name, REQUIRED);
                None
            }
            Some(Value::Null) => {
                self.errs.add(name, NULL);
                None
            }
            Some(v) => {
                let b = parse_bool(v);
                if b.is_none() {
                    self.errs.add(name, NOT_BOOL);
                }
                b
            }
        }
    }

    fn shape_type(&mut self) -> Option<ShapeType> {
        match self.map.get("type") {
            None => {
                self.errs.add("type", REQUIRED);
                None
            }
            Some(Value::Null) => {
                self.errs.add("type", NULL);
                None
            }
            Some(v) => {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let t = ShapeType::parse(&s);
                if t.is_none() {
                    self.errs
                        .add("type", &format!("\"{s}\" is not a valid choice."));
                }
                t
            }
        }
    }

    fn list(&mut self, name: &str) -> Option<&'a Vec<Value>> {
        match self.map.get(name) {
            None => {
                self.errs.add(name, REQUIRED);
                None
            }
            Some(Value::Null) => {
                self.errs.add(name, NULL);
                None
            }
            Some(Value::Array(a)) => Some(a),
            Some(other) => {
                self.errs.add(
                    name,
                    &format!(
                        "Expected a list of items but got type \"{}\".",
                        py_type(other)
                    ),
                );
                None
            }
        }
    }

    fn points(&mut self, kind: Option<ShapeType>) -> Option<Vec<f64>> {
        let items = self.list("points")?;
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            let f = match it {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            };
            match f {
                Some(f) => out.push(f),
                None => {
                    self.errs.add("points", NOT_NUMBER);
                    return None;
                }
            }
        }
        let problem = match kind {
            Some(k) => k.points_problem(out.len()),
            None if out.is_empty() => Some(EMPTY_LIST.into()),
            None => None,
        };
        if let Some(p) = problem {
            self.errs.add("points", &p);
            return None;
        }
        Some(out)
    }

    fn attributes(&mut self) -> Option<Vec<AttributeValue>> {
        let items = self.list("attributes")?;
        let mut out = Vec::with_capacity(items.len());
        let mut errs = Vec::with_capacity(items.len());
        let mut bad = false;
        for it in items {
            match read_attribute(it) {
                Ok(a) => {
                    out.push(a);
                    errs.push(json!({}));
                }
                Err(e) => {
                    bad = true;
                    errs.push(e);
                }
            }
        }
        if bad {
            self.errs.nested("attributes", Value::Array(errs));
            return None;
        }
        Some(out)
    }
}

fn read_attribute(v: &Value) -> Result<AttributeValue, Value> {
    let Value::Object(map) = v else {
        return Err(not_a_dict(v));
    };
    let mut r = Reader::new(map);
    let spec_id = r.int("spec_id", true, false, false);
    let value = match map.get("value") {
        None => {
            r.errs.add("value", REQUIRED);
            None
        }
        Some(Value::Null) => {
            r.errs.add("value", NULL);
            None
        }
        Some(v) => match py_str(v) {
            Some(s) if s.chars().count() > MAX_VALUE_LEN => {
                r.errs.add(
                    "value",
                    &format!("Ensure this field has no more than {MAX_VALUE_LEN} characters."),
                );
                None
            }
            Some(s) => Some(s),
            None => {
                r.errs.add("value", NOT_STRING);
                None
            }
        },
    };
    match (spec_id, value) {
        (Some(spec_id), Some(value)) if r.errs.is_empty() => Ok(AttributeValue { spec_id, value }),
        _ => Err(Value::Object(r.errs.0)),
    }
}

/// Python's `str()` of a JSON scalar, as CVAT stores non-string values.
fn py_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn not_a_dict(v: &Value) -> Value {
    json!({ "non_field_errors": [format!(
        "Invalid data. Expected a dictionary, but got {}.",
        py_type(v)
    )]})
}

fn read_tag(v: &Value) -> Result<Tag, Value> {
    let Value::Object(map) = v else {
        return Err(not_a_dict(v));
    };
    let mut r = Reader::new(map);
    let id = r.int("id", false, true, false);
    let frame = r.int("frame", true, false, true);
    let label_id = r.int("label_id", true, false, true);
    if !map.contains_key("group") {
        r.errs.add("group", REQUIRED);
    }
    let group = r.int("group", false, true, true);
    let attributes = r.attributes();
    match (frame, label_id, attributes) {
        (Some(frame), Some(label_id), Some(attributes)) if r.errs.is_empty() => Ok(Tag {
            id,
            frame,
            label_id,
            group,
            attributes,
        }),
        _ => Err(Value::Object(r.errs.0)),
    }
}

fn read_shape(v: &Value) -> Result<Shape, Value> {
    let tag = read_tag(v);
    let Value::Object(map) = v else {
        return Err(not_a_dict(v));
    };
    let mut r = Reader::new(map);
    let kind = r.shape_type();
    let occluded = r.bool("occluded");
    let z_order = r.int("z_order", false, false, false).unwrap_or(0);
    let points = r.points(kind);
    match tag {
        Ok(t) => match (kind, occluded, points) {
            (Some(kind), Some(occluded), Some(points)) if r.errs.is_empty() => Ok(Shape {
                kind,
                occluded,
                z_order,
                points,
                id: t.id,
                frame: t.frame,
                label_id: t.label_id,
                group: t.group,
                attributes: t.attributes,
            }),
            _ => Err(Value::Object(r.errs.0)),
        },
        Err(Value::Object(mut e)) => {
            e.extend(r.errs.0);
            Err(Value::Object(e))
        }
        Err(e) => Err(e),
    }
}

fn read_tracked_shape(v: &Value) -> Result<TrackedShape, Value> {
    let Value::Object(map) = v else {
        return Err(not_a_dict(v));
    };
    let mut r = Reader::new(map);
    let kind = r.shape_type();
    let occluded = r.bool("occluded");
    let outside = r.bool("outside");
    let z_order = r.int("z_order", false, false, false).unwrap_or(0);
    let points = r.points(kind);
    let id = r.int("id", false, true, false);
    let frame = r.int("frame", true, false, true);
    let attributes = r.attributes();
    match (kind, occluded, outside, points, frame, attributes) {
        (
            Some(kind),
            Some(occluded),
            Some(outside),
            Some(points),
            Some(frame),
            Some(attributes),
        ) if r.errs.is_empty() => Ok(TrackedShape {
            kind,
            occluded,
            z_order,
            points,
            id,
            frame,
            outside,
            attributes,
        }),
        _ => Err(Value::Object(r.errs.0)),
    }
}

fn read_track(v: &Value) -> Result<Track, Value> {
    let Value::Object(map) = v else {
        return Err(not_a_dict(v));
    };
    let mut r = Reader::new(map);
    let id = r.int("id", false, true, false);
    let frame = r.int("frame", true, false, true);
    let label_id = r.int("label_id", true, false, true);
    if !map.contains_key("group") {
        r.errs.add("group", REQUIRED);
    }
    let group = r.int("group", false, true, true);
    let attributes = r.attributes();
    let shapes = match r.list("shapes") {
        Some(items) if items.is_empty() => {
            r.errs.add("shapes", EMPTY_LIST);
            None
        }
        Some(items) => read_list(items, read_tracked_shape)
            .map_err(|e| r.errs.nested("shapes", e))
            .ok(),
        None => None,
    };
    match (frame, label_id, attributes, shapes) {
        (Some(frame), Some(label_id), Some(attributes), Some(shapes)) if r.errs.is_empty() => {
            Ok(Track {
                id,
                frame,
                label_id,
                group,
                shapes,
                attributes,
            })
        }
        _ => Err(Value::Object(r.errs.0)),
    }
}

/// Reads every item; on any failure the DRF list of per-item errors (`{}` for good ones).
fn read_list<T>(items: &[Value], read: fn(&Value) -> Result<T, Value>) -> Result<Vec<T>, Value> {
    let mut out = Vec::with_capacity(items.len());
    let mut errs = Vec::new();
    let mut bad = false;
    for it in items {
        match read(it) {
            Ok(x) => {
                out.push(x);
                errs.push(json!({}));
            }
            Err(e) => {
                bad = true;
                errs.push(e);
            }
        }
    }
    if bad {
        Err(Value::Array(errs))
    } else {
        Ok(out)
    }
}

/// The DRF-style reader of a whole document (the slow path, and the source of truth
/// for error messages).
pub fn read_document(v: &Value) -> Result<LabeledData, Value> {
    let Value::Object(map) = v else {
        return Err(not_a_dict(v));
    };
    let mut r = Reader::new(map);
    let version = r.int("version", true, false, false);
    let tags = r.list("tags").map(|t| read_list(t, read_tag));
    let shapes = r.list("shapes").map(|s| read_list(s, read_shape));
    let tracks = r.list("tracks").map(|t| read_list(t, read_track));
    let mut errs = r.errs;
    fn take<T>(errs: &mut ObjErrors, name: &str, res: Option<Result<T, Value>>) -> Option<T> {
        match res {
            Some(Ok(x)) => Some(x),
            Some(Err(e)) => {
                errs.nested(name, e);
                None
            }
            None => None,
        }
    }
    let tags = take(&mut errs, "tags", tags);
    let shapes = take(&mut errs, "shapes", shapes);
    let tracks = take(&mut errs, "tracks", tracks);
    match (version, tags, shapes, tracks) {
        (Some(version), Some(tags), Some(shapes), Some(tracks)) if errs.is_empty() => {
            Ok(LabeledData {
                version,
                tracks,
                shapes,
                tags,
            })
        }
        _ => Err(Value::Object(errs.0)),
    }
}

/// The ids of a `PATCH ?action=delete` document: only `id` is required of each item
/// (§9.5 recommendation); the lists are kept to be echoed back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteRequest {
    pub tags: Vec<i64>,
    pub shapes: Vec<i64>,
    pub tracks: Vec<i64>,
    /// The request's lists, echoed in the response.
    pub echo: Map<String, Value>,
}

pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, Value> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| json!({ "detail": format!("JSON parse error - {e}") }))?;
    let Value::Object(map) = v else {
        return Err(not_a_dict(&v));
    };
    let mut r = Reader::new(&map);
    let _ = r.int("version", true, false, false);
    let mut out = DeleteRequest::default();
    let mut nested = Vec::new();
    for name in ["tags", "shapes", "tracks"] {
        let Some(items) = r.list(name) else { continue };
        let ids = read_list(items, |it| {
            let Value::Object(m) = it else {
                return Err(not_a_dict(it));
            };
            let mut ir = Reader::new(m);
            match ir.int("id", true, false, false) {
                Some(id) if ir.errs.is_empty() => Ok(id),
                _ => Err(Value::Object(ir.errs.0)),
            }
        });
        match ids {
            Ok(ids) => match name {
                "tags" => out.tags = ids,
                "shapes" => out.shapes = ids,
                _ => out.tracks = ids,
            },
            Err(e) => nested.push((name, e)),
        }
        out.echo
            .insert(name.to_string(), Value::Array(items.clone()));
    }
    let mut errs = r.errs;
    for (name, e) in nested {
        errs.nested(name, e);
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(Value::Object(errs.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_json() -> Value {
        json!({"type":"rectangle","occluded":false,"z_order":0,
            "points":[235.4541015625,589.7822265625,1361.490478515625,995.818603515625],
            "attributes":[{"spec_id":"11","value":""}],"frame":3,"label_id":11,"group":0})
    }

    #[test]
    fn seed_create_body_takes_the_fast_path() {
        let body = json!({"shapes":[shape_json()],"tracks":[],"tags":[],"version":26});
        let bytes = serde_json::to_vec(&body).unwrap();
        let fast: LabeledData = serde_json::from_slice(&bytes).unwrap();
        assert!(fast_path_ok(&fast));
        assert_eq!(read_document(&body).unwrap(), fast);
        assert_eq!(fast.shapes[0].attributes[0].spec_id, 11);
    }

    #[test]
    fn slow_path_accepts_what_drf_accepts() {
        let body = json!({"version":"3","tags":[{"frame":"2","label_id":1,"group":null,
            "attributes":[{"spec_id":4,"value":true},{"spec_id":"5","value":1.0}]}],
            "shapes":[{"type":"points","occluded":"true","points":["1.5",2],"frame":0,
            "label_id":1,"group":"0","attributes":[]}],"tracks":[]});
        let doc = parse_document(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(doc.version, 3);
        assert_eq!(doc.tags[0].attributes[0].value, "True");
        assert_eq!(doc.tags[0].attributes[1].value, "1.0");
        assert_eq!(doc.shapes[0].points, vec![1.5, 2.0]);
        assert!(doc.shapes[0].occluded);
        assert_eq!(doc.shapes[0].group, Some(0));
    }

    #[test]
    fn errors_are_nested_per_item() {
        let mut bad = shape_json();
        bad["points"] = json!([1, 2, 3]);
        bad.as_object_mut().unwrap().remove("frame");
        bad["attributes"] = json!([{"spec_id":"x","value":"a"}]);
        let body = json!({"shapes":[shape_json(), bad],"tracks":{},"tags":[]});
        let e = parse_document(&serde_json::to_vec(&body).unwrap()).unwrap_err();
        assert_eq!(
            e,
            json!({
                "version": [REQUIRED],
                "tracks": ["Expected a list of items but got type \"dict\"."],
                "shapes": [{}, {
                    "frame": [REQUIRED],
                    "attributes": [{"spec_id": [NOT_INT]}],
                    "points": ["A rectangle needs exactly 4 numbers, got 3."]
                }]
            })
        );
    }

    #[test]
    fn tracks_need_keyframes_and_a_group_key() {
        let body = json!({"version":0,"tags":[],"shapes":[],"tracks":[
            {"frame":0,"label_id":1,"shapes":[],"attributes":[]},
            {"frame":-1,"label_id":1,"group":0,"attributes":[],
             "shapes":[{"type":"polygon","occluded":false,"points":[1,2,3],"frame":0,"attributes":[]}]}]});
        let e = parse_document(&serde_json::to_vec(&body).unwrap()).unwrap_err();
        assert_eq!(
            e,
            json!({"tracks": [
                {"group": [REQUIRED], "shapes": [EMPTY_LIST]},
                {"frame": [MIN_ZERO], "shapes": [{
                    "outside": [REQUIRED],
                    "points": ["Points must be x, y pairs: an even count of numbers, got 3."]}]}
            ]})
        );
    }

    #[test]
    fn serialization_keeps_cvat_key_order() {
        let body = json!({"shapes":[shape_json()],"tracks":[],"tags":[],"version":26});
        let mut doc = parse_document(&serde_json::to_vec(&body).unwrap()).unwrap();
        doc.shapes[0].id = Some(10);
        let s = serde_json::to_string(&doc).unwrap();
        assert!(s.starts_with(
            r#"{"version":26,"tracks":[],"shapes":[{"type":"rectangle","occluded":false,"z_order":0,"points":[235.4541015625,"#
        ));
        assert!(s.ends_with(
            r#""id":10,"frame":3,"label_id":11,"group":0,"attributes":[{"spec_id":11,"value":""}]}],"tags":[]}"#
        ));
    }

    #[test]
    fn delete_needs_only_ids() {
        let d = parse_delete(
            br#"{"version":2,"shapes":[{"id":4}],"tracks":[],"tags":[{"id":"5","frame":1}]}"#,
        )
        .unwrap();
        assert_eq!((d.shapes, d.tags), (vec![4], vec![5]));
        let e = parse_delete(br#"{"version":2,"shapes":[{}],"tracks":[],"tags":[]}"#).unwrap_err();
        assert_eq!(e, json!({"shapes": [{"id": [REQUIRED]}]}));
    }
}
