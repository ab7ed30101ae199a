"""Hostile inputs and limits (issue 13): each refused with one sentence, nothing written outside."""
import uuid
from pathlib import Path

import pytest
import tensorflow as tf

from deepdeconv import remote
from deepdeconv.errors import UserError
from deepdeconv.paths import safe_join

pytestmark = pytest.mark.usefixtures("isolated_cache")


def _put(url, data):
    tf.io.gfile.makedirs(url.rsplit("/", 1)[0])
    with tf.io.gfile.GFile(url, "wb") as f:
        f.write(data)


def test_a_bucket_object_climbing_out_of_the_staging_folder_is_refused_and_nothing_is_written(tmp_path):
    bucket = f"ram://bucket-{uuid.uuid4().hex[:8]}"
    escaped_dir = Path("/tmp/x")
    escaped = escaped_dir / f"ESCAPED-{uuid.uuid4().hex[:8]}.png"
    _put(f"{bucket}/data/good/1.png", b"png")
    _put(f"{bucket}/data/a/../../../../../..{escaped}", b"evil")
    local = tmp_path / "stage"
    with pytest.raises(UserError, match=r"Refusing .*ESCAPED.* outside"):
        remote.download_tree(f"{bucket}/data", local, progress=False)
    assert not escaped.exists()
    assert not (local / "good" / "1.png").exists()  # refused before anything is fetched


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x", "", "a/.."])
def test_safe_join_refuses_names_outside_the_folder(tmp_path, name):
    with pytest.raises(UserError, match="outside"):
        safe_join(tmp_path, name, "gs://b/run")


def test_safe_join_keeps_nested_names(tmp_path):
    assert safe_join(tmp_path, "cats/1.png") == tmp_path / "cats" / "1.png"
