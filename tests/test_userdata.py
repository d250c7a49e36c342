"""`--dataset PATH`: JSONL, CSV and image folders, and one clear error per bad record."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from n2n.data.userdata import resolve_dataset
from n2n.errors import InvalidInputError, UnknownNameError


def write_images(folder, count):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray((torch.rand(8, 8) * 255).byte().numpy()).save(folder / f"{i}.png")


def write_jsonl(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_jsonl_with_text_image_and_label(tmp_path):
    write_images(tmp_path / "img", 12)
    path = write_jsonl(tmp_path / "data.jsonl", [{"text": f"a {i % 3}", "image": f"img/{i}.png", "label": i % 3} for i in range(12)])
    dataset = resolve_dataset(str(path))
    assert dataset.fields == ("text", "image", "label") and dataset.splits == ("train", "test")
    train, test = dataset.load("train"), dataset.load("test")
    assert len(train["text"]) == 11 and test["text"] == ["a 0"]  # every 10th record is held out
    assert train["image"][0] == tmp_path / "img" / "0.png" and train["label"].tolist()[:4] == [0, 1, 2, 0]


def test_csv_with_class_names(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\n" + "".join(f"caption {i},{'cat' if i % 2 else 'dog'}\n" for i in range(4)))
    dataset = resolve_dataset(str(path))
    assert dataset.splits == ("train",)  # too few records for a test split
    assert dataset.load("train")["label"].tolist() == [1, 0, 1, 0]  # sorted class names: cat=0, dog=1


def test_image_folder(tmp_path):
    write_images(tmp_path / "cats", 6)
    write_images(tmp_path / "dogs", 5)
    dataset = resolve_dataset(str(tmp_path))
    columns = dataset.load("train")
    assert dataset.fields == ("image", "label") and len(columns["image"]) == 10
    assert sorted(set(columns["label"].tolist())) == [0, 1]


@pytest.mark.parametrize(("lines", "message"), [
    (['{"text": "a"}', "{text: b}"], r"data.jsonl:2: not valid JSON"),
    (['{"text": "a"}', '{"text": "b", "caption": "c"}'], r"data.jsonl:2: fields \['caption', 'text'\]"),
    (['{"text": "a", "label": 1}', '{"text": "b"}'], r"data.jsonl:2: fields \['text'\]; every record needs the same fields"),
    (['{"image": "missing.png"}'], r"data.jsonl:1: image 'missing.png' not found"),
    (['{"text": ""}'], r"data.jsonl:1: 'text' must be a non-empty string"),
    (['{"text": "a", "label": 1.5}'], r"data.jsonl:1: 'label' must be an int or a class name"),
    (["[1, 2]"], r"data.jsonl:1: expected a JSON object"),
])
def test_bad_records_name_the_file_and_line(tmp_path, lines, message):
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInputError, match=message):
        resolve_dataset(str(tmp_path / "data.jsonl"))


def test_unknown_dataset_name_or_path(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown dataset 'digit-captions'. Did you mean 'digits-captions'"):
        resolve_dataset("digit-captions")
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(InvalidInputError, match=r"expected a .jsonl or .csv file"):
        resolve_dataset(str(tmp_path / "data.txt"))
