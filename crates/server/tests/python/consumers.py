"""Opens ferrocat's exports with the tools that consume them, and writes datasets with
Datumaro for ferrocat to import. Called by the Rust tests in tests/api/formats.rs; prints
one JSON document on stdout.

  consumers.py coco FILE.json         pycocotools: categories, images, annotations with the
                                       area pycocotools computes from the segmentation
  consumers.py read FORMAT DIR        Datumaro import: items and their annotations
  consumers.py write FORMAT DIR       Datumaro export of a small dataset (see SAMPLE)
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")


def coco(path):
    from pycocotools.coco import COCO
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO(path)
    anns = []
    for a in c.loadAnns(c.getAnnIds()):
        mask = c.annToMask(a)
        anns.append({
            "image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
            "area": a["area"], "iscrowd": a["iscrowd"], "mask_area": int(mask.sum()),
            "parts": len(a["segmentation"]) if isinstance(a["segmentation"], list) else 0,
        })
    return {
        "categories": [c.cats[k]["name"] for k in sorted(c.cats)],
        "images": [[c.imgs[k]["file_name"], c.imgs[k]["width"], c.imgs[k]["height"]] for k in sorted(c.imgs)],
        "annotations": anns,
    }


def read(fmt, path):
    import datumaro as dm

    ds = dm.Dataset.import_from(path, fmt)
    items = {}
    for item in ds:
        kinds = {}
        for a in item.annotations:
            kinds[a.type.name] = kinds.get(a.type.name, 0) + 1
        items[item.id] = kinds
    labels = [l.name for l in ds.categories()[dm.AnnotationType.label].items]
    return {"items": items, "labels": labels}


# Names of the test task's frames (car0.jpg … car7.jpg, 64×48) and labels.
SAMPLE_LABELS = ["car", "person", "sky"]


def write(fmt, path):
    import datumaro as dm
    import numpy as np
    from datumaro.components.annotation import AnnotationType, Bbox, LabelCategories, Mask, Polygon
    from datumaro.components.media import Image

    cats = LabelCategories.from_iterable(SAMPLE_LABELS)
    items = []
    for i in range(3):
        anns = [Bbox(2 + i, 3, 10, 12, label=0, id=1, group=1,
                     attributes={"occluded": False, "track_id": 1})]
        if fmt in ("voc_segmentation",):
            m = np.zeros((48, 64), dtype=np.uint8)
            m[10:20, 30:40] = 1
            anns = [Mask(m, label=1, id=1, group=1)]
        elif fmt not in ("yolo", "mot_seq_gt", "voc_detection", "tf_detection_api"):
            anns.append(Polygon([1, 1, 20, 1, 20, 20, 1, 20], label=1, id=2, group=2))
        items.append(dm.DatasetItem(
            id=f"car{i}", subset="default",
            media=Image.from_numpy(np.zeros((48, 64, 3), dtype=np.uint8)),
            annotations=anns))
    ds = dm.Dataset.from_iterable(items, categories={AnnotationType.label: cats})
    ds.export(path, fmt, save_media=True)
    return {"written": fmt}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "coco":
        out = coco(sys.argv[2])
    elif mode == "read":
        out = read(sys.argv[2], sys.argv[3])
    elif mode == "write":
        out = write(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))
