"""mnist_course.data: the right arrays from the right bytes, and clear errors for bad input."""

import gzip
import shutil

import numpy as np
import pytest

from mnist_course import data
from mnist_course.__main__ import main

NAMES = list(data.SHA256)


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist()


@pytest.fixture
def copy_dir(tmp_path):
    """A scratch copy of the shipped (gzip-compressed) files."""
    for name in NAMES:
        shutil.copy(data.REPO_DATA / f"{name}.gz", tmp_path / f"{name}.gz")
    return tmp_path


def rewrite(folder, name, blob):
    (folder / f"{name}.gz").write_bytes(gzip.compress(blob))


def raw(name):
    return gzip.decompress((data.REPO_DATA / f"{name}.gz").read_bytes())


def test_shapes_dtypes_and_content(mnist):
    assert [a.shape for a in mnist] == [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]
    assert all(a.dtype == np.uint8 for a in mnist)
    assert mnist.y_train.max() == 9 and mnist.x_train.max() == 255
    # the well-known first labels of the training and test sets
    assert mnist.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist.y_test[:5].tolist() == [7, 2, 1, 0, 4]


def test_uncompressed_files_and_env_var(copy_dir, monkeypatch, mnist):
    (copy_dir / f"{NAMES[3]}.gz").unlink()
    (copy_dir / NAMES[3]).write_bytes(raw(NAMES[3]))
    monkeypatch.setenv(data.ENV_VAR, str(copy_dir))
    assert data.find_data_dir() == copy_dir
    assert np.array_equal(data.load_mnist().y_test, mnist.y_test)


def test_env_var_not_a_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(data.MnistDataError, match="nowhere.*is not a folder"):
        data.load_mnist()


def test_missing_file_is_named(copy_dir):
    (copy_dir / f"{NAMES[1]}.gz").unlink()
    with pytest.raises(data.MnistDataError, match=f"{NAMES[1]}.gz: file not found"):
        data.load_mnist(copy_dir)


@pytest.mark.parametrize("name", NAMES)
def test_truncated_gzip_is_named(copy_dir, name):
    path = copy_dir / f"{name}.gz"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(data.MnistDataError, match=f"{name}.gz: not a readable gzip file"):
        data.load_mnist(copy_dir)


def test_not_gzip_at_all(copy_dir):
    (copy_dir / f"{NAMES[0]}.gz").write_bytes(b"<html>404 not found</html>")
    with pytest.raises(data.MnistDataError, match=f"{NAMES[0]}.gz: not a readable gzip"):
        data.load_mnist(copy_dir)


def test_wrong_magic_number(copy_dir):
    # labels where images belong: magic 0x0801 instead of 0x0803
    rewrite(copy_dir, NAMES[2], raw(NAMES[3]))
    with pytest.raises(data.MnistDataError, match="wrong IDX magic number 0x00000801"):
        data.load_mnist(copy_dir)


def test_wrong_header_dimensions(copy_dir):
    blob = bytearray(raw(NAMES[3]))
    blob[4:8] = (9999).to_bytes(4, "big")
    rewrite(copy_dir, NAMES[3], bytes(blob))
    with pytest.raises(data.MnistDataError, match=r"header says shape \(9999,\)"):
        data.load_mnist(copy_dir)


def test_truncated_content(copy_dir):
    rewrite(copy_dir, NAMES[1], raw(NAMES[1])[:-10])
    with pytest.raises(data.MnistDataError, match="truncated or padded"):
        data.load_mnist(copy_dir)


def test_checksum_mismatch(copy_dir):
    blob = bytearray(raw(NAMES[1]))
    blob[-1] = (blob[-1] + 1) % 10  # one label changed: a valid-looking file, wrong bytes
    rewrite(copy_dir, NAMES[1], bytes(blob))
    with pytest.raises(data.MnistDataError, match=f"{NAMES[1]}.gz: SHA-256 .* does not match"):
        data.load_mnist(copy_dir)


def test_error_message_says_how_to_fix(copy_dir):
    (copy_dir / f"{NAMES[0]}.gz").unlink()
    with pytest.raises(data.MnistDataError, match="python -m mnist_course data verify"):
        data.load_mnist(copy_dir)


def test_keras_fallback_verifies_arrays(monkeypatch, mnist):
    import keras

    monkeypatch.setattr(data, "REPO_DATA", data.REPO_DATA / "absent")
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    good = ((mnist.x_train, mnist.y_train), (mnist.x_test, mnist.y_test))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: good)
    assert np.array_equal(data.load_mnist().x_test, mnist.x_test)

    tampered = mnist.y_test.copy()
    tampered[0] = 3
    bad = ((mnist.x_train, mnist.y_train), (mnist.x_test, tampered))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: bad)
    with pytest.raises(data.MnistDataError, match="keras cache .*t10k-labels.*SHA-256"):
        data.load_mnist()


def test_offline_without_files(monkeypatch):
    import keras

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "REPO_DATA", data.REPO_DATA / "absent")
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(data.MnistDataError, match="network unreachable.*git checkout -- data/"):
        data.load_mnist()


def test_split_is_stratified_and_deterministic(mnist):
    a = data.train_val_split(mnist.x_train, mnist.y_train, val_size=5000, seed=0)
    b = data.train_val_split(mnist.x_train, mnist.y_train, val_size=5000, seed=0)
    c = data.train_val_split(mnist.x_train, mnist.y_train, val_size=5000, seed=1)
    assert [x.shape[0] for x in a] == [55000, 55000, 5000, 5000]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[3], c[3])
    share_all = np.bincount(mnist.y_train) / 60000
    share_val = np.bincount(a[3]) / 5000
    assert np.abs(share_all - share_val).max() < 0.001
    # no image in both parts: the validation set is held out from training
    assert len(a[0]) + len(a[2]) == 60000


def test_split_rejects_bad_size(mnist):
    with pytest.raises(ValueError, match="val_size"):
        data.train_val_split(mnist.x_train, mnist.y_train, val_size=0)


def test_to_model_input():
    images = np.array([[[0, 255] * 14] * 28], dtype=np.uint8)
    out = data.to_model_input(images)
    assert out.shape == (1, 28, 28, 1) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        data.to_model_input(np.zeros((2, 784), np.uint8))


def test_cli_verify(capsys, copy_dir):
    assert main(["data", "verify", "--data-dir", str(copy_dir)]) == 0
    assert "All four MNIST files match" in capsys.readouterr().out
    (copy_dir / f"{NAMES[2]}.gz").write_bytes(b"broken")
    assert main(["data", "verify", "--data-dir", str(copy_dir)]) == 1
    assert f"{NAMES[2]}.gz" in capsys.readouterr().err
