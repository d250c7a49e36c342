"""`--dataset PATH`: JSONL, CSV and image folders, and one clear error per bad record."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

import n2n
from n2n.cli import main
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


def test_a_typo_among_digits_names_is_warned_about(tmp_path, caplog):
    """'onee' among digits' names numbers every class alphabetically: a digits classifier would score 0."""
    path = tmp_path / "data.csv"
    path.write_text("text,label\n" + "".join(f"caption {i},{name}\n" for i, name in enumerate(["zero", "onee", "two", "zero"])))
    assert resolve_dataset(str(path)).load("train")["label"].tolist() == [2, 0, 1, 2]
    assert ("'onee' (did you mean 'one'?) is not a digit's name, so every class is numbered alphabetically, not as "
            "digits") in caplog.text


def test_digit_names_are_numbered_as_the_digits_are(tmp_path, caplog):
    """"one" is class 1 for digits-classifier, not the 0 of an alphabetical numbering (one < zero)."""
    def numbered(names):
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.csv"
        path.write_text("text,label\n" + "".join(f"caption {i},{name}\n" for i, name in enumerate(names)))
        return resolve_dataset(str(path)).load("train")["label"].tolist()

    caplog.set_level("INFO", logger="n2n")
    assert numbered(["zero", "one", "Seven", "one"]) == [0, 1, 7, 1]
    assert "class names numbered as digits (as digits-classifier and label:digits read them): Seven=7, one=1, zero=0" in caplog.text
    assert numbered(["seven", "cat"]) == [1, 0]  # not all digits: alphabetically, every one of them
    assert numbered(["Seven", "seven"]) == [0, 1]  # two names of one digit: two classes, as the file says
    for name in ("zero", "one", "2019", "2020"):
        write_images(tmp_path / "folder" / name, 1)
    assert resolve_dataset(str(tmp_path / "folder")).load("train")["label"].tolist() == [0, 1, 2, 3]  # 2019, 2020, one, zero
    for name in ("7", "one"):
        write_images(tmp_path / "digits" / name, 1)
    assert resolve_dataset(str(tmp_path / "digits")).load("train")["label"].tolist() == [7, 1]  # folder names are names


def test_image_folder(tmp_path):
    write_images(tmp_path / "cats", 6)
    write_images(tmp_path / "dogs", 5)
    dataset = resolve_dataset(str(tmp_path))
    columns = dataset.load("train")
    assert dataset.fields == ("image", "label") and len(columns["image"]) == 10
    assert sorted(set(columns["label"].tolist())) == [0, 1]


@pytest.mark.parametrize(("lines", "message"), [
    (['{"text": "a"}', "{text: b}"], r"data.jsonl:2: not valid JSON"),
    (['{"text": "a"}', '{"text": "b", "caption": "c"}'], r"data.jsonl:2: unknown field\(s\) \['caption'\]; a record has text, image, label"),
    (['{"text": "a", "label": 1}', '{"text": "b"}'], r"data.jsonl:2: no label; every record needs the fields of the first, \['text', 'label'\]"),
    (['{"text": "a"}', '{"text": "b", "label": 1}'], r"data.jsonl:2: label, which the first record has not"),
    (['{"image": "missing.png"}'], r"data.jsonl:1: image 'missing.png' not found"),
    (['{"text": ""}'], r"data.jsonl:1: 'text' must be a non-empty string"),
    (['{"text": "a", "label": 1.5}'], r"data.jsonl:1: 'label' must be an int or a class name"),
    (["[1, 2]"], r"data.jsonl:1: expected a JSON object"),
    (['{"text": "a", "label": "--5"}', '{"text": "b", "label": 1}'], r"labels mix class indices \(1\) and class names \('--5'\)"),
    (['{"text": "a", "label": "\u00b2"}', '{"text": "b", "label": 1}'], r"labels mix class indices \(1\) and class names \('\u00b2'\)"),
    (['{"text": "a", "label": -3}'], r"data.jsonl: label -3: a class index is from 0 to 2147483647"),
    (['{"text": "a", "label": 1000000000000000000000000000000}'], r"label 1000000000000000000000000000000: a class index is from 0"),
    (["[" * 100000 + "]" * 100000], r"data.jsonl:1: JSON nested too deeply for a record"),
])
def test_bad_records_name_the_file_and_line(tmp_path, lines, message):
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInputError, match=message):
        resolve_dataset(str(tmp_path / "data.jsonl"))


def test_a_csv_cell_beyond_what_csv_reads_is_one_clear_error(tmp_path):
    (tmp_path / "data.csv").write_text("text,label\n" + "a" * 200_000 + ",1\n")
    with pytest.raises(InvalidInputError, match=r"data.csv:2: not CSV that n2n reads \(field larger than field limit"):
        resolve_dataset(str(tmp_path / "data.csv"))


def test_a_path_that_does_not_exist_is_said_so(tmp_path):
    with pytest.raises(InvalidInputError, match=r"dataset './nope.jsonl': no such file or folder"):
        resolve_dataset("./nope.jsonl")


def test_unknown_dataset_name_or_path(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown dataset 'digit-captions'. Did you mean 'digits-captions'"):
        resolve_dataset("digit-captions")
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(InvalidInputError, match=r"expected a .jsonl or .csv file"):
        resolve_dataset(str(tmp_path / "data.txt"))


def test_n2n_eval_elsewhere_says_the_recorded_file_is_relative_to_where_it_trained(tmp_path, monkeypatch, capsys):
    bridge = n2n.create_bridge("mlp", "digits-classifier", "digits", seed=0)
    bridge.metrics = {"data": {"dataset": "mine.csv"}}  # as `n2n train --dataset mine.csv` records it
    bridge.save_pretrained(tmp_path / "bridge")
    monkeypatch.chdir(tmp_path)  # where mine.csv is not
    assert main(["eval", str(tmp_path / "bridge")]) == 2
    assert ("was trained on 'mine.csv', a path relative to where it was trained, and there is no such file or folder here: "
            "run n2n eval from there, or pass --dataset PATH") in capsys.readouterr().err


def test_a_small_file_says_how_little_it_is_evaluated_on(tmp_path, caplog):
    write_images(tmp_path / "img", 12)
    bridge = n2n.create_bridge("mlp", "digits-classifier", "digits", seed=0)
    caplog.set_level("INFO", logger="n2n")
    for count in (12, 6):
        path = write_jsonl(tmp_path / f"{count}.jsonl", [{"image": f"img/{i}.png", "label": i % 3} for i in range(count)])
        metrics = n2n.evaluate_bridge(bridge, n2n.DataSource(dataset=str(path)), n_samples=1, progress=False)
        assert ("transfer_accuracy" in metrics) is (count == 12)
    assert "12.jsonl/test holds only 1 item(s): its metrics are noisy" in caplog.text
    assert "not evaluated: dataset '" in caplog.text and "6.jsonl' has no 'test' split" in caplog.text
